# AE with a plain ResNet-101 on COCO at 640x640: the paper's R101 baseline
# (55.5 AP single scale). Same recipe as the R50 config.
_base_ = ['./ae_r50_8xb16-300e_coco-640x640.py']

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
