# ImageNet-1k classifier: MMPretrain's resnet101_8xb32_in1k with an ICResNet backbone,
# the pose k13 pattern of IC-R101 (human_pose/ic_resnet101_k13.json).
# Only the backbone type and pattern differ from the stock config.
# The paper's checkpoint (ckpt/human_pose/ic_res101_k13_imagenet_retrain/ckpt.pth) as a whole classifier:
#   python tools/convert_checkpoint.py ckpt/human_pose/ic_res101_k13_imagenet_retrain/ckpt.pth \
#       checkpoints/ic-resnet101-k13-pose_in1k.pth --pattern human_pose/ic_resnet101_k13.json --classifier
# then mmpretrain's tools/test.py THIS_CONFIG checkpoints/ic-resnet101-k13-pose_in1k.pth
#   evaluates it on ImageNet val.
# Retraining it (the paper's protocol, docs/search.md) is mmpretrain's tools/train.py THIS_CONFIG.
_base_ = 'mmpretrain::resnet/resnet101_8xb32_in1k.py'
custom_imports = dict(imports=['mmicconv'], allow_failed_imports=False)
custom_hooks = [dict(type='ICPatternRecordHook')]  # checkpoints record the pattern

model = dict(backbone=dict(type='ICResNet', pattern='human_pose/ic_resnet101_k13.json'))
