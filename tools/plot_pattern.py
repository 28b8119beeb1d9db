#!/usr/bin/env python
"""Draw an IC-Conv pattern: which dilations each layer chose, and its receptive field.

Example::

    python tools/plot_pattern.py detection/ic_resnet50_k9.json --out ic_r50_k9.png
    python tools/plot_pattern.py work_dirs/toy/epoch_4.pth --out toy.png   # a checkpoint's record

``PATTERN`` is a pattern file (a path, or relative to ``pattern_zoo/``) or a
checkpoint that carries the pattern record (``meta['ic_pattern']``, written by
``tools/train.py`` and ``tools/convert_checkpoint.py``).

The picture has two parts:

* a grid of heatmaps, one per IC conv (``layer1.0.conv2``, ...): cell
  ``(h, w)`` is the share of that conv's output channels with dilation ``h``
  along the height and ``w`` along the width (in percent, darker = more);
* the receptive field per layer, in input pixels, along the height and the
  width: the theoretical receptive field of the ResNet main path at the output
  of each IC conv (stem 7x7/2, max-pool 3x3/2, each 3x3 conv spanning
  ``2 * dilation + 1`` pixels), once with each conv's largest dilation (the
  reach of the widest channels) and once with its channel-weighted mean
  dilation ("effective"). The ResNet layout (the stage table of
  :mod:`mmicconv.models.arch`: Bottleneck blocks 3-4-6-3, 3-4-23-3, 3-8-36-3,
  BasicBlock 2-2-2-2, 3-4-6-3) is inferred from the number of entries (16, 33,
  50 Bottleneck; 16, 32 BasicBlock when the checkpoint record names ``conv1``)
  or given with ``--depth``.

Errors (a missing or malformed pattern, a checkpoint without a record, an
unwritable output) end with one ``ERROR: <file>: <problem>`` line and exit
status 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from mmicconv.models.arch import ARCHS, archs_for_entries
from mmicconv.pattern import Pattern
from mmicconv.utils.cli import ToolError, add_debug_arg, require_file, run_cli


@dataclass(frozen=True)
class LayerStats:
    """What is drawn for one IC conv."""

    name: str
    shares: Dict[Tuple[int, int], float]  #: (dilation_h, dilation_w) -> share of output channels
    max_dilation: Tuple[int, int]
    mean_dilation: Tuple[float, float]


def layer_names(count: int, depth: Optional[int]) -> List[str]:
    """``layer{i}.{j}.conv2`` (Bottleneck) / ``conv1``+``conv2`` (BasicBlock) names, or ``entry k``."""
    if depth is None:
        return [f'entry {k}' for k in range(count)]
    names = ARCHS[depth].ic_conv_names()
    if len(names) != count:
        raise ToolError(f'ResNet-{depth} has {len(names)} IC convs, the pattern has {count} entries')
    return names


def layer_stats(pattern: Pattern, names: Sequence[str]) -> List[LayerStats]:
    """Per conv: share of channels per dilation, largest and channel-weighted mean dilation."""
    out = []
    for name, conv in zip(names, pattern):
        total = conv.total
        shares = {g.dilation: g.channels / total for g in conv.groups}
        mean = (sum(g.dilation_h * g.channels for g in conv.groups) / total,
                sum(g.dilation_w * g.channels for g in conv.groups) / total)
        out.append(LayerStats(name, shares, conv.max_dilation, mean))
    return out


def receptive_fields(dilations: Sequence[Tuple[float, float]], depth: int) -> List[Tuple[float, float]]:
    """Receptive field (height, width) in input pixels at the output of each IC conv.

    The ResNet main path: stem 7x7 stride 2, max-pool 3x3 stride 2, then per
    block (stride 2 in the first block of stages 2-4, on the 3x3 conv as in
    mmdet's and torchvision's pytorch style) Bottleneck ``1x1, 3x3, 1x1`` or
    BasicBlock ``3x3, 3x3``. A 3x3 conv with dilation ``d`` spans ``2d + 1``
    pixels, so it widens the field by ``2d`` times the stride accumulated
    before it. ``dilations`` holds the IC convs' (height, width) dilations in
    network order.
    """
    arch = ARCHS[depth]
    field = [7.0, 7.0]  # stem conv
    jump = 2.0
    field = [f + 2 * jump for f in field]  # max-pool 3x3
    jump *= 2
    out = []
    dilation_iter = iter(dilations)
    for stage, count in enumerate(arch.stage_blocks):
        for block in range(count):
            stride = 2 if stage > 0 and block == 0 else 1
            for index in range(arch.convs_per_block):
                dh, dw = next(dilation_iter)
                field = [field[0] + 2 * dh * jump, field[1] + 2 * dw * jump]
                if index == 0:
                    jump *= stride
                out.append((field[0], field[1]))
    return out


def infer_depth(count: int, names: Optional[Sequence[str]] = None) -> Optional[int]:
    """The ResNet depth of a pattern with ``count`` entries (BasicBlock when ``names`` has ``conv1``)."""
    basic = bool(names) and any(name.endswith('.conv1') for name in names)
    archs = archs_for_entries(count, 'basic' if basic else 'bottleneck')
    return archs[0].depth if archs else None


def load_pattern(source: str) -> Tuple[Pattern, Optional[List[str]]]:
    """A pattern file, or the pattern record of a checkpoint (``.pth``/``.pt``/``.tar``).

    Returns:
        The pattern and, for a checkpoint, its IC conv names (backbone-relative).
    """
    from mmicconv.models import pattern_search_dirs

    if source.endswith(('.pth', '.pt', '.tar', '.ckpt')):
        return _pattern_from_checkpoint(source)
    return Pattern.load(source, search_dirs=pattern_search_dirs()), None


def _pattern_from_checkpoint(source: str) -> Tuple[Pattern, Optional[List[str]]]:
    import torch

    import mmicconv  # noqa: F401  (allows mmengine's checkpoint contents under weights_only)
    from mmicconv.checkpoint.record import RECORD_KEY

    require_file(source, 'checkpoint')
    checkpoint = torch.load(source, map_location='cpu', weights_only=True)
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    record = meta.get(RECORD_KEY) if isinstance(meta, dict) else None
    patterns = record.get('patterns') if isinstance(record, dict) else None
    if not patterns:
        raise ToolError(f'{source}: the checkpoint carries no IC pattern record (meta[{RECORD_KEY!r}])')
    entry = patterns[0]
    pattern = Pattern.from_list(entry['pattern'], source=f'{source} ({entry.get("source")})')
    module = str(entry.get('module') or '')
    prefix = f'{module}.' if module else ''
    names = [name[len(prefix):] for name in record.get('layers', {}) if name.startswith(prefix)]
    return pattern, names if len(names) == len(pattern) else None


def plot(pattern: Pattern, out: Path, depth: Optional[int], size: Optional[Tuple[int, int]],
         dpi: int = 100, title: Optional[str] = None,
         names: Optional[Sequence[str]] = None) -> Tuple[int, int]:
    """Draw ``pattern`` into ``out`` (PNG); returns its (width, height) in pixels.

    Args:
        pattern: The pattern.
        out: The PNG path.
        depth: ResNet depth for the layout (None: kernel spans only).
        size: (width, height) in pixels; None picks one from the layer count.
        dpi: Dots per inch (font sizes are in points).
        title: The figure title (default: the pattern source).
        names: The IC conv names (default: from ``depth``).
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(names) if names else layer_names(len(pattern), depth)
    stats = layer_stats(pattern, names)
    heights = sorted({d[0] for s in stats for d in s.shares} | {1})
    widths = sorted({d[1] for s in stats for d in s.shares} | {1})
    max_h, max_w = max(heights), max(widths)
    # colour scale up to the largest share (rounded up to 10 %), so small shares stay visible
    top = min(100.0, 10 * math.ceil(10 * max(max(s.shares.values()) for s in stats)))
    cols = min(8, len(stats))
    rows = math.ceil(len(stats) / cols)
    if size is None:
        size = (max(640, 150 * cols), int(150 * rows + 380))
    fig = plt.figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    grid = fig.add_gridspec(rows + 1, cols, height_ratios=[1] * rows + [max(1.2, rows * 0.8)],
                            hspace=0.6, wspace=0.3)
    image = None
    for index, stat in enumerate(stats):
        ax = fig.add_subplot(grid[index // cols, index % cols])
        cells = np.zeros((max_h, max_w))
        for (dh, dw), share in stat.shares.items():
            cells[dh - 1, dw - 1] = share
        image = ax.imshow(cells * 100, cmap='viridis', vmin=0, vmax=top, origin='upper')
        ax.set_title(stat.name, fontsize=7)
        ax.set_xticks(range(max_w), [str(w) for w in range(1, max_w + 1)], fontsize=6)
        ax.set_yticks(range(max_h), [str(h) for h in range(1, max_h + 1)], fontsize=6)
        if index % cols == 0:
            ax.set_ylabel('dilation h', fontsize=6)
        if index // cols == rows - 1 or index + cols >= len(stats):
            ax.set_xlabel('dilation w', fontsize=6)
    if image is not None:
        bar = fig.colorbar(image, ax=fig.axes, fraction=0.02, pad=0.01)
        bar.set_label('% of output channels', fontsize=7)
        bar.ax.tick_params(labelsize=6)

    ax = fig.add_subplot(grid[rows, :])
    x = np.arange(len(stats))
    if depth is not None:
        widest = receptive_fields([s.max_dilation for s in stats], depth)
        effective = receptive_fields([s.mean_dilation for s in stats], depth)
        plain = receptive_fields([(1, 1)] * len(stats), depth)
        ax.plot(x, [f[0] for f in widest], 'o-', color='tab:red', label='height, largest dilation')
        ax.plot(x, [f[1] for f in widest], 's-', color='tab:orange', label='width, largest dilation')
        ax.plot(x, [f[0] for f in effective], 'o--', color='tab:blue', label='height, mean dilation')
        ax.plot(x, [f[1] for f in effective], 's--', color='tab:cyan', label='width, mean dilation')
        ax.plot(x, [f[0] for f in plain], ':', color='gray', label='plain ResNet (dilation 1)')
        ax.set_ylabel('receptive field (px)', fontsize=8)
    else:
        spans = [(2 * s.max_dilation[0] + 1, 2 * s.max_dilation[1] + 1,
                  2 * s.mean_dilation[0] + 1, 2 * s.mean_dilation[1] + 1) for s in stats]
        styles = [('o-', 'tab:red', 'height, largest'), ('s-', 'tab:orange', 'width, largest'),
                  ('o--', 'tab:blue', 'height, mean'), ('s--', 'tab:cyan', 'width, mean')]
        for index, (style, color, label) in enumerate(styles):
            ax.plot(x, [span[index] for span in spans], style, color=color, label=label)
        ax.set_ylabel('3x3 kernel span (px)', fontsize=8)
    ax.set_xticks(x, [s.name for s in stats], rotation=60, ha='right', fontsize=6)
    ax.tick_params(axis='y', labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=3)
    fig.suptitle(title or f'IC pattern {pattern.source} ({len(pattern)} IC convs)', fontsize=9)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, format='png')
    plt.close(fig)
    return size


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('pattern', help='pattern file (path or pattern_zoo-relative), or a checkpoint '
                                        'with a pattern record')
    parser.add_argument('--out', required=True, help='PNG file to write')
    parser.add_argument('--depth', type=int, choices=sorted(ARCHS),
                        help='ResNet depth for layer names and receptive fields (default: from the '
                             'number of entries, 16 -> 50, 33 -> 101, 50 -> 152)')
    parser.add_argument('--size', type=int, nargs=2, metavar=('WIDTH', 'HEIGHT'),
                        help='picture size in pixels (default: from the number of layers)')
    parser.add_argument('--dpi', type=int, default=100, help='dots per inch (default 100)')
    parser.add_argument('--title', help='figure title (default: the pattern source)')
    add_debug_arg(parser)
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    if not args.out.lower().endswith('.png'):
        raise ToolError(f'{args.out}: --out must be a .png file')
    pattern, names = load_pattern(args.pattern)
    depth = args.depth or infer_depth(len(pattern), names)
    if depth is not None and names is None:
        try:
            names = layer_names(len(pattern), depth)
        except ToolError as err:
            raise ToolError(f'{pattern.source}: {err}') from err
    try:
        size = plot(pattern, Path(args.out), depth, tuple(args.size) if args.size else None, args.dpi,
                    args.title, names)
    except OSError as err:  # an unwritable --out
        raise ToolError(f'{err.filename or args.out}: {err.strerror or err}') from err
    print(f'wrote {args.out} ({size[0]}x{size[1]} px, {len(pattern)} IC convs'
          f'{f", ResNet-{depth} layout" if depth else ", layout unknown: kernel spans only"})')
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: run(args), args.debug, files=[args.pattern, args.out])


if __name__ == '__main__':
    sys.exit(main())
