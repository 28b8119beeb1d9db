"""Execution strategies for ICConv2d and the rule that picks one.

``strategy='auto'`` (the default) picks, among the registered strategies that
support the spec, device, dtype and mode, the one with the highest priority.
The environment variable ``MMICCONV_STRATEGY=<name>`` overrides ``'auto'``
everywhere (for debugging and benchmarks); an explicit ``strategy=`` argument
overrides both.

Strategies shipped (highest priority first): ``band`` (the compiled banded
per-tap kernel: CPU, stride 1, ``groups=1``, float32/64; needs the extension
built at install time), ``tap`` (pure PyTorch: one GEMM for the nine taps of
all channels, then two one-axis shift stages; ``groups=1``, any stride,
device and float dtype) and ``loop`` (the paper's one conv per dilation
group, used for ``groups > 1``).
A strategy whose optional kernel is missing (``unavailable_reason()``) is
skipped by ``'auto'`` with a one-time warning, and refused when named.
"""

from __future__ import annotations

import os
import warnings
from typing import Dict, Set, Type

import torch

from .band import BandStrategy
from .base import ICConvSpec, ICConvStrategy, Segment
from .loop import LoopStrategy
from .tap import TapStrategy

__all__ = ['ICConvSpec', 'ICConvStrategy', 'Segment', 'STRATEGIES', 'available_strategies',
           'select_strategy', 'ENV_VAR']

ENV_VAR = 'MMICCONV_STRATEGY'

#: name -> strategy class. A read-only table of what this package ships.
STRATEGIES: Dict[str, Type[ICConvStrategy]] = {
    cls.name: cls for cls in (LoopStrategy, TapStrategy, BandStrategy)}


def available_strategies() -> list[str]:
    """Names of the strategies that can be chosen."""
    return sorted(STRATEGIES)


def select_strategy(requested: str, spec: ICConvSpec, device: torch.device,
                    dtype: torch.dtype, training: bool) -> Type[ICConvStrategy]:
    """Resolve ``requested`` ('auto' or a name) to a strategy class.

    Raises:
        ValueError: an unknown name, or a named strategy that cannot run here.
    """
    if requested == 'auto':
        requested = os.environ.get(ENV_VAR, 'auto') or 'auto'
    if requested != 'auto':
        if requested not in STRATEGIES:
            raise ValueError(f'unknown IC conv strategy {requested!r}; '
                             f'available: {available_strategies()}')
        cls = STRATEGIES[requested]
        reason = cls.unavailable_reason()
        if reason is not None:
            raise ValueError(f'IC conv strategy {requested!r} is unavailable: {reason}')
        if not cls.supports(spec, device, dtype, training):
            raise ValueError(f'IC conv strategy {requested!r} does not support this input '
                             f'(device={device}, dtype={dtype}, training={training})')
        return cls
    candidates = sorted((c for c in STRATEGIES.values() if c.supports(spec, device, dtype, training)),
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


#: names of unavailable strategies already warned about (warn once per process)
_WARNED: Set[str] = set()
