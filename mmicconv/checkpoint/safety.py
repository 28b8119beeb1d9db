"""Let torch's ``weights_only`` loader open mmengine's own checkpoints, narrowly.

torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine 0.10.7
calls ``torch.load`` without the argument, so ``load_from`` and ``resume`` of
a checkpoint that mmengine itself wrote fail: its ``message_hub`` holds
``HistoryBuffer`` objects and numpy values, which are not on torch's list.

:func:`allow_mmengine_checkpoints` (run by ``import mmicconv``) adds exactly
these globals with :func:`torch.serialization.add_safe_globals`:

* ``mmengine.logging.history_buffer.HistoryBuffer``: a plain data class
  (deque of logged values); unpickling only fills its ``__dict__``.
* ``builtins.getattr``, replaced by a stand-in that only returns one of
  ``HistoryBuffer``'s registered statistics methods (``min``, ``max``,
  ``mean``, ``current``, ...): pickle protocol 2 stores the buffer's
  ``_statistics_methods`` table as ``getattr(HistoryBuffer, 'min')`` etc.
  Any other object or attribute name is refused, so no ``getattr`` chain can
  reach ``__globals__``, ``__builtins__`` or ``eval``.
* numpy's array and scalar reconstructors (``_reconstruct``, ``scalar``),
  ``ndarray`` and the ``dtype`` classes: they build arrays from raw bytes and
  call nothing else.

Nothing is done through ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` or
``weights_only=False``; the rest of torch's checks stay in force. On torch
without ``add_safe_globals`` (< 2.4, where loading is not weights-only by
default) this is a no-op.
"""

from __future__ import annotations

import pickle
from typing import Any, List

import numpy as np
import torch

__all__ = ['allow_mmengine_checkpoints', 'safe_globals_for_mmengine', 'history_buffer_getattr']


def _history_buffer():
    from mmengine.logging.history_buffer import HistoryBuffer
    return HistoryBuffer


# HistoryBuffer fills its ``_statistics_methods`` table with these in ``__init__``
# only, so a fresh process that never built a buffer has an empty table.
_DEFAULT_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` limited to ``HistoryBuffer``'s statistics methods (default or registered)."""
    buffer_cls = _history_buffer()
    allowed = set(buffer_cls._statistics_methods) | set(_DEFAULT_STATISTICS)
    if obj is buffer_cls and isinstance(name, str) and name in allowed:
        return getattr(buffer_cls, name)
    raise pickle.UnpicklingError(
        f'refused getattr({obj!r}, {name!r}) while loading a checkpoint: mmicconv only allows '
        f'HistoryBuffer statistics methods {sorted(allowed)}')


def _numpy_globals() -> List[Any]:
    multiarray = getattr(np, '_core', None) or np.core  # numpy 2 renamed core -> _core
    dtype_classes = [cls for cls in vars(np.dtypes).values()
                     if isinstance(cls, type) and issubclass(cls, np.dtype)]
    return [multiarray.multiarray._reconstruct, multiarray.multiarray.scalar, np.ndarray,
            np.dtype] + dtype_classes


def safe_globals_for_mmengine() -> List[Any]:
    """The exact entries :func:`allow_mmengine_checkpoints` registers."""
    return [_history_buffer(), (history_buffer_getattr, 'builtins.getattr')] + _numpy_globals()


def allow_mmengine_checkpoints() -> bool:
    """Register :func:`safe_globals_for_mmengine` with torch (idempotent).

    Returns:
        Whether anything was registered (False on torch without the API).
    """
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:
        return False
    add(safe_globals_for_mmengine())
    return True
