# Bottom-up associative embedding (AE) with a plain ResNet-50 on COCO at
# 640x640: the IC-Conv paper's R50 baseline recipe (paper: 51.0 AP single
# scale), trainable on MMPose 1.x through mmicconv's AE pieces (mmicconv/pose).
# Every pose config inherits this file: the IC-R50 one swaps the backbone, the
# R101 one sets the paper's R101 batch and lr (12 per GPU, 5e-4), and the IC-R101
# one inherits the R101 one.
_base_ = ['mmpose::_base_/default_runtime.py']

# mmicconv: the IC backbones; mmicconv.pose: the AE training and test pieces (not imported by a
# plain `import mmicconv`, which detection configs run)
custom_imports = dict(imports=['mmicconv', 'mmicconv.pose'], allow_failed_imports=False)

# The recipe of the paper's human_pose/config/res50_coco_640x640.py (MMPose 0.x); the comparison
# setting by setting, and what could not be carried over, is in docs/pose.md.

# runtime: 300 epochs, validation (and a checkpoint) every 50, as the paper's R50 configs
train_cfg = dict(max_epochs=300, val_interval=50)

# optimizer: Adam, lr 1e-3 for 8 GPUs x 16 images (the R101 configs: 5e-4 for 8 x 12)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))

# learning policy: linear warm-up over 500 iterations, x0.1 at epochs 200, 260
param_scheduler = [
    dict(type='LinearLR', begin=0, end=500, start_factor=0.001, by_epoch=False),
    dict(type='MultiStepLR', begin=0, end=300, milestones=[200, 260], gamma=0.1, by_epoch=True),
]

# off by default; --auto-scale-lr scales the lr linearly by (total batch) / 128 (8 GPUs x 16)
auto_scale_lr = dict(enable=False, base_batch_size=128)

default_hooks = dict(checkpoint=dict(save_best='coco/AP', rule='greater', interval=50))

# codec: 17 Gaussian heatmaps (sigma 2) at 1/4 of the input, plus the keypoint
# indices for the tag loss. TrainableAssociativeEmbedding is mmpose's codec
# whose keypoint_indices survive PackPoseInputs.
codec = dict(
    type='TrainableAssociativeEmbedding',
    input_size=(640, 640),
    heatmap_size=(160, 160),
    sigma=2,
    decode_keypoint_order=[0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16],
    decode_topk=30,
    decode_center_shift=0.5,
    decode_max_instances=30)

model = dict(
    # BottomupPoseEstimator that also predicts from an image pyramid (multi-scale test)
    type='MultiscaleBottomupPoseEstimator',
    # PoseDataPreprocessor that also takes image pyramids (multi-scale test, the _ms configs)
    data_preprocessor=dict(
        type='MultiscalePoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='ResNet',
        depth=50,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    head=dict(
        # AssociativeEmbeddingHead with a loss that trains (mmicconv/pose/head.py)
        type='TrainableAssociativeEmbeddingHead',
        in_channels=2048,
        num_keypoints=17,
        tag_dim=1,
        tag_per_keypoint=True,
        # stride 32 -> 4: three 2x deconvolutions, 160x160 heatmaps at 640 input
        deconv_out_channels=(256, 256, 256),
        deconv_kernel_sizes=(4, 4, 4),
        keypoint_loss=dict(type='KeypointMSELoss', use_target_weight=True),
        # pull and push weighted 0.001 (push x0.5), averaged over the batch as in MMPose 0.x
        tag_loss=dict(type='TrainableAssociativeEmbeddingLoss', loss_weight=0.001),
        # heatmaps are resized to the input size before decoding
        decoder=dict(codec, heatmap_size=codec['input_size'])),
    # flip_test=False works too; multiscale_test=True needs the val pipeline's aug_scales (the
    # _ms configs); multiscale_tags: 'all' scales' tags concatenated (0.x as the paper used) or 'base'
    test_cfg=dict(
        multiscale_test=False,
        multiscale_tags='all',
        flip_test=True,
        shift_heatmap=False,
        restore_heatmap_size=True,
        align_corners=False))

# data
dataset_type = 'CocoDataset'
data_mode = 'bottomup'
data_root = 'data/coco/'

train_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='BottomupRandomAffine',
        input_size=codec['input_size'],
        shift_factor=0.2,
        rotate_factor=30,
        scale_factor=(0.75, 1.5),
        scale_type='short'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='GenerateTarget', encoder=codec),
    # valid-region mask at heatmap size; crowd (RLE) regions masked too
    dict(type='TrainableBottomupGetHeatmapMask'),
    dict(type='PackPoseInputs'),
]
# BottomupResize / PackPoseInputs that also build and pack an aligned image pyramid when
# given aug_scales (see the _ms configs); without, they do what mmpose's do
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='BottomupMultiscaleResize', input_size=codec['input_size'], size_factor=32,
         resize_mode='expand'),
    dict(
        type='PackMultiscalePoseInputs',
        meta_keys=('id', 'img_id', 'img_path', 'crowd_index', 'ori_shape', 'img_shape', 'input_size',
                   'input_center', 'input_scale', 'flip', 'flip_direction', 'flip_indices',
                   'raw_ann_info', 'skeleton_links', 'aug_scales')),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/person_keypoints_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader

# COCO keypoint AP (OKS), grouped instances scored by their mean keypoint score
val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/person_keypoints_val2017.json',
    nms_mode='none',
    score_mode='bbox')
test_evaluator = val_evaluator
