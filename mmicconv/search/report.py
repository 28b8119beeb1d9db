"""Human-readable outputs of a search: the per-layer table and a fallback plot."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .export import pattern_histogram
from .selection import LayerErrors

__all__ = ['layer_rows', 'markdown_table', 'plot_histograms']


def layer_rows(layers: Sequence[LayerErrors], method: str) -> List[Dict[str, object]]:
    """One row of numbers per searched conv (errors relative to the mean |supernet output|)."""
    rows = []
    for layer in layers:
        dil = layer.dilations(method)
        scale = float(layer.output_l1.mean()) or 1.0
        row: Dict[str, object] = {
            'layer': layer.name,
            'channels': len(dil),
            'share_1x1': sum(1 for d in dil if d == (1, 1)) / len(dil),
            'mean_dh': sum(d[0] for d in dil) / len(dil),
            'mean_dw': sum(d[1] for d in dil) / len(dil),
            'top': ' '.join(f'{h}x{w}:{n}' for (h, w), n in pattern_histogram(dil)[:3]),
        }
        if 'exact' in layer.errors:
            exact = layer.errors['exact']
            chosen = exact.gather(1, layer.choice(method)[:, None])
            row['rel_err_chosen'] = float(chosen.mean()) / scale
            row['rel_err_1x1'] = float(exact[:, 0].mean()) / scale
        if 'exact' in layer.errors and 'stat' in layer.errors:
            row['stat_agreement'] = float((layer.choice('stat') == layer.choice('exact')).float().mean())
        rows.append(row)
    return rows


def markdown_table(rows: Sequence[Dict[str, object]]) -> str:
    """The rows as a markdown table (floats with 3 decimals)."""
    if not rows:
        return ''
    keys = list(rows[0])
    lines = ['| ' + ' | '.join(keys) + ' |', '|' + '---|' * len(keys)]
    for row in rows:
        cells = [f'{row.get(k):.3f}' if isinstance(row.get(k), float) else str(row.get(k, '')) for k in keys]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def plot_histograms(layers: Sequence[LayerErrors], method: str, out: Path,
                    title: Optional[str] = None) -> Path:
    """A heat map: one row per searched conv, one column per candidate dilation, the share of
    output channels that chose it."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    cands = layers[0].candidates
    share = np.zeros((len(layers), len(cands)))
    for i, layer in enumerate(layers):
        for c in layer.choice(method).tolist():
            share[i, c] += 1
        share[i] /= share[i].sum()
    fig, ax = plt.subplots(figsize=(0.45 * len(cands) + 3, 0.3 * len(layers) + 1.5))
    image = ax.imshow(share, cmap='viridis', vmin=0, vmax=1, aspect='auto')
    ax.set_xticks(range(len(cands)), [f'{h},{w}' for h, w in cands], rotation=90, fontsize=7)
    ax.set_yticks(range(len(layers)), [layer.name for layer in layers], fontsize=7)
    ax.set_xlabel('dilation (h, w)')
    ax.set_title(title or f'share of output channels per dilation ({method})', fontsize=9)
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
