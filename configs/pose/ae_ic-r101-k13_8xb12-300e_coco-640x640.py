# AE with IC-ResNet-101 (pose pattern k13) on COCO at 640x640: the paper's
# IC-R101 result (63.3 AP single scale, 68.5 with scales 2, 1, 0.5). Weights:
#   python tools/convert_checkpoint.py ckpt/human_pose/ic_res101_k13_imagenet_retrain/ckpt.pth \
#       checkpoints/ic-r101-k13_imagenet-retrain.pth --pattern human_pose/ic_resnet101_k13.json
# (the published IC-R101 pose checkpoint's folder name says it was trained with
# lr 0.0005; this file keeps the shared recipe's 1e-3)
_base_ = ['./ae_r50_8xb16-300e_coco-640x640.py']
# checkpoints record this pattern; loading one of another pattern is refused (tools/train.py and
# tools/test.py add the hook themselves, this line is for mmdet's/mmpose's stock tools)
custom_hooks = [dict(type='ICPatternRecordHook')]

model = dict(
    backbone=dict(
        type='ICResNet',
        depth=101,
        pattern='human_pose/ic_resnet101_k13.json',
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/ic-r101-k13_imagenet-retrain.pth')))
