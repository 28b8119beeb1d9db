"""Exact resume of epoch-based training from a mid-epoch checkpoint.

mmengine 0.10.7's ``Runner.resume`` restores the model weights, the optimizer
state, the parameter schedulers, the message hub and the epoch and iteration
counters. Two things it does not restore make a run that was interrupted in
the middle of an epoch end elsewhere than an uninterrupted run:

* ``EpochBasedTrainLoop`` starts the interrupted epoch again from its first
  batch while the iteration counter continues, so the batches trained before
  the checkpoint are trained twice, the run does more iterations than its
  schedule and iteration-based schedules (warmup) are shifted against the
  data. (``IterBasedTrainLoop`` does skip the trained batches.)
* The global random generators (``random``, ``numpy``, ``torch``) are not in
  the checkpoint: the resumed process has freshly seeded ones, so random
  augmentation and the detectors' random RoI/anchor sampling draw other
  numbers than the uninterrupted run would have.

This module adds, for configs that import it (``custom_imports``):

* :class:`ResumableEpochBasedTrainLoop` (``train_cfg=dict(type=...)``): an
  ``EpochBasedTrainLoop`` that, when resumed inside an epoch, reads and
  discards the batches of that epoch that were already trained (the data is
  loaded again, not trained on) and continues with the next one. It also
  gives the train sampler the checkpoint's seed: mmengine builds the sampler
  before resuming, so without ``randomness.seed`` in the config a resumed
  run would shuffle with a new random seed.
* :class:`RNGStateHook` (``custom_hooks=[dict(type='RNGStateHook')]``): saves
  the generators' states in every checkpoint (key ``'rng_state'``, plain
  tensors and lists, loadable with ``weights_only=True``) and has the loop
  put them back, on resume, right before the first batch it trains.

With both, a resumed single-process run repeats the uninterrupted run's
computation. Limits: with ``num_workers > 0`` the workers' seeds are drawn
when the epoch's data iterator is created, which happens again after a
resume, so random augmentation then differs; in a distributed run only
rank 0 writes checkpoints, so every rank gets rank 0's states back; after a
checkpoint written at an epoch end, a validation between it and the next
epoch draws from ``torch``'s generator in the uninterrupted run only.
"""

from __future__ import annotations

import random
from typing import Any, Dict, Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS, LOOPS
from mmengine.runner import EpochBasedTrainLoop

__all__ = ['RNG_STATE_KEY', 'capture_rng_state', 'restore_rng_state', 'RNGStateHook',
           'ResumableEpochBasedTrainLoop']

RNG_STATE_KEY = 'rng_state'


def capture_rng_state() -> Dict[str, Any]:
    """The states of ``random``, ``numpy.random`` and ``torch`` (CPU, and CUDA if present).

    Only tensors, ints, floats, lists and ``None``: the result pickles into a
    checkpoint that torch's ``weights_only`` loader accepts.
    """
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: Dict[str, Any] = {
        'python': [int(version), list(internal), gauss],
        'numpy': [str(kind), torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                  float(cached)],
        'torch': torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng_state(state: Dict[str, Any]) -> None:
    """Put back the generators' states captured by :func:`capture_rng_state`."""
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state['numpy']
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state['torch'].cpu())
    cuda = state.get('cuda')
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Write the random generators' states into checkpoints; keep a loaded one for the loop.

    The states are captured when the checkpoint is written (after the
    iteration or epoch it ends). On resume, :class:`ResumableEpochBasedTrainLoop`
    restores them just before it loads the next batch to train. A checkpoint
    loaded with ``load_from`` (not resumed) leaves the generators alone.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self.pending: Optional[Dict[str, Any]] = None
        self.pending_iter: Optional[int] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[RNG_STATE_KEY] = capture_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get(RNG_STATE_KEY)
        self.pending = state
        self.pending_iter = checkpoint.get('meta', {}).get('iter') if state is not None else None

    def take(self, at_iter: int) -> Optional[Dict[str, Any]]:
        """The loaded states if they were saved at iteration ``at_iter`` (then forgotten)."""
        state, saved_iter = self.pending, self.pending_iter
        self.pending = self.pending_iter = None
        return state if state is not None and saved_iter == at_iter else None


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` that resumes inside an epoch where the checkpoint left it.

    Same arguments as ``EpochBasedTrainLoop``. On the first epoch after a
    resume, the batches the checkpoint had already trained (``iter`` minus
    ``epoch x batches per epoch``) are read and dropped, then training goes
    on with the next batch; with an :class:`RNGStateHook` in the run the
    random generators are restored to the checkpoint's states at that point.
    Without a resume it behaves exactly like ``EpochBasedTrainLoop``.
    """

    def run(self) -> torch.nn.Module:
        """Train; after a resume, first give the sampler the run's seed back (see below)."""
        if self._iter > 0:
            self._restore_sampler_seed()
        return super().run()

    def _restore_sampler_seed(self) -> None:
        """mmengine builds the train sampler (its shuffling seed) before it resumes; without
        ``randomness.seed`` in the config that seed is a fresh random one, so the resumed
        run would shuffle in another order. Set it to the checkpoint's seed."""
        batch_sampler = getattr(self.dataloader, 'batch_sampler', None)
        sampler = getattr(batch_sampler, 'sampler', None) or getattr(self.dataloader, 'sampler', None)
        seed = self.runner.seed
        if sampler is not None and hasattr(sampler, 'seed') and seed is not None and sampler.seed != seed:
            print_log(f'resume: train sampler seed {sampler.seed} -> {seed} (the resumed run\'s seed)',
                      logger='current')
            sampler.seed = seed

    def _rng_hook(self) -> Optional[RNGStateHook]:
        return next((h for h in self.runner.hooks if isinstance(h, RNGStateHook)), None)

    def run_epoch(self) -> None:
        """Iterate one epoch, or the rest of it after a mid-epoch resume."""
        per_epoch = len(self.dataloader)
        done = self._iter - self._epoch * per_epoch
        if not 0 <= done <= per_epoch:
            print_log(f'resume: iteration {self._iter} is not inside epoch {self._epoch + 1} of '
                      f'{per_epoch} batches (another dataset or batch size?); training the whole epoch',
                      logger='current', level=30)
            done = 0
        hook = self._rng_hook()
        state = hook.take(self._iter) if hook is not None else None
        if state is not None and done == 0:
            restore_rng_state(state)
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        batches = iter(self.dataloader)
        if done > 0:
            print_log(f'resume: epoch {self._epoch + 1} already trained {done} of {per_epoch} batches; '
                      f'reading past them', logger='current')
            for _ in range(done):
                next(batches)
            if state is not None:
                restore_rng_state(state)
        for idx, data_batch in enumerate(batches, start=done):
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
