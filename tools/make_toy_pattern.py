#!/usr/bin/env python
"""Write the project's own toy IC-ResNet pattern (not a published one).

The toy configs (``configs/toy/``) must run offline, where the paper's
searched patterns may be absent, so they use a fixed, hand-made pattern:
in every IC conv, half of the output channels keep dilation (1, 1), a quarter
use (2, 2), and an eighth each use (1, 2) and (2, 1) (height, width). This
mixes the four kinds of groups an IC conv has (plain, isotropic, and both
anisotropic ones) with dilations small enough for 128-200 px inputs. It was
NOT searched and carries no accuracy claim.

Any depth of the stage table (:mod:`mmicconv.models.arch`) can be written:
one entry per IC conv (Bottleneck ``conv2``; BasicBlock ``conv1`` and
``conv2``), summing to that conv's output channels.

Example::

    python tools/make_toy_pattern.py                 # pattern_zoo/toy/ic_resnet50_toy.json
    python tools/make_toy_pattern.py --depth 101 --out /tmp/ic_resnet101_toy.json
    python tools/make_toy_pattern.py --base-channels 16  # pattern_zoo/toy/ic_resnet50-w16_toy.json

Errors (an unwritable output) end with one ``ERROR: <file>: <problem>`` line
and exit status 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from mmicconv.models.arch import ARCHS
from mmicconv.pattern import Pattern
from mmicconv.utils.cli import add_debug_arg, run_cli

REPO = Path(__file__).resolve().parents[1]


def toy_entry(channels: int) -> Dict[str, int]:
    """One conv's entry: 1/2 dilation (1,1), 1/4 (2,2), 1/8 (1,2), 1/8 (2,1)."""
    half, eighth = channels // 2, channels // 8
    return {'(0, 0)': half, '(0, 1)': eighth, '(1, 0)': eighth, '(1, 1)': channels - half - 2 * eighth}


def toy_pattern(depth: int, base_channels: int = 64) -> List[Dict[str, int]]:
    """The toy pattern of an IC-ResNet of ``depth`` (a key of ``ARCHS``) and ``base_channels``
    (the first stage's width; 64 in a standard ResNet), in network order."""
    return [toy_entry(channels * base_channels // 64) for channels in ARCHS[depth].ic_conv_channels()]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description='Write the project-made toy IC-ResNet pattern.')
    parser.add_argument('--depth', type=int, choices=sorted(ARCHS), default=50,
                        help='ResNet depth (default: 50)')
    parser.add_argument('--base-channels', type=int, default=64,
                        help='width of the first stage (the backbone\'s base_channels; default 64); '
                             'a multiple of 8')
    parser.add_argument('--out', default=None,
                        help='output file (default: pattern_zoo/toy/ic_resnet<depth>_toy.json, '
                             'ic_resnet<depth>-w<base>_toy.json for a base other than 64)')
    add_debug_arg(parser)
    args = parser.parse_args(argv)
    if args.base_channels < 8 or args.base_channels % 8:
        parser.error('--base-channels must be a positive multiple of 8')
    width = '' if args.base_channels == 64 else f'-w{args.base_channels}'
    out = (Path(args.out) if args.out
           else REPO / 'pattern_zoo' / 'toy' / f'ic_resnet{args.depth}{width}_toy.json')
    return run_cli(lambda: write(toy_pattern(args.depth, args.base_channels), out), args.debug, files=[out])


def write(entries: List[Dict[str, int]], out: Path) -> int:
    """Validate ``entries`` and write them to ``out`` (its folder is created)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    pattern = Pattern.from_list(entries, source='toy')
    pattern.dump(out)
    print(f'wrote {out} ({len(pattern)} IC convs)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
