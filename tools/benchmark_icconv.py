"""Benchmark IC convolution strategies against a plain 3x3 conv and a plain ResNet-50.

Everything is measured in ONE process, with the cases of a group run
interleaved (plain, then each strategy, then plain again, ...) for
``--repeats`` rounds, and reports medians. Interleaving does NOT make load
harmless: a busy machine slows oneDNN's plain conv more than the IC kernels
and flatters the ratios. The 1-minute load average is printed before and
after (and stored in ``--json``), with a warning above 0.5: only quiet-machine
runs are results. Cases:

* ``layer``: each distinct ``conv2`` shape of ResNet-50 (4 stages x stride 1
  / stride 2), a plain ``nn.Conv2d`` vs ``ICConv2d`` with each strategy, using
  the first pattern entry of that shape from each published pattern;
* ``backbone``: mmdet ``ResNet(depth=50)`` vs the same network converted to
  IC-R50 (``convert_to_ic``) with each strategy; ``loop`` is the paper's
  computation (one conv per dilation group, then ``torch.cat``), the baseline.

``--gemm-oracle`` (backbone, ``fwd``, CPU) adds the case ``oracle:gemm``: the
IC-R50 with every compiled-kernel call replaced by its GEMM alone (``Z = W9 @
x``, exactly the 3x3 conv's FLOPs, none of the shifted adds; the outputs are
wrong, the shapes right). It is the floor of any kernel built on that GEMM.

Modes: ``fwd`` (``torch.no_grad``, eval mode) and ``train`` (train mode,
forward + backward of the sum of the outputs, gradients zeroed before each
step). Batch: ``--batch`` (default 2) at every size. Peak memory (``--memory``):
on CUDA ``torch.cuda.max_memory_allocated``; on CPU the peak resident set
(``ru_maxrss``) of a fresh subprocess that builds the model and runs one
training step, minus its RSS just before the steps ("step peak").

Examples::

    # the README tables (about 32 minutes on 2 cores)
    python tools/benchmark_icconv.py --json bench.json --memory
    # a quick look (about 1-2 minutes)
    python tools/benchmark_icconv.py --quick
    # where the time goes (profiler tables, k13 at 224, forward)
    python tools/benchmark_icconv.py --profile --patterns k13 --sizes 224 --modes fwd --strategies auto
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch
import torch.nn as nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mmicconv.ops import ICConv2d  # noqa: E402
from mmicconv.ops.strategies import STRATEGIES  # noqa: E402
from mmicconv.pattern import Pattern  # noqa: E402

PATTERN_FILES = {'k9': 'detection/ic_resnet50_k9.json', 'k13': 'human_pose/ic_resnet50_k13.json'}
#: (stage index of the first conv2 of that shape in R50, channels, stride, input size at 224)
R50_CONV2 = [(0, 64, 1, 56), (3, 128, 2, 56), (4, 128, 1, 28), (7, 256, 2, 28), (8, 256, 1, 14),
             (13, 512, 2, 14), (14, 512, 1, 7)]


def default_pattern_dir() -> Path:
    """The published zoo beside the checkout if present, else the repo's ``pattern_zoo``."""
    shared = REPO.parent / 'shared' / 'reference' / 'official_pattern_zoo'
    return shared if shared.is_dir() else REPO / 'pattern_zoo'


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def make_step(model: nn.Module, x: torch.Tensor, mode: str,
              amp: Optional[torch.dtype] = None) -> Callable[[], None]:
    """A closure running one forward (no grad) or one training step.

    ``amp``: run the forward under ``torch.autocast`` with this dtype (None: off).
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


def cuda_graphed(step: Callable[[], None]) -> Callable[[], None]:
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


def time_interleaved(steps: Dict[str, Callable[[], None]], repeats: int, warmup: int,
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


def plain_resnet50() -> nn.Module:
    """mmdet's ResNet-50 (all stages trainable, four outputs), else torchvision's.

    The torchvision fallback (same conv layout: stride on the 3x3 conv, a
    classifier head added) lets the benchmark run where only torch and
    torchvision are installed, e.g. a GPU machine without mmcv's CUDA ops.
    """
    try:
        from mmdet.models.backbones import ResNet
    except ImportError:
        from torchvision.models import resnet50
        return resnet50()
    return ResNet(depth=50, frozen_stages=-1, norm_eval=False, out_indices=(0, 1, 2, 3))


def backbone_source() -> str:
    """Which ResNet-50 :func:`plain_resnet50` builds here (without building it)."""
    return 'mmdet' if importlib.util.find_spec('mmdet') is not None else 'torchvision'


def gemm_only_forward(x: torch.Tensor, weight: torch.Tensor, dilations: torch.Tensor,
                      stride: Sequence[int]) -> torch.Tensor:
    """The ``--gemm-oracle`` stand-in for the band kernel: its GEMMs only, no shifted adds.

    The same GEMMs as the kernel (``W9 @`` a band of ``BAND_COLUMNS`` columns into one reused
    buffer, small images several per GEMM); a strided conv multiplies ``W9`` with one input
    phase, which has the FLOPs of all phases' row subsets together. Each band's first ``C_out``
    rows are written to the output (wrong values, right shape, one write as the kernel's).
    """
    from mmicconv.ops.op import band_chunking
    from mmicconv.ops.plan import w9_matrix
    x = x.contiguous()
    if tuple(stride) != (1, 1):
        x = x[:, :, ::stride[0], ::stride[1]].contiguous()
    n, c, h, w = x.shape
    cout, w9 = weight.shape[0], w9_matrix(weight)
    rows, _ = band_chunking(h, w)
    if rows == h:  # whole images side by side in one GEMM
        z = torch.mm(w9, x.view(n, c, h * w).transpose(0, 1).reshape(c, n * h * w))[:cout]
        return z.view(cout, n, h, w).transpose(0, 1).contiguous()
    y = x.new_empty(n, cout, h * w)
    buffer = x.new_empty(9 * cout * rows * w)
    for i in range(n):
        for start in range(0, h * w, rows * w):
            columns = min(rows * w, h * w - start)
            z = buffer[:9 * cout * columns].view(9 * cout, columns)
            torch.mm(w9, x[i].view(c, h * w)[:, start:start + columns], out=z)
            y[i, :, start:start + columns] = z[:cout]
    return y.view(n, cout, h, w)


def gemm_oracle(step: Callable[[], None]) -> Callable[[], None]:
    """``step`` with the compiled kernel's forward replaced by :func:`gemm_only_forward`."""
    from mmicconv.ops import op

    def oracle_step() -> None:
        real = op._band_forward
        op._band_forward = gemm_only_forward
        try:
            step()
        finally:
            op._band_forward = real
    return oracle_step


def oracle_wanted(asked: bool, device: torch.device) -> bool:
    """Whether ``--gemm-oracle`` can run here (CPU with the compiled kernel); says why not."""
    if not asked:
        return False
    from mmicconv.ops.extension import extension_error
    why = f'it replaces the CPU kernel; the device is {device}' if device.type != 'cpu' else extension_error()
    if why:
        print(f'# --gemm-oracle skipped: {why}', flush=True)
    return why is None


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or 'unknown CPU'


def build_backbone(pattern: Optional[Path], strategy: str, device: torch.device) -> nn.Module:
    """Plain ResNet-50 (:func:`plain_resnet50`), converted to IC-R50 when ``pattern`` is given."""
    from mmicconv.models.ic_resnet import convert_to_ic
    torch.manual_seed(0)
    model = plain_resnet50()
    if pattern is not None:
        convert_to_ic(model, str(pattern), strategy=strategy)
    return model.to(device)


def ratio_rows(times: Dict[str, float], base: str = 'plain') -> Dict[str, Dict[str, float]]:
    rows = {}
    for name, seconds in times.items():
        row = {'ms': round(seconds * 1e3, 3), 'x_plain': round(seconds / times[base], 3)}
        if 'loop' in times:
            row['x_loop'] = round(seconds / times['loop'], 3)
        rows[name] = row
    return rows


def ic_conv_or_none(plain: nn.Conv2d, pattern, strategy: str) -> Optional[ICConv2d]:
    """``plain`` as an ICConv2d running ``strategy``, or None where that strategy cannot run it."""
    cls = STRATEGIES.get(strategy)
    if cls is not None and (cls.unavailable_reason() is not None
                            or not cls.supports(ICConv2d.from_conv(plain, pattern, 'loop').spec,
                                                plain.weight.device, plain.weight.dtype, True)):
        return None
    return ICConv2d.from_conv(plain, pattern, strategy=strategy)


def load_average() -> float:
    """The 1-minute load average (0.0 where the OS does not report it)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


#: Above this 1-minute load, timings are not results (shared load slows oneDNN's plain conv more
#: than the IC kernels and flatters the ratios).
QUIET_LOAD = 0.5


def report_load(when: str, own_threads: int = 0) -> float:
    """Print the 1-minute load average and warn when other work shares the machine.

    ``own_threads``: the benchmark's own contribution to the load (its compute
    threads, after it ran for a minute or more), which is not counted as other work.
    """
    load = load_average()
    others = max(0.0, load - own_threads)
    own = f', of which up to {own_threads} is this benchmark' if own_threads else ''
    print(f'# load average ({when}): {load:.2f}{own}', flush=True)
    if others > QUIET_LOAD:
        print(f'# WARNING: load from other work {others:.2f} > {QUIET_LOAD}: the machine is busy; these '
              'timings are not results (rerun on a quiet machine)', flush=True)
    return load


def bench_layers(patterns: Dict[str, Pattern], sizes: Sequence[int], batch: int, modes: Sequence[str],
                 strategies: Sequence[str], repeats: int, device: torch.device,
                 amp: Optional[torch.dtype] = None) -> List[dict]:
    results = []
    for size in sizes:
        for index, channels, stride, base_in in R50_CONV2:
            hw = base_in * size // 224
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
                    steps = {n: make_step(m, xin, mode, amp) for n, m in models.items()}
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
                    graphs: bool = False, oracle: bool = False) -> List[dict]:
    results = []
    plain = build_backbone(None, 'auto', device)
    for key, path in pattern_paths.items():
        models: Dict[str, nn.Module] = {'plain': plain}
        for strategy in strategies:
            models[strategy] = build_backbone(path, strategy, device)
        for size in sizes:
            x = torch.randn(batch, 3, size, size, device=device)
            for mode in modes:
                steps = {n: make_step(m, x, mode, amp) for n, m in models.items()}
                if oracle and mode == 'fwd':
                    ic = models.get('auto') or build_backbone(path, 'band', device)
                    steps['oracle:gemm'] = gemm_oracle(make_step(ic, x, mode, amp))
                if graphs:
                    steps = {n: cuda_graphed(step) for n, step in steps.items()}
                times = time_interleaved(steps, repeats, 1, device)
                row = dict(level='backbone', pattern=key, size=size, batch=batch, mode=mode,
                           cuda_graphs=graphs, cases=ratio_rows(times))
                results.append(row)
                progress(row)
    return results


def progress(row: dict) -> None:
    what = row.get('layer', 'R50')
    cases = '  '.join(f"{n} {c['ms']:.1f}ms {c['x_plain']:.2f}x" for n, c in row['cases'].items())
    print(f"[{row['level']:8s}] {what:9s} {row['pattern']:3s} {row['size']:4d} {row['mode']:5s} | {cases}",
          flush=True)


def _rss_bytes() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def memory_case(pattern: Optional[str], strategy: str, size: int, batch: int, device_name: str) -> dict:
    """Peak memory of one training step (run in a fresh process on CPU)."""
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


def bench_memory(pattern_paths: Dict[str, Path], sizes: Sequence[int], batch: int,
                 strategies: Sequence[str], threads: int, device: torch.device) -> List[dict]:
    results = []
    for size in sizes:
        for key, path in pattern_paths.items():
            cases = {}
            for name in ['plain'] + list(strategies):
                args = [sys.executable, __file__, '--_memory-case', str(path) if name != 'plain' else '',
                        name if name != 'plain' else 'auto', str(size), str(batch), str(device),
                        '--threads', str(threads)]
                out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
                cases[name] = json.loads(out.strip().splitlines()[-1])
            for case in cases.values():
                case['x_plain'] = round(case['step_peak_mb'] / cases['plain']['step_peak_mb'], 3)
                case['peak_mb'] = round(case['peak_mb'], 1)
                case['step_peak_mb'] = round(case['step_peak_mb'], 1)
            row = dict(level='memory', pattern=key, size=size, batch=batch, mode='train', cases=cases)
            results.append(row)
            print(f"[memory  ] R50       {key:3s} {size:4d} train | " + '  '.join(
                f"{n} {c['step_peak_mb']:.0f}MB {c['x_plain']:.2f}x" for n, c in cases.items()), flush=True)
    return results


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


def markdown_summary(results: List[dict]) -> str:
    """The README tables: backbone ratios, per-layer ranges and memory, as markdown."""
    lines = ['| backbone: IC-R50 / plain R50 | size | mode | loop | tap | auto | auto vs loop |',
             '|---' * 7 + '|']
    for row in (r for r in results if r['level'] == 'backbone'):
        cases = row['cases']
        cells = [f"{cases[n]['x_plain']:.2f}x" if n in cases else '-' for n in ('loop', 'tap', 'auto')]
        faster = (f"{cases['loop']['ms'] / cases['auto']['ms']:.2f}x faster"
                  if 'loop' in cases and 'auto' in cases else '-')
        lines.append(f"| {row['pattern']} | {row['size']} | {row['mode']} | " + ' | '.join(cells)
                     + f' | {faster} |')
    layer_rows = [r for r in results if r['level'] == 'layer']
    if layer_rows:
        shapes = len({r['layer'] for r in layer_rows})
        lines += ['', f'| per layer ({shapes} conv2 shapes of R50): min-max of x plain conv | size | mode '
                  '| loop | tap | auto |', '|---' * 6 + '|']
        keys = sorted({(r['pattern'], r['size'], r['mode']) for r in layer_rows},
                      key=lambda k: (int(k[0][1:]), k[1], k[2] != 'fwd'))
        for key in keys:
            rows = [r for r in layer_rows if (r['pattern'], r['size'], r['mode']) == key]
            cells = []
            for name in ('loop', 'tap', 'auto'):
                values = [r['cases'][name]['x_plain'] for r in rows if name in r['cases']]
                cells.append(f'{min(values):.2f}-{max(values):.2f}x' if values else '-')
            lines.append(f'| {key[0]} | {key[1]} | {key[2]} | ' + ' | '.join(cells) + ' |')
    for row in (r for r in results if r['level'] == 'memory'):
        lines.append('')
        lines.append(f"Peak memory of one training step, {row['pattern']} at {row['size']}, batch "
                     f"{row['batch']}: " + ', '.join(f"{n} {c['step_peak_mb']:.0f} MB ({c['x_plain']:.2f}x)"
                                                      for n, c in row['cases'].items()))
    return '\n'.join(lines)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--pattern-dir', type=Path, default=default_pattern_dir(),
                   help='folder holding detection/ic_resnet50_k9.json and human_pose/ic_resnet50_k13.json')
    p.add_argument('--patterns', nargs='+', default=list(PATTERN_FILES), choices=list(PATTERN_FILES))
    p.add_argument('--sizes', nargs='+', type=int, default=[224, 640])
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--modes', nargs='+', default=['fwd', 'train'], choices=['fwd', 'train'])
    p.add_argument('--levels', nargs='+', default=['layer', 'backbone'], choices=['layer', 'backbone'])
    p.add_argument('--strategies', nargs='+', default=['loop', 'tap', 'auto'],
                   help="ICConv2d strategies to time: 'loop' (the paper's, the baseline), 'tap', "
                        "'band' (the compiled kernel) or 'auto' (what ICResNet uses by default: "
                        "band on CPU when compiled, else tap)")
    p.add_argument('--repeats', type=int, default=5, help='interleaved rounds (median reported)')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--device', default='cpu')
    p.add_argument('--cuda-graphs', action='store_true',
                   help='backbone level: time each step replayed from a CUDA graph (no launch overhead)')
    p.add_argument('--amp', action='store_true',
                   help='time under torch.autocast (float16 on CUDA, bfloat16 on CPU), as AMP training '
                        'runs; memory cases are not affected')
    p.add_argument('--gemm-oracle', action='store_true',
                   help="backbone level, fwd, CPU: add the case 'oracle:gemm' (IC-R50 whose compiled "
                        "kernel computes only its GEMM W9 @ x): the floor of any kernel built on it")
    p.add_argument('--memory', action='store_true', help='also measure peak memory of a training step')
    p.add_argument('--memory-sizes', nargs='+', type=int, default=[640])
    p.add_argument('--memory-strategies', nargs='+', help='strategies for --memory (default: --strategies)')
    p.add_argument('--quick', action='store_true',
                   help='224 only, backbone only, 3 repeats (about 1-2 minutes)')
    p.add_argument('--json', type=Path, help='write all results to this file')
    p.add_argument('--profile', action='store_true',
                   help='only print profiler tables (plain vs each strategy, backbone, first size '
                        'and mode, --patterns) to see where the time goes')
    p.add_argument('--summarize', type=Path, metavar='JSON',
                   help='only print the markdown tables of an earlier --json file')
    p.add_argument('--_memory-case', nargs=5, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args._memory_case:
        pattern, strategy, size, batch, device = args._memory_case
        print(json.dumps(memory_case(pattern or None, strategy, int(size), int(batch), device)))
        return
    if args.summarize:
        print(markdown_summary(json.loads(args.summarize.read_text())['results']))
        return
    if args.profile:
        paths = {k: args.pattern_dir / PATTERN_FILES[k] for k in args.patterns}
        profile_backbones(paths, args.sizes[0], args.batch, args.modes[0], args.strategies,
                          torch.device(args.device))
        return
    if args.quick:
        args.sizes, args.levels, args.repeats = [224], ['backbone'], 3
    device = torch.device(args.device)
    paths = {k: args.pattern_dir / PATTERN_FILES[k] for k in args.patterns}
    for path in paths.values():
        if not path.is_file():
            sys.exit(f'pattern file {path} not found (use --pattern-dir)')
    amp = (torch.float16 if device.type == 'cuda' else torch.bfloat16) if args.amp else None
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else cpu_model()
    print(f'# torch {torch.__version__}, device {device} ({name}), threads {torch.get_num_threads()}, '
          f'batch {args.batch}, repeats {args.repeats}, strategies {args.strategies}, '
          f'amp {amp}, backbone {backbone_source()}', flush=True)
    load_before = report_load('before')
    results: List[dict] = []
    if 'layer' in args.levels:
        patterns = {k: Pattern.load(str(p)) for k, p in paths.items()}
        results += bench_layers(patterns, args.sizes, args.batch, args.modes, args.strategies,
                                args.repeats, device, amp)
    if 'backbone' in args.levels:
        results += bench_backbones(paths, args.sizes, args.batch, args.modes, args.strategies,
                                   args.repeats, device, amp, args.cuda_graphs,
                                   oracle_wanted(args.gemm_oracle, device))
    if args.memory:
        mem_strategies = args.memory_strategies or args.strategies
        results += bench_memory(paths, args.memory_sizes, args.batch, mem_strategies, args.threads, device)
    load_after = report_load('after', own_threads=torch.get_num_threads())
    if args.json:
        meta = dict(torch=torch.__version__, device=f'{device} ({name})', amp=str(amp),
                    threads=torch.get_num_threads(),
                    batch=args.batch, repeats=args.repeats, argv=sys.argv[1:], cpu_count=os.cpu_count(),
                    load_before=load_before, load_after=load_after)
        args.json.write_text(json.dumps(dict(meta=meta, results=results), indent=1))
        print(f'wrote {args.json}')
    print(markdown_summary(results))


if __name__ == '__main__':
    main()
