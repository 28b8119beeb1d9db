"""The benchmark library (``mmicconv.benchmark``): the R50 shapes, the GEMM-only oracle strategy, the tables.

No timing here: the oracle is checked for what it computes (only the GEMM ``W9 @ x``) and for
registering itself without ever being chosen by ``'auto'``.
"""

from __future__ import annotations

import importlib
import sys

import pytest
import torch
import torch.nn.functional as F

from mmicconv.benchmark.cases import ConvShape, conv2_shapes
from mmicconv.benchmark.report import markdown_summary
from mmicconv.benchmark.timing import per_gemm_backend, ratio_rows
from mmicconv.ops import ICConv2d, available_strategies
from mmicconv.ops.strategies import STRATEGIES, unregister_strategy

ORACLE = 'gemm-oracle'
ENTRY = {'(0, 0)': 3, '(2, 1)': 2, '(1, 3)': 3}


@pytest.fixture
def oracle_module():
    """``mmicconv.benchmark.oracle`` freshly imported (which registers the strategy), unregistered after."""
    if ORACLE in STRATEGIES:
        unregister_strategy(ORACLE)
    sys.modules.pop('mmicconv.benchmark.oracle', None)
    assert ORACLE not in available_strategies()
    module = importlib.import_module('mmicconv.benchmark.oracle')
    yield module
    unregister_strategy(ORACLE)
    sys.modules.pop('mmicconv.benchmark.oracle', None)


def test_conv2_shapes_of_resnet50_from_the_stage_table():
    """The 7 distinct conv2 shapes (the table the benchmark had written out by hand)."""
    expected = [(0, 64, 1, 56), (3, 128, 2, 56), (4, 128, 1, 28), (7, 256, 2, 28), (8, 256, 1, 14),
                (13, 512, 2, 14), (14, 512, 1, 7)]
    assert conv2_shapes(224) == [ConvShape(*row) for row in expected]
    assert [s.side for s in conv2_shapes(640)] == [160, 160, 80, 80, 40, 40, 20]
    assert [s.index for s in conv2_shapes(224, depth=101)] == [0, 3, 4, 7, 8, 30, 31]
    with pytest.raises(ValueError, match='basic blocks'):
        conv2_shapes(224, depth=18)


