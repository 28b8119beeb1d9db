"""Timing: one step per case, CUDA-graph capture, and the interleaved median."""

from __future__ import annotations

import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch
import torch.nn as nn

__all__ = ['Step', 'sync', 'make_step', 'cuda_graphed', 'time_interleaved', 'ratio_rows', 'per_gemm_backend']

Step = Callable[[], None]


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing elsewhere."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def make_step(model: nn.Module, x: torch.Tensor, mode: str, amp: Optional[torch.dtype] = None) -> Step:
    """A closure running one forward (``'fwd'``: eval mode, no grad) or one training step (``'train'``).

    ``amp``: run the forward under ``torch.autocast`` with this dtype (None: off).
    A training step zeroes the gradients, then backpropagates the sum of the outputs.
    """
    def autocast():
        return torch.autocast(x.device.type, dtype=amp or torch.float16, enabled=amp is not None)

    if mode == 'fwd':
        model.eval()

        def step() -> None:
            with torch.no_grad(), autocast():
                model(x)
    else:
        model.train()

        def step() -> None:
            model.zero_grad(set_to_none=True)
            with autocast():
                out = model(x)
            outs = out if isinstance(out, (tuple, list)) else (out,)
            sum(o.float().sum() for o in outs).backward()
    return step


def cuda_graphed(step: Step) -> Step:
    """``step`` captured once into a CUDA graph; returns the graph's replay.

    Removes the per-kernel launch and Python dispatch cost, which dominates
    small layers on a fast GPU (whole-step capture as in PyTorch's CUDA graphs
    notes: warm up on a side stream, then capture one step).
    """
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay


def time_interleaved(steps: Dict[str, Step], repeats: int, warmup: int,
                     device: torch.device) -> Dict[str, float]:
    """Median seconds per case, the cases run round-robin ``repeats`` times."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    samples: Dict[str, List[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            sync(device)
            start = time.perf_counter()
            step()
            sync(device)
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def ratio_rows(times: Dict[str, float], base: str = 'plain') -> Dict[str, Dict[str, float]]:
    """Per case: milliseconds, ratio to ``base`` and (when timed) to ``loop``."""
    rows = {}
    for name, seconds in times.items():
        row = {'ms': round(seconds * 1e3, 3), 'x_plain': round(seconds / times[base], 3)}
        if 'loop' in times:
            row['x_loop'] = round(seconds / times['loop'], 3)
        rows[name] = row
    return rows


def per_gemm_backend(steps: Dict[str, Step], backends: Sequence[str], base: str = 'plain') -> Dict[str, Step]:
    """Each case but ``base`` once per GEMM library of the compiled kernel (``name@mkl``,
    ``name@onednn``: :func:`mmicconv.ops.gemm.set_gemm_backend` before each run of the step);
    ``steps`` unchanged when ``backends`` is empty (the process's choice)."""
    if not backends:
        return steps
    from ..ops.gemm import set_gemm_backend

    def on(step: Step, backend: str) -> Step:
        def run() -> None:
            set_gemm_backend(backend)
            step()
        return run

    out = {name: step for name, step in steps.items() if name == base}
    for name, step in steps.items():
        if name != base:
            out.update({f'{name}@{backend}': on(step, backend) for backend in backends})
    return out
