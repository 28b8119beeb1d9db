#!/usr/bin/env python
"""Cost of the EDO supernet relative to the plain backbone (CPU, training step).

For mmdet's ResNet-50 and the SupernetResNet of each ``--d-max``: time of a
training step of the backbone alone (forward, sum of the outputs as loss,
backward, SGD step) and the peak resident memory it adds, each variant in its
own subprocess so the peaks do not mix. The supernet only changes the
backbone, so the backbone's ratio bounds the whole detector's.

    python tools/benchmark_search.py [--d-max 2 4] [--batch 4] [--size 128] [--iters 5]

Quote ``uptime`` with the numbers: timings under load are not results. A
variant that fails ends the run with one ``ERROR: <variant>: <problem>`` line
and exit status 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import List, Optional, Sequence

from mmicconv.utils.cli import ToolError, add_debug_arg, run_cli


def measure(d_max: int, batch: int, size: int, iters: int, threads: int) -> dict:
    """One variant in this process (d_max 0: the plain ResNet-50)."""
    import torch
    torch.set_num_threads(threads)
    from mmdet.registry import MODELS
    from mmengine.registry import DefaultScope

    import mmicconv.search  # noqa: F401  (registers SupernetResNet)
    cfg = dict(type='ResNet', depth=50) if d_max == 0 else dict(type='SupernetResNet', depth=50, d_max=d_max)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, size, size)
    params = sum(p.numel() for p in model.parameters())
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for i in range(iters + 1):
        start = time.perf_counter()
        opt.zero_grad()
        loss = sum(out.float().mean() for out in model(x))
        loss.backward()
        opt.step()
        if i:  # the first step is warm-up
            times.append(time.perf_counter() - start)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times.sort()
    return {'d_max': d_max, 'params_M': params / 1e6, 'step_s_median': times[len(times) // 2],
            'peak_rss_added_MiB': (rss_after - rss_before) / 1024}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description='supernet vs plain ResNet-50 training step (CPU)')
    parser.add_argument('--d-max', type=int, nargs='+', default=[2, 4], help='supernets to measure')
    parser.add_argument('--batch', type=int, default=4, help='images per step (default 4, the toy config)')
    parser.add_argument('--size', type=int, default=128, help='square input size (default 128)')
    parser.add_argument('--iters', type=int, default=5, help='timed steps after one warm-up (default 5)')
    parser.add_argument('--threads', type=int, default=2, help='torch threads (default 2)')
    parser.add_argument('--one', type=int, default=None, help=argparse.SUPPRESS)
    add_debug_arg(parser)
    args = parser.parse_args(argv)
    return run_cli(lambda: run(args), args.debug)


def measure_in_subprocess(d_max: int, args: argparse.Namespace) -> dict:
    """:func:`measure` in a fresh interpreter (its own memory peak); its one-line error on failure."""
    name = 'plain ResNet-50' if d_max == 0 else f'supernet d_max={d_max}'
    print(f'[benchmark] {name} ...', file=sys.stderr, flush=True)
    cmd = [sys.executable, __file__, '--one', str(d_max), '--batch', str(args.batch),
           '--size', str(args.size), '--iters', str(args.iters), '--threads', str(args.threads)]
    cmd += ['--debug'] if args.debug else []
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        if args.debug:  # the variant's own traceback
            sys.stderr.write(proc.stderr)
        lines = proc.stderr.strip().splitlines() or [f'exit status {proc.returncode}']
        raise ToolError(f'{name}: {lines[-1].removeprefix("ERROR: ")}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> int:
    """One variant (``--one``, a JSON line) or the whole table (Markdown)."""
    if args.one is not None:
        print(json.dumps(measure(args.one, args.batch, args.size, args.iters, args.threads)))
        return 0
    rows: List[dict] = [measure_in_subprocess(d_max, args) for d_max in [0] + list(args.d_max)]
    base = rows[0]
    print('| backbone | params (M) | step (s) | x plain | peak memory added (MiB) | x plain |\n'
          '|---|---|---|---|---|---|')
    for row in rows:
        k = 2 * row['d_max'] + 1
        name = 'ResNet-50' if row['d_max'] == 0 else f"supernet d_max={row['d_max']} (K={k})"
        print(f"| {name} | {row['params_M']:.1f} | {row['step_s_median']:.3f} | "
              f"{row['step_s_median'] / base['step_s_median']:.2f} | {row['peak_rss_added_MiB']:.0f} | "
              f"{row['peak_rss_added_MiB'] / max(base['peak_rss_added_MiB'], 1):.2f} |")
    return 0


if __name__ == '__main__':
    sys.exit(main())
