"""Engine-side pieces, registered in mmengine's root registries on import
(``import mmicconv`` imports this package):

* ``hooks``: :class:`ICPatternRecordHook` (the IC pattern in every checkpoint,
  checked on load) and :class:`RNGStateHook` (generator states in checkpoints);
* ``runner``: :class:`ResumableEpochBasedTrainLoop` (exact mid-epoch resume);
* ``model_wrappers``: :class:`CPUDistributedDataParallel` (DDP without CUDA).
"""

from .hooks import ICPatternRecordHook, RNGStateHook
from .model_wrappers import CPUDistributedDataParallel
from .runner import ResumableEpochBasedTrainLoop

__all__ = ['ICPatternRecordHook', 'RNGStateHook', 'ResumableEpochBasedTrainLoop',
           'CPUDistributedDataParallel']
