"""A small ICResNet trained a few SGD steps with a fast strategy and with ``loop`` ends equal."""

from __future__ import annotations

import random

import pytest
import torch
from reference_impl import random_entry

from mmicconv.ops.extension import extension_error

pytest.importorskip('mmdet')


def small_pattern(seed: int) -> list:
    """Random k13-like entries for ResNet-50 with base_channels=8 (8, 16, 32, 64)."""
    rng = random.Random(seed)
    return [random_entry(rng, 8 * 2 ** stage, max_dilation=6)
            for stage, blocks in enumerate((3, 4, 6, 3)) for _ in range(blocks)]


def train(strategy: str, pattern: list, steps: int = 3, used: set | None = None) -> dict:
    from mmdet.models.backbones import ResNet

    from mmicconv.models.ic_resnet import convert_to_ic
    torch.manual_seed(0)
    # norm_eval: BN as a fixed affine map keeps the steps well conditioned (train-mode BN on
    # 2x3 maps amplifies float rounding chaotically, whatever the strategy)
    model = ResNet(depth=50, base_channels=8, stem_channels=8, norm_eval=True, frozen_stages=-1)
    convert_to_ic(model, pattern, strategy=strategy)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    data = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(2, 3, 67, 61, generator=data)
        opt.zero_grad()
        loss = sum((o * torch.linspace(-1, 1, o.shape[1]).view(1, -1, 1, 1)).mean() for o in model(x))
        loss.backward()
        opt.step()
    if used is not None:
        used.update(m.active_strategy for m in model.modules() if hasattr(m, 'active_strategy'))
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize('strategy', ['tap', 'auto'])
def test_fast_strategy_and_loop_train_to_equal_weights(strategy):
    """``auto``: the compiled ``band`` kernel (when built) on every layer."""
    pattern = small_pattern(3)
    used: set = set()
    start, loop = train('loop', pattern, steps=0), train('loop', pattern)
    tap = train(strategy, pattern, used=used)
    expected = {'tap'} if strategy == 'tap' or extension_error() else {'band'}
    assert used == expected
    moved = max((loop[k] - start[k]).abs().max().item() for k in loop if k.endswith('conv2.weight'))
    assert moved > 1e-3, 'the IC conv weights should have been trained'
    assert loop.keys() == tap.keys()
    for key in loop:
        torch.testing.assert_close(tap[key], loop[key], atol=2e-4, rtol=2e-4, msg=key)
