"""Export: the IC-ResNet with the exported pattern and inherited weights is the supernet
restricted to the chosen taps; the pattern round-trips through JSON and builds ICResNet."""

from __future__ import annotations

import pytest
import torch
from conftest import build_model
from search_helpers import ToyResNet, random_dilations, randomize_bn_

from mmicconv.models import convert_to_ic
from mmicconv.pattern import Pattern
from mmicconv.search import (
    SupernetConv2d,
    convert_to_supernet,
    export_ic_state_dict,
    regroup_permutation,
    restrict_to_taps_,
    select_dilations,
    supernet_sites,
)


def toy_supernet(d_max: int, seed: int) -> ToyResNet:
    torch.manual_seed(seed)
    model = ToyResNet()
    convert_to_supernet(model, d_max, init='scratch')
    randomize_bn_(model, seed)
    return model.eval()


@pytest.mark.parametrize('d_max,seed', [(2, 0), (4, 1)])
def test_exported_ic_resnet_equals_restricted_supernet(d_max, seed):
    """Random per-channel dilations (so channels really get permuted) and random BN stats."""
    model = toy_supernet(d_max, seed)
    convs = [getattr(b, a) for _, b, a in supernet_sites(model)]
    dilations = random_dilations([c.out_channels for c in convs], d_max, seed)
    pattern, state = export_ic_state_dict(model, dilations)
    restrict_to_taps_(model, dilations)
    ic = ToyResNet()
    convert_to_ic(ic, pattern)
    ic.load_state_dict(state, strict=True)
    ic.eval()
    x = torch.randn(2, 3, 24, 24)
    with torch.no_grad():
        torch.testing.assert_close(ic(x), model(x), rtol=1e-4, atol=1e-5)


def test_permutation_groups_channels_in_key_order():
    layer = [(2, 1), (1, 1), (2, 1), (1, 2), (1, 1)]
    perm = regroup_permutation(layer, 2).tolist()
    assert perm == [1, 4, 3, 0, 2]  # (1,1) x2, (1,2), (2,1) x2; stable inside a group


def test_searched_pattern_json_roundtrip(tmp_path):
    """The searched pattern, written and read back, is the same list, carries every key of the
    search space (zero counts included) and fits the network."""
    model = toy_supernet(3, 2)
    layers = select_dilations(model, [torch.randn(2, 3, 24, 24)])
    pattern, _ = export_ic_state_dict(model, [layer.dilations() for layer in layers])
    path = tmp_path / 'pattern.json'
    pattern.dump(path)
    loaded = Pattern.load(path)
    assert loaded.to_list() == pattern.to_list()
    assert all(len(entry) == 9 for entry in loaded.to_list())
    for conv, layer in zip(loaded, layers):
        assert conv.channel_dilations() == sorted(layer.dilations(), key=lambda d: (d[0], d[1]))
    loaded.check_fits([layer.name for layer in layers], [8, 8, 12, 12])


@pytest.mark.parametrize('framework', ['mmdet', 'mmpose'])
def test_supernet_backbone_export_builds_ic_resnet(framework, tmp_path):
    """Registered SupernetResNet (depth 50, narrow) -> selection -> pattern file -> the
    framework's registered ICResNet loads the inherited weights strictly and equals the
    restricted supernet."""
    pytest.importorskip(framework)
    import mmicconv.search  # noqa: F401  (registers SupernetResNet)
    torch.manual_seed(0)
    common = dict(depth=50, base_channels=8, stem_channels=16, out_indices=(0, 1, 2, 3))
    sup = build_model(framework, dict(type='SupernetResNet', d_max=2, **common))
    sup.init_weights()
    randomize_bn_(sup, 0)
    sup.eval()
    sites = list(supernet_sites(sup))
    assert len(sites) == 16 and all(isinstance(getattr(b, a), SupernetConv2d) for _, b, a in sites)
    x = torch.randn(1, 3, 64, 64)
    layers = select_dilations(sup, [x])
    dilations = [layer.dilations() for layer in layers]
    pattern, state = export_ic_state_dict(sup, dilations)
    path = tmp_path / 'searched.json'
    pattern.dump(path)
    ic = build_model(framework, dict(type='ICResNet', pattern=str(path), **common))
    ic.load_state_dict(state, strict=True)
    ic.eval()
    restrict_to_taps_(sup, dilations)
    with torch.no_grad():
        for a, b in zip(ic(x), sup(x)):  # 16 blocks deep: float32 sums in another order
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))


def test_centre_init_computes_the_plain_network():
    """A supernet loaded from a plain 3x3 state dict (the load hook pads to the centre) computes
    exactly the plain network; 'centre' conversion does the same without a state dict."""
    torch.manual_seed(7)
    plain = ToyResNet()
    randomize_bn_(plain, 7)
    plain.eval()
    from_state = ToyResNet()
    convert_to_supernet(from_state, 3, init='scratch')
    from_state.load_state_dict(plain.state_dict(), strict=True)
    converted = ToyResNet()
    converted.load_state_dict(plain.state_dict())
    convert_to_supernet(converted, 3, init='centre')
    x = torch.randn(2, 3, 24, 24)
    with torch.no_grad():
        expected = plain(x)
        torch.testing.assert_close(from_state.eval()(x), expected, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(converted.eval()(x), expected, rtol=1e-4, atol=1e-5)


def test_basic_block_export_is_refused():
    """A BasicBlock conv2 feeds the residual sum, so channels cannot be regrouped."""
    block = torch.nn.Module()
    block.conv1 = torch.nn.Conv2d(4, 4, 3, padding=1, bias=False)
    block.conv2 = torch.nn.Conv2d(4, 4, 3, padding=1, bias=False)
    net = torch.nn.Module()
    net.layer1 = torch.nn.Sequential(block)
    convert_to_supernet(net, 2)
    with pytest.raises(ValueError, match='only Bottleneck conv2'):
        export_ic_state_dict(net, [[(1, 1)] * 4, [(1, 1)] * 4])
