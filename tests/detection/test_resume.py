"""Resume after SIGKILL in the middle of an epoch ends where an uninterrupted run ends.

A narrow IC-R50 Faster R-CNN derived from the toy config (its exact-resume
loop and RNG hook included) trains 2 epochs of 6 iterations (12 toy images,
batch 2, 64x64 px), with a checkpoint every 4 iterations:

* run A: uninterrupted, 12 iterations;
* run B: the same command, but the process SIGKILLs itself before
  iteration 10 (after the checkpoint at iteration 8, in the middle of the
  second epoch; iteration 9 is trained and lost), then ``tools/train.py
  --resume`` in the same work dir.

Random flips, a shuffling sampler and the detector's random anchor/RoI
sampling stay on: with the generators restored from the checkpoint the
resumed run must repeat A's computation exactly (single process, CPU,
``num_workers=0``, same threads), so weights and optimizer state are
compared for equality, not within a tolerance.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch
from conftest import REPO
from tool_helpers import make_toy_workspace, run, tool, train_log_records, write_narrow_pattern

import mmicconv  # noqa: F401  (allow-lists mmengine's checkpoint contents for weights_only)

pytestmark = pytest.mark.e2e

TOY_FASTER = REPO / 'configs' / 'toy' / 'faster-rcnn_ic-r50_fpn_toy.py'
ITERS, CHECKPOINT_EVERY, KILL_BEFORE = 12, 4, 10        # 1-based iteration numbers
PER_EPOCH = 6

TINY = f"""
_base_ = {str(TOY_FASTER)!r}
model = dict(
    backbone=dict(base_channels=16, pattern='pattern_quarter.json'),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=32),
    rpn_head=dict(in_channels=32, feat_channels=32),
    roi_head=dict(bbox_roi_extractor=dict(out_channels=32),
                  bbox_head=dict(in_channels=32, fc_out_channels=64)),
    train_cfg=dict(rpn_proposal=dict(nms_pre=200, max_per_img=100), rcnn=dict(sampler=dict(num=32))))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=2, sampler=dict(type='DefaultSampler', shuffle=True),
                        dataset=dict(indices={2 * PER_EPOCH}, pipeline=train_pipeline))
