# Cascade Mask R-CNN FPN 1x on COCO with an IC-R50 backbone (k9 segmentation pattern).
# Only the backbone differs from the stock mmdet config. Backbone weights: the
# paper's ImageNet-retrain checkpoint (ckpt/segmentation/r50_imagenet_retrain/ckpt.pth.tar) converted with
#   python tools/convert_checkpoint.py ckpt/segmentation/r50_imagenet_retrain/ckpt.pth.tar \
#       checkpoints/ic-r50-k9_seg_imagenet.pth --pattern segmentation/ic_resnet50_k9.json
# Alternative without it: a plain ResNet checkpoint loads unchanged
# (--cfg-options model.backbone.init_cfg.checkpoint=torchvision://resnet50).
# Pattern: python tools/fetch_pattern_zoo.py (writes pattern_zoo/segmentation/...).
_base_ = 'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmicconv'], allow_failed_imports=False)
# checkpoints record this pattern; loading one of another pattern is refused (tools/train.py and
# tools/test.py add the hook themselves, this line is for mmdet's/mmpose's stock tools)
custom_hooks = [dict(type='ICPatternRecordHook')]

model = dict(
    backbone=dict(
        type='ICResNet',
        pattern='segmentation/ic_resnet50_k9.json',
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/ic-r50-k9_seg_imagenet.pth')))
