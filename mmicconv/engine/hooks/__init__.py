"""mmengine hooks: the IC pattern record and the random generator states in checkpoints, and the
label-map check of semantic segmentation."""

from .pattern_record_hook import ICPatternRecordHook
from .rng_state_hook import RNG_STATE_KEY, RNGStateHook, capture_rng_state, restore_rng_state
from .seg_label_check_hook import SegLabelCheckHook, SegLabelError

__all__ = ['ICPatternRecordHook', 'RNGStateHook', 'RNG_STATE_KEY', 'capture_rng_state', 'restore_rng_state',
           'SegLabelCheckHook', 'SegLabelError']
