"""mmicconv: Inception Convolution (IC-Conv) for MMDetection 3.x and MMPose 1.x.

Importing the package (as configs do with ``custom_imports``) registers
``ICResNet`` & co. in the installed frameworks' registries, ``ICConv`` as an
mmcv conv layer, the engine pieces (:mod:`mmicconv.engine`: pattern-record and
RNG-state hooks, the resumable loop, CPU DDP) in mmengine's, and allows
mmengine's own checkpoints under torch's ``weights_only`` loading (see
:mod:`mmicconv.checkpoint.safety`).

Layout: ``ops`` (the IC conv), ``pattern`` (the pattern format), ``models``
(IC backbones), ``checkpoint`` (conversion, pattern record, safe loading),
``engine`` (hooks, loops, model wrappers), ``search`` (EDO), ``pose`` (AE
pieces for MMPose), ``utils`` (CLI contract, environment report).
"""

# First: PyPI's torchvision does not load its ops beside this CPU torch; mmdet imports mmpretrain,
# which imports torchvision (see mmicconv/utils/torchvision_ops.py).
from .utils.torchvision_ops import declare_torchvision_ops

declare_torchvision_ops()

from . import engine  # noqa: E402,F401  (registers the hooks, loop and model wrapper)
from .checkpoint.safety import allow_mmengine_checkpoints  # noqa: E402
from .ops import ICConv2d  # noqa: E402
from .pattern import ConvPattern, DilationGroup, Pattern, PatternError  # noqa: E402
from .registry import register_all  # noqa: E402
from .version import __version__  # noqa: E402

allow_mmengine_checkpoints()
REGISTERED_FRAMEWORKS = register_all()

__all__ = ['__version__', 'ICConv2d', 'Pattern', 'ConvPattern', 'DilationGroup', 'PatternError',
           'REGISTERED_FRAMEWORKS']
