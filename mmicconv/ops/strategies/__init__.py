"""Execution strategies for ICConv2d and the rule that picks one.

``strategy='auto'`` (the default) picks, among the registered strategies that
support the spec, device, dtype and mode, the one with the highest priority.
The environment variable ``MMICCONV_STRATEGY=<name>`` overrides ``'auto'``
everywhere (for debugging and benchmarks); an explicit ``strategy=`` argument
overrides both.
"""

from __future__ import annotations

import os
from typing import Dict, Type

import torch

from .base import ICConvSpec, ICConvStrategy, Segment
from .loop import LoopStrategy
from .tap import TapStrategy

__all__ = ['ICConvSpec', 'ICConvStrategy', 'Segment', 'STRATEGIES', 'available_strategies',
           'select_strategy', 'ENV_VAR']

ENV_VAR = 'MMICCONV_STRATEGY'

#: name -> strategy class. A read-only table of what this package ships.
STRATEGIES: Dict[str, Type[ICConvStrategy]] = {cls.name: cls for cls in (LoopStrategy, TapStrategy)}


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
        if not cls.supports(spec, device, dtype, training):
            raise ValueError(f'IC conv strategy {requested!r} does not support this input '
                             f'(device={device}, dtype={dtype}, training={training})')
        return cls
    candidates = [c for c in STRATEGIES.values() if c.supports(spec, device, dtype, training)]
    return max(candidates, key=lambda c: c.priority)
