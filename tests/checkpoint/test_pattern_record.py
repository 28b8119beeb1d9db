"""The pattern travels with the weights: record on save, refusal on load (tiny models, in-process).

Three load paths: mmengine's ``Runner.load_checkpoint`` (``load_from``,
``--resume`` and ``tools/test.py`` go through it), ``init_cfg=Pretrained``
(``ICResNet.init_weights``), and the hook's fit check. ``tools/test.py`` and
``convert_checkpoint.py`` are also exercised through the command line in
``test_cli_errors.py`` and ``test_convert_checkpoint.py``.
"""

from __future__ import annotations

import copy
import hashlib
import json

import pytest
import torch
import torch.nn as nn
from conftest import build_model
from mmengine.model import BaseModel
from mmengine.runner import Runner

import mmicconv  # noqa: F401
from mmicconv.checkpoint.record import (
    RECORD_KEY,
    CheckpointFitError,
    PatternMismatchError,
    add_record,
    check_fits_model,
)

# ResNet-18 with base_channels=4: 16 IC convs (conv1 and conv2 of 8 BasicBlocks) of 4, 8, 16, 32 channels
CHANNELS = [4] * 4 + [8] * 4 + [16] * 4 + [32] * 4
NAMES = [f'layer{s + 1}.{b}.conv{c}' for s in range(4) for b in range(2) for c in (1, 2)]
CHANGED = 9  # layer3.0.conv2


