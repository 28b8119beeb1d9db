# AE with IC-ResNet-50 (pose pattern k13: dilations 1..6 per axis) on COCO at
# 640x640: the paper's IC-R50 result (62.2 AP single scale, 65.8 with scales
# 2, 1, 0.5). The pattern comes from pattern_zoo/ (tools/fetch_pattern_zoo.py);
# the ImageNet-retrained IC-R50 k13 weights are converted once with
#   python tools/convert_checkpoint.py ckpt/human_pose/ic_res50_k13_imagenet_retrain/ckpt.pth \
#       checkpoints/ic-r50-k13_imagenet-retrain.pth --pattern human_pose/ic_resnet50_k13.json
_base_ = ['./ae_r50_8xb16-300e_coco-640x640.py']
# checkpoints record this pattern; loading one of another pattern is refused (tools/train.py and
# tools/test.py add the hook themselves, this line is for mmdet's/mmpose's stock tools)
# mmpose's default_runtime has SyncBuffersHook (BN statistics synced across GPUs each epoch): kept
custom_hooks = [dict(type='SyncBuffersHook'), dict(type='ICPatternRecordHook')]

model = dict(
    backbone=dict(
        type='ICResNet',
        pattern='human_pose/ic_resnet50_k13.json',
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/ic-r50-k13_imagenet-retrain.pth')))
