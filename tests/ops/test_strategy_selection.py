"""How strategies are chosen (at build/move, never per forward), overridden and refused."""

from __future__ import annotations

import warnings
from typing import Optional

import pytest
import torch

from mmicconv.ops import ICConv2d
from mmicconv.ops import extension as extension_module
from mmicconv.ops.extension import extension_error
from mmicconv.ops.strategies import (
    STRATEGIES,
    ICConvStrategy,
    available_strategies,
    register_strategy,
    select_strategy,
    unregister_strategy,
)
from mmicconv.ops.strategies import selection as selection_module
from mmicconv.ops.strategies.band import BandStrategy
from mmicconv.ops.strategies.loop import LoopStrategy
from mmicconv.ops.strategies.tap import TapStrategy

CPU = torch.device('cpu')
PATTERN = {'(0, 0)': 4, '(2, 1)': 4}


def spec_of(groups: int = 1, stride: int = 1):
    pattern = {'(0, 0)': 1, '(1, 2)': 1} if groups > 1 else PATTERN
    return ICConv2d(8, 8, stride=stride, groups=groups, pattern=pattern, strategy='loop').spec


@pytest.fixture
def no_warning_state(monkeypatch):
    monkeypatch.setattr(selection_module, '_WARNED', set())


@pytest.fixture
def without_extension(monkeypatch):
    monkeypatch.setattr(extension_module, '_state', (None, 'extension not built (test)'))


@pytest.mark.skipif(extension_error() is not None, reason=f'compiled kernels: {extension_error()}')
def test_auto_picks_band_tap_or_loop_by_spec_device_and_dtype():
    assert select_strategy('auto', spec_of(), CPU, torch.float32) is BandStrategy
    assert select_strategy('auto', spec_of(), CPU, torch.float64) is BandStrategy
    assert select_strategy('auto', spec_of(stride=2), CPU, torch.float32) is BandStrategy
    assert select_strategy('auto', spec_of(), CPU, torch.bfloat16) is TapStrategy
    assert select_strategy('auto', spec_of(groups=2), CPU, torch.float32) is LoopStrategy
    # other devices: loop (see the strategies module docstring for why)
    assert select_strategy('auto', spec_of(), torch.device('meta'), torch.float32) is LoopStrategy


def test_auto_on_cuda_is_tap_where_it_runs_else_loop():
    """The rule measured on an H200 (docs/performance.md); a pure function, no GPU needed."""
    cuda = torch.device('cuda')
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        assert select_strategy('auto', spec_of(), cuda, dtype) is TapStrategy
    assert select_strategy('auto', spec_of(stride=2), cuda, torch.float32) is TapStrategy
    assert select_strategy('auto', spec_of(groups=2), cuda, torch.float32) is LoopStrategy
    with pytest.raises(ValueError, match="'band' (does not support|is unavailable)"):
        select_strategy('band', spec_of(), cuda, torch.float32)


def test_move_re_resolves_the_strategy():
    conv = ICConv2d(8, 8, pattern=PATTERN)
    first = conv.active_strategy
    assert first in ('band', 'tap')
    conv.to('meta')
    assert conv.active_strategy == 'loop' and conv.strategy == 'auto'
    assert 'strategy=auto:loop' in repr(conv)
    conv.to_empty(device='cpu')
    assert conv.active_strategy == first


def test_missing_extension_falls_back_to_tap_with_one_warning(without_extension, no_warning_state):
    assert BandStrategy.unavailable_reason() == 'extension not built (test)'
    with pytest.warns(RuntimeWarning, match="'band' is unavailable"):
        assert select_strategy('auto', spec_of(), CPU, torch.float32) is TapStrategy
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        conv = ICConv2d(8, 8, pattern=PATTERN)
        assert conv.active_strategy == 'tap'
        conv(torch.randn(1, 8, 6, 6))
    with pytest.raises(ValueError, match='unavailable: extension not built'):
        ICConv2d(8, 8, pattern=PATTERN, strategy='band')


def test_named_strategy_that_cannot_run_is_a_clear_error_at_build():
    with pytest.raises(ValueError, match="'tap' does not support"):
        ICConv2d(8, 8, groups=2, pattern={'(0, 0)': 1, '(1, 2)': 1}, strategy='tap')
    message = r"unknown IC conv strategy 'fast'; available: \['band', 'loop', 'tap'\]"
    with pytest.raises(ValueError, match=message):
        ICConv2d(8, 8, pattern=PATTERN, strategy='fast')


