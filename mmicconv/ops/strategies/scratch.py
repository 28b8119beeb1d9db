"""Reusable per-thread scratch buffers for transient intermediates.

Large fresh allocations are returned to the OS when freed, so every call
pays page faults again (measured here: allocating and filling a 118 MB tensor
costs about 5x filling an existing one). The per-tap strategy's wide
intermediates (``9 * C_out`` and ``3 * C_out`` rows, never saved for
backward) therefore live in one buffer per (thread, device, dtype, slot),
grown to the largest request and reused by every layer. Call
:func:`release_scratch` to free them.
"""

from __future__ import annotations

import threading
from typing import Dict, Sequence, Tuple

import torch

__all__ = ['scratch', 'release_scratch']

_LOCAL = threading.local()


def _buffers() -> Dict[Tuple[str, torch.device, torch.dtype], torch.Tensor]:
    buffers = getattr(_LOCAL, 'buffers', None)
    if buffers is None:
        buffers = _LOCAL.buffers = {}
    return buffers


def scratch(slot: str, shape: Sequence[int], like: torch.Tensor) -> torch.Tensor:
    """An uninitialised contiguous tensor of ``shape`` backed by the reusable buffer ``slot``.

    The result is only valid until the next request of the same slot on this
    thread; never return it (or a view of it) to the caller.
    """
    numel = 1
    for size in shape:
        numel *= int(size)
    key = (slot, like.device, like.dtype)
    buffers = _buffers()
    buffer = buffers.get(key)
    if buffer is None or buffer.numel() < numel:
        buffers.pop(key, None)
        buffer = buffers[key] = torch.empty(numel, device=like.device, dtype=like.dtype)
    return buffer[:numel].view(*shape)


def release_scratch() -> None:
    """Free this thread's scratch buffers."""
    _buffers().clear()
