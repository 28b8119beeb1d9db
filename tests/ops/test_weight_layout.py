"""The tap-major memory layout of ``ICConv2d.weight`` (shape and values of ``nn.Conv2d``)."""

from __future__ import annotations

import io

import torch
import torch.nn as nn

from mmicconv.ops import ICConv2d
from mmicconv.ops.plan import is_tap_major, w9_matrix

ENTRY = {'(0, 0)': 4, '(2, 1)': 4}


def test_weight_is_tap_major_so_w9_is_a_view_not_a_copy():
    conv = ICConv2d(5, 8, pattern=ENTRY)
    assert conv.weight.shape == (8, 5, 3, 3) and isinstance(conv.weight, nn.Parameter)
    assert is_tap_major(conv.weight) and not conv.weight.is_contiguous()
    w9 = w9_matrix(conv.weight)
    assert w9.data_ptr() == conv.weight.data_ptr()
    for o, i, j in [(0, 0, 0), (7, 2, 2), (3, 2, 1), (5, 0, 2)]:
        assert torch.equal(w9[(3 * i + j) * 8 + o], conv.weight[o, :, i, j])


def test_layout_survives_moves_loading_and_conversion():
    conv = ICConv2d(5, 8, pattern=ENTRY)
    values = conv.weight.detach().clone()
    conv.double()
    assert is_tap_major(conv.weight) and torch.equal(conv.weight, values.double())
    contiguous = {'weight': torch.randn(8, 5, 3, 3, dtype=torch.float64)}
    conv.load_state_dict(contiguous)
    assert is_tap_major(conv.weight) and torch.equal(conv.weight, contiguous['weight'])
    plain = nn.Conv2d(5, 8, 3, padding=1, bias=False)
    ic = ICConv2d.from_conv(plain, ICConv2d(5, 8, pattern=ENTRY).pattern)
    assert ic.weight is plain.weight and is_tap_major(ic.weight)  # the same Parameter, re-laid out


def test_gradient_comes_in_the_weight_layout():
    conv = ICConv2d(5, 8, pattern=ENTRY)
    conv(torch.randn(2, 5, 9, 9)).sum().backward()
    assert conv.weight.grad.stride() == conv.weight.stride()


def test_state_dict_round_trip_and_any_layout_computes_the_same():
    conv = ICConv2d(5, 8, pattern=ENTRY).eval()
    x = torch.randn(2, 5, 9, 9)
    expected = conv(x)
    buffer = io.BytesIO()
    torch.save(conv.state_dict(), buffer)
    buffer.seek(0)
    other = ICConv2d(5, 8, pattern=ENTRY).eval()
    other.load_state_dict(torch.load(buffer))
    torch.testing.assert_close(other(x), expected, atol=0, rtol=0)
    other.weight = nn.Parameter(other.weight.detach().contiguous())  # a user-assigned layout
    assert not is_tap_major(other.weight)
    torch.testing.assert_close(other(x), expected, atol=1e-6, rtol=1e-6)


def test_grouped_convs_keep_the_standard_layout():
    conv = ICConv2d(8, 8, groups=2, pattern=ENTRY)
    assert conv.weight.is_contiguous()
