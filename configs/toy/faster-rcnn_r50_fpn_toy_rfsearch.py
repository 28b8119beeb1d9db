# RF-Next baseline on the toy task: MMCV's RFSearchHook (mmcv.cnn.rfsearch) searches
# one dilation per layer for the plain ResNet-50 of the toy Faster R-CNN.
#
# The same model, data and 4-epoch schedule (128 iterations) as
# faster-rcnn_ic-r50_fpn_toy.py, with pattern=None (a plain ResNet). The search
# covers the same convs as the EDO search (the backbone's Bottleneck conv2): the
# stem's 7x7 conv, the neck and the heads are skipped. Dilations 1..4 per axis
# (the EDO "k9" space), two branches, a search step after each of the first 3
# epochs (max_step = 4, as upstream stops one step before the last epoch); the
# last written structure is work_dir/local_search_config_step3.json.
# runner_type 'RFSearchRunner' (mmicconv.search.rfnext) applies the hook to the
# model before the optimizer is built: nothing in mmengine calls its init_model.
# See docs/search.md ("RF-Next baseline").
_base_ = './faster-rcnn_ic-r50_fpn_toy.py'
custom_imports = dict(imports=['mmicconv', 'mmicconv.search.rfnext'],
                      allow_failed_imports=False)
runner_type = 'RFSearchRunner'

model = dict(backbone=dict(pattern=None))

rfsearch_config = dict(
    search=dict(
        step=0,
        max_step=4,
        search_interval=1,
        exp_rate=0.5,
        init_alphas=0.01,
        mmin=1,
        mmax=4,
        num_branches=2,
        skip_layer=['backbone.conv1', 'neck', 'rpn_head', 'roi_head']))
custom_hooks = [
    dict(type='RNGStateHook'),
    dict(type='RFSearchHook', mode='search', rfstructure_file=None, verbose=False, by_epoch=True,
         config=rfsearch_config),
]
