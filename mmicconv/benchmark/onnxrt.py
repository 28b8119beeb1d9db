"""The ``onnxruntime`` level: plain R50 and IC-R50 exported to ONNX and run in ONNX Runtime.

Each IC-R50 is exported once per export form (:mod:`mmicconv.ops.export_forms`)
and timed in the same interleaved rounds as the exported plain R50; for the
side-by-side column the same two models run in PyTorch eager (``torch.no_grad``,
the ``auto`` strategy) in interleaved rounds of their own. Every exported model
is first checked against PyTorch (largest output difference reported). ONNX Runtime runs with ``threads``
intra-op threads, one inter-op thread, all graph optimisations on, its other
settings default (as a deployment runs it).
"""

from __future__ import annotations

import io
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import torch
import torch.nn as nn

from ..ops import export_form_as
from .cases import build_backbone
from .report import progress
from .timing import ratio_rows, time_interleaved

__all__ = ['ONNXRUNTIME_HINT', 'onnxruntime_unavailable', 'export_onnx', 'ort_session', 'bench_onnxruntime',
           'onnxruntime_table']

#: What to install when onnx / onnxruntime are missing (the versions of requirements/stack.txt).
ONNXRUNTIME_HINT = ('pip install onnx==1.23.2 onnxruntime==1.32.0 (tools/install.sh installs both, '
                    'pinned in requirements/stack.txt)')


def onnxruntime_unavailable() -> str:
    """Why the ONNX Runtime level cannot run here ('' when it can)."""
    for name in ('onnx', 'onnxruntime'):
        try:
            __import__(name)
        except ImportError:
            return f'{name} is not installed: {ONNXRUNTIME_HINT}'
    return ''


def export_onnx(model: nn.Module, x: torch.Tensor, form: str = 'taps', opset: int = 17) -> bytes:
    """``model`` (eval mode) exported with the TorchScript exporter, IC convs in ``form``."""
    buffer = io.BytesIO()
    with export_form_as(form), torch.no_grad():
        torch.onnx.export(model, (x,), buffer, dynamo=False, opset_version=opset, input_names=['input'])
    return buffer.getvalue()


def ort_session(model_bytes: bytes, threads: int):
    """An ONNX Runtime CPU session with ``threads`` intra-op threads, all optimisations on."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_bytes, options, providers=['CPUExecutionProvider'])


def _conv_nodes(model_bytes: bytes) -> int:
    import onnx
    return sum(node.op_type == 'Conv' for node in onnx.load_from_string(model_bytes).graph.node)


def _ort_step(session, x: torch.Tensor) -> Callable[[], None]:
    feed = {'input': x.numpy()}
    return lambda: session.run(None, feed)


def _eager_step(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        with torch.no_grad():
            model(x)
    return step


def _largest_difference(session, model: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        want = model(x)
    got = session.run(None, {'input': x.numpy()})
    return max(float((torch.from_numpy(g) - w).abs().max()) for g, w in zip(got, want))


def _time_sessions(steps: Dict[str, Callable[[], None]], repeats: int,
                   pause: float = 0.2) -> Dict[str, float]:
    """Median seconds per case, round-robin, with a pause before each run: every session has its
    own thread pool, whose threads spin for a while after a run and would slow the next session
    (measured: the plain R50 at 224 took 56 ms right after another session, 22 ms alone)."""
    for step in steps.values():
        step()
    samples: Dict[str, List[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            time.sleep(pause)
            start = time.perf_counter()
            step()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def bench_onnxruntime(pattern_paths: Dict[str, Path], sizes: Sequence[int], batch: int,
                      forms: Sequence[str], repeats: int, threads: int) -> List[dict]:
    """Per pattern and size: exported plain R50 vs exported IC-R50 per form in ONNX Runtime,
    and plain vs IC-R50 (``auto``) in PyTorch eager, timed interleaved (medians)."""
    device = torch.device('cpu')
    plain = build_backbone(None, 'auto', device)
    plain.eval()
    results = []
    for key, path in pattern_paths.items():
        ic = build_backbone(path, 'auto', device)
        ic.eval()
        for size in sizes:
            x = torch.randn(batch, 3, size, size)
            plain_bytes = export_onnx(plain, x)
            steps = {'plain': _ort_step(ort_session(plain_bytes, threads), x)}
            convs = {'plain': _conv_nodes(plain_bytes)}
            error = {}
            for form in forms:
                ic_bytes = export_onnx(ic, x, form)
                session = ort_session(ic_bytes, threads)
                error[form] = _largest_difference(session, ic, x)
                convs[form] = _conv_nodes(ic_bytes)
                steps[form] = _ort_step(session, x)
            times = _time_sessions(steps, repeats)
            # PyTorch eager in its own interleaved rounds: its OpenMP threads and ONNX Runtime's
            # pool are not mixed within a round
            eager = {'eager:plain': _eager_step(plain, x), 'eager:auto': _eager_step(ic, x)}
            times.update(time_interleaved(eager, repeats, 1, device))
            cases = ratio_rows({n: t for n, t in times.items() if not n.startswith('eager')})
            cases['eager:plain'] = dict(ms=round(times['eager:plain'] * 1e3, 3), x_plain=1.0)
            cases['eager:auto'] = dict(ms=round(times['eager:auto'] * 1e3, 3),
                                       x_plain=round(times['eager:auto'] / times['eager:plain'], 3))
            row = dict(level='onnxruntime', pattern=key, size=size, batch=batch, mode='fwd',
                       threads=threads, conv_nodes=convs, max_abs_error=error, cases=cases)
            results.append(row)
            progress(row)
    return results


def onnxruntime_table(results: List[dict]) -> List[str]:
    """Markdown: IC-R50 / plain R50 in ONNX Runtime per export form, beside PyTorch eager."""
    rows = [r for r in results if r['level'] == 'onnxruntime']
    if not rows:
        return []
    forms = [n for n in rows[0]['cases'] if n != 'plain' and not n.startswith('eager')]
    lines = ['', '| ONNX Runtime: IC-R50 / plain R50 | size | Conv nodes plain / '
             + ' / '.join(forms) + ' | ' + ' | '.join(forms) + ' | PyTorch eager (auto) '
             '| max abs difference to PyTorch |',
             '|---' * (5 + len(forms)) + '|']
    for row in rows:
        cases, convs = row['cases'], row['conv_nodes']
        counts = ' / '.join(str(convs[n]) for n in ['plain'] + forms)
        cells = ' | '.join(f"{cases[n]['x_plain']:.2f}x" for n in forms)
        lines.append(f"| {row['pattern']} | {row['size']} | {counts} | {cells} | "
                     f"{cases['eager:auto']['x_plain']:.2f}x | "
                     f"{max(row['max_abs_error'].values()):.1e} |")
    return lines
