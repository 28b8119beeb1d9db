"""The strategy registry: the strategies that :class:`~mmicconv.ops.ICConv2d` can choose from.

A strategy registers itself with a decorator where it is defined::

    @register_strategy('tap')
    class TapStrategy(ICConvStrategy):
        ...

The shipped ones (``loop``, ``tap``, ``band``) register when
:mod:`mmicconv.ops` is imported; others register when their module is
imported (e.g. the benchmark's GEMM-only oracle, :mod:`mmicconv.benchmark.oracle`).
:func:`available_strategies` and ``strategy='auto'`` read this registry.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Callable, Dict, List, Mapping, Type, TypeVar

from .base import ICConvStrategy

__all__ = ['STRATEGIES', 'register_strategy', 'unregister_strategy', 'available_strategies']

StrategyT = TypeVar('StrategyT', bound=Type[ICConvStrategy])

_REGISTRY: Dict[str, Type[ICConvStrategy]] = {}

#: name -> strategy class: a live, read-only view of the registry.
STRATEGIES: Mapping[str, Type[ICConvStrategy]] = MappingProxyType(_REGISTRY)


def register_strategy(name: str) -> Callable[[StrategyT], StrategyT]:
    """Class decorator: register an :class:`ICConvStrategy` subclass under ``name``.

    Sets the class's ``name``. Registering the same class again is a no-op.

    Raises:
        TypeError: the class is not an :class:`ICConvStrategy`.
        ValueError: ``name`` is empty, ``'auto'`` or taken by another class.
    """
    if not name or name == 'auto':
        raise ValueError(f'invalid IC conv strategy name {name!r}')

    def register(cls: StrategyT) -> StrategyT:
        if not (isinstance(cls, type) and issubclass(cls, ICConvStrategy)):
            raise TypeError(f'{cls!r} is not an ICConvStrategy subclass')
        known = _REGISTRY.get(name)
        if known is not None and known is not cls:
            raise ValueError(f'IC conv strategy {name!r} is already registered ({known.__qualname__})')
        cls.name = name
        _REGISTRY[name] = cls
        return cls
    return register


def unregister_strategy(name: str) -> Type[ICConvStrategy]:
    """Remove ``name`` from the registry and return its class (``KeyError`` when unknown)."""
    return _REGISTRY.pop(name)


def available_strategies() -> List[str]:
    """Names of the registered strategies, sorted (``'auto'`` is not one of them)."""
    return sorted(_REGISTRY)
