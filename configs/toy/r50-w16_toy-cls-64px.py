# Image classification on the toy crops (tools/make_toy_classification.py: objects of the
# toy COCO, 4 classes, 64x64), a narrow plain ResNet-50 (base_channels 16: stage widths
# 16..128, 512 features), trained from scratch on a CPU in under a minute. The baseline of
# ic-r50-w16_toy-cls-64px.py and the pretraining step of the paper's protocol at toy scale
# (docs/search.md). Model from mmpretrain's ResNet-50 ImageNet config; the rest is small.
_base_ = ['mmpretrain::_base_/models/resnet50.py', 'mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['mmicconv'], allow_failed_imports=False)
custom_hooks = [dict(type='ICPatternRecordHook')]

data_root = 'data/toy_cls/'
classes = ('ellipse', 'person', 'rectangle', 'triangle')  # CustomDataset's sorted folder names
epochs = 12

model = dict(
    backbone=dict(base_channels=16, stem_channels=16),
    head=dict(num_classes=len(classes), in_channels=512, topk=(1,)))
data_preprocessor = dict(num_classes=len(classes), mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.6, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]


def _loader(split, pipeline, shuffle):
    return dict(batch_size=32, num_workers=0, persistent_workers=False,
                sampler=dict(type='DefaultSampler', shuffle=shuffle),
                dataset=dict(type='CustomDataset', data_root=data_root, data_prefix=split,
                             classes=classes, pipeline=pipeline))


train_dataloader = _loader('train', train_pipeline, True)
val_dataloader = _loader('val', test_pipeline, False)
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1,))
test_evaluator = val_evaluator
del _loader

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=epochs, eta_min=1e-5),
]
train_cfg = dict(by_epoch=True, max_epochs=epochs, val_interval=epochs)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=epochs, max_keep_ckpts=1))
randomness = dict(seed=0)
