"""Registration of mmicconv's modules into the OpenMMLab registries.

``import mmicconv`` calls :func:`register_all`: ``ICConv`` goes into mmengine's
root ``MODELS`` (where mmcv's ``build_conv_layer`` finds conv types), and the
IC backbones into the ``MODELS`` of every installed framework of the framework
table (:data:`FRAMEWORKS`, :mod:`mmicconv.models.frameworks`).

The AE pieces (:mod:`mmicconv.pose`) are not registered here: the pose configs
import them themselves (``custom_imports``), since they pull in
``mmpose.visualization`` and matplotlib, which detection users do not need.
"""

from __future__ import annotations

from mmengine.registry import MODELS as ROOT_MODELS

from .models.frameworks import FRAMEWORKS, import_framework_modules
from .ops import ICConv2d

__all__ = ['register_all', 'FRAMEWORKS']


def register_all() -> list[str]:
    """Register everything; returns the frameworks registered into, in table order.

    A framework that is installed but fails to import is skipped with a warning.
    """
    if 'ICConv' not in ROOT_MODELS.module_dict:
        ROOT_MODELS.register_module('ICConv', module=ICConv2d)
    return [row.package for row, _ in import_framework_modules('its IC backbones (ICResNet & co.) are')]
