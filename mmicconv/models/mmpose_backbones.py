"""IC backbones registered in ``mmpose.registry.MODELS`` (imported only with mmpose).

Each class is its upstream MMPose class with
:class:`~mmicconv.models.ICResNetMixin` first in the bases: every upstream
argument works unchanged, plus ``pattern`` and ``ic_strategy``.
"""

from mmpose.models.backbones import ResNet, ResNetV1d, ResNeXt
from mmpose.registry import MODELS

from .ic_resnet import ICResNetMixin

__all__ = ['ICResNet', 'ICResNetV1d', 'ICResNeXt']


@MODELS.register_module()
class ICResNet(ICResNetMixin, ResNet):
    """IC-ResNet for MMPose: ``mmpose``'s ``ResNet`` whose covered 3x3 convs are
    :class:`~mmicconv.ops.ICConv2d` (Bottleneck ``conv2``; BasicBlock ``conv1`` and ``conv2``).

    Arguments: ``pattern`` and ``ic_strategy`` (see :class:`~mmicconv.models.ICResNetMixin`)
    plus every upstream argument, unchanged.
    """


@MODELS.register_module()
class ICResNetV1d(ICResNetMixin, ResNetV1d):
    """IC-ResNetV1d for MMPose: ``mmpose``'s ``ResNetV1d`` whose covered 3x3 convs are
    :class:`~mmicconv.ops.ICConv2d` (Bottleneck ``conv2``; the deep stem is never converted).

    Arguments: ``pattern`` and ``ic_strategy`` (see :class:`~mmicconv.models.ICResNetMixin`)
    plus every upstream argument, unchanged.
    """


@MODELS.register_module()
class ICResNeXt(ICResNetMixin, ResNeXt):
    """IC-ResNeXt for MMPose: ``mmpose``'s ``ResNeXt`` whose covered 3x3 convs are
    :class:`~mmicconv.ops.ICConv2d` (the grouped ``conv2``; a pattern counts channels or cardinality groups).

    Arguments: ``pattern`` and ``ic_strategy`` (see :class:`~mmicconv.models.ICResNetMixin`)
    plus every upstream argument, unchanged.
    """