val_cfg = None
val_dataloader = None
val_evaluator = None
train_cfg = dict(max_epochs={ITERS // PER_EPOCH}, val_interval=1)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end={ITERS // PER_EPOCH}, milestones=[1], gamma=0.1),
]
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(by_epoch=False, interval={CHECKPOINT_EVERY}, max_keep_ckpts=-1))
randomness = dict(seed=0)
"""

KILLED = f"""
_base_ = './tiny.py'
custom_imports = dict(imports=['mmicconv', 'sigkill_hook'])
custom_hooks = [dict(type='RNGStateHook'), dict(type='SigkillAtIterHook', at_iter={KILL_BEFORE - 1})]
"""


@pytest.fixture(scope='module')
def runs(tmp_path_factory) -> dict:
    ws = make_toy_workspace(tmp_path_factory.mktemp('resume_ws'), '--train-images', '16',
                            '--val-images', '4')
    write_narrow_pattern(ws / 'pattern_quarter.json')
    (ws / 'tiny.py').write_text(TINY)
    (ws / 'tiny_killed.py').write_text(KILLED)
    env = {'PYTHONPATH': str(Path(__file__).parent)}
    a, b = ws / 'uninterrupted', ws / 'interrupted'
    run(tool('train.py') + [ws / 'tiny.py', '--work-dir', a], cwd=ws)
    killed = run(tool('train.py') + [ws / 'tiny_killed.py', '--work-dir', b], cwd=ws, env=env,
                 returncode=-signal.SIGKILL)
    left = sorted(p.name for p in b.glob('iter_*.pth'))
    last = (b / 'last_checkpoint').read_text().strip()
    records_before = train_log_records(b)
    resumed = run(tool('train.py') + [ws / 'tiny.py', '--work-dir', b, '--resume'], cwd=ws)
    return dict(a=a, b=b, killed=killed, left=left, last=last, records_before=records_before,
                resumed=resumed)


def load(path: Path) -> dict:
    return torch.load(path, map_location='cpu')      # torch's default weights_only=True


def test_killed_mid_epoch_after_a_checkpoint(runs):
    """B really died by SIGKILL inside epoch 2, after the iteration-8 checkpoint, with
    iteration 9 trained but not saved (so the resume must redo it)."""
    assert f'SIGKILL at iteration {KILL_BEFORE}' in runs['killed'].stdout
    assert runs['left'] == [f'iter_{i}.pth' for i in range(CHECKPOINT_EVERY, KILL_BEFORE, CHECKPOINT_EVERY)]
    assert runs['last'].endswith(f'iter_{KILL_BEFORE - 2}.pth')
    assert [r['iter'] for r in runs['records_before']] == list(range(1, KILL_BEFORE))
    meta = load(runs['b'] / 'iter_8.pth')['meta']
    assert (meta['epoch'], meta['iter']) == (1, 8)          # 1 epoch done + 2 of 6 batches


def test_resumed_run_continues_mid_epoch(runs):
    """The resumed process starts at iteration 8 inside epoch 2, skips the 2 batches of the
    epoch already trained and trains exactly the 4 missing iterations (9 to 12)."""
    log = runs['resumed'].stdout + runs['resumed'].stderr
    assert 'resumed epoch: 1, iter: 8' in log and 'Weights only load failed' not in log
    assert 'already trained 2 of 6 batches' in log
    after = train_log_records(runs['b'])[len(runs['records_before']):]
    assert [r['iter'] for r in after] == list(range(KILL_BEFORE - 1, ITERS + 1))


def test_resumed_equals_uninterrupted(runs):
    """Same iteration count, learning rates, losses, weights, BN statistics, optimizer
    (AdamW moments, step counts) and scheduler states as the uninterrupted run."""
    a, b = load(runs['a'] / f'iter_{ITERS}.pth'), load(runs['b'] / f'iter_{ITERS}.pth')
    assert (a['meta']['epoch'], a['meta']['iter']) == (b['meta']['epoch'], b['meta']['iter']) == (1, ITERS)
    assert not (runs['b'] / f'iter_{ITERS + CHECKPOINT_EVERY}.pth').exists()

    rec_a = {r['iter']: r for r in train_log_records(runs['a'])}
    rec_b = {r['iter']: r for r in train_log_records(runs['b'])[len(runs['records_before']):]}
    assert sorted(rec_a) == list(range(1, ITERS + 1))
    for i in rec_b:
        assert rec_b[i]['lr'] == rec_a[i]['lr'], f'lr at iteration {i}'
        assert rec_b[i]['loss'] == rec_a[i]['loss'], f'loss at iteration {i}'
    assert rec_a[ITERS]['lr'] < rec_a[PER_EPOCH]['lr']          # the by-epoch step happened in both

    assert a['state_dict'].keys() == b['state_dict'].keys()
    for key, value in a['state_dict'].items():
        assert torch.equal(value, b['state_dict'][key]), f'{key} differs'
    earlier = load(runs['a'] / f'iter_{ITERS - CHECKPOINT_EVERY}.pth')['state_dict']
    changed = [k for k, v in a['state_dict'].items() if not torch.equal(v, earlier[k])]
    assert any('layer4' in k and 'conv2' in k for k in changed)       # the IC convs did train

    opt_a, opt_b = a['optimizer']['state'], b['optimizer']['state']
    assert opt_a.keys() == opt_b.keys() and opt_a
    for index, state in opt_a.items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(opt_b[index][name])), (index, name)
    assert a['optimizer']['param_groups'] == b['optimizer']['param_groups']
    assert json.dumps(a['param_schedulers'], sort_keys=True, default=str) == \
        json.dumps(b['param_schedulers'], sort_keys=True, default=str)


def test_checkpoint_carries_rng_state(runs):
    """The RNG states are in the checkpoint and load with weights_only=True."""
    state = load(runs['b'] / 'iter_8.pth')['rng_state']
    assert set(state) >= {'python', 'numpy', 'torch'}
    assert state['torch'].dtype == torch.uint8 and len(state['python'][1]) == 625
