"""The rule that picks a strategy, the one environment override and the autocast hand-over.

The choice is made when an :class:`~mmicconv.ops.ICConv2d` is built, moved
(``.to()``, ``.cuda()``, ``.double()``, ...) or given ``set_strategy``; never
per forward (:func:`mmicconv.ops.ic_conv2d` given a name resolves it per call).
``strategy='auto'`` (the default) picks, on CPU, the supported registered
strategy of highest priority; on CUDA ``tap`` where it can run, else
``loop``; on every other device ``loop`` (see below).
The environment variable ``MMICCONV_STRATEGY=<name>`` (the only runtime
variable) replaces ``'auto'`` for modules built or moved while it is set (for
debugging and benchmarks); an explicit ``strategy=`` argument or
``set_strategy`` beats it.

Strategies shipped (highest priority first): ``band`` (the registered
operator ``torch.ops.mmicconv.ic_conv2d`` with its compiled banded per-tap
CPU kernel: ``groups=1``, float32/64, any stride; needs the extension built
at install time), ``tap`` (pure PyTorch: one GEMM for the nine taps of all
channels, then two one-axis shift stages; ``groups=1``, any stride, device
and float dtype) and ``loop`` (the paper's one conv per dilation group; any
device, dtype and ``groups``). A strategy whose optional kernel is missing
(``unavailable_reason()``) is skipped by ``'auto'`` with a one-time warning,
and refused when named. One of priority None is only used when named.

Why ``tap`` on CUDA, measured on one NVIDIA H200 (torch 2.11, batch 16,
IC-R50 / plain R50, ``tools/benchmark_icconv.py --device cuda``, tables in
``docs/performance.md``): with the launches captured in a CUDA graph ``tap``
is faster than ``loop`` in all 16 cases (float32 and float16 autocast, k9 and
k13, 224 and 640, forward and train; 1.1 to 2.8x), and in eager mode at 640
(1.1 to 2.3x); eager at 224, where the small layers are launch-bound, ``loop``
is faster (up to 1.7x forward). The paper's tasks run at 640 and above, so
``auto`` takes ``tap`` on CUDA (peak training memory +2% over plain). Other
devices (MPS, XPU, ...) get ``loop``: unmeasured there, and it needs no
intermediate beyond the output.
"""

from __future__ import annotations

import os
import warnings
from typing import Optional, Set, Type

import torch

from .base import ICConvSpec, ICConvStrategy
from .loop import LoopStrategy
from .registry import STRATEGIES, available_strategies
from .tap import TapStrategy

__all__ = ['ENV_VAR', 'select_strategy', 'resolve_strategy', 'autocast_fallback']

ENV_VAR = 'MMICCONV_STRATEGY'

#: names of unavailable strategies already warned about (warn once per process)
_WARNED: Set[str] = set()


def select_strategy(requested: str, spec: ICConvSpec, device: torch.device,
                    dtype: torch.dtype, training: bool = True) -> Type[ICConvStrategy]:
    """Resolve ``requested`` ('auto' or a registered name) to a strategy class.

    Reads no environment variable (:func:`resolve_strategy` applies
    ``MMICCONV_STRATEGY`` before calling this).

    Raises:
        ValueError: an unknown name, or a named strategy that cannot run here.
    """
    device = torch.device(device)
    if requested != 'auto':
        return _named(requested, spec, device, dtype, training)
    if device.type == 'cuda':  # measured: see the module docstring
        return TapStrategy if TapStrategy.supports(spec, device, dtype, training) else LoopStrategy
    if device.type != 'cpu':
        return LoopStrategy  # unmeasured elsewhere: see the module docstring
    candidates = sorted((c for c in STRATEGIES.values()
                         if c.priority is not None and c.supports(spec, device, dtype, training)),
                        key=lambda c: -c.priority)
    for cls in candidates:
        reason = cls.unavailable_reason()
        if reason is None:
            return cls
        if cls.name not in _WARNED:
            _WARNED.add(cls.name)
            warnings.warn(f'IC conv strategy {cls.name!r} is unavailable ({reason}); '
                          'falling back to the next one (pure PyTorch)', RuntimeWarning, stacklevel=3)
    raise ValueError(f'no IC conv strategy can run this input (device={device}, dtype={dtype})')


def _named(requested: str, spec: ICConvSpec, device: torch.device, dtype: torch.dtype,
           training: bool) -> Type[ICConvStrategy]:
    if requested not in STRATEGIES:
        raise ValueError(f'unknown IC conv strategy {requested!r}; available: {available_strategies()}')
    cls = STRATEGIES[requested]
    reason = cls.unavailable_reason()
    if reason is not None:
        raise ValueError(f'IC conv strategy {requested!r} is unavailable: {reason}')
    if not cls.supports(spec, device, dtype, training):
        raise ValueError(f'IC conv strategy {requested!r} does not support this input '
                         f'(device={device}, dtype={dtype}, training={training})')
    return cls


def resolve_strategy(requested: str, spec: ICConvSpec, device: torch.device,
                     dtype: torch.dtype) -> Type[ICConvStrategy]:
    """:func:`select_strategy`, with ``'auto'`` replaced by ``$MMICCONV_STRATEGY`` when that is set."""
    if requested == 'auto':
        requested = os.environ.get(ENV_VAR, '') or 'auto'
    return select_strategy(requested, spec, device, dtype, True)


def autocast_fallback(cls: Type[ICConvStrategy], spec: ICConvSpec, device: torch.device,
                      training: bool = True) -> Optional[Type[ICConvStrategy]]:
    """Under low-precision autocast on ``device``: ``tap`` (else ``loop``) when ``cls`` cannot
    run the autocast dtype (``band``: float32/64 only); None when autocast is off or ``cls`` can."""
    device_type = device.type
    if not (torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type)):
        return None  # e.g. 'meta' has no autocast
    dtype = torch.get_autocast_dtype(device_type)
    if cls.supports(spec, device, dtype, training):
        return None
    return TapStrategy if TapStrategy.supports(spec, device, dtype, True) else LoopStrategy
