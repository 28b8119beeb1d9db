"""IC backbones registered in ``mmdet.registry.MODELS`` (imported only with mmdet)."""

from mmdet.models.backbones import ResNet, ResNetV1d, ResNeXt
from mmdet.registry import MODELS

from .ic_resnet import register_ic_variants

__all__ = ['ICResNet', 'ICResNetV1d', 'ICResNeXt']

ICResNet, ICResNetV1d, ICResNeXt = register_ic_variants(
    MODELS, 'MMDetection', (ResNet, ResNetV1d, ResNeXt), __name__, 'detection/ic_resnet50_k9.json')
