"""The benchmark levels: each ResNet-50 ``conv2`` shape (``layer``), whole backbones
(``backbone``), and profiler tables of backbones."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn

from ..pattern import Pattern
from .cases import ORACLE_CASE, build_backbone, conv2_shapes, ic_conv_or_none
from .report import progress
from .timing import cuda_graphed, make_step, per_gemm_backend, ratio_rows, time_interleaved

__all__ = ['bench_layers', 'bench_backbones', 'profile_backbones']


def bench_layers(patterns: Dict[str, Pattern], sizes: Sequence[int], batch: int, modes: Sequence[str],
                 strategies: Sequence[str], repeats: int, device: torch.device,
                 amp: Optional[torch.dtype] = None, gemm_backends: Sequence[str] = ()) -> List[dict]:
    """Plain ``nn.Conv2d`` vs ``ICConv2d`` per strategy, for each distinct R50 ``conv2`` shape,
    with the pattern's entry of the first conv of that shape; ``gemm_backends``: each IC case
    once per GEMM library of the compiled kernel (:func:`.timing.per_gemm_backend`)."""
    results = []
    for size in sizes:
        for shape in conv2_shapes(size):
            index, channels, stride, hw = shape.index, shape.channels, shape.stride, shape.side
            x = torch.randn(batch, channels, hw, hw, device=device)
            for key, pattern in patterns.items():
                plain = nn.Conv2d(channels, channels, 3, stride, 1, bias=False).to(device)
                models: Dict[str, nn.Module] = {'plain': plain}
                for strategy in strategies:
                    conv = ic_conv_or_none(plain, pattern[index], strategy)
                    if conv is not None:
                        models[strategy] = conv
                for mode in modes:
                    xin = x.clone().requires_grad_(mode == 'train')
                    steps = per_gemm_backend({n: make_step(m, xin, mode, amp) for n, m in models.items()},
                                             gemm_backends)
                    times = time_interleaved(steps, repeats, 1, device)
                    row = dict(level='layer', layer=f'conv2#{index}', channels=channels, stride=stride,
                               input=[batch, channels, hw, hw], pattern=key, size=size, mode=mode,
                               groups=len(pattern[index].groups), cases=ratio_rows(times))
                    results.append(row)
                    progress(row)
    return results


def bench_backbones(pattern_paths: Dict[str, Path], sizes: Sequence[int], batch: int,
                    modes: Sequence[str], strategies: Sequence[str], repeats: int,
                    device: torch.device, amp: Optional[torch.dtype] = None,
                    graphs: bool = False, oracle: bool = False,
                    gemm_backends: Sequence[str] = ()) -> List[dict]:
    """Plain R50 vs IC-R50 per strategy; ``oracle``: also the GEMM-only IC-R50 (``fwd`` only,
    :mod:`.oracle`); ``graphs``: each step replayed from a CUDA graph; ``gemm_backends``: each IC
    case once per GEMM library of the compiled kernel (:func:`.timing.per_gemm_backend`)."""
    results = []
    plain = build_backbone(None, 'auto', device)
    for key, path in pattern_paths.items():
        models: Dict[str, nn.Module] = {'plain': plain}
        for strategy in strategies:
            models[strategy] = build_backbone(path, strategy, device)
        oracle_model = _oracle_backbone(path, device) if oracle else None
        for size in sizes:
            x = torch.randn(batch, 3, size, size, device=device)
            for mode in modes:
                steps = {n: make_step(m, x, mode, amp) for n, m in models.items()}
                if oracle_model is not None and mode == 'fwd':
                    steps[ORACLE_CASE] = make_step(oracle_model, x, mode, amp)
                steps = per_gemm_backend(steps, gemm_backends)
                if graphs:
                    steps = {n: cuda_graphed(step) for n, step in steps.items()}
                times = time_interleaved(steps, repeats, 1, device)
                row = dict(level='backbone', pattern=key, size=size, batch=batch, mode=mode,
                           cuda_graphs=graphs, cases=ratio_rows(times))
                results.append(row)
                progress(row)
    return results


def _oracle_backbone(path: Path, device: torch.device) -> nn.Module:
    """IC-R50 running the GEMM-only strategy (importing :mod:`.oracle` registers it)."""
    from .oracle import GemmOracleStrategy
    return build_backbone(path, GemmOracleStrategy.name, device)


def profile_backbones(pattern_paths: Dict[str, Path], size: int, batch: int, mode: str,
                      strategies: Sequence[str], device: torch.device, steps: int = 3) -> None:
    """Print torch.profiler's top operators for plain R50 and each IC-R50 strategy."""
    from torch.profiler import ProfilerActivity, profile
    x = torch.randn(batch, 3, size, size, device=device)
    cases = {'plain': build_backbone(None, 'auto', device)}
    for key, path in pattern_paths.items():
        cases.update({f'{key} {s}': build_backbone(path, s, device) for s in strategies})
    for name, model in cases.items():
        step = make_step(model, x, mode)
        step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                step()
        print(f'# profile: {name}, {size}x{size}, batch {batch}, {mode}, {steps} steps', flush=True)
        print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=10), flush=True)
