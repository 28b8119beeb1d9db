"""Peak memory of one training step, each case in a fresh process.

On CUDA ``torch.cuda.max_memory_allocated``; on CPU the peak resident set
(``ru_maxrss``) of a fresh subprocess that builds the model and runs one
training step, minus its RSS just before the step ("step peak"). The
subprocess is ``python -m mmicconv.benchmark.memory PATTERN STRATEGY SIZE
BATCH DEVICE [--threads N]``; it prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from .cases import REPO, build_backbone
from .timing import make_step

__all__ = ['memory_case', 'bench_memory', 'main']


def _rss_bytes() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def memory_case(pattern: Optional[str], strategy: str, size: int, batch: int, device_name: str) -> dict:
    """Peak memory of one training step in this process (``peak_mb``, ``step_peak_mb``)."""
    device = torch.device(device_name)
    model = build_backbone(Path(pattern) if pattern else None, strategy, device)
    step = make_step(model, torch.randn(batch, 3, size, size, device=device), 'train')
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        step()
        return {'peak_mb': torch.cuda.max_memory_allocated(device) / 2**20,
                'step_peak_mb': (torch.cuda.max_memory_allocated(device) - base) / 2**20}
    base = _rss_bytes()
    step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {'peak_mb': peak / 2**20, 'step_peak_mb': (peak - base) / 2**20}


def _run_case(pattern: str, strategy: str, size: int, batch: int, device: torch.device,
              threads: int) -> Dict[str, float]:
    args = [sys.executable, '-m', __name__, pattern, strategy, str(size), str(batch), str(device),
            '--threads', str(threads)]
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get('PYTHONPATH')]))
    env = dict(os.environ, PYTHONPATH=path)
    out = subprocess.run(args, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def bench_memory(pattern_paths: Dict[str, Path], sizes: Sequence[int], batch: int,
                 strategies: Sequence[str], threads: int, device: torch.device) -> List[dict]:
    """One ``memory`` result row per (size, pattern): plain R50 and each strategy, ratios to plain."""
    results = []
    for size in sizes:
        for key, path in pattern_paths.items():
            cases = {'plain': _run_case('', 'auto', size, batch, device, threads)}
            cases.update({name: _run_case(str(path), name, size, batch, device, threads)
                          for name in strategies})
            for case in cases.values():
                case['x_plain'] = round(case['step_peak_mb'] / cases['plain']['step_peak_mb'], 3)
                case['peak_mb'] = round(case['peak_mb'], 1)
                case['step_peak_mb'] = round(case['step_peak_mb'], 1)
            row = dict(level='memory', pattern=key, size=size, batch=batch, mode='train', cases=cases)
            results.append(row)
            print(f"[memory  ] R50       {key:3s} {size:4d} train | " + '  '.join(
                f"{n} {c['step_peak_mb']:.0f}MB {c['x_plain']:.2f}x" for n, c in cases.items()), flush=True)
    return results


def main(argv: Optional[Sequence[str]] = None) -> None:
    """The subprocess: measure one case and print it as one JSON line."""
    p = argparse.ArgumentParser(description='peak memory of one training step (one case)')
    p.add_argument('pattern', help="pattern file, '' for the plain ResNet-50")
    p.add_argument('strategy')
    p.add_argument('size', type=int)
    p.add_argument('batch', type=int)
    p.add_argument('device')
    p.add_argument('--threads', type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(json.dumps(memory_case(args.pattern or None, args.strategy, args.size, args.batch, args.device)))


if __name__ == '__main__':
    main()