def test_set_strategy_after_forward_takes_effect_and_errors_keep_the_old_one():
    conv = ICConv2d(8, 8, pattern=PATTERN, strategy='loop')
    x = torch.randn(1, 8, 6, 6)
    expected = conv(x)
    calls = []
    original = TapStrategy.forward

    def counting(self, *args):
        calls.append(1)
        return original(self, *args)

    TapStrategy.forward = counting
    try:
        conv.set_strategy('tap')
        torch.testing.assert_close(conv(x), expected, atol=1e-5, rtol=1e-5)
        assert calls == [1] and conv.active_strategy == 'tap' and 'strategy=tap' in repr(conv)
        conv.strategy = 'loop'  # assignment is set_strategy too
        conv(x)
        assert calls == [1] and conv.active_strategy == 'loop'
    finally:
        TapStrategy.forward = original
    with pytest.raises(ValueError, match='unknown IC conv strategy'):
        conv.set_strategy('no-such')
    assert conv.strategy == 'loop' and conv.active_strategy == 'loop'


class _MissingKernel(ICConvStrategy):
    """A stand-in for an optional compiled kernel that was not built."""

    priority = 1000

    @classmethod
    def unavailable_reason(cls) -> Optional[str]:
        return 'extension not built'


@pytest.fixture
def missing_kernel():
    """``_MissingKernel`` registered as ``'missing-kernel'`` for one test."""
    register_strategy('missing-kernel')(_MissingKernel)
    yield _MissingKernel
    unregister_strategy('missing-kernel')


def test_unavailable_optional_kernel_falls_back_with_one_warning(missing_kernel, no_warning_state):
    assert missing_kernel.name == 'missing-kernel' and STRATEGIES['missing-kernel'] is missing_kernel
    # the next in priority order below the missing kernel: band when built, else tap
    fallback = BandStrategy if extension_error() is None else TapStrategy
    with pytest.warns(RuntimeWarning, match="'missing-kernel' is unavailable"):
        assert select_strategy('auto', spec_of(), CPU, torch.float32) is fallback
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert select_strategy('auto', spec_of(), CPU, torch.float32) is fallback
    with pytest.raises(ValueError, match='unavailable: extension not built'):
        select_strategy('missing-kernel', spec_of(), CPU, torch.float32)


def test_tap_outputs_never_alias_each_other():
    conv = ICConv2d(4, 6, pattern={'(0, 0)': 2, '(0, 3)': 2, '(2, 1)': 2}, strategy='tap')
    for n in (1, 2):
        x = torch.randn(n, 4, 9, 9)
        first = conv(x)
        kept = first.detach().clone()
        conv(torch.randn(n, 4, 9, 9))
        torch.testing.assert_close(first.detach(), kept)


def test_registry_decorator_names_refuses_clashes_and_feeds_available_strategies():
    assert available_strategies() == sorted(STRATEGIES) and {'band', 'loop', 'tap'} <= set(STRATEGIES)
    assert STRATEGIES['tap'] is TapStrategy and TapStrategy.name == 'tap'
    with pytest.raises(TypeError):
        STRATEGIES['x'] = TapStrategy  # a read-only view: registering goes through the decorator

    class Other(ICConvStrategy):
        priority = None  # only when named: never chosen by 'auto'

    with pytest.raises(ValueError, match="'tap' is already registered"):
        register_strategy('tap')(Other)
    with pytest.raises(ValueError, match='invalid'):
        register_strategy('auto')(Other)
    with pytest.raises(TypeError, match='not an ICConvStrategy'):
        register_strategy('plain')(torch.nn.Conv2d)
    assert register_strategy('tap')(TapStrategy) is TapStrategy  # the same class again: no-op
    register_strategy('named-only')(Other)
    try:
        assert 'named-only' in available_strategies()
        assert select_strategy('named-only', spec_of(), CPU, torch.float32) is Other
        assert select_strategy('auto', spec_of(), torch.device('cpu'), torch.float32) is not Other
    finally:
        unregister_strategy('named-only')
    assert 'named-only' not in available_strategies()