def pattern_a() -> list:
    return [{'(0, 0)': c // 2, '(1, 1)': c // 4, '(0, 1)': c // 4} for c in CHANNELS]


def pattern_b() -> list:
    entries = pattern_a()
    entries[CHANGED] = {'(0, 0)': CHANNELS[CHANGED] // 2, '(2, 2)': CHANNELS[CHANGED] // 2}
    return entries


def expected_layers(entries: list, prefix: str = '') -> dict:
    """The record's ``layers`` as the docs define them, computed from the JSON entries directly."""
    out = {}
    for name, entry in zip(NAMES, entries):
        groups = []
        for key, count in entry.items():
            a, b = (int(v) for v in key.strip('()').split(','))
            if count:
                groups.append([a + 1, b + 1, count])
        out[prefix + name] = groups
    return out


def backbone(entries, **kwargs) -> nn.Module:
    cfg = dict(type='ICResNet', depth=18, base_channels=4, out_indices=(3,), pattern=entries, **kwargs)
    return build_model('mmdet', cfg)


class TinyModel(BaseModel):
    """An IC-ResNet-18 (4 base channels) with a mean-activation loss, for mmengine's Runner."""

    def __init__(self, entries) -> None:
        super().__init__()
        self.backbone = backbone(entries)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.backbone(torch.stack(inputs) if isinstance(inputs, list) else inputs)[-1]
        return {'loss': out.pow(2).mean()} if mode == 'loss' else out


def collate(batch):
    return dict(inputs=torch.stack(batch))


def runner_for(entries, work_dir, name, **kwargs) -> Runner:
    kwargs.setdefault('default_hooks', dict(logger=dict(type='LoggerHook', interval=1)))
    return Runner(model=TinyModel(entries), work_dir=str(work_dir), experiment_name=name,
                  custom_hooks=[dict(type='ICPatternRecordHook')],
                  env_cfg=dict(dist_cfg=dict(backend='gloo')), **kwargs)


@pytest.fixture(scope='module')
def trained_checkpoint(tmp_path_factory):
    """Two SGD iterations of the tiny model under mmengine's Runner; its checkpoint."""
    work_dir = tmp_path_factory.mktemp('record_train')
    torch.manual_seed(0)
    data = [torch.randn(3, 32, 32) for _ in range(4)]
    runner = runner_for(
        pattern_a(), work_dir, 'record_train',
        train_dataloader=dict(dataset=data, sampler=dict(type='DefaultSampler', shuffle=False),
                              batch_size=2, collate_fn=collate, num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=2),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)))
    runner.train()
    path = work_dir / 'iter_2.pth'
    assert path.is_file()
    return path


def test_training_writes_the_pattern_record(trained_checkpoint):
    meta = torch.load(trained_checkpoint, weights_only=True)['meta']
    record = meta[RECORD_KEY]
    assert record['layers'] == expected_layers(pattern_a(), prefix='backbone.')
    [entry] = record['patterns']
    assert entry['module'] == 'backbone' and entry['pattern'] == pattern_a()
    canonical = json.dumps(pattern_a(), separators=(',', ':'))
    assert entry['sha256'] == hashlib.sha256(canonical.encode()).hexdigest()


def test_load_from_with_another_pattern_is_refused_before_loading(trained_checkpoint, tmp_path):
    runner = runner_for(pattern_b(), tmp_path, 'record_load_b')
    before = copy.deepcopy(runner.model.state_dict())
    with pytest.raises(PatternMismatchError) as info:
        runner.load_checkpoint(str(trained_checkpoint))
    message = str(info.value)
    assert f'first difference at backbone.{NAMES[CHANGED]}:' in message
    assert 'checkpoint dilations (1,1)x8 (2,2)x4 (1,2)x4' in message
    assert 'model dilations (1,1)x8 (3,3)x8' in message
    assert '1 of 16 convs differ' in message
    after = runner.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_load_from_with_the_same_pattern_loads(trained_checkpoint, tmp_path):
    runner = runner_for(pattern_a(), tmp_path, 'record_load_a')
    runner.load_checkpoint(str(trained_checkpoint))
    saved = torch.load(trained_checkpoint, weights_only=True)['state_dict']
    state = runner.model.state_dict()
    assert saved.keys() == state.keys() and all(torch.equal(saved[k], state[k]) for k in saved)


def test_checkpoint_without_record_loads_into_any_pattern(trained_checkpoint, tmp_path):
    blob = torch.load(trained_checkpoint, weights_only=True)
    del blob['meta'][RECORD_KEY]
    plain = tmp_path / 'no_record.pth'
    torch.save(blob, plain)
    runner = runner_for(pattern_b(), tmp_path, 'record_load_plain')
    runner.load_checkpoint(str(plain))
    weight = f'backbone.{NAMES[CHANGED]}.weight'
    assert torch.equal(runner.model.state_dict()[weight], blob['state_dict'][weight])


def test_ic_checkpoint_into_a_plain_backbone_is_refused(trained_checkpoint, tmp_path):
    """pattern=None builds the plain ResNet: every conv has dilation 1, unlike the checkpoint's."""
    runner = Runner(model=TinyModel(None), work_dir=str(tmp_path), experiment_name='record_plain',
                    custom_hooks=[dict(type='ICPatternRecordHook')])
    with pytest.raises(PatternMismatchError, match=r'first difference at backbone\.layer1\.0\.conv1: '
                                                   r'checkpoint dilations \(1,1\)x2 \(2,2\)x1 \(1,2\)x1, '
                                                   r'model dilations \(1,1\)x4'):
        runner.load_checkpoint(str(trained_checkpoint))


@pytest.mark.parametrize('prefix', ['backbone.', None])
def test_pretrained_init_cfg_checks_the_record(trained_checkpoint, tmp_path, prefix):
    """``init_cfg=Pretrained``: a detector checkpoint with ``prefix='backbone.'``, or a
    backbone-only one (as convert_checkpoint.py writes) without a prefix."""
    blob = torch.load(trained_checkpoint, weights_only=True)
    if prefix is None:  # backbone-relative names and record, as a converted checkpoint
        model = backbone(pattern_a())
        model.load_state_dict({k[len('backbone.'):]: v for k, v in blob['state_dict'].items()})
        blob = add_record({'state_dict': model.state_dict(), 'meta': {}}, model)
        assert NAMES[0] in blob['meta'][RECORD_KEY]['layers']
    path = tmp_path / 'pretrained.pth'
    torch.save(blob, path)
    init_cfg = dict(type='Pretrained', checkpoint=str(path), **({'prefix': prefix} if prefix else {}))

    wrong = backbone(pattern_b(), init_cfg=init_cfg)
    before = wrong.state_dict()[f'{NAMES[CHANGED]}.weight'].clone()
    with pytest.raises(PatternMismatchError, match=rf'first difference at {NAMES[CHANGED]}: checkpoint '
                                                   r'dilations \(1,1\)x8 \(2,2\)x4 \(1,2\)x4, model '
                                                   r'dilations \(1,1\)x8 \(3,3\)x8'):
        wrong.init_weights()
    assert torch.equal(wrong.state_dict()[f'{NAMES[CHANGED]}.weight'], before)

    right = backbone(pattern_a(), init_cfg=init_cfg)
    right.init_weights()
    source = blob['state_dict']
    key = f'{"backbone." if prefix else ""}{NAMES[CHANGED]}.weight'
    assert torch.equal(right.state_dict()[f'{NAMES[CHANGED]}.weight'], source[key])


def test_fit_check_names_missing_tensors_and_shapes():
    model = backbone(pattern_a())
    state = model.state_dict()
    with pytest.raises(CheckpointFitError, match=r'ckpt\.pth: holds no tensors'):
        check_fits_model({'meta': {'epoch': 1}}, model, source='ckpt.pth')
    partial = {k: v for k, v in state.items() if k != 'layer4.1.bn2.weight'}
    with pytest.raises(CheckpointFitError, match=r'1 of the model\'s \d+ tensors missing \(first: '
                                                 r'layer4\.1\.bn2\.weight\)'):
        check_fits_model({'state_dict': partial}, model, source='ckpt.pth')
    reshaped = dict(state, **{'conv1.weight': torch.zeros(4, 3, 3, 3)})
    with pytest.raises(CheckpointFitError, match=r'1 shape mismatches \(first: conv1\.weight \[4, 3, 3, 3\] '
                                                 r'in the checkpoint, \[4, 3, 7, 7\] in the model\)'):
        check_fits_model({'state_dict': reshaped}, model, source='ckpt.pth')
    check_fits_model({'state_dict': state}, model)  # fits: no error


def test_resume_with_another_pattern_is_refused(trained_checkpoint, tmp_path):
    """``--resume`` goes through ``Runner.resume``, which loads with ``load_checkpoint``."""
    runner = runner_for(
        pattern_b(), tmp_path, 'record_resume_b',
        train_dataloader=dict(dataset=[torch.zeros(3, 32, 32)] * 2, batch_size=2, collate_fn=collate,
                              sampler=dict(type='DefaultSampler', shuffle=False), num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=4))
    with pytest.raises(PatternMismatchError, match=rf'first difference at backbone\.{NAMES[CHANGED]}:'):
        runner.resume(str(trained_checkpoint))
