"""How ``strategy='auto'`` chooses, overrides, and falls back from unavailable kernels."""

from __future__ import annotations

import warnings
from typing import Optional

import pytest
import torch

from mmicconv.ops import ICConv2d
from mmicconv.ops import strategies as strategies_module
from mmicconv.ops.strategies import ENV_VAR, STRATEGIES, ICConvStrategy, select_strategy
from mmicconv.ops.strategies.tap import TapStrategy

CPU = torch.device('cpu')


def spec_of(groups: int = 1):
    pattern = {'(0, 0)': 1, '(1, 2)': 1} if groups > 1 else {'(0, 0)': 4, '(2, 1)': 4}
    return ICConv2d(8, 8, groups=groups, pattern=pattern).spec


def test_auto_picks_tap_for_groups_1_and_loop_for_resnext():
    assert select_strategy('auto', spec_of(), CPU, torch.float32, True) is TapStrategy
    assert select_strategy('auto', spec_of(), CPU, torch.bfloat16, False) is TapStrategy
    assert select_strategy('auto', spec_of(groups=2), CPU, torch.float32, True).name == 'loop'


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


def test_unavailable_optional_kernel_falls_back_with_one_warning(monkeypatch):
    monkeypatch.setitem(STRATEGIES, _MissingKernel.name, _MissingKernel)
    monkeypatch.setattr(strategies_module, '_WARNED', set())
    with pytest.warns(RuntimeWarning, match="'missing-kernel' is unavailable"):
        assert select_strategy('auto', spec_of(), CPU, torch.float32, True) is TapStrategy
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert select_strategy('auto', spec_of(), CPU, torch.float32, True) is TapStrategy
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
