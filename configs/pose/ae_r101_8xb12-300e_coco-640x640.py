# AE with a plain ResNet-101 on COCO at 640x640: the paper's R101 baseline
# (55.5 AP single scale, 60.2 with scales 2, 1, 0.5). The R50 recipe with the
# paper's R101 batch and lr (res101_coco_640x640.py): 12 images per GPU and
# Adam lr 5e-4, i.e. 8 GPUs x 12 = 96 images per iteration.
_base_ = ['./ae_r50_8xb16-300e_coco-640x640.py']

optim_wrapper = dict(optimizer=dict(lr=5e-4))
train_dataloader = dict(batch_size=12)
# off by default; --auto-scale-lr scales the lr linearly by (total batch) / 96 (8 GPUs x 12)
auto_scale_lr = dict(base_batch_size=96)

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
