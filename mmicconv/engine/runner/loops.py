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

mmicconv.engine adds, for configs that import it (``custom_imports``):

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

from typing import Optional

import torch
from mmengine.logging import print_log
from mmengine.registry import LOOPS
from mmengine.runner import EpochBasedTrainLoop

from ..hooks.rng_state_hook import RNGStateHook, restore_rng_state

__all__ = ['ResumableEpochBasedTrainLoop']


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
