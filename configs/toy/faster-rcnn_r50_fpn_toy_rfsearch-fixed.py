# Retrain the toy Faster R-CNN with the dilations an RF-Next search found
# (faster-rcnn_r50_fpn_toy_rfsearch.py): RFSearchHook in 'fixed_single_branch'
# mode sets every searched conv's dilation (and padding) from the JSON, then the
# same 4-epoch schedule trains from scratch. Give the search's JSON with
#   --cfg-options custom_hooks.1.rfstructure_file=WORK_DIR/local_search_config_step3.json
_base_ = './faster-rcnn_r50_fpn_toy_rfsearch.py'

custom_hooks = [
    dict(type='RNGStateHook'),
    dict(type='RFSearchHook', mode='fixed_single_branch', rfstructure_file=None, verbose=True,
         by_epoch=True, config={{_base_.rfsearch_config}}),
]
