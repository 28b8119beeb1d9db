"""The ResNet stage table (mmicconv/models/arch.py) against independently known facts
(the ResNet paper's block counts) and against the convs of mmdet's own ResNet/ResNeXt."""

from __future__ import annotations

import re

import pytest
import torch.nn as nn
from conftest import build_model

from mmicconv.models.arch import ARCHS, archs_for_entries, describe_entry_count

#: He et al. 2016, table 1: blocks per stage (conv2_x .. conv5_x) and the block type.
PAPER = {18: ('basic', (2, 2, 2, 2)), 34: ('basic', (3, 4, 6, 3)), 50: ('bottleneck', (3, 4, 6, 3)),
         101: ('bottleneck', (3, 4, 23, 3)), 152: ('bottleneck', (3, 8, 36, 3))}


def test_block_counts_are_the_papers():
    assert {depth: (arch.block, arch.stage_blocks) for depth, arch in ARCHS.items()} == PAPER


@pytest.mark.parametrize('depth, count', [
    (18, 2 * 8),              # 8 BasicBlocks, two 3x3 convs each
    (34, 2 * (3 + 4 + 6 + 3)),
    (50, 3 + 4 + 6 + 3),      # one 3x3 conv (conv2) per Bottleneck
    (101, 3 + 4 + 23 + 3),
    (152, 3 + 8 + 36 + 3),
])
def test_ic_conv_counts(depth, count):
    arch = ARCHS[depth]
    assert arch.ic_conv_count == count
    assert len(arch.ic_conv_names()) == len(arch.ic_conv_stages()) == len(arch.ic_conv_channels()) == count


def test_names_and_stages_in_network_order():
    r18 = ARCHS[18].ic_conv_names()
    assert r18[:4] == ['layer1.0.conv1', 'layer1.0.conv2', 'layer1.1.conv1', 'layer1.1.conv2']
    assert r18[-1] == 'layer4.1.conv2'
    r101 = ARCHS[101].ic_conv_names('backbone.')
    assert r101[0] == 'backbone.layer1.0.conv2' and r101[-1] == 'backbone.layer4.2.conv2'
    assert r101[7 + 22] == 'backbone.layer3.22.conv2'
    assert ARCHS[50].ic_conv_stages() == [0] * 3 + [1] * 4 + [2] * 6 + [3] * 3


def test_channels():
    assert ARCHS[50].ic_conv_channels() == [64] * 3 + [128] * 4 + [256] * 6 + [512] * 3
    assert ARCHS[18].ic_conv_channels() == [64] * 4 + [128] * 4 + [256] * 4 + [512] * 4
    # ResNeXt-101 32x4d: 32 groups of 4 channels in stage 1, doubling per stage
    channels = ARCHS[101].ic_conv_channels(groups=32, base_width=4)
    assert [channels[i] for i in (0, 3, 7, 30)] == [128, 256, 512, 1024]  # first conv of each stage


def test_entry_counts_name_the_depths():
    assert [a.depth for a in archs_for_entries(16)] == [18, 50]
    assert [a.depth for a in archs_for_entries(16, 'bottleneck')] == [50]
    assert [a.depth for a in archs_for_entries(32, 'basic')] == [34]
    assert archs_for_entries(20) == []
    assert describe_entry_count(33) == '33 entries = ResNet-101'
    assert describe_entry_count(16) == '16 entries = ResNet-50 or ResNet-18'
    assert describe_entry_count(20) == ('20 entries = no ResNet (16 = ResNet-50/18, 32 = ResNet-34, '
                                        '33 = ResNet-101, 50 = ResNet-152)')


def block_3x3_convs(model: nn.Module):
    """(name, out_channels) of the 3x3 convs inside the residual blocks ``layer{i}.{j}``."""
    return [(name, m.out_channels) for name, m in model.named_modules()
            if re.match(r'layer\d+\.\d+\.', name) and isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]


@pytest.mark.parametrize('depth', sorted(PAPER))
def test_table_matches_mmdet_resnet(depth):
    """The IC conv names are exactly the 3x3 convs of mmdet's ResNet blocks, in order, with
    the table's widths (the downsample convs are 1x1, the stem's conv is outside the blocks)."""
    model = build_model('mmdet', dict(type='ResNet', depth=depth))
    arch = ARCHS[depth]
    assert block_3x3_convs(model) == list(zip(arch.ic_conv_names(), arch.ic_conv_channels()))


def test_table_matches_mmdet_resnext():
    model = build_model('mmdet', dict(type='ResNeXt', depth=50, groups=32, base_width=4))
    arch = ARCHS[50]
    assert block_3x3_convs(model) == list(zip(arch.ic_conv_names(), arch.ic_conv_channels(32, 4)))


def test_backbone_error_names_both_depths():
    """A pattern whose length fits another depth says which one, and what the backbone is."""
    from mmicconv.pattern import PatternError

    r101 = [{'(0, 0)': c} for c in ARCHS[101].ic_conv_channels()]
    with pytest.raises(PatternError) as info:
        build_model('mmdet', dict(type='ICResNet', depth=50, pattern=r101))
    assert str(info.value).endswith('found 33; the pattern has 33 entries = ResNet-101, '
                                    'the backbone ResNet-50 has 16 IC convs')
