"""mmengine resume / load_from under torch's weights_only loading, and what stays refused."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import uuid

import pytest
import torch
import torch.nn as nn
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint
from torch.utils.data import Dataset

import mmicconv  # noqa: F401  (registers the allow-list)
from mmicconv.checkpoint.safety import history_buffer_getattr


class ToyDataset(Dataset):
    def __init__(self) -> None:
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(12, 2, generator=generator)
        self.y = self.x.sum(1, keepdim=True)

    def __len__(self) -> int:
        return 12

    def __getitem__(self, i):
        return dict(inputs=self.x[i], data_samples=self.y[i])


class ToyModel(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((out - data_samples) ** 2).mean())
        return out


def make_runner(work_dir, max_iters: int, lr: float = 0.1, **kwargs) -> Runner:
    return Runner(
        model=ToyModel(), work_dir=str(work_dir), experiment_name=f'toy-{uuid.uuid4().hex}',
        train_dataloader=dict(dataset=ToyDataset(), sampler=dict(type='DefaultSampler', shuffle=True),
                              batch_size=3, num_workers=0, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=lr)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0), **kwargs)


@pytest.fixture(scope='module')
def toy_checkpoint(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('first')
    runner = make_runner(work_dir, max_iters=2)
    runner.train()
    path = work_dir / 'iter_2.pth'
    assert path.is_file()
    return path, {k: v.clone() for k, v in runner.model.state_dict().items()}


def test_plain_torch_load_refuses_it_without_the_allow_list(toy_checkpoint):
    """Guards the test's meaning: torch's default weights-only load fails on it."""
    path, _ = toy_checkpoint
    code = f'import torch; torch.load({str(path)!r})'
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode != 0 and 'Weights only load failed' in proc.stderr


def test_resume_carries_weights_and_iteration(toy_checkpoint, tmp_path):
    path, weights = toy_checkpoint
    runner = make_runner(tmp_path, max_iters=2, resume=True, load_from=str(path))
    runner.train()  # resumes at iteration 2 of 2: loads, trains nothing more
    assert runner.iter == 2
    for name, value in runner.model.state_dict().items():
        assert torch.equal(value, weights[name]), name
    losses, _ = runner.message_hub.get_scalar('train/loss').data  # HistoryBuffer restored
    assert len(losses) == 2


def test_load_from_loads_weights(toy_checkpoint, tmp_path):
    path, weights = toy_checkpoint
    runner = make_runner(tmp_path, max_iters=1, lr=0.0, load_from=str(path))
    runner.train()  # lr 0: weights stay what was loaded
    assert runner.iter == 1
    for name, value in runner.model.state_dict().items():
        assert torch.equal(value, weights[name]), name


class Ref:
    """Pickles as ``getattr(obj, name)``."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __reduce__(self):
        return (getattr, (self.obj, self.name))

    def __call__(self, *args):  # pickle wants a callable for REDUCE
        raise AssertionError


class Call:
    """Pickles as ``fn(*args)``."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def save_payload(tmp_path, payload):
    path = tmp_path / 'payload.pth'
    torch.save({'state_dict': {}, 'meta': {'x': payload}}, path)
    return path


def test_os_system_checkpoint_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = save_payload(tmp_path, Call(os.system, f'touch {marker}'))
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()


def test_getattr_chain_from_allowed_class_is_refused(tmp_path):
    """HistoryBuffer.__init__.__globals__ ... -> os.system: the first hop is refused."""
    marker = tmp_path / 'pwned'
    module_globals = Ref(Ref(HistoryBuffer, '__init__'), '__globals__')
    system = Ref(Call(Ref(module_globals, 'get'), 'os'), 'system')
    path = save_payload(tmp_path, Call(system, f'touch {marker}'))
    with pytest.raises(pickle.UnpicklingError, match='refused getattr'):
        _load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()


def test_getattr_on_other_allowed_globals_is_refused(tmp_path):
    import numpy as np
    path = save_payload(tmp_path, Ref(np.ndarray, 'tofile'))
    with pytest.raises(pickle.UnpicklingError, match='refused getattr'):
        _load_checkpoint(str(path), map_location='cpu')


def test_allowed_getattr_returns_only_statistics_methods():
    assert history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    for obj, name in [(HistoryBuffer, '__init__'), (HistoryBuffer, '__class__'), (object, 'mean'),
                      (HistoryBuffer, 'update')]:
        with pytest.raises(pickle.UnpicklingError):
            history_buffer_getattr(obj, name)
