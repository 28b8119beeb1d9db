"""ICConv2d on a CUDA device: every strategy that claims CUDA against the reference.

Skipped without a GPU (CI has none); run on a GPU machine with
``pytest tests/ops/test_cuda.py``. Float64 is used for exactness: cuDNN's
float32 convs may use TF32, whose rounding differs between the reference
(one conv per channel) and the strategies.
"""

from __future__ import annotations

import random

import pytest
import torch
from conftest import RESNET_PATTERNS, load_json, reference_file
from reference_impl import check_against_reference, per_channel_dilations, random_entry, reference_ic_conv

from mmicconv.ops import ICConv2d
from mmicconv.ops.strategies import STRATEGIES

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device here')

CUDA = torch.device('cuda')
CUDA_STRATEGIES = [name for name, cls in sorted(STRATEGIES.items())
                   if cls.unavailable_reason() is None
                   and cls.supports(ICConv2d(4, 4).spec, CUDA, torch.float64, True)]


def _ic_conv(in_channels: int, out_channels: int, entry: dict, strategy: str, stride: int = 1,
             bias: bool = False, dtype: torch.dtype = torch.float64) -> ICConv2d:
    conv = ICConv2d(in_channels, out_channels, stride=stride, bias=bias, pattern=entry, strategy='loop')
    return conv.to(CUDA, dtype).set_strategy(strategy)


def test_some_strategy_runs_on_cuda():
    assert 'loop' in CUDA_STRATEGIES


@pytest.mark.parametrize('strategy', CUDA_STRATEGIES)
@pytest.mark.parametrize('seed', range(8))
def test_random_patterns_match_reference_on_cuda(strategy, seed):
    rng = random.Random(seed)
    out_channels, in_channels = rng.randint(4, 24), rng.randint(1, 12)
    entry = random_entry(rng, out_channels, max_dilation=6)
    conv = _ic_conv(in_channels, out_channels, entry, strategy, stride=rng.choice([1, 2]),
                    bias=rng.random() < 0.5)
    x = torch.randn(rng.choice([1, 3]), in_channels, rng.randint(5, 17), rng.randint(5, 17),
                    device=CUDA, dtype=torch.float64)
    check_against_reference(conv, entry, x, atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize('strategy', CUDA_STRATEGIES)
@pytest.mark.parametrize('relative', RESNET_PATTERNS[:1] + RESNET_PATTERNS[4:5])
def test_published_pattern_layers_match_reference_on_cuda(strategy, relative):
    entries = load_json(reference_file(relative))
    for index in (0, 3, len(entries) - 1):  # first block, first stride-2 block, last block
        channels = sum(entries[index].values())
        stride = 2 if index == 3 else 1
        conv = _ic_conv(channels, channels, entries[index], strategy, stride=stride)
        x = torch.randn(2, channels, 15, 15, device=CUDA, dtype=torch.float64)
        check_against_reference(conv, entries[index], x, atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize('strategy', CUDA_STRATEGIES)
def test_float16_autocast_within_half_tolerance(strategy):
    entry = {'(0, 0)': 8, '(3, 2)': 8, '(1, 5)': 16}
    conv = _ic_conv(16, 32, entry, strategy, dtype=torch.float32)
    x = torch.randn(2, 16, 20, 20, device=CUDA)
    expected = reference_ic_conv(x.double(), conv.weight.detach().double(), None,
                                 per_channel_dilations(entry, 32))
    with torch.autocast('cuda', dtype=torch.float16):
        actual = conv(x)
    assert actual.dtype == torch.float16
    torch.testing.assert_close(actual.double(), expected, atol=0.05, rtol=0.01)


def test_auto_is_resolved_again_when_moved_between_devices():
    conv = ICConv2d(8, 8, pattern={'(0, 0)': 4, '(2, 1)': 4})
    cpu_choice = conv.active_strategy
    conv.cuda()
    cuda_choice = conv.active_strategy
    assert cuda_choice in CUDA_STRATEGIES
    conv.cpu()
    assert conv.active_strategy == cpu_choice


@pytest.mark.parametrize('strategy', CUDA_STRATEGIES)
def test_compile_fullgraph_on_cuda_equals_eager(strategy):
    entry = {'(0, 0)': 8, '(2, 3)': 8}
    conv = _ic_conv(8, 16, entry, strategy, dtype=torch.float32)
    x = torch.randn(2, 8, 16, 16, device=CUDA)
    compiled = torch.compile(conv, fullgraph=True)
    torch.testing.assert_close(compiled(x), conv(x), atol=1e-3, rtol=1e-3)
