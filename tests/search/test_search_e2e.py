"""tools/search_dilation.py end to end on the toy COCO (CPU, a narrow IC-R50, a few iterations)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import REPO, build_model
from mmengine.config import Config
from tool_helpers import make_toy_workspace, run, tool

import mmicconv  # noqa: F401
from mmicconv.checkpoint.record import RECORD_KEY
from mmicconv.pattern import Pattern

pytestmark = pytest.mark.e2e

TOY_FASTER = REPO / 'configs' / 'toy' / 'faster-rcnn_ic-r50_fpn_toy.py'
# a narrow IC-R50 (base 16: stage widths 16..128, outputs 64..512) on 8 images, batch 2
NARROW = ['model.backbone.base_channels=16', 'model.backbone.stem_channels=16',
          'model.neck.in_channels=[64,128,256,512]', 'train_dataloader.dataset.indices=8',
          'train_dataloader.batch_size=2']
PLANES = [16] * 3 + [32] * 4 + [64] * 6 + [128] * 3


@pytest.fixture(scope='module')
def searched(tmp_path_factory) -> Path:
    ws = make_toy_workspace(tmp_path_factory.mktemp('search_ws'))
    out = ws / 'search'
    run(tool('search_dilation.py') + [TOY_FASTER, '--d-max', '2', '--supernet-iters', '2',
                                       '--calib-batches', '2', '--supernet-init', 'scratch',
                                       '--work-dir', out,
                                       '--cfg-options', *NARROW], cwd=ws, timeout=600)
    return out


def test_search_writes_a_pattern_that_fits(searched):
    """pattern.json: 16 entries of the 4 keys of d_max 2, summing to each conv2's width."""
    pattern = Pattern.load(searched / 'pattern.json')
    assert [conv.total for conv in pattern] == PLANES
    assert all(set(conv.keys) == {(1, 1), (1, 2), (2, 1), (2, 2)} for conv in pattern)
    summary = json.loads((searched / 'search.json').read_text())
    assert [row['channels'] for row in summary['layers']] == PLANES
    assert summary['export_max_abs_diff'] < 1e-3
    assert (searched / 'pattern.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_inherited_checkpoint_loads_into_the_ic_detector(searched):
    """retrain_config.py builds the IC detector with the searched pattern; inherited.pth
    loads strictly into it (and carries the pattern record of that pattern), and
    init_cfg=Pretrained (prefix 'backbone.') gives the backbone the same tensors."""
    cfg = Config.fromfile(str(searched / 'retrain_config.py'))
    checkpoint = torch.load(searched / 'inherited.pth', map_location='cpu', weights_only=True)
    state = checkpoint['state_dict']
    record = checkpoint['meta'][RECORD_KEY]  # the workflow's pattern record, of the searched pattern
    assert record['patterns'][0]['pattern'] == Pattern.load(searched / 'pattern.json').to_list()
    detector = build_model('mmdet', cfg.model)
    detector.load_state_dict(state, strict=True)
    backbone_cfg = dict(cfg.model.backbone, init_cfg=dict(
        type='Pretrained', checkpoint=str(searched / 'inherited.pth'), prefix='backbone.'))
    backbone = build_model('mmdet', backbone_cfg)
    backbone.init_weights()
    for key, value in backbone.state_dict().items():
        torch.testing.assert_close(value, state[f'backbone.{key}'], msg=key)


def test_export_pattern_inherits_the_given_dilations(searched, tmp_path):
    """--export-pattern with --supernet-iters 0 --load-from the search's supernet checkpoint:
    every layer uniform at one dilation (cycling through the 4 of d_max 2), so no channel is
    permuted and each inherited conv2 kernel is the supernet kernel sampled at that dilation's
    taps (sliced here from the checkpoint)."""
    cands = [(1, 1), (1, 2), (2, 1), (2, 2)]
    given = [{f'({a - 1}, {b - 1})': (n if (a, b) == cands[i % 4] else 0) for a, b in cands}
             for i, n in enumerate(PLANES)]
    (tmp_path / 'given.json').write_text(json.dumps(given))
    supernet = searched / 'supernet' / 'iter_2.pth'
    out = tmp_path / 'export'
    run(tool('search_dilation.py') + [TOY_FASTER, '--d-max', '2', '--supernet-iters', '0',
                                       '--load-from', supernet, '--calib-batches', '1',
                                       '--export-pattern', tmp_path / 'given.json', '--work-dir', out,
                                       '--cfg-options', *NARROW], cwd=searched.parent, timeout=600)
    assert Pattern.load(out / 'pattern.json').to_list() == given
    assert json.loads((out / 'search.json').read_text())['export_max_abs_diff'] < 1e-3
    sup = torch.load(supernet, map_location='cpu', weights_only=False)['state_dict']
    inherited = torch.load(out / 'inherited.pth', map_location='cpu', weights_only=True)['state_dict']
    names = sorted({k.rsplit('.', 1)[0] for k in sup if k.endswith('conv2.weight') and 'layer' in k},
                   key=lambda n: [int(p) if p.isdigit() else p for p in n.replace('layer', '').split('.')])
    assert len(names) == len(PLANES)
    for i, name in enumerate(names):
        dh, dw = cands[i % 4]
        expected = sup[f'{name}.weight'][:, :, 2 - dh:3 + dh:dh, 2 - dw:3 + dw:dw]
        torch.testing.assert_close(inherited[f'{name}.weight'], expected, msg=name)
        torch.testing.assert_close(inherited[f'{name.rsplit(".", 1)[0]}.conv3.weight'],
                                   sup[f'{name.rsplit(".", 1)[0]}.conv3.weight'])


def test_search_writes_the_protocol_configs(searched):
    """pretrain_config.py: MMPretrain's ResNet-50 ImageNet config with the task's narrow IC
    backbone and the searched pattern; finetune_config.py: the task config, its backbone
    initialised from the last checkpoint of that pretraining (prefix 'backbone.')."""
    pytest.importorskip('mmpretrain')
    from mmicconv.ops import ICConv2d
    pretrain = Config.fromfile(str(searched / 'pretrain_config.py'))
    assert pretrain.default_scope == 'mmpretrain' and pretrain.train_cfg.max_epochs == 100  # stock
    backbone = pretrain.model.backbone
    assert (backbone.type, backbone.depth, backbone.base_channels, backbone.stem_channels) == (
        'ICResNet', 50, 16, 16)
    assert backbone.pattern == str(searched / 'pattern.json')
    classifier = build_model('mmpretrain', pretrain.model)
    convs = [m for m in classifier.backbone.modules() if isinstance(m, ICConv2d)]
    assert [c.out_channels for c in convs] == PLANES
    assert classifier(torch.randn(2, 3, 64, 64), mode='tensor').shape == (2, 1000)

    finetune = Config.fromfile(str(searched / 'finetune_config.py'))
    assert finetune.model.backbone.pattern == str(searched / 'pattern.json')
    assert finetune.model.backbone.init_cfg == dict(
        type='Pretrained', prefix='backbone.', checkpoint=str(searched / 'pretrain' / 'epoch_100.pth'))
    assert finetune.model.backbone.base_channels == 16 and finetune.load_from is None
