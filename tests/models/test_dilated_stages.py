"""IC patterns inside dilated ResNet stages (MMSegmentation's ``dilations=(1, 1, 2, 4)``):
channel dilation = the dilation the backbone gives that conv x the pattern's dilation."""

from __future__ import annotations

import random

import pytest
import torch
from conftest import build_model
from reference_impl import per_channel_dilations, random_entry, reference_ic_conv

from mmicconv.models.ic_resnet import ic_conv_sites
from mmicconv.ops import ICConv2d

pytest.importorskip('mmseg')

DILATED = dict(depth=50, base_channels=8, stem_channels=8, dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1),
               contract_dilation=True, norm_cfg=dict(type='BN', requires_grad=True))


def _random_pattern(seed: int):
    rng = random.Random(seed)
    widths = [8] * 3 + [16] * 4 + [32] * 6 + [64] * 3
    return [random_entry(rng, w, max_dilation=3) for w in widths]


def test_all_ones_pattern_equals_the_plain_dilated_resnet():
    """The all-(1,1) pattern in a dilated ResNetV1c computes exactly mmseg's own dilated network."""
    torch.manual_seed(0)
    plain = build_model('mmseg', dict(type='ResNetV1c', **DILATED))
    plain.eval()  # mmseg's ResNet.train returns None
    ones = [{'(0, 0)': w} for w in [8] * 3 + [16] * 4 + [32] * 6 + [64] * 3]
    ic = build_model('mmseg', dict(type='ICResNetV1c', pattern=ones, **DILATED)).eval()
    ic.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 48, 40)
    with torch.no_grad():
        for got, want in zip(ic(x), plain(x)):
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('seed', range(2))
def test_each_conv_scales_the_pattern_by_its_stage_dilation(seed):
    """Every IC conv's per-channel dilations are the backbone conv's dilation times the pattern's,
    and its output equals the independent reference with those dilations."""
    pattern = _random_pattern(seed)
    plain = build_model('mmseg', dict(type='ResNetV1c', **DILATED))
    stage_dilation = {name: tuple(getattr(block, attr).dilation)
                      for name, block, attr in ic_conv_sites(plain)}
    ic = build_model('mmseg', dict(type='ICResNetV1c', pattern=pattern, **DILATED))
    assert set(stage_dilation.values()) == {(1, 1), (2, 2), (4, 4)}  # contract_dilation: 1 first, then 2
    for (name, block, attr), entry in zip(ic_conv_sites(ic), pattern):
        conv = getattr(block, attr)
        assert isinstance(conv, ICConv2d)
        factor = stage_dilation[name]
        want = [(dh * factor[0], dw * factor[1])
                for dh, dw in per_channel_dilations(entry, conv.out_channels)]
        assert conv.ic_dilations.tolist() == [list(d) for d in want], name
        x = torch.randn(1, conv.in_channels, 13, 11, dtype=torch.float64)
        weight = conv.weight.detach().double()
        with torch.no_grad():
            got = conv.double()(x)
        ref = reference_ic_conv(x, weight, None, want, 1)[:, :, ::conv.stride[0], ::conv.stride[1]]
        torch.testing.assert_close(got, ref, atol=1e-9, rtol=1e-9)


def test_output_stride_8_shapes_match_the_plain_network():
    plain = build_model('mmseg', dict(type='ResNetV1c', **DILATED))
    plain.eval()
    ic = build_model('mmseg', dict(type='ICResNetV1c', pattern=_random_pattern(0), **DILATED)).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert [o.shape for o in ic(x)] == [o.shape for o in plain(x)]
        assert ic(x)[-1].shape[-1] == 8  # output stride 8
