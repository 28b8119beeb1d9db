"""IC backbones registered in ``mmpose.registry.MODELS`` (imported only with mmpose)."""

from mmpose.models.backbones import ResNet, ResNetV1d, ResNeXt
from mmpose.registry import MODELS

from .ic_resnet import register_ic_variants

__all__ = ['ICResNet', 'ICResNetV1d', 'ICResNeXt']

ICResNet, ICResNetV1d, ICResNeXt = register_ic_variants(
    MODELS, 'MMPose', (ResNet, ResNetV1d, ResNeXt), __name__, 'human_pose/ic_resnet50_k13.json')
