"""Model wrappers: DDP on CPU-only torch.

mmengine 0.10.7's Runner passes ``device_ids=[LOCAL_RANK]`` to every DDP
subclass, which torch refuses for a CPU module; ``tools/train.py --launcher
pytorch`` on a machine without CUDA wraps the model in
:class:`CPUDistributedDataParallel` instead (``tools/launch_utils.py``).
"""

from __future__ import annotations

from typing import Optional

import torch
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS

__all__ = ['CPUDistributedDataParallel']


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for CPU modules: ignores ``device_ids``."""

    def __init__(self, module: torch.nn.Module, device_ids: Optional[list] = None, **kwargs) -> None:
        super().__init__(module=module, device_ids=None, **kwargs)
