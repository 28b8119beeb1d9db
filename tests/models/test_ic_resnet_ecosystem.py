"""ICResNet as a citizen of OpenMMLab/PyTorch tooling: init, isinstance, conv-BN fusion, FLOPs."""

from __future__ import annotations

import copy
import math
import random

import pytest
import torch
import torch.nn as nn
from conftest import reference_file
from reference_impl import random_entry

from mmicconv.ops import ICConv2d

pytest.importorskip('mmdet')

#: convs compared: (name, fan_out = out_channels * 9) in ResNet-50
LAYERS = [('layer1.0.conv2', 64 * 9), ('layer3.0.conv2', 256 * 9)]


def build(pattern, **kwargs):
    from mmdet.models.backbones import ResNet

    from mmicconv.models.mmdet_backbones import ICResNet
    return ResNet(depth=50, **kwargs) if pattern is None else ICResNet(depth=50, pattern=pattern, **kwargs)


def test_ic_convs_are_nn_conv2d_with_conv2d_attributes():
    model = build(str(reference_file('detection/ic_resnet50_k9.json')))
    conv = model.get_submodule('layer3.0.conv2')
    assert isinstance(conv, ICConv2d) and isinstance(conv, nn.Conv2d)
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.groups) == \
        (256, 256, (3, 3), (2, 2), 1)
    assert conv.weight.shape == (256, 256, 3, 3) and conv.bias is None


def test_default_init_cfg_gives_ic_convs_the_std_of_the_plain_convs():
    """mmdet's ResNet init (Kaiming, fan_out, normal, layer='Conv2d') now reaches the IC convs.

    The std of n i.i.d. normal samples has a relative standard error of about
    1 / sqrt(2 n); two independent estimates differ by at most 5 of their
    combined standard errors (a 1-in-1.7-million event for equal stds).
    """
    pattern = str(reference_file('detection/ic_resnet50_k9.json'))
    torch.manual_seed(0)
    plain = build(None)
    plain.init_weights()
    torch.manual_seed(1)
    ic = build(pattern)
    ic.init_weights()
    for name, fan_out in LAYERS:
        w_ic = ic.get_submodule(name).weight.detach()
        w_plain = plain.get_submodule(name).weight.detach()
        assert isinstance(ic.get_submodule(name), ICConv2d)
        n = w_ic.numel()
        expected = math.sqrt(2.0 / fan_out)  # kaiming_normal_, mode='fan_out', relu gain
        tolerance = 5 * expected * math.sqrt(2.0 / (2 * n))
        assert abs(w_ic.std().item() - w_plain.std().item()) < tolerance, name
        assert abs(w_ic.std().item() - expected) < 5 * expected / math.sqrt(2 * n), name


def test_fuse_conv_bn_of_eval_icresnet_equals_unfused():
    from mmcv.cnn import fuse_conv_bn

    rng = random.Random(0)
    pattern = [random_entry(rng, 16 * 2 ** stage, max_dilation=4)
               for stage, blocks in enumerate((3, 4, 6, 3)) for _ in range(blocks)]
    torch.manual_seed(0)
    model = build(pattern, base_channels=16, stem_channels=16, out_indices=(0, 1, 2, 3))
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.uniform_(module.bias, -0.2, 0.2)
    model.eval()
    fused = fuse_conv_bn(copy.deepcopy(model)).eval()
    conv = fused.get_submodule('layer2.0.conv2')
    assert isinstance(conv, ICConv2d) and conv.bias is not None  # the BN went into it
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.get_submodule('layer2.0').modules())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(model(x), fused(x)):
            torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)


def test_model_complexity_equals_plain_resnet50():
    """mmengine's FLOP/parameter counter (what mmdet's get_flops.py calls)."""
    from mmengine.analysis import get_model_complexity_info

    pattern = str(reference_file('human_pose/ic_resnet50_k13.json'))
    plain, ic = build(None), build(pattern)
    plain.eval()  # mmdet's ResNet.train() returns None: no chaining
    ic.eval()
    shape = (3, 96, 96)
    plain_info = get_model_complexity_info(plain, shape, show_table=False, show_arch=False)
    ic_info = get_model_complexity_info(ic, shape, show_table=False, show_arch=False)
    assert ic_info['params'] == plain_info['params'] > 0
    assert ic_info['flops'] == plain_info['flops'] > 0
