"""mmicconv.engine's exact resume (loop + RNG hook) on a tiny in-process mmengine run (seconds, no detector).

The data adds numpy noise (random augmentation), the model uses dropout
(torch's generator), the sampler shuffles, and the config sets no seed, so
the run depends on everything a resume must restore: the position inside
the epoch, the generator states and the sampler's seed. Run B stops with an
exception after the iteration-3 checkpoint (in epoch 1 of 2, 4 batches per
epoch) and is resumed by a new Runner; run A goes through with B's seed.
The tests are the e2e ``tests/detection/test_resume.py`` in small, plus the
mmengine behaviour this module exists for (the stock loop ends elsewhere).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

from mmicconv.engine import RNGStateHook  # noqa: F401  (registers the loop and the hook)

SAMPLES, BATCH, EPOCHS, SAVE_EVERY, STOP_AT = 8, 2, 2, 3, 4      # 4 iterations per epoch


class NoisyData(torch.utils.data.Dataset):
    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(SAMPLES, 4)).astype(np.float32)
        self.y = rng.normal(size=SAMPLES).astype(np.float32)

    def __len__(self) -> int:
        return SAMPLES

    def __getitem__(self, i: int) -> dict:
        noise = np.random.normal(scale=0.1, size=4).astype(np.float32)      # global numpy generator
        return dict(inputs=torch.from_numpy(self.x[i] + noise), labels=torch.tensor(self.y[i]))


class DropoutRegressor(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 1)

    def forward(self, inputs, labels=None, mode='loss'):
        out = self.fc(F.dropout(inputs, 0.5, training=self.training)).squeeze(1)      # torch generator
        return {'loss': ((out - labels) ** 2).mean()}


class StopError(Exception):
    pass


class StopBeforeIter(Hook):
    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.at_iter:
            raise StopError


def make_runner(work_dir: Path, loop: str, seed=None, resume: bool = False, stop_at=None) -> Runner:
    hooks = [dict(type='RNGStateHook')] + ([StopBeforeIter(stop_at)] if stop_at is not None else [])
    torch.manual_seed(0)      # the same initial weights in every run (built before the Runner seeds)
    return Runner(
        model=DropoutRegressor(),
        work_dir=str(work_dir),
        experiment_name=f'exact_resume_{uuid.uuid4().hex}',
        train_dataloader=dict(dataset=NoisyData(), sampler=dict(type='DefaultSampler', shuffle=True),
                              batch_size=BATCH, num_workers=0, collate_fn=dict(type='default_collate')),
        train_cfg=dict(type=loop, max_epochs=EPOCHS),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=SAVE_EVERY),
                           logger=dict(type='LoggerHook', interval=100)),
        custom_hooks=hooks,
        randomness=dict(seed=seed),
        resume=resume,
        default_scope='mmengine',
    )


def interrupted_then_resumed(work_dir: Path, loop: str):
    with pytest.raises(StopError):
        make_runner(work_dir, loop, stop_at=STOP_AT).train()
    seed = torch.load(work_dir / f'iter_{SAVE_EVERY}.pth', map_location='cpu')['meta']['seed']
    runner = make_runner(work_dir, loop, resume=True)          # no seed: a fresh random one
    runner.train()
    return runner, seed


def test_resumed_equals_uninterrupted_without_a_config_seed(tmp_path):
    loop = 'ResumableEpochBasedTrainLoop'
    resumed, seed = interrupted_then_resumed(tmp_path / 'b', loop)
    straight = make_runner(tmp_path / 'a', loop, seed=seed)
    straight.train()
    assert resumed.iter == straight.iter == EPOCHS * SAMPLES // BATCH
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    sa, sb = straight.optim_wrapper.state_dict()['state'], resumed.optim_wrapper.state_dict()['state']
    for index in sa:
        assert torch.equal(sa[index]['momentum_buffer'], sb[index]['momentum_buffer'])


def test_stock_epoch_loop_ends_elsewhere(tmp_path):
    """What the module fixes: mmengine's EpochBasedTrainLoop retrains the interrupted
    epoch from its first batch, so the resumed run does more iterations than scheduled."""
    resumed, _ = interrupted_then_resumed(tmp_path / 'b', 'EpochBasedTrainLoop')
    assert resumed.iter == EPOCHS * SAMPLES // BATCH + SAVE_EVERY


def test_checkpointed_rng_state_round_trips(tmp_path):
    from mmicconv.engine.hooks import capture_rng_state, restore_rng_state
    state = capture_rng_state()
    path = tmp_path / 'state.pth'
    torch.save(state, path)
    expected = (np.random.rand(), torch.rand(1).item(), __import__('random').random())
    restore_rng_state(torch.load(path))                       # weights_only=True (torch's default)
    assert (np.random.rand(), torch.rand(1).item(), __import__('random').random()) == expected
