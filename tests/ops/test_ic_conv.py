"""ICConv2d against the independent per-channel reference, for every strategy."""

from __future__ import annotations

import random

import pytest
import torch
from conftest import RESNET_PATTERNS, load_json, reference_file
from reference_impl import check_against_reference, per_channel_dilations, random_entry, reference_ic_conv

from mmicconv.ops import ENV_VAR, ICConv2d, available_strategies
from mmicconv.ops import op as op_module
from mmicconv.ops.strategies import STRATEGIES as STRATEGY_TABLE

STRATEGIES = available_strategies()


def make_conv(*args, strategy: str = 'auto', dtype: torch.dtype = torch.float32, **kwargs) -> ICConv2d:
    """``ICConv2d(*args, **kwargs)`` with ``strategy``, or skip when it cannot run this spec."""
    conv = ICConv2d(*args, strategy='loop', **kwargs).to(dtype)
    cls = STRATEGY_TABLE.get(strategy)
    if cls is not None and cls.unavailable_reason() is not None:
        pytest.skip(f'strategy {strategy!r} is unavailable: {cls.unavailable_reason()}')
    if cls is not None and not cls.supports(conv.spec, torch.device('cpu'), dtype, True):
        pytest.skip(f'strategy {strategy!r} does not support this spec '
                    f'(groups={conv.groups}, stride={conv.stride}, dtype={dtype})')
    return conv.set_strategy(strategy)


@pytest.mark.parametrize('strategy', STRATEGIES)
@pytest.mark.parametrize('seed', range(12))
def test_random_patterns_match_reference(strategy, seed):
    rng = random.Random(seed)
    groups = rng.choice([1, 1, 2, 4])
    out_per_group = rng.choice([1, 2, 3])
    out_channels = groups * out_per_group * rng.randint(2, 6)
    in_channels = groups * rng.randint(1, 4)
    # ResNeXt-style patterns count cardinality groups; otherwise output channels.
    total = groups if groups > 1 and rng.random() < 0.5 else out_channels
    if groups > 1 and total == out_channels:
        # segments must cover whole cardinality groups: count in units of groups
        unit_entry = random_entry(rng, groups, max_dilation=6)
        per = out_channels // groups
        entry = {k: v * per for k, v in unit_entry.items()}
    else:
        entry = random_entry(rng, total, max_dilation=6)
    stride = rng.choice([1, 2])
    conv = make_conv(in_channels, out_channels, stride=stride, groups=groups,
                     bias=rng.random() < 0.5, pattern=entry, strategy=strategy)
    x = torch.randn(rng.choice([1, 3]), in_channels, rng.randint(5, 17), rng.randint(5, 17))
    check_against_reference(conv, entry, x)


@pytest.mark.parametrize('strategy', STRATEGIES)
def test_channels_last_and_non_contiguous_inputs(strategy):
    entry = {'(0, 0)': 3, '(2, 1)': 0, '(1, 3)': 5}
    conv = make_conv(6, 8, stride=2, pattern=entry, strategy=strategy)
    x = torch.randn(2, 6, 13, 11).to(memory_format=torch.channels_last)
    check_against_reference(conv, entry, x)
    x_t = torch.randn(2, 6, 11, 13).transpose(2, 3)  # non-contiguous
    check_against_reference(conv, entry, x_t)


@pytest.mark.parametrize('seed', range(24))
def test_band_kernel_on_random_patterns(seed, monkeypatch):
    """The compiled kernel: one-row bands, a partial last band, one band; sizes from 1; strides."""
    rng = random.Random(1000 + seed)
    columns = rng.choice([1, 8, 30, 10 ** 6])
    monkeypatch.setattr(op_module, 'band_columns', lambda in_channels, out_channels: columns)
    out_channels, in_channels = rng.randint(1, 12), rng.randint(1, 5)
    entry = random_entry(rng, out_channels, max_dilation=6)
    if seed == 0:
        entry = {'(5, 5)': out_channels}  # a single group
    stride = rng.choice([1, 2, 3]) if seed else 1
    conv = make_conv(in_channels, out_channels, stride=stride, bias=rng.random() < 0.5,
                     pattern=entry, strategy='band')
    x = torch.randn(rng.choice([1, 3]), in_channels, rng.randint(1, 17), rng.randint(1, 17))
    check_against_reference(conv, entry, x)


