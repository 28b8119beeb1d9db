"""Execution strategies for :class:`~mmicconv.ops.ICConv2d`: the interface, the registry and the rule
that picks one (:mod:`.selection` says how and why).

Importing this package registers the shipped strategies ``loop``, ``tap``
and ``band``; a new one subclasses :class:`ICConvStrategy` and registers
itself with ``@register_strategy('name')``.
"""

from __future__ import annotations

from . import band, loop, tap  # noqa: F401  (register the shipped strategies)
from .base import ICConvSpec, ICConvStrategy, Segment
from .registry import STRATEGIES, available_strategies, register_strategy, unregister_strategy
from .selection import ENV_VAR, autocast_fallback, resolve_strategy, select_strategy

__all__ = ['ICConvSpec', 'ICConvStrategy', 'Segment', 'STRATEGIES', 'register_strategy',
           'unregister_strategy', 'available_strategies', 'select_strategy', 'resolve_strategy',
           'autocast_fallback', 'ENV_VAR']
