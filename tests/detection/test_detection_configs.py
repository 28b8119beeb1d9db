"""Every shipped detection config: loads, inherits the stock mmdet config, builds, runs.

The published patterns come from ``../shared/reference`` through
``tools/fetch_pattern_zoo.py --source`` into a temporary zoo (skipped with the
reason when absent); ``init_cfg`` is disabled because no checkpoint exists here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import REPO, build_model, check_config_file
from mmengine.config import Config

CONFIG_DIR = REPO / 'configs' / 'detection'
# config stem -> (stock base, model type, task of the pattern, depth, with masks, paper box AP)
CONFIGS = {
    'faster-rcnn_ic-r50-k9_fpn_1x_coco': ('faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', 'FasterRCNN',
                                          'detection', 50, False),
    'faster-rcnn_ic-r101-k9_fpn_1x_coco': ('faster_rcnn/faster-rcnn_r101_fpn_1x_coco.py', 'FasterRCNN',
                                           'detection', 101, False),
    'cascade-rcnn_ic-r50-k9_fpn_1x_coco': ('cascade_rcnn/cascade-rcnn_r50_fpn_1x_coco.py', 'CascadeRCNN',
                                           'detection', 50, False),
    'cascade-rcnn_ic-r101-k9_fpn_1x_coco': ('cascade_rcnn/cascade-rcnn_r101_fpn_1x_coco.py', 'CascadeRCNN',
                                            'detection', 101, False),
    'mask-rcnn_ic-r50-k9_fpn_1x_coco': ('mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', 'MaskRCNN',
                                        'segmentation', 50, True),
    'mask-rcnn_ic-r101-k9_fpn_1x_coco': ('mask_rcnn/mask-rcnn_r101_fpn_1x_coco.py', 'MaskRCNN',
                                         'segmentation', 101, True),
    'cascade-mask-rcnn_ic-r50-k9_fpn_1x_coco': ('cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py',
                                                'CascadeRCNN', 'segmentation', 50, True),
    'cascade-mask-rcnn_ic-r101-k9_fpn_1x_coco': ('cascade_rcnn/cascade-mask-rcnn_r101_fpn_1x_coco.py',
                                                 'CascadeRCNN', 'segmentation', 101, True),
}


def test_every_config_is_tested():
    assert sorted(p.stem for p in CONFIG_DIR.glob('*.py')) == sorted(CONFIGS)


@pytest.fixture
def zoo_env(fetched_zoo, monkeypatch) -> Path:
    monkeypatch.setenv('MMICCONV_PATTERN_ZOO', str(fetched_zoo))
    return fetched_zoo


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_config_only_changes_the_backbone(name):
    """The file sets ``_base_`` (mmdet::), ``custom_imports``, the pattern-record hook and
    ``model.backbone`` only."""
    base, model_type, task, depth, _ = CONFIGS[name]
    cfg = check_config_file(CONFIG_DIR / f'{name}.py', f'mmdet::{base}', ['backbone'])
    assert cfg.model.type == model_type
    assert cfg.train_dataloader.dataset.type == 'CocoDataset'         # the rest is the stock config
    backbone = cfg.model.backbone
    assert backbone.type == 'ICResNet' and backbone.depth == depth
    assert backbone.pattern == f'{task}/ic_resnet{depth}_k9.json'
    assert backbone.frozen_stages == 1 and backbone.norm_eval is True   # inherited
    short = 'det' if task == 'detection' else 'seg'
    checkpoint = f'checkpoints/ic-r{depth}-k9_{short}_imagenet.pth'
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint=checkpoint)


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_config_builds_and_runs_loss_and_predict(name, zoo_env):
    from mmdet.testing import demo_mm_inputs

    from mmicconv.ops import ICConv2d

    _, _, task, depth, with_mask = CONFIGS[name]
    cfg = Config.fromfile(str(CONFIG_DIR / f'{name}.py'))
    cfg.model.backbone.init_cfg = None
    model = build_model('mmdet', cfg.model)
    ic_convs = [m for m in model.backbone.modules() if isinstance(m, ICConv2d)]
    assert len(ic_convs) == {50: 16, 101: 33}[depth]
    pattern = model.backbone.ic_pattern
    assert len(pattern) == len(ic_convs)
    assert any(max(g.dilation) > 1 for conv in pattern for g in conv.groups)
    # no init_weights(): its zero_init_residual (gamma=0 in each block's last BN) would
    # zero the gradient of every IC conv at step 0, and the check below wants it non-zero

    torch.manual_seed(0)
    packed = demo_mm_inputs(batch_size=2, image_shapes=[(3, 96, 128), (3, 128, 96)], num_items=[3, 2],
                            num_classes=80, with_mask=with_mask)
    model.train()
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total) and total.item() > 0
    assert any('mask' in k for k in losses) == with_mask
    total.backward()
    grad = model.backbone.layer3[0].conv2.weight.grad
    assert grad is not None and grad.abs().sum() > 0

    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(packed, False), mode='predict')
    assert len(results) == 2
    for res in results:
        inst = res.pred_instances
        assert inst.bboxes.shape[1] == 4 and len(inst.scores) == len(inst.labels) == len(inst.bboxes)
        assert ('masks' in inst) == with_mask
