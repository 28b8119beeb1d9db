"""A test-only mmengine hook: the training process kills itself with SIGKILL.

Imported by the tiny resume config of ``test_resume.py`` (``custom_imports``,
with this folder on ``PYTHONPATH``). SIGKILL cannot be caught: no handler,
``finally`` or ``atexit`` runs, as when the OOM killer or a scheduler ends a job.
"""

from __future__ import annotations

import os
import signal

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class SigkillAtIterHook(Hook):
    """SIGKILL the own process when iteration ``at_iter`` (0-based) is about to run
    (its batch is already loaded, nothing of it is trained)."""

    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if runner.iter == self.at_iter:
            print(f'sigkill_hook: SIGKILL at iteration {runner.iter + 1}', flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
