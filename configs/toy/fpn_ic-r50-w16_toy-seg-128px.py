# Semantic segmentation on the toy COCO's label maps (tools/make_toy_segmentation.py: background +
# 4 classes), Semantic FPN with a narrow IC-R50 (base_channels 16: stage widths 16..128) and the
# project's hand-made toy pattern at this width (pattern_zoo/toy/ic_resnet50-w16_toy.json; not
# searched, no accuracy claim), trained from scratch on a CPU in a few minutes. Model from
# mmseg's Semantic FPN base; the paper's single 7x7 stem (mmseg's ResNet); the rest is small.
_base_ = ['mmseg::_base_/models/fpn_r50.py', 'mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['mmicconv'], allow_failed_imports=False)
custom_hooks = [dict(type='ICPatternRecordHook'), dict(type='SegLabelCheckHook')]

data_root = 'data/toy_seg/'
classes = ('background', 'person', 'rectangle', 'ellipse', 'triangle')
crop = (128, 128)
iters = 320
norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop),
    backbone=dict(type='ICResNet', depth=50, base_channels=16, stem_channels=16, norm_cfg=norm_cfg,
                  pattern='toy/ic_resnet50-w16_toy.json', init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    decode_head=dict(in_channels=[64] * 4, channels=64, num_classes=len(classes), norm_cfg=norm_cfg))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=crop, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=crop, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]


def _loader(split, pipeline, shuffle, batch):
    return dict(batch_size=batch, num_workers=0, persistent_workers=False,
                sampler=dict(type='InfiniteSampler' if shuffle else 'DefaultSampler', shuffle=shuffle),
                dataset=dict(type='BaseSegDataset', data_root=data_root, metainfo=dict(classes=classes),
                             img_suffix='.jpg', seg_map_suffix='.png',
                             data_prefix=dict(img_path=f'img_dir/{split}', seg_map_path=f'ann_dir/{split}'),
                             pipeline=pipeline))


train_dataloader = _loader('train', train_pipeline, True, 8)
val_dataloader = _loader('val', test_pipeline, False, 1)
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
del _loader

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='PolyLR', power=0.9, eta_min=1e-5, by_epoch=False, begin=20, end=iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=iters, max_keep_ckpts=1),
    visualization=dict(type='SegVisualizationHook'))
randomness = dict(seed=0)
