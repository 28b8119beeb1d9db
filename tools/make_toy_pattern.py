#!/usr/bin/env python
"""Write the project's own toy IC-ResNet pattern (not a published one).

The toy configs (``configs/toy/``) must run offline, where the paper's
searched patterns may be absent, so they use a fixed, hand-made pattern:
in every IC conv, half of the output channels keep dilation (1, 1), a quarter
use (2, 2), and an eighth each use (1, 2) and (2, 1) (height, width). This
mixes the four kinds of groups an IC conv has (plain, isotropic, and both
anisotropic ones) with dilations small enough for 128-200 px inputs. It was
NOT searched and carries no accuracy claim.

Example::

    python tools/make_toy_pattern.py                 # pattern_zoo/toy/ic_resnet50_toy.json
    python tools/make_toy_pattern.py --depth 101 --out /tmp/ic_resnet101_toy.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from mmicconv.pattern import Pattern

STAGE_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
STAGE_CHANNELS = (64, 128, 256, 512)
REPO = Path(__file__).resolve().parents[1]


def toy_entry(channels: int) -> Dict[str, int]:
    """One conv's entry: 1/2 dilation (1,1), 1/4 (2,2), 1/8 (1,2), 1/8 (2,1)."""
    half, eighth = channels // 2, channels // 8
    return {'(0, 0)': half, '(0, 1)': eighth, '(1, 0)': eighth, '(1, 1)': channels - half - 2 * eighth}


def toy_pattern(depth: int) -> List[Dict[str, int]]:
    """The toy pattern of a Bottleneck IC-ResNet of ``depth``, in network order."""
    return [toy_entry(c) for c, n in zip(STAGE_CHANNELS, STAGE_BLOCKS[depth]) for _ in range(n)]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description='Write the project-made toy IC-ResNet pattern.')
    parser.add_argument('--depth', type=int, choices=sorted(STAGE_BLOCKS), default=50,
                        help='ResNet depth (default: 50)')
    parser.add_argument('--out', default=None,
                        help='output file (default: pattern_zoo/toy/ic_resnet<depth>_toy.json)')
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else REPO / 'pattern_zoo' / 'toy' / f'ic_resnet{args.depth}_toy.json'
    out.parent.mkdir(parents=True, exist_ok=True)
    pattern = Pattern.from_list(toy_pattern(args.depth), source='toy')
    pattern.dump(out)
    print(f'wrote {out} ({len(pattern)} IC convs)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
