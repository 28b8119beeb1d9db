"""IC backbones registered in ``mmdet.registry.MODELS`` (imported only with mmdet)."""

from mmdet.models.backbones import ResNet, ResNetV1d, ResNeXt
from mmdet.registry import MODELS

from .ic_resnet import ICResNetMixin

__all__ = ['ICResNet', 'ICResNetV1d', 'ICResNeXt']

_ARGS = """
    Args:
        pattern: The dilation pattern: a path (absolute, relative to the
            working directory, or relative to ``pattern_zoo/``, e.g.
            ``'detection/ic_resnet50_k9.json'``), a list in the published
            format, or a :class:`~mmicconv.pattern.Pattern`. ``None`` builds
            the plain upstream network.
        ic_strategy: ICConv2d execution strategy, ``'auto'`` by default.
        **kwargs: Every argument of the upstream class (``depth``,
            ``out_indices``, ``frozen_stages``, ``norm_cfg``, ``norm_eval``,
            ``style``, ``with_cp``, ``init_cfg``, ...), unchanged.
"""


@MODELS.register_module()
class ICResNet(ICResNetMixin, ResNet):
    __doc__ = ("IC-ResNet for MMDetection: mmdet's ``ResNet`` whose covered 3x3 convs are "
               'ICConv2d (Bottleneck ``conv2``; BasicBlock ``conv1`` and ``conv2``).\n' + _ARGS)


@MODELS.register_module()
class ICResNetV1d(ICResNetMixin, ResNetV1d):
    __doc__ = "IC-ResNetV1d for MMDetection: mmdet's ``ResNetV1d`` with ICConv2d.\n" + _ARGS


@MODELS.register_module()
class ICResNeXt(ICResNetMixin, ResNeXt):
    __doc__ = ("IC-ResNeXt for MMDetection: mmdet's ``ResNeXt`` with ICConv2d; a pattern "
               'entry may give one dilation per cardinality group.\n' + _ARGS)
