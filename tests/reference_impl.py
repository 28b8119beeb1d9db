"""Independent references used by the tests (written from the format's definition).

One ``F.conv2d`` per OUTPUT CHANNEL with that channel's dilation: it shares no
code with mmicconv's strategies (which work per segment).
"""

from __future__ import annotations

import random
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F


def per_channel_dilations(entry: dict, out_channels: int) -> List[Tuple[int, int]]:
    """Expand one published entry into a dilation per output channel."""
    dilations = []
    for key, count in entry.items():
        a, b = (int(v) for v in key.strip('()').split(','))
        dilations += [(a + 1, b + 1)] * count
    unit = out_channels // len(dilations)  # ResNeXt: one count per cardinality group
    return [d for d in dilations for _ in range(unit)]


def reference_ic_conv(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                      dilations: List[Tuple[int, int]], stride: int = 1, groups: int = 1) -> torch.Tensor:
    out_channels = weight.shape[0]
    in_per_group = x.shape[1] // groups
    out_per_group = out_channels // groups
    outs = []
    for c, (dh, dw) in enumerate(dilations):
        g = c // out_per_group
        outs.append(F.conv2d(x[:, g * in_per_group:(g + 1) * in_per_group], weight[c:c + 1],
                             None if bias is None else bias[c:c + 1], stride=stride,
                             padding=(dh, dw), dilation=(dh, dw)))
    return torch.cat(outs, dim=1)


def random_entry(rng: random.Random, total: int, max_dilation: int) -> dict:
    """A random published-format entry summing to ``total`` (with zero counts)."""
    keys = [f'({a}, {b})' for a in range(max_dilation) for b in range(max_dilation)]
    rng.shuffle(keys)
    keys = keys[:rng.randint(1, len(keys))]
    cuts = sorted(rng.randint(0, total) for _ in range(len(keys) - 1))
    counts = [b - a for a, b in zip([0] + cuts, cuts + [total])]
    return dict(zip(keys, counts))


def check_against_reference(conv: torch.nn.Module, entry: dict, x: torch.Tensor, atol: float = 1e-4,
                            rtol: float = 1e-4) -> None:
    """``conv`` (an ICConv2d with pattern ``entry``) equals :func:`reference_ic_conv` on ``x``:
    output, input gradient, weight gradient and bias gradient."""
    conv.zero_grad(set_to_none=True)
    dilations = per_channel_dilations(entry, conv.out_channels)
    x_ref = x.detach().clone().requires_grad_(True)
    x_ic = x.detach().clone().requires_grad_(True)
    weight = conv.weight.detach().clone().requires_grad_(True)
    bias = None if conv.bias is None else conv.bias.detach().clone().requires_grad_(True)
    expected = reference_ic_conv(x_ref, weight, bias, dilations, conv.stride[0], conv.groups)
    actual = conv(x_ic)
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, atol=atol, rtol=rtol)
    grad_out = torch.randn_like(expected)
    expected.backward(grad_out)
    actual.backward(grad_out)
    torch.testing.assert_close(x_ic.grad, x_ref.grad, atol=atol, rtol=rtol)
    torch.testing.assert_close(conv.weight.grad, weight.grad, atol=atol, rtol=rtol)
    if bias is not None:
        torch.testing.assert_close(conv.bias.grad, bias.grad, atol=atol, rtol=rtol)


# The compiled kernel's float32 results against float64: random cases and the rounding bound.

UNIT_ROUNDOFF = 2.0 ** -24      # float32


def band_case(seed: int, channels: Optional[int] = None, side: Optional[int] = None):
    """``(conv, x, grad)``: a random ``band`` ICConv2d (dilations up to 6, stride 1 or 2), a batch
    of 4 inputs of a random side (whole small maps several per GEMM up to banded large ones) and
    an output gradient."""
    from mmicconv.ops import ICConv2d
    rng = random.Random(seed)
    channels = channels or rng.choice([8, 16, 32])
    entry = random_entry(rng, channels, max_dilation=6)
    torch.manual_seed(seed)
    conv = ICConv2d(channels, channels, stride=rng.choice([1, 2]), pattern=entry, strategy='band')
    x = torch.randn(4, channels, *(side or rng.choice([2, 5, 8, 16, 23]),) * 2, requires_grad=True)
    grad = torch.randn_like(conv(x))
    return conv, x, grad


def run_conv(conv: torch.nn.Module, x: torch.Tensor, grad: torch.Tensor):
    """``(y, dx, dw)`` of ``conv`` on ``x`` backpropagating ``grad``."""
    conv.zero_grad(set_to_none=True)
    x = x.detach().requires_grad_(True)
    y = conv(x)
    (y * grad).sum().backward()
    return y.detach(), x.grad, conv.weight.grad.clone()


def _gamma(n: int) -> float:
    return n * UNIT_ROUNDOFF / (1 - n * UNIT_ROUNDOFF)


def rounding_bounds(conv: torch.nn.Module, x: torch.Tensor, grad: torch.Tensor):
    """gamma_n * sum |a_i b_i| for every element of (y, dx, dw): the float32 error bound of a
    sum of n products in any order (Higham, Accuracy and Stability of Numerical Algorithms,
    3.1). The same conv, run in float64 on |weight|, |x| and |grad|, sums the magnitudes of
    exactly the products that each element sums; n is the number of those products."""
    import copy
    magnitude = copy.deepcopy(conv).double()
    with torch.no_grad():
        magnitude.weight.abs_()
    sums = run_conv(magnitude, x.detach().double().abs(), grad.double().abs())
    c_in, c_out = conv.in_channels, conv.out_channels
    terms = (9 * c_in, 9 * c_out, grad.shape[0] * grad.shape[2] * grad.shape[3])
    return [_gamma(n) * s for n, s in zip(terms, sums)]
