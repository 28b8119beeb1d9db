"""The IC pattern record in every checkpoint a Runner saves or loads.

See :mod:`mmicconv.checkpoint.record` for the record itself.
"""

from __future__ import annotations

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ...checkpoint.record import add_record, check_fits_model, check_record

__all__ = ['ICPatternRecordHook']


@HOOKS.register_module()
class ICPatternRecordHook(Hook):
    """Record the IC pattern in saved checkpoints; check it in loaded ones.

    Add it with ``custom_hooks = [dict(type='ICPatternRecordHook')]``
    (``tools/train.py`` and ``tools/test.py`` add it when missing).

    Args:
        check_fit: Also refuse a loaded checkpoint whose tensors do not fit
            the model (missing keys, shape mismatches), as ``tools/test.py``
            does. A checkpoint with no tensors at all is always refused.
    """

    priority = 'VERY_LOW'

    def __init__(self, check_fit: bool = False) -> None:
        self.check_fit = check_fit

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        add_record(checkpoint, runner.model)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        source = str(runner.cfg.get('load_from', None) or 'the checkpoint')
        check_record(checkpoint, runner.model, source=source)
        check_fits_model(checkpoint, runner.model, source=source, strict=self.check_fit)

