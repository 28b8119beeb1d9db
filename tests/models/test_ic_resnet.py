"""ICResNet: parameter names, upstream behaviour, pattern application, registries."""

from __future__ import annotations

import pytest
import torch
from conftest import build_model, reference_file
from mmengine.utils import import_modules_from_strings

from mmicconv.models import convert_to_ic, ic_conv_sites
from mmicconv.models.frameworks import get_framework, installed_frameworks
from mmicconv.ops import ICConv2d
from mmicconv.pattern import PatternError

FRAMEWORKS = [row.package for row in installed_frameworks()]


def upstream(framework: str):
    """(upstream ResNet class, ICResNet class, registry) of a framework."""
    import_modules_from_strings(['mmicconv'])
    row = get_framework(framework)
    resnet, models = import_modules_from_strings([row.upstream, row.registry])
    return resnet.ResNet, models.MODELS.get('ICResNet'), models.MODELS


def uniform_pattern(depth: int, key: str = '(0, 0)') -> list:
    blocks = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}[depth]
    per_block = 2 if depth < 50 else 1
    return [{key: 64 * 2 ** i} for i, n in enumerate(blocks) for _ in range(n * per_block)]


@pytest.mark.parametrize('framework', FRAMEWORKS)
def test_no_pattern_is_upstream_resnet_with_same_weights(framework):
    resnet_cls, ic_cls, _ = upstream(framework)
    torch.manual_seed(0)
    plain = resnet_cls(depth=50, out_indices=(0, 1, 2, 3))
    plain.eval()  # mmdet's ResNet.train() returns None: no chaining on upstream
    ic = ic_cls(depth=50, out_indices=(0, 1, 2, 3)).eval()
    result = ic.load_state_dict(plain.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for level, (a, b) in enumerate(zip(plain(x), ic(x))):
            assert torch.equal(a, b), f'level {level} differs'


@pytest.mark.parametrize('framework', FRAMEWORKS)
def test_pattern_keeps_parameter_names_and_uniform_pattern_equals_plain(framework):
    resnet_cls, ic_cls, _ = upstream(framework)
    plain = resnet_cls(depth=50, out_indices=(0, 1, 2, 3))
    plain.eval()  # mmdet's ResNet.train() returns None: no chaining on upstream
    ic = ic_cls(depth=50, out_indices=(0, 1, 2, 3), pattern=uniform_pattern(50)).eval()
    assert set(ic.state_dict()) == set(plain.state_dict())
    assert sum(isinstance(m, ICConv2d) for m in ic.modules()) == 16
    ic.load_state_dict(plain.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(plain(x), ic(x)):
            torch.testing.assert_close(a, b)
        dilated = ic_cls(depth=50, out_indices=(3,), pattern=uniform_pattern(50, '(1, 2)')).eval()
        dilated.load_state_dict(plain.state_dict(), strict=True)
        assert not torch.allclose(dilated(x)[0], plain(x)[3])


@pytest.mark.parametrize('framework', FRAMEWORKS)
def test_published_pattern_layers_and_frozen_stages(framework):
    _, ic_cls, _ = upstream(framework)
    path = reference_file('detection/ic_resnet50_k9.json')
    model = ic_cls(depth=50, pattern=str(path), frozen_stages=1)
    sites = list(ic_conv_sites(model))
    assert [name for name, _, _ in sites][:4] == ['layer1.0.conv2', 'layer1.1.conv2',
                                                   'layer1.2.conv2', 'layer2.0.conv2']
    convs = [getattr(block, attr) for _, block, attr in sites]
    assert all(isinstance(c, ICConv2d) for c in convs)
    assert [c.stride for c in convs if c.stride != (1, 1)] == [(2, 2)] * 3  # pytorch style
    assert not model.layer1[0].conv2.weight.requires_grad  # frozen stage 1 stays frozen
    assert model.layer2[0].conv2.weight.requires_grad
    assert model.ic_pattern[0].groups[0].dilation == (1, 1)


def test_basicblock_converts_conv1_and_conv2():
    _, ic_cls, _ = upstream('mmdet')
    model = ic_cls(depth=18, pattern=uniform_pattern(18, '(1, 0)'))
    names = [name for name, _, _ in ic_conv_sites(model)]
    assert names[:2] == ['layer1.0.conv1', 'layer1.0.conv2'] and len(names) == 16
    assert isinstance(model.layer4[1].conv1, ICConv2d)


def test_wrong_pattern_length_names_layers():
    _, ic_cls, _ = upstream('mmdet')
    message = r'expected 33 entries .*layer1.0.conv2 \.\.\. layer4.2.conv2.*found 16'
    with pytest.raises(PatternError, match=message):
        ic_cls(depth=101, pattern=uniform_pattern(50))


def test_dilated_stage_scales_the_pattern():
    """dilations=(1, 1, 2, 2): stage 3 and 4 convs get 2 x the pattern's dilation (docs/segmentation.md)."""
    _, ic_cls, _ = upstream('mmdet')
    model = ic_cls(depth=50, pattern=uniform_pattern(50, '(1, 0)'), dilations=(1, 1, 2, 2),
                   strides=(1, 2, 1, 1))
    assert model.layer2[0].conv2.pattern.groups[0].dilation == (2, 1)
    assert model.layer3[0].conv2.pattern.groups[0].dilation == (4, 2)
    assert model.layer4[2].conv2.pattern.groups[0].dilation == (4, 2)


def test_padding_other_than_dilation_is_refused():
    plain_cls, _, _ = upstream('mmdet')
    model = plain_cls(depth=50)
    model.layer3[1].conv2.dilation = (2, 2)  # padding stays 1: not a "same" dilated conv
    with pytest.raises(PatternError, match=r'layer3\.1\.conv2 has padding \(1, 1\) and dilation \(2, 2\)'):
        convert_to_ic(model, uniform_pattern(50))


@pytest.mark.parametrize('framework', FRAMEWORKS)
def test_registry_builds_after_custom_imports(framework):
    model = build_model(framework, dict(type='ICResNet', depth=50, pattern=uniform_pattern(50, '(2, 2)'),
                                out_indices=(3,), norm_cfg=dict(type='GN', num_groups=32)))
    assert type(model).__module__ == f'mmicconv.models.{framework}_backbones'
    assert model.layer3[0].conv2.pattern.groups[0].dilation == (3, 3)
    out = model(torch.randn(1, 3, 32, 32))
    assert out[-1].shape == (1, 2048, 1, 1)


def test_pretrained_init_cfg_loads_torchvision_layout_checkpoint(tmp_path):
    resnet_cls, ic_cls, _ = upstream('mmdet')
    plain = resnet_cls(depth=50)
    state = plain.state_dict()
    state['fc.weight'] = torch.zeros(1000, 2048)  # torchvision checkpoints carry the classifier
    path = tmp_path / 'r50.pth'
    torch.save(state, path)
    model = ic_cls(depth=50, pattern=uniform_pattern(50, '(1, 1)'),
                   init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, plain.state_dict()[name]), name


def test_convert_torchvision_like_module_in_place():
    resnet_cls, _, _ = upstream('mmdet')
    model = resnet_cls(depth=50)
    pattern = convert_to_ic(model, uniform_pattern(50, '(3, 0)'))
    assert len(pattern) == 16 and model.layer4[2].conv2.pattern.groups[0].dilation == (4, 1)


@pytest.mark.parametrize('framework', FRAMEWORKS)
def test_resnext_with_published_per_cardinality_pattern(framework):
    path = reference_file('ic_resnext101_32x4d_k9.json')
    width = {get_framework(framework).arg('width_per_group'): 4}
    model = build_model(framework, dict(type='ICResNeXt', depth=101, groups=32, pattern=str(path),
                                        out_indices=(3,), **width)).eval()
    conv = model.layer3[5].conv2
    assert isinstance(conv, ICConv2d) and conv.groups == 32 and conv.out_channels == 512
    # one count per cardinality group: 512 / 32 = 16 output channels per count
    assert sum(seg.stop - seg.start for seg in conv.spec.segments) == 512
    assert all((seg.stop - seg.start) % 16 == 0 for seg in conv.spec.segments)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32))[-1].shape == (1, 2048, 1, 1)


def test_v1d_deep_stem_is_not_converted():
    model = build_model('mmdet', dict(type='ICResNetV1d', depth=50, pattern=uniform_pattern(50, '(2, 0)')))
    ic_convs = [name for name, m in model.named_modules() if isinstance(m, ICConv2d)]
    assert len(ic_convs) == 16 and all(name.startswith('layer') for name in ic_convs)
    stem_3x3 = [m for m in model.stem.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(stem_3x3) == 3 and not any(isinstance(m, ICConv2d) for m in stem_3x3)
