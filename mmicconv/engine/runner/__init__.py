"""mmengine loops: exact mid-epoch resume."""

from .loops import ResumableEpochBasedTrainLoop

__all__ = ['ResumableEpochBasedTrainLoop']
