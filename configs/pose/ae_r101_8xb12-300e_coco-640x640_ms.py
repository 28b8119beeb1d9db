# ae_r101_8xb12-300e_coco-640x640.py tested at scales 2, 1 and 0.5, each with its flip (the paper's
# multi-scale results), MMPose 0.x style: the heatmaps of all six inputs
# resized to the base input and averaged, their tags concatenated
# (mmicconv.pose: BottomupMultiscaleResize, PackMultiscalePoseInputs,
# MultiscalePoseDataPreprocessor, TrainableAssociativeEmbeddingHead.predict).
# For testing only (training is the single-scale config's).
_base_ = ['./ae_r101_8xb12-300e_coco-640x640.py']

model = dict(test_cfg=dict(multiscale_test=True))

val_pipeline = [
    dict(type='LoadImage'),
    dict(type='BottomupMultiscaleResize', input_size=(640, 640), aug_scales=[2.0, 0.5], size_factor=32,
         resize_mode='expand'),
    dict(
        type='PackMultiscalePoseInputs',
        meta_keys=('id', 'img_id', 'img_path', 'crowd_index', 'ori_shape', 'img_shape', 'input_size',
                   'input_center', 'input_scale', 'flip', 'flip_direction', 'flip_indices',
                   'raw_ann_info', 'skeleton_links', 'aug_scales')),
]
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
