"""ICConv2d under ``torch.func``: grad, vmap and per-sample gradients, every strategy.

Each result is compared with the same transform of the independent per-channel
reference (``reference_impl.reference_ic_conv``), not with another strategy.
``band`` hands over to the composite computation while a transform is active.
"""

from __future__ import annotations

import pytest
import torch
from reference_impl import per_channel_dilations, reference_ic_conv
from torch.func import functional_call, grad, vmap

from mmicconv.ops import ICConv2d, available_strategies
from mmicconv.ops.strategies import STRATEGIES

ENTRY = {'(0, 0)': 3, '(2, 1)': 2, '(1, 3)': 1}
TOL = dict(atol=1e-4, rtol=1e-4)


def _conv(strategy: str, stride: int) -> ICConv2d:
    if STRATEGIES[strategy].unavailable_reason() is not None:
        pytest.skip(f'{strategy}: {STRATEGIES[strategy].unavailable_reason()}')
    torch.manual_seed(stride)
    return ICConv2d(4, 6, stride=stride, pattern=ENTRY, strategy=strategy)


def _reference(weight: torch.Tensor, x: torch.Tensor, stride: int) -> torch.Tensor:
    return reference_ic_conv(x, weight, None, per_channel_dilations(ENTRY, 6), stride)


@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize('strategy', available_strategies())
def test_func_grad_equals_the_reference_gradient(strategy, stride):
    conv = _conv(strategy, stride)
    x = torch.randn(2, 4, 9, 8)
    weight = conv.weight.detach()
    actual = grad(lambda w: functional_call(conv, {'weight': w}, (x,)).square().sum())(weight)
    expected = grad(lambda w: _reference(w, x, stride).square().sum())(weight)
    torch.testing.assert_close(actual, expected, **TOL)


@pytest.mark.parametrize('strategy', available_strategies())
def test_vmap_over_inputs_and_over_weights(strategy):
    conv = _conv(strategy, 1)
    xs = torch.randn(3, 2, 4, 7, 7)
    expected = torch.stack([_reference(conv.weight.detach(), x, 1) for x in xs])
    torch.testing.assert_close(vmap(conv)(xs), expected, **TOL)
    weights = torch.randn(3, *conv.weight.shape)
    actual = vmap(lambda w: functional_call(conv, {'weight': w}, (xs[0],)))(weights)
    torch.testing.assert_close(actual, torch.stack([_reference(w, xs[0], 1) for w in weights]), **TOL)


@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize('strategy', available_strategies())
def test_per_sample_gradients(strategy, stride):
    conv = _conv(strategy, stride)
    x = torch.randn(3, 4, 8, 8)
    weight = conv.weight.detach()

    def loss(w: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
        return functional_call(conv, {'weight': w}, (sample.unsqueeze(0),)).square().sum()

    actual = vmap(grad(loss), in_dims=(None, 0))(weight, x)

    def reference_loss(w: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
        return _reference(w, sample.unsqueeze(0), stride).square().sum()

    expected = torch.stack([grad(reference_loss)(weight, sample) for sample in x])
    torch.testing.assert_close(actual, expected, **TOL)
