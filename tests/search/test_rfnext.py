"""RF-Next (mmcv's RFSearchHook) under mmengine: inert with a plain Runner, applied by
RFSearchRunner (search ops trained by the optimizer; a single-process JSON retrains)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn
from conftest import REPO
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner

rfsearch = pytest.importorskip('mmcv.cnn.rfsearch')

from mmicconv.search.rfnext import RFSearchRunner, distributed_names  # noqa: E402


class TinyNet(BaseModel):
    """Two 3x3 convs (searched) and a 1x1 head (never wrapped: RF-Next takes odd kernels > 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
        self.head = nn.Conv2d(4, 1, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.head(self.backbone(inputs)).mean((1, 2, 3))
        if mode == 'loss':
            return {'loss': ((out - labels) ** 2).mean()}
        return out


def _dataset(n: int = 8):
    g = torch.Generator().manual_seed(0)
    return [{'inputs': torch.randn(3, 12, 12, generator=g), 'labels': torch.randn((), generator=g)}
            for _ in range(n)]


def _hook(mode: str, structure_file=None) -> dict:
    search = dict(step=0, max_step=3, search_interval=1, exp_rate=0.5, init_alphas=0.01, mmin=1, mmax=4,
                  num_branches=2, skip_layer=['head'])
    return dict(type='RFSearchHook', mode=mode, rfstructure_file=structure_file, verbose=False,
                by_epoch=True, config=dict(search=search))


def _runner(cls, tmp_path, name: str, hook: dict, epochs: int = 2) -> Runner:
    torch.manual_seed(0)
    return cls(model=TinyNet(), work_dir=str(tmp_path / name), experiment_name=f'rfnext_{name}',
               train_dataloader=dict(dataset=_dataset(), batch_size=4,
                                     collate_fn=dict(type='default_collate'),
                                     sampler=dict(type='DefaultSampler', shuffle=False)),
               train_cfg=dict(by_epoch=True, max_epochs=epochs),
               optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
               default_hooks=dict(checkpoint=None), custom_hooks=[hook], default_scope='mmengine')


def _search_ops(model: nn.Module):
    return [n for n, m in model.named_modules() if isinstance(m, rfsearch.BaseConvRFSearchOp)]


def test_plain_runner_leaves_the_hook_inert(tmp_path):
    """The upstream gap: with mmengine's Runner nothing calls init_model, so no conv is
    wrapped and the search step records an empty structure."""
    runner = _runner(Runner, tmp_path, 'plain', _hook('search'))
    runner.train()
    assert _search_ops(runner.model) == []
    written = json.loads((tmp_path / 'plain' / 'local_search_config_step1.json').read_text())
    assert written['structure'] == {}


def test_rfsearch_runner_searches_with_trained_branch_weights(tmp_path):
    runner = _runner(RFSearchRunner, tmp_path, 'search', _hook('search'))
    assert _search_ops(runner.model) == ['backbone.0', 'backbone.2']
    runner.train()
    params = {id(p) for group in runner.optim_wrapper.optimizer.param_groups for p in group['params']}
    for name in ('backbone.0', 'backbone.2'):
        op = runner.model.get_submodule(name)
        assert id(op.branch_weights) in params
    written = json.loads((tmp_path / 'search' / 'local_search_config_step2.json').read_text())
    assert sorted(written['structure']) == ['backbone.0', 'backbone.2']
    for dilation in written['structure'].values():
        assert len(dilation) == 2 and all(1 <= d <= 4 for d in dilation)


def test_fixed_mode_reads_a_single_process_json(tmp_path):
    """The JSON names of a single-process search (no 'module.' prefix): the raw hook's fixed
    mode cannot find them; RFSearchRunner sets the dilations and paddings from them."""
    structure = {'backbone.0': [2, 3], 'backbone.2': [4, 1]}
    path = tmp_path / 'searched.json'
    path.write_text(json.dumps({'structure': structure}))
    hook = rfsearch.RFSearchHook(mode='fixed_single_branch', config=_hook('x')['config'],
                                 rfstructure_file=str(path), verbose=False)
    with pytest.raises(KeyError, match='module.backbone.0'):
        hook.init_model(TinyNet())
    runner = _runner(RFSearchRunner, tmp_path, 'fixed', _hook('fixed_single_branch', str(path)), epochs=1)
    assert _search_ops(runner.model) == []
    convs = runner.model.backbone
    assert (convs[0].dilation, convs[0].padding) == ((2, 3), (2, 3))
    assert (convs[2].dilation, convs[2].padding) == ((4, 1), (4, 1))
    assert runner.model(torch.zeros(1, 3, 12, 12)).shape == (1,)


def test_distributed_names():
    assert distributed_names({'a.b': 1, 'module.c': 2}) == {'module.a.b': 1, 'module.c': 2}


def test_runner_without_the_hook_is_refused(tmp_path):
    with pytest.raises(ValueError, match='RFSearchHook'):
        _runner(RFSearchRunner, tmp_path, 'none', dict(type='EmptyCacheHook'))


NARROW = {'model.backbone.base_channels': 16, 'model.backbone.stem_channels': 16,
          'model.neck.in_channels': [64, 128, 256, 512]}
CONV2 = [f'backbone.layer{i + 1}.{j}.conv2' for i, n in enumerate((3, 4, 6, 3)) for j in range(n)]


def _toy_runner(name: str, tmp_path, **options) -> Runner:
    import mmdet.registry  # noqa: F401  (the mmdet scope)
    from mmengine.registry import RUNNERS
    cfg = Config.fromfile(str(REPO / 'configs' / 'toy' / name))
    cfg.merge_from_dict(dict(NARROW, **options))
    cfg.work_dir = str(tmp_path / 'toy')
    return RUNNERS.build(cfg)


def test_toy_rfsearch_configs(tmp_path):
    """The toy configs: the search wraps exactly the 16 Bottleneck conv2 of the plain ResNet
    (not the stem, neck or heads); the fixed config sets their dilations from a JSON."""
    runner = _toy_runner('faster-rcnn_r50_fpn_toy_rfsearch.py', tmp_path)
    assert isinstance(runner, RFSearchRunner)
    assert _search_ops(runner.model) == CONV2
    structure = {name: [1 + i % 4, 1 + (i + 1) % 4] for i, name in enumerate(CONV2)}
    path = tmp_path / 'step3.json'
    path.write_text(json.dumps({'structure': structure}))
    runner = _toy_runner('faster-rcnn_r50_fpn_toy_rfsearch-fixed.py', tmp_path,
                         **{'custom_hooks.1.rfstructure_file': str(path)})
    assert _search_ops(runner.model) == []
    for name, dilation in structure.items():
        assert runner.model.get_submodule(name).dilation == tuple(dilation)
    assert runner.model.backbone.conv1.dilation == (1, 1)