@pytest.mark.parametrize('stride,side', [(1, 8), (1, 40), (2, 9), (2, 41)])
def test_oracle_registers_itself_and_computes_only_the_gemm(oracle_module, stride, side):
    """Its output is the first tap's GEMM rows (a 1x1 conv by ``weight[..., 0, 0]`` of the phase-(0, 0)
    input), both for whole images per GEMM (small maps) and for bands of rows (larger maps)."""
    assert STRATEGIES[ORACLE] is oracle_module.GemmOracleStrategy
    conv = ICConv2d(4, 8, stride=stride, pattern=ENTRY, strategy=ORACLE)
    assert conv.active_strategy == ORACLE
    x = torch.randn(2, 4, side, side + 3)
    with torch.no_grad():
        out = conv(x)
        gemm_only = F.conv2d(x[:, :, ::stride, ::stride], conv.weight[:, :, :1, :1])
        real = ICConv2d.from_conv(conv, conv.pattern, strategy='loop')(x)
    assert out.shape == real.shape
    torch.testing.assert_close(out, gemm_only, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(out, real, atol=1e-2)  # the shifted adds are missing: not the IC conv


def test_oracle_is_only_used_when_named(oracle_module):
    assert ORACLE in available_strategies()
    assert ICConv2d(4, 8, pattern=ENTRY).active_strategy != ORACLE
    with pytest.raises(ValueError, match=f"'{ORACLE}' does not support"):
        ICConv2d(4, 8, groups=2, pattern={'(0, 0)': 1, '(1, 2)': 1}, strategy=ORACLE)


def test_markdown_summary_of_backbone_and_layer_rows():
    times = {'plain': 0.1, 'loop': 0.3, 'tap': 0.2, 'auto': 0.15}
    rows = [dict(level='backbone', pattern='k9', size=224, mode='fwd', cases=ratio_rows(times)),
            dict(level='layer', layer='conv2#0', pattern='k9', size=224, mode='fwd', cases=ratio_rows(times))]
    table = markdown_summary(rows)
    assert '| k9 | 224 | fwd | 3.00x | 2.00x | 1.50x | 2.00x faster |' in table
    assert '| k9 | 224 | fwd | 3.00-3.00x | 2.00-2.00x | 1.50-1.50x |' in table


def test_per_gemm_backend_runs_each_ic_case_under_each_library():
    """Every case but plain becomes one case per GEMM library, and runs with that library set;
    the table gets a column per case."""
    from mmicconv.ops import gemm
    from mmicconv.ops.extension import extension_error
    if extension_error() is not None:
        pytest.skip(f'compiled kernels: {extension_error()}')
    backends = ['mkl'] + (['onednn'] if gemm.onednn_unusable_reason() is None else [])
    seen = []
    steps = per_gemm_backend({'plain': lambda: seen.append(('plain', None)),
                              'auto': lambda: seen.append(('auto', gemm.gemm_backend()))}, backends)
    before = gemm.gemm_backend()
    try:
        assert list(steps) == ['plain'] + [f'auto@{b}' for b in backends]
        for step in steps.values():
            step()
    finally:
        gemm.set_gemm_backend(before)
    assert seen == [('plain', None)] + [('auto', b) for b in backends]
    assert per_gemm_backend(steps, []) is steps
    times = {name: 0.1 * (i + 1) for i, name in enumerate(steps)}
    row = dict(level='backbone', pattern='k9', size=224, mode='fwd', cases=ratio_rows(times))
    table = markdown_summary([row])
    assert '| mode | ' + ' | '.join(list(steps)[1:]) + ' | auto vs loop |' in table


def test_onnxruntime_level_exports_checks_and_tabulates(monkeypatch):
    """The ONNX Runtime level on a tiny input: each form's graph has the Conv nodes it claims
    (plain R50: 53; taps: 17 per multi-dilation IC conv; segments: one per segment) and runs to
    PyTorch's outputs; the markdown table carries the counts. No timing is asserted."""
    pytest.importorskip('onnxruntime', reason='onnxruntime is not installed (tools/install.sh installs it)')
    from mmicconv.benchmark.cases import REPO
    from mmicconv.benchmark.onnxrt import bench_onnxruntime
    from mmicconv.pattern import Pattern
    path = REPO / 'pattern_zoo' / 'toy' / 'ic_resnet50_toy.json'
    [row] = bench_onnxruntime({'toy': path}, [32], 1, ['taps', 'segments'], 1, 1)
    segments = [len(entry.groups) for entry in Pattern.load(str(path))]
    assert row['conv_nodes'] == {'plain': 53,
                                 'taps': 53 - 16 + sum(17 if n > 1 else 1 for n in segments),
                                 'segments': 53 - 16 + sum(segments)}
    assert max(row['max_abs_error'].values()) < 1e-3
    assert set(row['cases']) == {'plain', 'taps', 'segments', 'eager:plain', 'eager:auto'}
    table = markdown_summary([row])
    counts = ' / '.join(str(row['conv_nodes'][n]) for n in ('plain', 'taps', 'segments'))
    assert f"| toy | 32 | {counts} | {row['cases']['taps']['x_plain']:.2f}x |" in table


def test_onnxruntime_missing_is_an_install_hint(monkeypatch):
    from mmicconv.benchmark.onnxrt import onnxruntime_unavailable
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)
    assert onnxruntime_unavailable() == ('onnxruntime is not installed: pip install onnx==1.23.2 '
                                         'onnxruntime==1.32.0 (tools/install.sh installs both, pinned in '
                                         'requirements/stack.txt)')
