# Semantic FPN, ADE20K 512x512, 160k iterations, with an IC-R101 backbone (the paper's COCO
# instance-segmentation k9 pattern; the paper published no semantic-segmentation pattern).
# Only the backbone differs from the stock mmseg config. The stem is the paper's single 7x7
# conv: mmseg's `ResNet` (the "b" variant of its model zoo), not the deep-stem `ResNetV1c` the
# stock config uses.
# Backbone weights: the paper's ImageNet-retrain checkpoint converted with
#   python tools/convert_checkpoint.py ckpt/segmentation/r101_imagenet_retrain/ckpt.pth.tar \
#       checkpoints/ic-r101-k9_seg_imagenet.pth --pattern segmentation/ic_resnet101_k9.json
# Alternative without it: a plain ResNet checkpoint loads unchanged
# (--cfg-options model.backbone.init_cfg.checkpoint=torchvision://resnet101).
# Pattern: python tools/fetch_pattern_zoo.py (writes pattern_zoo/segmentation/...).
# depth=101 is set here: mmseg 1.2.2's fpn_r101 ADE20K config assigns `model` twice, so its
# own backbone is a ResNet-50.
_base_ = 'mmseg::sem_fpn/fpn_r101_4xb4-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmicconv'], allow_failed_imports=False)
# checkpoints record this pattern; loading one of another pattern is refused
custom_hooks = [dict(type='ICPatternRecordHook'), dict(type='SegLabelCheckHook')]

model = dict(
    pretrained=None,  # the stock config's open-mmlab://resnet101_v1c; init_cfg below instead
    backbone=dict(
        type='ICResNet',
        depth=101,
        pattern='segmentation/ic_resnet101_k9.json',
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/ic-r101-k9_seg_imagenet.pth')))
