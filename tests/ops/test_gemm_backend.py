"""The compiled kernel's GEMM library (mmicconv.ops.gemm): the rule, the switch, and that each
library computes the IC conv to float32 rounding (forward and both gradients).

Each backend's float32 result is checked against the float64 result within the rounding bound
of its sums (reference_impl.rounding_bounds), and the two backends within twice it of each
other: the libraries may sum in another order, nothing more.
"""

from __future__ import annotations

import copy

import pytest
import torch
from reference_impl import band_case, rounding_bounds, run_conv

from mmicconv.ops import gemm
from mmicconv.ops.extension import extension_error

pytestmark = pytest.mark.skipif(extension_error() is not None,
                                reason=f'compiled kernels: {extension_error()}')

USABLE = ['mkl'] + (['onednn'] if gemm.onednn_unusable_reason() is None else [])


@pytest.fixture
def restore_backend():
    before = gemm.gemm_backend()
    yield
    gemm.set_gemm_backend(before)


def test_rule_by_vendor_and_usability(monkeypatch):
    monkeypatch.setattr(gemm, 'onednn_unusable_reason', lambda: None)
    monkeypatch.setattr(gemm, 'cpu_vendor', lambda: 'GenuineIntel')
    assert gemm.default_gemm_backend() == 'mkl'
    monkeypatch.setattr(gemm, 'cpu_vendor', lambda: 'AuthenticAMD')
    assert gemm.default_gemm_backend() == 'onednn'
    monkeypatch.setattr(gemm, 'onednn_unusable_reason', lambda: 'no AVX-512')
    assert gemm.default_gemm_backend() == 'mkl'
    with pytest.raises(ValueError, match='onednn cannot run here: no AVX-512'):
        gemm.set_gemm_backend('onednn')


def test_the_loaded_kernel_follows_the_rule_and_the_switch(restore_backend):
    assert gemm.gemm_backend() == gemm.default_gemm_backend()  # set when the extension loaded
    for name in USABLE:
        assert gemm.set_gemm_backend(name) == name and gemm.gemm_backend() == name
    with pytest.raises(ValueError, match="unknown GEMM backend 'blis'"):
        gemm.set_gemm_backend('blis')


@pytest.mark.parametrize('backend', ['mkl', 'onednn'])
@pytest.mark.parametrize('seed', range(6))
def test_each_backend_is_within_float32_rounding(backend, seed, restore_backend):
    if backend not in USABLE:
        pytest.skip(f'oneDNN cannot run here: {gemm.onednn_unusable_reason()}')
    # seeds 4 and 5: 64 channels on 40x40 maps (banded GEMMs, partial last band)
    conv, x, grad = band_case(seed, *((64, 40) if seed >= 4 else ()))
    gemm.set_gemm_backend(backend)
    result = run_conv(conv, x, grad)
    exact = run_conv(copy.deepcopy(conv).double(), x.double(), grad.double())
    for name, got, want, bound in zip(('y', 'dx', 'dw'), result, exact, rounding_bounds(conv, x, grad)):
        error = (got.double() - want).abs()
        assert bool((error <= bound).all()), f'{name}: error {(error / bound).max():.2f}x the rounding bound'


@pytest.mark.skipif('onednn' not in USABLE, reason='oneDNN cannot run float32 matmuls on this CPU')
def test_backends_differ_only_by_rounding(restore_backend):
    conv, x, grad = band_case(7, 32, 23)
    results = {}
    for name in ('mkl', 'onednn'):
        gemm.set_gemm_backend(name)
        results[name] = run_conv(conv, x, grad)
    for a, b, bound in zip(results['mkl'], results['onednn'], rounding_bounds(conv, x, grad)):
        assert bool(((a.double() - b.double()).abs() <= 2 * bound).all())


@pytest.mark.skipif('onednn' not in USABLE, reason='oneDNN cannot run float32 matmuls on this CPU')
def test_float64_ignores_the_backend(restore_backend):
    """float64 runs ATen's BLAS whatever the choice: the same bits under both."""
    conv, x, grad = band_case(3)
    conv = conv.double()
    outs = []
    for name in USABLE:
        gemm.set_gemm_backend(name)
        outs.append(run_conv(conv, x.double(), grad.double()))
    for other in outs[1:]:
        for a, b in zip(outs[0], other):
            assert torch.equal(a, b)


def test_band_columns_follow_the_library(monkeypatch):
    """MKL: BAND_COLUMNS for every layer; oneDNN: ONEDNN_BAND_WORK / (C_in * C_out) columns
    within ONEDNN_BAND_RANGE (narrow layers get long GEMMs)."""
    from mmicconv.ops import op
    monkeypatch.setattr(op, 'gemm_backend', lambda: 'mkl')
    assert {op.band_columns(c, c) for c in (3, 64, 512)} == {op.BAND_COLUMNS}
    monkeypatch.setattr(op, 'gemm_backend', lambda: 'onednn')
    low, high = op.ONEDNN_BAND_RANGE
    for c_in, c_out in [(3, 7), (64, 64), (128, 128), (256, 256), (512, 512), (64, 256)]:
        columns = op.band_columns(c_in, c_out)
        assert low <= columns <= high
        assert columns == high or columns == low or columns * c_in * c_out == op.ONEDNN_BAND_WORK
    assert [op.band_columns(c, c) for c in (64, 128, 256, 512)] == [4096, 1024, 256, 256]
