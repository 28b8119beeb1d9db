"""Selection: a planted pattern comes back exactly (exact and statistical errors)."""

from __future__ import annotations

import warnings

import pytest
import torch
from search_helpers import ToyResNet, random_dilations, randomize_bn_

from mmicconv.search import (
    compare_methods,
    convert_to_supernet,
    restrict_to_taps_,
    select_dilations,
    supernet_sites,
)
from mmicconv.search.selection import stat_errors
from mmicconv.search.supernet import candidate_mask


def planted_supernet(d_max: int, seed: int, noise: float):
    """A toy supernet whose KxK kernels are zero outside a random pattern's taps (+ noise)."""
    torch.manual_seed(seed)
    model = ToyResNet()
    convert_to_supernet(model, d_max, init='scratch')
    randomize_bn_(model, seed)
    convs = [getattr(block, attr) for _, block, attr in supernet_sites(model)]
    planted = random_dilations([c.out_channels for c in convs], d_max, seed)
    restrict_to_taps_(model, planted)
    with torch.no_grad():
        for conv in convs:
            conv.weight.add_(noise * conv.weight.abs().max() * torch.randn_like(conv.weight))
    return model.eval(), planted


def calibration(seed: int, batches: int = 2):
    g = torch.Generator().manual_seed(100 + seed)
    return [torch.randn(2, 3, 24, 24, generator=g) for _ in range(batches)]


@pytest.mark.parametrize('d_max,seed', [(2, 0), (3, 1), (4, 2)])
def test_planted_pattern_recovered_exactly(d_max, seed):
    """Without noise both methods give back every channel's planted dilation (the planted
    candidate has zero error, every other one misses non-zero taps)."""
    model, planted = planted_supernet(d_max, seed, noise=0.0)
    layers = select_dilations(model, calibration(seed))
    assert [layer.name for layer in layers] == ['layer1.0.conv2', 'layer1.1.conv2', 'layer2.0.conv2',
                                                'layer2.1.conv2']
    for layer, truth in zip(layers, planted):
        assert layer.dilations('exact') == truth, layer.name
        assert layer.dilations('stat') == truth, layer.name
    assert compare_methods(layers)['agreement'] == 1.0


@pytest.mark.parametrize('seed', [3, 4])
def test_planted_pattern_recovered_with_noise(seed):
    """Noise on every tap (1% of the largest weight) does not change the exact choice."""
    model, planted = planted_supernet(4, seed, noise=0.01)
    layers = select_dilations(model, calibration(seed), methods=('exact',))
    for layer, truth in zip(layers, planted):
        assert layer.dilations('exact') == truth, layer.name


def test_exact_error_is_the_residual_kernel_response():
    """The hook's error equals E|conv(x, W - W * mask_d)| computed directly, per candidate."""
    torch.manual_seed(5)
    model = ToyResNet()
    convert_to_supernet(model, 2, init='scratch')
    model.eval()
    x = calibration(5, 1)[0]
    _, block, attr = next(iter(supernet_sites(model)))
    conv = getattr(block, attr)
    captured = {}

    def keep_input(module, inputs, output) -> None:
        captured['x'] = inputs[0]

    handle = conv.register_forward_hook(keep_input)
    layers = select_dilations(model, [x], methods=('exact',))
    handle.remove()
    inp = captured['x']
    for d, mask in enumerate(candidate_mask(2)):
        residual = torch.nn.functional.conv2d(inp, conv.weight * (1 - mask), None, conv.stride, conv.padding)
        expected = residual.abs().mean(dim=(0, 2, 3))
        torch.testing.assert_close(layers[0].errors['exact'][:, d], expected, rtol=1e-4, atol=1e-6)


