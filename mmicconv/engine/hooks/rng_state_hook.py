"""Random generator states in checkpoints: :class:`RNGStateHook`.

Half of the exact mid-epoch resume (:mod:`mmicconv.engine.runner.loops` has the
other half and the whole story): the states of ``random``, ``numpy.random`` and
``torch`` are written into every checkpoint (key ``'rng_state'``, plain tensors
and lists, loadable with ``weights_only=True``) and, on resume, handed to
:class:`~mmicconv.engine.runner.ResumableEpochBasedTrainLoop`, which puts them
back right before the first batch it trains.
"""

from __future__ import annotations

import random
from typing import Any, Dict, Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

__all__ = ['RNG_STATE_KEY', 'capture_rng_state', 'restore_rng_state', 'RNGStateHook']

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
