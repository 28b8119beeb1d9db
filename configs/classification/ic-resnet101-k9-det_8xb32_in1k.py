# ImageNet-1k classifier: MMPretrain's resnet101_8xb32_in1k with an ICResNet backbone,
# the detection k9 pattern of IC-R101 (detection/ic_resnet101_k9.json).
# Only the backbone type and pattern differ from the stock config.
# The paper's checkpoint (ckpt/detection/r101_imagenet_retrain/ckpt.pth.tar) as a whole classifier:
#   python tools/convert_checkpoint.py ckpt/detection/r101_imagenet_retrain/ckpt.pth.tar \
#       checkpoints/ic-resnet101-k9-det_in1k.pth --pattern detection/ic_resnet101_k9.json --classifier
# then mmpretrain's tools/test.py THIS_CONFIG checkpoints/ic-resnet101-k9-det_in1k.pth
#   evaluates it on ImageNet val.
# Retraining it (the paper's protocol, docs/search.md) is mmpretrain's tools/train.py THIS_CONFIG.
_base_ = 'mmpretrain::resnet/resnet101_8xb32_in1k.py'
custom_imports = dict(imports=['mmicconv'], allow_failed_imports=False)
custom_hooks = [dict(type='ICPatternRecordHook')]  # checkpoints record the pattern

model = dict(backbone=dict(type='ICResNet', pattern='detection/ic_resnet101_k9.json'))
