# AE with IC-ResNet-101 (pose pattern k13) on COCO at 640x640: the paper's
# IC-R101 result (63.3 AP single scale, 68.5 with scales 2, 1, 0.5). The R101
# recipe (12 images per GPU, Adam lr 5e-4) with the IC backbone; validation and
# checkpoints every 20 epochs as the paper's ic_res101_k13_coco_640x640.py. Weights:
#   python tools/convert_checkpoint.py ckpt/human_pose/ic_res101_k13_imagenet_retrain/ckpt.pth \
#       checkpoints/ic-r101-k13_imagenet-retrain.pth --pattern human_pose/ic_resnet101_k13.json
_base_ = ['./ae_r101_8xb12-300e_coco-640x640.py']
# checkpoints record this pattern; loading one of another pattern is refused (tools/train.py and
# tools/test.py add the hook themselves, this line is for mmdet's/mmpose's stock tools)
# mmpose's default_runtime has SyncBuffersHook (BN statistics synced across GPUs each epoch): kept
custom_hooks = [dict(type='SyncBuffersHook'), dict(type='ICPatternRecordHook')]

train_cfg = dict(val_interval=20)
default_hooks = dict(checkpoint=dict(interval=20))

model = dict(
    backbone=dict(
        type='ICResNet',
        depth=101,
        pattern='human_pose/ic_resnet101_k13.json',
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/ic-r101-k13_imagenet-retrain.pth')))
