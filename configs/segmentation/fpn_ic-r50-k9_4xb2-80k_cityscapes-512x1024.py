# Semantic FPN, Cityscapes 512x1024 crops, 80k iterations, with an IC-R50 backbone (the paper's COCO
# instance-segmentation k9 pattern; the paper published no semantic-segmentation pattern).
# Only the backbone differs from the stock mmseg config. The stem is the paper's single 7x7
# conv: mmseg's `ResNet` (the "b" variant of its model zoo), not the deep-stem `ResNetV1c` the
# stock config uses.
# Backbone weights: the paper's ImageNet-retrain checkpoint converted with
#   python tools/convert_checkpoint.py ckpt/segmentation/r50_imagenet_retrain/ckpt.pth.tar \
#       checkpoints/ic-r50-k9_seg_imagenet.pth --pattern segmentation/ic_resnet50_k9.json
# Alternative without it: a plain ResNet checkpoint loads unchanged
# (--cfg-options model.backbone.init_cfg.checkpoint=torchvision://resnet50).
# Pattern: python tools/fetch_pattern_zoo.py (writes pattern_zoo/segmentation/...).
_base_ = 'mmseg::sem_fpn/fpn_r50_4xb2-80k_cityscapes-512x1024.py'
custom_imports = dict(imports=['mmicconv'], allow_failed_imports=False)
# checkpoints record this pattern; loading one of another pattern is refused
custom_hooks = [dict(type='ICPatternRecordHook'), dict(type='SegLabelCheckHook')]

model = dict(
    pretrained=None,  # the stock config's open-mmlab://resnet50_v1c; init_cfg below instead
    backbone=dict(
        type='ICResNet',
        depth=50,
        pattern='segmentation/ic_resnet50_k9.json',
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/ic-r50-k9_seg_imagenet.pth')))
