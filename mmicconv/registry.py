"""Registration of mmicconv's modules into the OpenMMLab registries.

``import mmicconv`` calls :func:`register_all`: ``ICConv`` goes into mmengine's
root ``MODELS`` (where mmcv's ``build_conv_layer`` finds conv types), and the
IC backbones into ``mmdet.registry.MODELS`` and ``mmpose.registry.MODELS``,
each only when that package is installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings

from mmengine.registry import MODELS as ROOT_MODELS

from .ops import ICConv2d

__all__ = ['register_all', 'FRAMEWORKS']

#: framework package -> the mmicconv module that registers into it.
FRAMEWORKS = {
    'mmdet': 'mmicconv.models.mmdet_backbones',
    # the AE pieces (mmicconv.pose) are imported by the pose configs themselves (custom_imports):
    # they pull in mmpose.visualization and matplotlib, which detection users do not need
    'mmpose': 'mmicconv.models.mmpose_backbones',
}


def register_all() -> list[str]:
    """Register everything; returns the frameworks registered into."""
    if 'ICConv' not in ROOT_MODELS.module_dict:
        ROOT_MODELS.register_module('ICConv', module=ICConv2d)
    registered = []
    for framework, module in FRAMEWORKS.items():
        if importlib.util.find_spec(framework) is None:
            continue
        try:
            importlib.import_module(module)
        except ImportError as err:  # installed but broken: keep the other framework usable
            warnings.warn(f'mmicconv: {framework} is installed but failed to import ({err}); '
                          f'ICResNet is not registered in {framework}.registry.MODELS',
                          stacklevel=2)
            continue
        registered.append(framework)
    return registered
