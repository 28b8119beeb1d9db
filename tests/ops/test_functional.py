"""``mmicconv.ops.ic_conv2d``: the function ``ICConv2d.forward`` calls, against the per-channel reference."""

from __future__ import annotations

import pytest
import torch
from reference_impl import per_channel_dilations, reference_ic_conv
from torch.utils._python_dispatch import TorchDispatchMode

from mmicconv.ops import ICConv2d, available_strategies, ic_conv2d
from mmicconv.ops import ic_conv as ic_conv_module
from mmicconv.ops.extension import extension_error
from mmicconv.ops.strategies import STRATEGIES
from mmicconv.pattern import Pattern

ENTRY = {'(0, 0)': 3, '(2, 1)': 0, '(1, 3)': 4, '(4, 0)': 2}
NEEDS_KERNEL = pytest.mark.skipif(extension_error() is not None,
                                  reason=f'compiled kernel: {extension_error()}')


def _available(strategy: str) -> None:
    if STRATEGIES[strategy].unavailable_reason() is not None:
        pytest.skip(f'{strategy}: {STRATEGIES[strategy].unavailable_reason()}')


def _dilation_forms(entry: dict, out_channels: int) -> dict:
    tensor = torch.tensor(per_channel_dilations(entry, out_channels))
    return {'tensor': tensor, 'entry': entry,
            'pattern': Pattern.from_list([entry])[0]}


@pytest.mark.parametrize('form', ['tensor', 'entry', 'pattern'])
@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize('strategy', ['auto'] + available_strategies())
def test_every_strategy_and_dilation_form_equals_the_reference(strategy, stride, form):
    if strategy != 'auto':
        _available(strategy)
    torch.manual_seed(stride)
    x = torch.randn(2, 5, 11, 10, requires_grad=True)
    weight = torch.randn(9, 5, 3, 3, requires_grad=True)
    bias = torch.randn(9, requires_grad=True)
    dilations = _dilation_forms(ENTRY, 9)[form]
    actual = ic_conv2d(x, weight, bias, stride, dilations, strategy=strategy)
    expected = reference_ic_conv(x, weight, bias, per_channel_dilations(ENTRY, 9), stride)
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=1e-4)
    got = torch.autograd.grad(actual.square().sum(), (x, weight, bias))
    want = torch.autograd.grad(expected.square().sum(), (x, weight, bias))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-4)


def test_uniform_dilation_is_a_plain_dilated_conv_and_groups_work():
    x = torch.randn(1, 6, 9, 9)
    weight = torch.randn(6, 2, 3, 3)
    expected = torch.nn.functional.conv2d(x, weight, None, (2, 1), (2, 3), (2, 3), groups=3)
    torch.testing.assert_close(ic_conv2d(x, weight, stride=(2, 1), dilations=(2, 3), groups=3), expected)
    torch.testing.assert_close(ic_conv2d(x, weight[:, :1].repeat(1, 6, 1, 1), dilations=1),
                               torch.nn.functional.conv2d(x, weight[:, :1].repeat(1, 6, 1, 1), None, 1, 1))


def test_dilations_that_do_not_fit_are_a_clear_error():
    x, weight = torch.randn(1, 4, 6, 6), torch.randn(8, 4, 3, 3)
    with pytest.raises(ValueError, match='given for 5 output channels, the weight has 8'):
        ic_conv2d(x, weight, dilations=torch.ones(5, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r'sum to 9, expected out_channels \(8\)'):
        ic_conv2d(x, weight, dilations=ENTRY)
    with pytest.raises(ValueError, match="unknown IC conv strategy 'fast'"):
        ic_conv2d(x, weight, strategy='fast')


@pytest.mark.parametrize('device', ['cpu', 'meta'])
def test_module_forward_calls_the_function_with_its_built_strategy(device, monkeypatch):
    conv = ICConv2d(5, 9, stride=2, bias=True, pattern=ENTRY).to(device)
    calls = []

    def spy(*args, **kwargs):
        calls.append(kwargs['strategy'])
        return ic_conv2d(*args, **kwargs)

    monkeypatch.setattr(ic_conv_module, 'ic_conv2d', spy)
    out = conv(torch.randn(2, 5, 11, 10, device=device))
    assert calls == [conv._impl] and out.shape == (2, 9, 6, 5) and out.device.type == device


@NEEDS_KERNEL
def test_band_runs_the_registered_operator_and_bfloat16_autocast_hands_over_to_tap():
    class Ops(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.seen = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.seen.add(str(func))
            return func(*args, **(kwargs or {}))

    x, weight = torch.randn(1, 5, 8, 8), torch.randn(9, 5, 3, 3)
    with Ops() as ops:
        ic_conv2d(x, weight, dilations=ENTRY, strategy='band')
    assert 'mmicconv.ic_conv2d.default' in ops.seen
    with torch.autocast('cpu', dtype=torch.bfloat16), Ops() as ops:
        out = ic_conv2d(x, weight, dilations=ENTRY, strategy='band')
    assert out.dtype == torch.bfloat16 and 'mmicconv.ic_conv2d.default' not in ops.seen
