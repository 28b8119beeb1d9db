"""Backbones. The framework-specific classes live in ``mmdet_backbones`` and
``mmpose_backbones`` and are imported by :mod:`mmicconv.registry` only when
the framework is installed."""

from .ic_resnet import ICResNetMixin, convert_to_ic, ic_conv_sites, pattern_search_dirs

__all__ = ['ICResNetMixin', 'convert_to_ic', 'ic_conv_sites', 'pattern_search_dirs']
