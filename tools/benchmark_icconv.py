"""Benchmark IC convolution strategies against a plain 3x3 conv and a plain ResNet-50.

Everything is measured in ONE process, with the cases of a group run
interleaved (plain, then each strategy, then plain again, ...) for
``--repeats`` rounds, and reports medians. Interleaving does NOT make load
harmless: a busy machine slows oneDNN's plain conv more than the IC kernels
and flatters the ratios. The 1-minute load average is printed before and
after (and stored in ``--json``), with a warning above 0.5: only quiet-machine
runs are results. Cases:

* ``layer``: each distinct ``conv2`` shape of ResNet-50 (4 stages x stride 1
  / stride 2, from ``mmicconv.models.arch.ARCHS``), a plain ``nn.Conv2d`` vs
  ``ICConv2d`` with each strategy, using the first pattern entry of that shape
  from each published pattern;
* ``backbone``: mmdet ``ResNet(depth=50)`` vs the same network converted to
  IC-R50 (``convert_to_ic``) with each strategy; ``loop`` is the paper's
  computation (one conv per dilation group, then ``torch.cat``), the baseline.

``--onnxruntime``: only the ONNX Runtime level (``mmicconv.benchmark.onnxrt``): plain
R50 and IC-R50 exported to ONNX (IC convs in each ``--export-forms`` form) and run
in ONNX Runtime (``--threads`` intra-op threads, batch 1 unless ``--batch``),
beside the same models in PyTorch eager, forward only, interleaved.

``--gemm-oracle`` (backbone, ``fwd``, CPU) adds the case ``oracle:gemm``: the
IC-R50 whose IC convs run the strategy ``gemm-oracle`` (``mmicconv.benchmark.oracle``):
the compiled kernel's GEMM alone (``Z = W9 @ x``, exactly the 3x3 conv's FLOPs,
none of the shifted adds; the outputs are wrong, the shapes right). It is the
floor of any kernel built on that GEMM.

``--gemm-backends mkl onednn`` (CPU) times every IC case once per GEMM library of
the compiled kernel (cases ``auto@mkl``, ``auto@onednn``, ``oracle:gemm@onednn``, ...);
without it the kernel uses the process's choice (``mmicconv.ops.gemm``: oneDNN on
non-Intel CPUs, MKL on Intel), printed in the header line.

Modes: ``fwd`` (``torch.no_grad``, eval mode) and ``train`` (train mode,
forward + backward of the sum of the outputs, gradients zeroed before each
step). Batch: ``--batch`` (default 2) at every size. Peak memory (``--memory``):
on CUDA ``torch.cuda.max_memory_allocated``; on CPU the peak resident set
(``ru_maxrss``) of a fresh subprocess that builds the model and runs one
training step, minus its RSS just before the steps ("step peak").

The code is the library ``mmicconv.benchmark`` (cases, timing, levels, oracle,
memory, report); this script only parses the options.

Examples::

    # the README tables (about 32 minutes on 2 cores)
    python tools/benchmark_icconv.py --json bench.json --memory
    # a quick look (about 1-2 minutes)
    python tools/benchmark_icconv.py --quick
    # deployment: IC-R50 / R50 in ONNX Runtime per export form (about 3 minutes)
    python tools/benchmark_icconv.py --onnxruntime --repeats 11
    # where the time goes (profiler tables, k13 at 224, forward)
    python tools/benchmark_icconv.py --profile --patterns k13 --sizes 224 --modes fwd --strategies auto
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mmicconv.benchmark.cases import PATTERN_FILES, backbone_source, default_pattern_dir  # noqa: E402
from mmicconv.benchmark.levels import bench_backbones, bench_layers, profile_backbones  # noqa: E402
from mmicconv.benchmark.memory import bench_memory  # noqa: E402
from mmicconv.benchmark.onnxrt import bench_onnxruntime, onnxruntime_unavailable  # noqa: E402
from mmicconv.benchmark.oracle import oracle_wanted  # noqa: E402
from mmicconv.benchmark.report import cpu_model, markdown_summary, report_load  # noqa: E402
from mmicconv.ops import EXPORT_FORMS  # noqa: E402
from mmicconv.ops.gemm import GEMM_BACKENDS, gemm_backend, set_gemm_backend  # noqa: E402
from mmicconv.pattern import Pattern  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--pattern-dir', type=Path, default=default_pattern_dir(),
                   help='folder holding detection/ic_resnet50_k9.json and human_pose/ic_resnet50_k13.json')
    p.add_argument('--patterns', nargs='+', default=list(PATTERN_FILES), choices=list(PATTERN_FILES))
    p.add_argument('--sizes', nargs='+', type=int, default=[224, 640])
    p.add_argument('--batch', type=int, help='batch size (default: 2; 1 with --onnxruntime)')
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
    p.add_argument('--gemm-backends', nargs='+', default=[], choices=list(GEMM_BACKENDS),
                   help='CPU: time every IC case once per GEMM library of the compiled kernel (cases '
                        "'auto@mkl', 'auto@onednn', ...; default: the process's choice, "
                        'see docs/performance.md)')
    p.add_argument('--onnxruntime', action='store_true',
                   help='only the ONNX Runtime level: plain R50 and IC-R50 exported to ONNX, run in '
                        'onnxruntime, beside PyTorch eager (forward)')
    p.add_argument('--export-forms', nargs='+', default=list(EXPORT_FORMS), choices=list(EXPORT_FORMS),
                   help='--onnxruntime: the IC conv export forms to time (mmicconv/ops/export_forms.py)')
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
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.summarize:
        print(markdown_summary(json.loads(args.summarize.read_text())['results']))
        return
    paths = {k: args.pattern_dir / PATTERN_FILES[k] for k in args.patterns}
    if args.batch is None:
        args.batch = 1 if args.onnxruntime else 2
    if args.profile:
        profile_backbones(paths, args.sizes[0], args.batch, args.modes[0], args.strategies,
                          torch.device(args.device))
        return
    if args.onnxruntime and onnxruntime_unavailable():
        sys.exit(f'ERROR: --onnxruntime: {onnxruntime_unavailable()}')
    if args.quick:
        args.sizes, args.levels, args.repeats = [224], ['backbone'], 3
    device = torch.device(args.device)
    for path in paths.values():
        if not path.is_file():
            sys.exit(f'pattern file {path} not found (use --pattern-dir)')
    amp = (torch.float16 if device.type == 'cuda' else torch.bfloat16) if args.amp else None
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else cpu_model()
    print(f'# torch {torch.__version__}, device {device} ({name}), threads {torch.get_num_threads()}, '
          f'batch {args.batch}, repeats {args.repeats}, strategies {args.strategies}, '
          f'amp {amp}, backbone {backbone_source()}, kernel GEMM {gemm_backend()}', flush=True)
    load_before = report_load('before')
    results: List[dict] = []
    if args.onnxruntime:
        args.levels = []
        results += bench_onnxruntime(paths, args.sizes, args.batch, args.export_forms, args.repeats,
                                     args.threads)
    if 'layer' in args.levels:
        patterns = {k: Pattern.load(str(p)) for k, p in paths.items()}
        results += bench_layers(patterns, args.sizes, args.batch, args.modes, args.strategies,
                                args.repeats, device, amp, args.gemm_backends)
    if 'backbone' in args.levels:
        results += bench_backbones(paths, args.sizes, args.batch, args.modes, args.strategies,
                                   args.repeats, device, amp, args.cuda_graphs,
                                   oracle_wanted(args.gemm_oracle, device), args.gemm_backends)
    if args.gemm_backends:
        set_gemm_backend('auto')
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
