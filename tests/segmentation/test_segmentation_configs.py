"""Every shipped semantic-segmentation config: inherits the stock mmseg config, changes only the
backbone (the paper's 7x7-stem ResNet with the published COCO segmentation k9 pattern), builds and
runs; the DeepLabV3+ ones scale the pattern by their dilated stages.

The published patterns come from ``../shared/reference`` through ``tools/fetch_pattern_zoo.py
--source`` into a temporary zoo (skipped with the reason when absent); ``init_cfg`` is disabled
because no checkpoint exists here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import REPO, build_model, check_config_file
from mmengine.config import Config
from reference_impl import per_channel_dilations

from mmicconv.models.ic_resnet import ic_conv_sites

pytest.importorskip('mmseg')

CONFIG_DIR = REPO / 'configs' / 'segmentation'
# config stem -> (stock base, depth, decode head, dilated stages)
CONFIGS = {
    'upernet_ic-r50-k9_4xb4-160k_ade20k-512x512': ('upernet/upernet_r50_4xb4-160k_ade20k-512x512.py', 50,
                                                   'UPerHead', False),
    'upernet_ic-r101-k9_4xb4-160k_ade20k-512x512': ('upernet/upernet_r101_4xb4-160k_ade20k-512x512.py', 101,
                                                    'UPerHead', False),
    'upernet_ic-r50-k9_4xb2-80k_cityscapes-512x1024': (
        'upernet/upernet_r50_4xb2-80k_cityscapes-512x1024.py', 50, 'UPerHead', False),
    'upernet_ic-r101-k9_4xb2-80k_cityscapes-512x1024': (
        'upernet/upernet_r101_4xb2-80k_cityscapes-512x1024.py', 101, 'UPerHead', False),
    'fpn_ic-r50-k9_4xb4-160k_ade20k-512x512': ('sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py', 50, 'FPNHead',
                                               False),
    'fpn_ic-r101-k9_4xb4-160k_ade20k-512x512': ('sem_fpn/fpn_r101_4xb4-160k_ade20k-512x512.py', 101,
                                                'FPNHead', False),
    'fpn_ic-r50-k9_4xb2-80k_cityscapes-512x1024': ('sem_fpn/fpn_r50_4xb2-80k_cityscapes-512x1024.py', 50,
                                                   'FPNHead', False),
    'fpn_ic-r101-k9_4xb2-80k_cityscapes-512x1024': ('sem_fpn/fpn_r101_4xb2-80k_cityscapes-512x1024.py', 101,
                                                    'FPNHead', False),
    'deeplabv3plus_ic-r50-k9-d8_4xb4-160k_ade20k-512x512': (
        'deeplabv3plus/deeplabv3plus_r50-d8_4xb4-160k_ade20k-512x512.py', 50, 'DepthwiseSeparableASPPHead',
        True),
    'deeplabv3plus_ic-r50-k9-d8_4xb2-80k_cityscapes-512x1024': (
        'deeplabv3plus/deeplabv3plus_r50-d8_4xb2-80k_cityscapes-512x1024.py', 50,
        'DepthwiseSeparableASPPHead', True),
}


def test_every_config_is_tested():
    assert sorted(p.stem for p in CONFIG_DIR.glob('*.py')) == sorted(CONFIGS)


def unscoped(value):
    """A config value as plain Python without the ``_scope_`` keys ``mmseg::`` bases add."""
    if hasattr(value, 'to_dict'):
        value = value.to_dict()
    if isinstance(value, dict):
        return {k: unscoped(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return [unscoped(v) for v in value]
    return value


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_config_only_changes_the_backbone(name):
    """The file sets ``_base_`` (mmseg::), ``custom_imports``, the pattern-record and label-check hooks and
    ``model.pretrained``/``model.backbone`` only; everything else is the stock config's."""
    base, depth, head, _ = CONFIGS[name]
    cfg = check_config_file(CONFIG_DIR / f'{name}.py', f'mmseg::{base}', ['pretrained', 'backbone'],
                            hooks=['SegLabelCheckHook'])
    stock = Config.fromfile(str(Path(__import__('mmseg').__file__).parent / '.mim' / 'configs' / base))
    assert cfg.model.decode_head.type == head
    backbone, stock_backbone = cfg.model.pop('backbone'), stock.model.pop('backbone')
    assert cfg.model.pop('pretrained') is None
    stock.model.pop('pretrained', None)
    assert unscoped(cfg.model) == unscoped(stock.model)
    for key in ('train_dataloader', 'test_dataloader', 'optim_wrapper', 'param_scheduler', 'train_cfg'):
        assert unscoped(cfg[key]) == unscoped(stock[key]), key
    # the paper's stem: mmseg's ResNet (7x7), the stock depth and stage settings kept
    assert backbone.type == 'ICResNet' and stock_backbone.type == 'ResNetV1c'
    # mmseg 1.2.2's fpn_r101 ADE20K config loses its depth (it assigns `model` twice): ours sets it
    assert backbone.depth == depth
    assert backbone.pattern == f'segmentation/ic_resnet{depth}_k9.json'
    assert backbone.init_cfg == dict(type='Pretrained',
                                     checkpoint=f'checkpoints/ic-r{depth}-k9_seg_imagenet.pth')
    for key in ('dilations', 'strides', 'contract_dilation', 'norm_cfg', 'out_indices'):
        assert backbone.get(key) == stock_backbone.get(key), key


@pytest.mark.parametrize('name', [n for n in sorted(CONFIGS) if CONFIGS[n][1] == 50])
def test_config_builds_and_segments(name, fetched_zoo, monkeypatch):
    """The segmentor builds from mmseg's registry (init_cfg off) and predicts a label map of the
    input's size; in dilated stages each IC channel's dilation is the stage's times the pattern's."""
    monkeypatch.setenv('MMICCONV_PATTERN_ZOO', str(fetched_zoo))
    _, depth, _, dilated = CONFIGS[name]
    cfg = Config.fromfile(str(CONFIG_DIR / f'{name}.py'))
    cfg.model.backbone.init_cfg = None
    cfg.model.backbone.norm_cfg = dict(type='BN', requires_grad=True)  # SyncBN needs a process group
    for head in ('decode_head', 'auxiliary_head'):
        if cfg.model.get(head):
            cfg.model[head].norm_cfg = dict(type='BN', requires_grad=True)
    model = build_model('mmseg', cfg.model).eval()
    entries = json.loads((fetched_zoo / 'segmentation' / f'ic_resnet{depth}_k9.json').read_text())
    stage_dilation = {1: 1, 2: 1, 3: 2, 4: 4} if dilated else {1: 1, 2: 1, 3: 1, 4: 1}
    for (site, block, attr), entry in zip(ic_conv_sites(model.backbone), entries):
        stage = int(site.split('.')[0][len('layer'):])
        first = site.split('.')[1] == '0'
        # contract_dilation: the first block of a dilated stage uses half the stage's dilation
        factor = stage_dilation[stage] // 2 if dilated and first and stage_dilation[stage] > 1 else \
            stage_dilation[stage]
        conv = getattr(block, attr)
        want = [[dh * factor, dw * factor] for dh, dw in per_channel_dilations(entry, conv.out_channels)]
        assert conv.ic_dilations.tolist() == want, site
    from mmseg.structures import SegDataSample
    x = torch.randn(1, 3, 64, 96)
    sample = SegDataSample(metainfo=dict(img_shape=(64, 96), ori_shape=(64, 96), pad_shape=(64, 96)))
    with torch.no_grad():
        [result] = model.predict(x, [sample])
    assert result.pred_sem_seg.data.shape == (1, 64, 96)
