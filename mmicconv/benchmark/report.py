"""What the benchmark prints: the machine, the load, one line per result and the markdown tables."""

from __future__ import annotations

import os
from typing import List

from ..utils.cpu import cpu_model

__all__ = ['QUIET_LOAD', 'cpu_model', 'load_average', 'report_load', 'progress', 'markdown_summary']

#: Above this 1-minute load, timings are not results (shared load slows oneDNN's plain conv more
#: than the IC kernels and flatters the ratios).
QUIET_LOAD = 0.5


def load_average() -> float:
    """The 1-minute load average (0.0 where the OS does not report it)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


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


def progress(row: dict) -> None:
    """One line per timed result row (``layer`` or ``backbone``)."""
    what = row.get('layer', 'R50')
    cases = '  '.join(f"{n} {c['ms']:.1f}ms {c['x_plain']:.2f}x" for n, c in row['cases'].items())
    print(f"[{row['level']:8s}] {what:9s} {row['pattern']:3s} {row['size']:4d} {row['mode']:5s} | {cases}",
          flush=True)


def _case_names(rows: List[dict]) -> List[str]:
    """The timed cases but ``plain``, in order of first appearance (``loop``, ``tap``, ``auto``, ...)."""
    names: List[str] = []
    for row in rows:
        names += [n for n in row['cases'] if n != 'plain' and n not in names]
    return names


def _backbone_table(results: List[dict]) -> List[str]:
    rows = [r for r in results if r['level'] == 'backbone']
    if not rows:
        return []
    names = _case_names(rows)
    lines = ['| backbone: IC-R50 / plain R50 | size | mode | ' + ' | '.join(names) + ' | auto vs loop |',
             '|---' * (len(names) + 4) + '|']
    for row in rows:
        cases = row['cases']
        cells = [f"{cases[n]['x_plain']:.2f}x" if n in cases else '-' for n in names]
        faster = (f"{cases['loop']['ms'] / cases['auto']['ms']:.2f}x faster"
                  if 'loop' in cases and 'auto' in cases else '-')
        lines.append(f"| {row['pattern']} | {row['size']} | {row['mode']} | " + ' | '.join(cells)
                     + f' | {faster} |')
    return lines


def _layer_table(results: List[dict]) -> List[str]:
    layer_rows = [r for r in results if r['level'] == 'layer']
    if not layer_rows:
        return []
    shapes = len({r['layer'] for r in layer_rows})
    names = _case_names(layer_rows)
    lines = ['', f'| per layer ({shapes} conv2 shapes of R50): min-max of x plain conv | size | mode | '
             + ' | '.join(names) + ' |', '|---' * (len(names) + 3) + '|']
    keys = sorted({(r['pattern'], r['size'], r['mode']) for r in layer_rows},
                  key=lambda k: (int(k[0][1:]), k[1], k[2] != 'fwd'))
    for key in keys:
        rows = [r for r in layer_rows if (r['pattern'], r['size'], r['mode']) == key]
        cells = []
        for name in names:
            values = [r['cases'][name]['x_plain'] for r in rows if name in r['cases']]
            cells.append(f'{min(values):.2f}-{max(values):.2f}x' if values else '-')
        lines.append(f'| {key[0]} | {key[1]} | {key[2]} | ' + ' | '.join(cells) + ' |')
    return lines


def _memory_lines(results: List[dict]) -> List[str]:
    lines = []
    for row in (r for r in results if r['level'] == 'memory'):
        lines.append('')
        lines.append(f"Peak memory of one training step, {row['pattern']} at {row['size']}, batch "
                     f"{row['batch']}: " + ', '.join(f"{n} {c['step_peak_mb']:.0f} MB ({c['x_plain']:.2f}x)"
                                                      for n, c in row['cases'].items()))
    return lines


def markdown_summary(results: List[dict]) -> str:
    """The README tables: backbone ratios, per-layer ranges and memory, as markdown."""
    from .onnxrt import onnxruntime_table
    return '\n'.join(_backbone_table(results) + _layer_table(results) + _memory_lines(results)
                     + onnxruntime_table(results))
