# ImageNet-1k classifier: MMPretrain's resnext101-32x4d_8xb32_in1k with an ICResNeXt backbone,
# the k9 pattern of IC-ResNeXt-101 32x4d (ic_resnext101_32x4d_k9.json).
# Only the backbone type and pattern differ from the stock config.
# The paper's checkpoint (the paper's IC-ResNeXt-101 32x4d ImageNet checkpoint) as a whole classifier:
#   python tools/convert_checkpoint.py CKPT \
#       checkpoints/ic-resnext101-32x4d-k9_in1k.pth --pattern ic_resnext101_32x4d_k9.json --arch resnext --classifier
# then mmpretrain's tools/test.py THIS_CONFIG checkpoints/ic-resnext101-32x4d-k9_in1k.pth
#   evaluates it on ImageNet val.
# Retraining it (the paper's protocol, docs/search.md) is mmpretrain's tools/train.py THIS_CONFIG.
_base_ = 'mmpretrain::resnext/resnext101-32x4d_8xb32_in1k.py'
custom_imports = dict(imports=['mmicconv'], allow_failed_imports=False)
custom_hooks = [dict(type='ICPatternRecordHook')]  # checkpoints record the pattern

model = dict(backbone=dict(type='ICResNeXt', pattern='ic_resnext101_32x4d_k9.json'))
