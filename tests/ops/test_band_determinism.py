"""The compiled kernel's result does not depend on how the batch is split or on the thread count.

Multi-process training (tests/detection/test_multiprocess.py) relies on this:
2 processes x batch 2 must compute what 1 process x batch 4 computes, up to
float rounding of the GEMMs, and a process's thread count must not matter.
"""

from __future__ import annotations

import random

import pytest
import torch
from reference_impl import random_entry

from mmicconv.ops import ICConv2d
from mmicconv.ops.extension import extension_error

pytestmark = pytest.mark.skipif(extension_error() is not None,
                                reason=f'compiled kernels: {extension_error()}')


def _case(seed: int):
    rng = random.Random(seed)
    channels = rng.choice([8, 16, 32])
    entry = random_entry(rng, channels, max_dilation=6)
    torch.manual_seed(seed)
    conv = ICConv2d(channels, channels, stride=rng.choice([1, 2]), pattern=entry, strategy='band')
    x = torch.randn(4, channels, *(rng.choice([2, 5, 8, 16, 23]),) * 2, requires_grad=True)
    grad = torch.randn_like(conv(x))
    return conv, x, grad


def _run(conv: ICConv2d, x: torch.Tensor, grad: torch.Tensor):
    conv.zero_grad(set_to_none=True)
    x = x.detach().requires_grad_(True)
    y = conv(x)
    (y * grad).sum().backward()
    return y.detach(), x.grad, conv.weight.grad.clone()


@pytest.mark.parametrize('seed', range(8))
def test_batch_split_changes_only_rounding(seed):
    conv, x, grad = _case(seed)
    y, dx, dw = _run(conv, x, grad)
    ya, dxa, dwa = _run(conv, x[:2], grad[:2])
    yb, dxb, dwb = _run(conv, x[2:], grad[2:])
    torch.testing.assert_close(torch.cat([ya, yb]), y, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.cat([dxa, dxb]), dx, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(dwa + dwb, dw, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize('seed', range(4))
def test_thread_count_does_not_change_a_bit(seed):
    conv, x, grad = _case(seed)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = _run(conv, x, grad)
        torch.set_num_threads(2)
        double = _run(conv, x, grad)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(single, double):
        assert torch.equal(a, b)
