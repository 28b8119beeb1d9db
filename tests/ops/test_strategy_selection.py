"""How ``strategy='auto'`` chooses, overrides, and falls back from unavailable kernels."""

from __future__ import annotations

import warnings
from typing import Optional

import pytest
import torch

from mmicconv.ops import ICConv2d
from mmicconv.ops import strategies as strategies_module
from mmicconv.ops.extension import DISABLE_ENV_VAR, extension_error
from mmicconv.ops.strategies import ENV_VAR, STRATEGIES, ICConvStrategy, select_strategy
from mmicconv.ops.strategies.band import BandStrategy
from mmicconv.ops.strategies.tap import TapStrategy

CPU = torch.device('cpu')


def spec_of(groups: int = 1, stride: int = 1):
    pattern = {'(0, 0)': 1, '(1, 2)': 1} if groups > 1 else {'(0, 0)': 4, '(2, 1)': 4}
    return ICConv2d(8, 8, stride=stride, groups=groups, pattern=pattern).spec


@pytest.fixture
def no_warning_state(monkeypatch):
    monkeypatch.setattr(strategies_module, '_WARNED', set())


@pytest.mark.skipif(extension_error() is not None, reason=f'compiled kernels: {extension_error()}')
def test_auto_picks_band_tap_or_loop_by_spec_and_dtype(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert select_strategy('auto', spec_of(), CPU, torch.float32, True) is BandStrategy
    assert select_strategy('auto', spec_of(), CPU, torch.float64, False) is BandStrategy
    assert select_strategy('auto', spec_of(stride=2), CPU, torch.float32, True) is BandStrategy
    # bfloat16 (autocast) and other devices: the pure-PyTorch per-tap strategy
    assert select_strategy('auto', spec_of(), CPU, torch.bfloat16, False) is TapStrategy
    assert select_strategy('auto', spec_of(groups=2), CPU, torch.float32, True).name == 'loop'
    assert select_strategy('auto', spec_of(), torch.device('meta'), torch.float32, True) is TapStrategy


def test_missing_extension_falls_back_to_tap_with_one_warning(monkeypatch, no_warning_state):
    monkeypatch.setenv(DISABLE_ENV_VAR, '1')
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert BandStrategy.unavailable_reason() == f'disabled by {DISABLE_ENV_VAR}'
    with pytest.warns(RuntimeWarning, match="'band' is unavailable"):
        assert select_strategy('auto', spec_of(), CPU, torch.float32, True) is TapStrategy
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        conv = ICConv2d(8, 8, pattern={'(0, 0)': 4, '(2, 1)': 4})
        conv(torch.randn(1, 8, 6, 6))
        assert type(conv.executor(torch.randn(1, 8, 6, 6))) is TapStrategy
    with pytest.raises(ValueError, match='unavailable: disabled by'):
        select_strategy('band', spec_of(), CPU, torch.float32, True)


def test_argument_beats_env_var(monkeypatch):
    monkeypatch.setenv(ENV_VAR, 'loop')
    assert select_strategy('auto', spec_of(), CPU, torch.float32, True).name == 'loop'
    assert select_strategy('tap', spec_of(), CPU, torch.float32, True).name == 'tap'
    with pytest.raises(ValueError, match='does not support'):
        select_strategy('tap', spec_of(groups=2), CPU, torch.float32, True)


class _MissingKernel(ICConvStrategy):
    """A stand-in for an optional compiled kernel that was not built."""

    name = 'missing-kernel'
    priority = 1000

    @classmethod
    def unavailable_reason(cls) -> Optional[str]:
        return 'extension not built'


def test_unavailable_optional_kernel_falls_back_with_one_warning(monkeypatch, no_warning_state):
    monkeypatch.setitem(STRATEGIES, _MissingKernel.name, _MissingKernel)
    # the next in priority order below the missing kernel: band when built, else tap
    fallback = BandStrategy if extension_error() is None else TapStrategy
    with pytest.warns(RuntimeWarning, match="'missing-kernel' is unavailable"):
        assert select_strategy('auto', spec_of(), CPU, torch.float32, True) is fallback
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert select_strategy('auto', spec_of(), CPU, torch.float32, True) is fallback
    with pytest.raises(ValueError, match='unavailable: extension not built'):
        select_strategy('missing-kernel', spec_of(), CPU, torch.float32, True)


def test_plan_is_built_once_per_key():
    conv = ICConv2d(4, 6, pattern={'(0, 0)': 2, '(0, 3)': 2, '(2, 1)': 2})
    x = torch.randn(1, 4, 9, 9)
    first = conv.executor(x)
    conv(x)
    conv(torch.randn(2, 4, 7, 11))
    assert conv.executor(x) is first and len(conv._executors) == 1
    conv.eval()
    conv(x)
    assert len(conv._executors) == 2


def test_tap_outputs_never_alias_the_scratch_buffers():
    conv = ICConv2d(4, 6, pattern={'(0, 0)': 2, '(0, 3)': 2, '(2, 1)': 2}, strategy='tap')
    for n in (1, 2):
        x = torch.randn(n, 4, 9, 9)
        first = conv(x)
        kept = first.detach().clone()
        conv(torch.randn(n, 4, 9, 9))
        torch.testing.assert_close(first.detach(), kept)