def test_band_kernel_in_float64_channels_last_and_non_contiguous():
    entry = {'(0, 0)': 3, '(2, 1)': 0, '(1, 3)': 4, '(4, 0)': 2}
    conv = make_conv(5, 9, pattern=entry, strategy='band', dtype=torch.float64)
    assert conv.active_strategy == 'band'
    x = torch.randn(2, 5, 11, 13, dtype=torch.float64).to(memory_format=torch.channels_last)
    x.requires_grad_(True)
    expected = reference_ic_conv(x, conv.weight, None, per_channel_dilations(entry, 9))
    gx_ref, gw_ref = torch.autograd.grad(expected.sum(), (x, conv.weight))
    actual = conv(x)
    gx, gw = torch.autograd.grad(actual.sum(), (x, conv.weight))
    for got, want in ((actual, expected), (gx, gx_ref), (gw, gw_ref)):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-10)
    x_t = torch.randn(2, 5, 13, 11).transpose(2, 3)  # non-contiguous, float32
    check_against_reference(make_conv(5, 9, pattern=entry, strategy='band'), entry, x_t)


@pytest.mark.parametrize('relative', RESNET_PATTERNS)
def test_published_patterns_match_reference(relative):
    """Every strategy on every entry (the slow reference is computed once per entry)."""
    entries = load_json(reference_file(relative))
    strided = (3, 7, len(entries) - 3)
    for index, entry in enumerate(entries):
        if 'resnet101' in relative and index % 4 and index not in strided:
            continue  # keep the test fast: the R101 files share most entries with R50's
        out_channels = sum(entry.values())
        stride = 2 if index in strided else 1
        torch.manual_seed(index)
        x = torch.randn(1, 4, 9, 10)
        weight = torch.randn(out_channels, 4, 3, 3)
        grad_out = None
        expected = expected_grads = None
        for strategy in STRATEGIES:
            conv = ICConv2d(4, out_channels, stride=stride, pattern=entry, strategy='loop')
            cls = STRATEGY_TABLE[strategy]
            if cls.unavailable_reason() or not cls.supports(conv.spec, x.device, x.dtype, True):
                continue  # e.g. 'band' without the compiled extension
            conv.set_strategy(strategy)
            with torch.no_grad():
                conv.weight.copy_(weight)
            x_in = x.clone().requires_grad_(True)
            out = conv(x_in)
            if expected is None:
                x_ref = x.clone().requires_grad_(True)
                w_ref = weight.clone().requires_grad_(True)
                expected = reference_ic_conv(x_ref, w_ref, None, per_channel_dilations(entry, out_channels),
                                             stride)
                grad_out = torch.randn_like(expected)
                expected.backward(grad_out)
                expected_grads = (x_ref.grad, w_ref.grad)
            torch.testing.assert_close(out, expected.detach(), atol=1e-4, rtol=1e-4)
            out.backward(grad_out)
            torch.testing.assert_close(x_in.grad, expected_grads[0], atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(conv.weight.grad, expected_grads[1], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('strategy', STRATEGIES)
def test_resnext_published_pattern_per_cardinality_group(strategy):
    entries = load_json(reference_file('ic_resnext101_32x4d_k9.json'))
    assert all(sum(e.values()) == 32 for e in entries)
    conv = make_conv(64, 128, groups=32, pattern=entries[0], strategy=strategy)
    check_against_reference(conv, entries[0], torch.randn(1, 64, 9, 9))


@pytest.mark.parametrize('strategy', STRATEGIES)
def test_bfloat16_autocast_within_bf16_tolerance(strategy):
    entry = {'(0, 0)': 4, '(3, 2)': 4}
    conv = make_conv(8, 8, pattern=entry, strategy=strategy)
    if strategy == 'band':
        pytest.skip('band does not run bfloat16 (under autocast it hands over to tap)')
    x = torch.randn(2, 8, 12, 12)
    expected = reference_ic_conv(x, conv.weight.detach(), None, per_channel_dilations(entry, 8))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        actual = conv(x)
    assert actual.dtype == torch.bfloat16
    torch.testing.assert_close(actual.float(), expected, atol=0.1, rtol=0.02)


def test_plain_pattern_equals_nn_conv2d():
    conv = torch.nn.Conv2d(5, 7, 3, stride=2, padding=1, bias=True)
    ic = ICConv2d.from_conv(conv, ICConv2d(5, 7).pattern)
    assert ic.weight is conv.weight and ic.bias is conv.bias
    x = torch.randn(2, 5, 11, 9)
    torch.testing.assert_close(ic(x), conv(x))


def test_state_dict_is_nn_conv2d_layout_and_loads_published_layout():
    entry = {'(0, 0)': 3, '(1, 0)': 0, '(2, 2)': 2, '(0, 3)': 1}
    conv = ICConv2d(4, 6, bias=True, pattern=entry)
    assert set(conv.state_dict()) == {'weight', 'bias'}
    assert conv.state_dict()['weight'].shape == (6, 4, 3, 3)
    parts = [torch.randn(n, 4, 3, 3) for n in (3, 2, 1)]  # zero count skipped: k = 0, 1, 2
    biases = [torch.randn(n) for n in (3, 2, 1)]
    published = {f'conv_list.{k}.weight': w for k, w in enumerate(parts)}
    published.update({f'conv_list.{k}.bias': b for k, b in enumerate(biases)})
    result = conv.load_state_dict(published)
    assert not result.missing_keys and not result.unexpected_keys
    torch.testing.assert_close(conv.weight.detach(), torch.cat(parts))
    torch.testing.assert_close(conv.bias.detach(), torch.cat(biases))


def test_only_3x3_kernels():
    with pytest.raises(ValueError, match='3x3'):
        ICConv2d(4, 4, kernel_size=5)


def test_pattern_must_fit_out_channels():
    with pytest.raises(ValueError, match=r'sum to 5, expected out_channels \(8\)'):
        ICConv2d(4, 8, pattern={'(0, 0)': 5})


def test_env_override_applies_at_build_only_and_unknown_names_fail(monkeypatch):
    monkeypatch.setenv(ENV_VAR, 'loop')
    conv = ICConv2d(4, 4, pattern={'(1, 1)': 4})
    assert conv.strategy == 'auto' and conv.active_strategy == 'loop'
    monkeypatch.setenv(ENV_VAR, 'no-such')  # read at build/move/set_strategy, never per forward
    conv(torch.randn(1, 4, 5, 5))
    assert conv.active_strategy == 'loop'
    with pytest.raises(ValueError, match=r"unknown IC conv strategy 'no-such'"):
        ICConv2d(4, 4, pattern={'(1, 1)': 4})
    assert ICConv2d(4, 4, pattern={'(1, 1)': 4}, strategy='tap').active_strategy == 'tap'  # argument wins
    monkeypatch.delenv(ENV_VAR)
    assert ICConv2d(4, 4, pattern={'(1, 1)': 4}).active_strategy in STRATEGIES


def test_mmcv_conv_registry_builds_icconv():
    from mmcv.cnn import build_conv_layer

    import mmicconv  # noqa: F401  (registers ICConv)
    layer = build_conv_layer(dict(type='ICConv', pattern={'(0, 0)': 2, '(1, 2)': 2}), 3, 4, 3,
                             stride=1, padding=1, bias=False)
    assert isinstance(layer, ICConv2d)
    assert [g.dilation for g in layer.pattern.groups] == [(1, 1), (2, 3)]


def test_band_follows_every_weight_change_in_inference():
    """No stale weight copy: in-place, load_state_dict, new storage, new Parameter."""
    entry = {'(0, 0)': 2, '(0, 3)': 2, '(2, 1)': 2}
    conv = make_conv(4, 6, stride=2, pattern=entry, strategy='band').eval()
    reference = ICConv2d(4, 6, stride=2, pattern=entry, strategy='loop').eval()
    x = torch.randn(2, 4, 9, 9)

    def check() -> None:
        reference.weight.data = conv.weight.detach().clone()
        with torch.no_grad():
            torch.testing.assert_close(conv(x), reference(x), atol=1e-5, rtol=1e-5)

    check()
    with torch.no_grad():
        conv.weight.mul_(-2)  # in place
    check()
    conv.load_state_dict({'weight': torch.randn(6, 4, 3, 3)})
    check()
    conv.weight.data = torch.randn(6, 4, 3, 3)  # new storage
    check()
    conv.weight = torch.nn.Parameter(torch.randn(6, 4, 3, 3))  # new Parameter
    check()
    out = conv.train()(x)  # with autograd: no cache, gradients flow to the weight
    out.sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('stride', [1, 2])
def test_band_kernel_packs_small_images_into_one_gemm(stride, monkeypatch):
    """Maps smaller than a band: 2 images per GEMM, then the odd one alone."""
    columns = 2 * 4 * 5 if stride == 1 else 2 * 2 * 3
    monkeypatch.setattr(op_module, 'band_columns', lambda in_channels, out_channels: columns)
    entry = {'(0, 0)': 2, '(1, 2)': 3, '(3, 0)': 2}
    conv = make_conv(3, 7, stride=stride, pattern=entry, strategy='band')
    x = torch.randn(3, 3, 4, 5)
    phase_hw, expected = ((4, 5), (4, 2)) if stride == 1 else ((2, 3), (2, 2))
    assert op_module.band_chunking(*phase_hw, columns) == expected
    check_against_reference(conv, entry, x)
