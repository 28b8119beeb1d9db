"""mmicconv: Inception Convolution (IC-Conv) for MMDetection 3.x and MMPose 1.x.

Importing the package (as configs do with ``custom_imports``) registers
``ICResNet`` & co. in the installed frameworks' registries, ``ICConv`` as an
mmcv conv layer, and allows mmengine's own checkpoints under torch's
``weights_only`` loading (see :mod:`mmicconv.checkpoint_safety`).
"""

from .checkpoint_safety import allow_mmengine_checkpoints
from .ops import ICConv2d
from .pattern import ConvPattern, DilationGroup, Pattern, PatternError
from .registry import register_all
from .version import __version__

allow_mmengine_checkpoints()
REGISTERED_FRAMEWORKS = register_all()

__all__ = ['__version__', 'ICConv2d', 'Pattern', 'ConvPattern', 'DilationGroup', 'PatternError',
           'REGISTERED_FRAMEWORKS']
