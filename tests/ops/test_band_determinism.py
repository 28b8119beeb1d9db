"""The compiled kernel's result changes only by float rounding with the batch split or the thread count.

Multi-process training (tests/detection/test_multiprocess.py) relies on this:
2 processes x batch 2 must compute what 1 process x batch 4 computes, up to
float rounding of the GEMMs, and a process's thread count may change the
rounding only. The kernel's own loops give every output element to one thread
with a fixed order, but its GEMMs are a library's (MKL or oneDNN, by CPU:
mmicconv.ops.gemm), which may choose another code path (another summation order)
for another thread count: with MKL, measured on a 2-core
AMD EPYC (2026-12-03), 1 vs 2 threads changed the output by up to 1.2e-7 and
the weight gradient by up to 3.8e-6 (not a bit on the Intel Xeon). So the
thread-count test asserts the float32 error bound of a sum of n products in
any order, |fl(s) - s| <= gamma_n * sum |a_i b_i| with gamma_n = n u / (1 - n u)
(Higham, Accuracy and Stability of Numerical Algorithms, 3.1; the bound is
reference_impl.rounding_bounds): each result is within it of the float64 result,
and two results within twice it of each other.
"""

from __future__ import annotations

import copy

import pytest
import torch
from reference_impl import band_case as _case
from reference_impl import rounding_bounds as _rounding_bounds
from reference_impl import run_conv as _run

from mmicconv.ops.extension import extension_error

pytestmark = pytest.mark.skipif(extension_error() is not None,
                                reason=f'compiled kernels: {extension_error()}')

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
def test_thread_count_changes_only_rounding(seed):
    conv, x, grad = _case(seed)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = _run(conv, x, grad)
        torch.set_num_threads(2)
        double = _run(conv, x, grad)
    finally:
        torch.set_num_threads(threads)
    exact = _run(copy.deepcopy(conv).double(), x.double(), grad.double())
    bounds = _rounding_bounds(conv, x, grad)
    for name, a, b, e, bound in zip(('y', 'dx', 'dw'), single, double, exact, bounds):
        assert bool((bound > 0).any())
        for threads_used, result in ((1, a), (2, b)):
            error = (result.double() - e).abs()
            assert bool((error <= bound).all()), \
                f'{name}, {threads_used} thread(s): error {(error / bound).max():.2f}x the rounding bound'
        gap = (a.double() - b.double()).abs()
        assert bool((gap <= 2 * bound).all()), \
            f'{name}: 1 vs 2 threads differ by {(gap / bound).max():.2f}x the rounding bound'
