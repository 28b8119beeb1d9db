"""The standard-op forms ONNX export writes (mmicconv/ops/export_forms.py), checked in PyTorch
against the independent per-channel reference, and how the form is chosen."""

from __future__ import annotations

import random

import pytest
import torch
from reference_impl import per_channel_dilations, random_entry, reference_ic_conv

from mmicconv.ops import ICConv2d
from mmicconv.ops.export_forms import (
    EXPORT_ENV_VAR,
    EXPORT_FORMS,
    export_form,
    export_form_as,
    exported_conv2d,
    taps_conv2d,
)


@pytest.mark.parametrize('seed', range(12))
def test_taps_form_equals_the_reference(seed):
    """Random patterns (dilations 1-6), strides 1-3 per axis, groups, bias, odd and even sizes."""
    rng = random.Random(seed)
    groups = rng.choice([1, 1, 2, 4])
    out_channels = groups * rng.randint(1, 6)
    in_channels = groups * rng.randint(1, 5)
    entry = random_entry(rng, out_channels // groups, max_dilation=6)
    stride = (rng.randint(1, 3), rng.randint(1, 3))
    x = torch.randn(2, in_channels, rng.randint(5, 23), rng.randint(5, 23), dtype=torch.float64)
    weight = torch.randn(out_channels, in_channels // groups, 3, 3, dtype=torch.float64)
    bias = torch.randn(out_channels, dtype=torch.float64) if rng.random() < 0.5 else None
    dilations = per_channel_dilations(entry, out_channels)
    got = taps_conv2d(x, weight, bias, dilations, stride, groups)
    # the reference takes one stride: compare on the grid of each axis' stride
    want = reference_ic_conv(x, weight, bias, dilations, 1, groups)[:, :, ::stride[0], ::stride[1]]
    torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize('form', EXPORT_FORMS)
def test_every_form_of_an_icconv_equals_its_forward(form):
    rng = random.Random(7)
    entry = random_entry(rng, 12, max_dilation=4)
    conv = ICConv2d(5, 12, stride=2, bias=True, pattern=entry, strategy='loop').double()
    x = torch.randn(1, 5, 17, 14, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(exported_conv2d(x, conv.weight, conv.bias, conv.spec, form), conv(x),
                                   atol=1e-10, rtol=1e-10)


def test_the_form_comes_from_the_block_then_the_environment(monkeypatch):
    monkeypatch.delenv(EXPORT_ENV_VAR, raising=False)
    assert export_form() == 'taps'
    monkeypatch.setenv(EXPORT_ENV_VAR, 'segments')
    assert export_form() == 'segments'
    with export_form_as('taps'):
        assert export_form() == 'taps'
    assert export_form() == 'segments'


def test_an_unknown_form_is_one_clear_error(monkeypatch):
    monkeypatch.setenv(EXPORT_ENV_VAR, 'tiles')
    with pytest.raises(ValueError, match=rf"\${EXPORT_ENV_VAR}: unknown IC conv export form 'tiles'; "
                                         r'choose one of taps, segments'):
        export_form()
    with pytest.raises(ValueError, match="unknown IC conv export form 'loop'"):
        with export_form_as('loop'):
            pass


def test_flop_counting_trace_sees_the_segments():
    """torch.jit.trace (what FLOP counters run) records one conv per segment, whatever the form."""
    entry = {'(0, 0)': 3, '(1, 2)': 2, '(3, 0)': 1}
    conv = ICConv2d(4, 6, pattern=entry)
    with export_form_as('taps'):
        traced = torch.jit.trace(conv, torch.randn(1, 4, 9, 9))
    kinds = [node.kind() for node in traced.inlined_graph.nodes()]
    assert kinds.count('aten::_convolution') == 3
