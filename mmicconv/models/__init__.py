"""Backbones.

:class:`ICResNetMixin` turns any ResNet-like backbone class into an IC one. The
framework-specific classes (``ICResNet``, ``ICResNetV1d``, ``ICResNeXt``) are made from
the framework table (:data:`FRAMEWORKS`, :mod:`.frameworks`) by :mod:`.factory` into one
module per framework (``mmdet_backbones``, ``mmpose_backbones``), which
:mod:`mmicconv.registry` imports only when that framework is installed.
"""

from .frameworks import FRAMEWORKS, Framework, FrameworkError, get_framework, installed_frameworks
from .ic_resnet import ICResNetMixin, convert_to_ic, ic_conv_sites, pattern_search_dirs

__all__ = ['ICResNetMixin', 'convert_to_ic', 'ic_conv_sites', 'pattern_search_dirs', 'FRAMEWORKS',
           'Framework', 'FrameworkError', 'get_framework', 'installed_frameworks']