def test_stat_error_bounds_the_exact_error():
    """On stride-1 layers the statistical error is the triangle-inequality bound of the exact
    one (zero padding only lowers the exact error). Strided layers sample a subset of the
    positions, whose mean |input| may exceed the channel mean, so they are not checked."""
    torch.manual_seed(6)
    model = ToyResNet()
    convert_to_supernet(model, 3, init='scratch')
    model.eval()
    layers = select_dilations(model, calibration(6, 1))
    strides = [getattr(b, a).stride for _, b, a in supernet_sites(model)]
    checked = 0
    for layer, stride in zip(layers, strides):
        if stride == (1, 1):
            assert torch.all(layer.errors['stat'] >= layer.errors['exact'] * (1 - 1e-4)), layer.name
            checked += 1
    assert checked == 3


def test_stat_errors_by_hand():
    """One output channel, two input channels, d_max 1: the single candidate covers all taps,
    so its statistical error is 0; d_max 2 by hand for one tap outside every candidate."""
    w = torch.zeros(1, 2, 5, 5)
    w[0, 0, 0, 1] = -2.0  # row offset -2, col offset -1: inside only candidates with dh=2, dw=1
    w[0, 1, 2, 2] = 3.0   # centre: inside every candidate
    errors = stat_errors(w, torch.tensor([0.5, 4.0]), 1, 2)
    # candidates (1,1), (1,2), (2,1), (2,2): the -2 tap (|w| * m = 1.0) counts where it is outside
    torch.testing.assert_close(errors, torch.tensor([[1.0, 1.0, 0.0, 1.0]]))


def test_exact_ties_go_to_the_smaller_dilation():
    """Among equal errors the smaller dilation wins (sum of both, then the larger axis), not the
    first in key order: (1, 4) comes before (2, 1) in the published key order."""
    from mmicconv.search.selection import LayerErrors
    layer = LayerErrors('conv', d_max=4)
    cands = layer.candidates
    errors = torch.ones(3, 16)
    errors[0, cands.index((1, 4))] = errors[0, cands.index((2, 1))] = 0.5
    errors[1, cands.index((3, 3))] = errors[1, cands.index((2, 4))] = 0.25  # same sum: larger axis
    errors[2, cands.index((4, 4))] = 0.1                                    # no tie: the minimum
    layer.errors['exact'] = errors
    assert layer.dilations('exact') == [(2, 1), (3, 3), (4, 4)]


def test_maps_too_small_for_the_candidates_warn_and_tie_to_the_smaller():
    """On 3x3 maps every dilation >= 3 reads only the centre tap and zero padding: a channel
    planted at (4, 4) gives the centre tap's output, which every candidate whose taps miss the
    planted ones also gives, (1, 1) included; the selection picks (1, 1) and warns, naming the
    layer. On 9x9 maps the planted dilation comes back."""
    from mmicconv.search import SupernetConv2d
    torch.manual_seed(0)
    model = torch.nn.Sequential()
    model.add_module('layer4', torch.nn.Sequential(torch.nn.Module()))
    conv = SupernetConv2d(4, 2, d_max=4)
    model.layer4[0].conv2 = conv
    restrict_to_taps_(model, [[(4, 4), (2, 1)]])
    assert [name for name, _, _ in supernet_sites(model)] == ['layer4.0.conv2']
    small = [torch.randn(2, 4, 3, 3)]
    with pytest.warns(UserWarning, match=r'1 of 1 searched convs .* layer4\.0\.conv2: 3x3 input, d_max 4'):
        [layer] = select_dilations(model, small, forward=lambda x: conv(x))
    exact = layer.errors['exact'][0]
    cands = layer.candidates
    assert exact[cands.index((1, 1))] == exact[cands.index((3, 3))] == exact[cands.index((4, 4))]
    assert layer.dilations('exact') == [(1, 1), (2, 1)]
    assert (4, 4) in layer.indistinguishable() and (3, 3) not in layer.indistinguishable()
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # 9x9 maps: every candidate reachable, no warning
        [layer] = select_dilations(model, [torch.randn(2, 4, 9, 9)], forward=lambda x: conv(x))
    assert layer.dilations('exact') == [(4, 4), (2, 1)]
