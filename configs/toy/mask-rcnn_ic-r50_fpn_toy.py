# Mask R-CNN with an IC-R50 backbone on the bundled toy COCO
# (tools/make_toy_coco.py), trained from scratch on a CPU in a few minutes.
#
# No pretrained weights: the full-width IC-R50 (depth 50, all channels) is
# trained from random init with BatchNorm in train mode, no frozen stage, AdamW
# and a short warmup; inputs are small (longest side 128 px), so anchors are
# halved (scales=[4]: 16..256 px) to match the toy objects (8-120 px).
# Pattern: the project's own pattern_zoo/toy/ic_resnet50_toy.json (made by
# tools/make_toy_pattern.py; not a searched one), so this runs offline.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
# mmicconv.engine (imported by mmicconv): a --resume from a mid-epoch checkpoint continues where it
# stopped (see docs/training.md)
custom_imports = dict(imports=['mmicconv'], allow_failed_imports=False)

data_root = 'data/toy_coco/'
classes = ('person', 'rectangle', 'ellipse', 'triangle')
metainfo = dict(classes=classes)
image_scale = (128, 128)

model = dict(
    backbone=dict(
        type='ICResNet',
        pattern='toy/ic_resnet50_toy.json',
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=None),
    rpn_head=dict(anchor_generator=dict(scales=[4])),
    roi_head=dict(
        bbox_head=dict(num_classes=len(classes)),
        # a lighter mask head than the COCO one (4 convs x 256 channels), for the toy's
        # 14x14 masks of simple shapes: on 2 CPU cores the whole toy training takes
        # about 245 s instead of 421 s; toy segm AP 0.134 instead of 0.210 (one run each)
        mask_head=dict(num_classes=len(classes), num_convs=2, conv_out_channels=128)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=500),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json', metric=['bbox', 'segm'])
test_evaluator = val_evaluator

max_epochs = 4
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=10.0, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[3], gamma=0.1),
]
default_hooks = dict(
    logger=dict(interval=8),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
custom_hooks = [dict(type='RNGStateHook')]
env_cfg = dict(cudnn_benchmark=False)
auto_scale_lr = dict(enable=False, base_batch_size=8)
