# Bottom-up AE pose with an IC-R50 backbone on the bundled toy COCO keypoints
# (tools/make_toy_coco.py: stick figures with the 17 COCO keypoints, 1-4 per
# image, overlapping), trained from scratch on a CPU in a few minutes, then
# evaluated with COCO keypoint AP (OKS) on the toy val split.
#
# The recipe of configs/pose/ae_ic-r50-k13_8xb16-300e_coco-640x640.py, shrunk:
# 128x128 input (32x32 heatmaps), batch 8, milder augmentation, no pretrained
# weights, 24 epochs (384 iterations; lr x0.1 at epoch 20: the tags separate the
# people between epochs 15 and 20, see docs/pose.md). Pattern: the project's own
# pattern_zoo/toy/ic_resnet50_toy.json (tools/make_toy_pattern.py; hand-made,
# not searched), so this runs offline.
_base_ = ['../pose/ae_ic-r50-k13_8xb16-300e_coco-640x640.py']

max_epochs = 24
input_size = (128, 128)
data_root = 'data/toy_coco/'

train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=20, start_factor=0.01, by_epoch=False),
    dict(type='MultiStepLR', begin=0, end=max_epochs, milestones=[20], gamma=0.1, by_epoch=True),
]
auto_scale_lr = dict(base_batch_size=8)
default_hooks = dict(
    logger=dict(interval=16),
    checkpoint=dict(interval=max_epochs, save_best=None, max_keep_ckpts=1))
randomness = dict(seed=0)

codec = dict(
    type='TrainableAssociativeEmbedding',
    input_size=input_size,
    heatmap_size=(32, 32),
    sigma=2,
    decode_keypoint_order=[0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16],
    decode_keypoint_thr=0.05,
    decode_topk=10,
    decode_center_shift=0.5,
    decode_max_instances=10)

model = dict(
    backbone=dict(pattern='toy/ic_resnet50_toy.json', init_cfg=None),
    head=dict(
        deconv_out_channels=(128, 128, 128),
        tag_loss=dict(loss_weight=0.01),
        decoder=dict(codec, heatmap_size=input_size)))

train_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='BottomupRandomAffine',
        input_size=input_size,
        shift_factor=0.1,
        rotate_factor=15,
        scale_factor=(0.8, 1.2),
        scale_type='short'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='TrainableBottomupGetHeatmapMask'),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    # multi-scale test: add aug_scales=[2.0, 0.5] here and model.test_cfg.multiscale_test=True
    dict(type='BottomupMultiscaleResize', input_size=input_size, size_factor=32, resize_mode='expand'),
    dict(
        type='PackMultiscalePoseInputs',
        meta_keys=('id', 'img_id', 'img_path', 'crowd_index', 'ori_shape', 'img_shape', 'input_size',
                   'input_center', 'input_scale', 'flip', 'flip_direction', 'flip_indices',
                   'raw_ann_info', 'skeleton_links', 'aug_scales')),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/person_keypoints_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/person_keypoints_val.json',
        data_prefix=dict(img='val/'),
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/person_keypoints_val.json')
test_evaluator = val_evaluator
