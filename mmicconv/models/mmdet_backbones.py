"""IC backbones registered in ``mmdet.registry.MODELS`` (imported only with mmdet).

Each class is its upstream MMDetection class with
:class:`~mmicconv.models.ICResNetMixin` first in the bases: every upstream
argument works unchanged, plus ``pattern`` and ``ic_strategy``.
"""

from mmdet.models.backbones import ResNet, ResNetV1d, ResNeXt
from mmdet.registry import MODELS

from .ic_resnet import ICResNetMixin

__all__ = ['ICResNet', 'ICResNetV1d', 'ICResNeXt']


@MODELS.register_module()
class ICResNet(ICResNetMixin, ResNet):
    """IC-ResNet for MMDetection: ``mmdet``'s ``ResNet`` whose covered 3x3 convs are
    :class:`~mmicconv.ops.ICConv2d` (Bottleneck ``conv2``; BasicBlock ``conv1`` and ``conv2``).

    Args:
        pattern: The dilation pattern: a path (absolute, relative to the
            working directory, or relative to ``pattern_zoo/``, e.g.
            ``'detection/ic_resnet50_k9.json'``), a list in the published format, or a
            :class:`~mmicconv.pattern.Pattern`. ``None`` builds the plain
            upstream network.
        ic_strategy: ICConv2d execution strategy, ``'auto'`` by default
            (see :meth:`mmicconv.ops.ICConv2d.set_strategy`).
        **kwargs: Every argument of ``mmdet``'s ``ResNet`` (``depth``,
            ``out_indices``, ``frozen_stages``, ``norm_cfg``, ``norm_eval``,
            ``style``, ``with_cp``, ``init_cfg``, ...), unchanged.
    """


@MODELS.register_module()
class ICResNetV1d(ICResNetMixin, ResNetV1d):
    """IC-ResNetV1d for MMDetection: ``mmdet``'s ``ResNetV1d`` whose covered 3x3 convs are
    :class:`~mmicconv.ops.ICConv2d` (Bottleneck ``conv2``; the deep stem is never converted).

    Args:
        pattern: The dilation pattern: a path (absolute, relative to the
            working directory, or relative to ``pattern_zoo/``, e.g.
            ``'detection/ic_resnet50_k9.json'``), a list in the published format, or a
            :class:`~mmicconv.pattern.Pattern`. ``None`` builds the plain
            upstream network.
        ic_strategy: ICConv2d execution strategy, ``'auto'`` by default
            (see :meth:`mmicconv.ops.ICConv2d.set_strategy`).
        **kwargs: Every argument of ``mmdet``'s ``ResNetV1d`` (``depth``,
            ``out_indices``, ``frozen_stages``, ``norm_cfg``, ``norm_eval``,
            ``style``, ``with_cp``, ``init_cfg``, ...), unchanged.
    """


@MODELS.register_module()
class ICResNeXt(ICResNetMixin, ResNeXt):
    """IC-ResNeXt for MMDetection: ``mmdet``'s ``ResNeXt`` whose covered 3x3 convs are
    :class:`~mmicconv.ops.ICConv2d` (the grouped ``conv2``; a pattern counts channels or cardinality groups).

    Args:
        pattern: The dilation pattern: a path (absolute, relative to the
            working directory, or relative to ``pattern_zoo/``, e.g.
            ``'detection/ic_resnet50_k9.json'``), a list in the published format, or a
            :class:`~mmicconv.pattern.Pattern`. ``None`` builds the plain
            upstream network.
        ic_strategy: ICConv2d execution strategy, ``'auto'`` by default
            (see :meth:`mmicconv.ops.ICConv2d.set_strategy`).
        **kwargs: Every argument of ``mmdet``'s ``ResNeXt`` (``depth``,
            ``out_indices``, ``frozen_stages``, ``norm_cfg``, ``norm_eval``,
            ``style``, ``with_cp``, ``init_cfg``, ...), unchanged.
    """
