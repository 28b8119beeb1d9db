#!/usr/bin/env python
"""Cut a toy image-classification dataset out of the toy COCO, offline and deterministically.

Every non-crowd object of ``--coco`` (written by ``tools/make_toy_coco.py``)
whose box is at least ``--min-side`` pixels on its longer side becomes one
image: a square crop centred on its box, ``--margin`` of the box's longer side
added around it (filled with the image's border pixels where it leaves the
image), resized to ``--size`` x ``--size``. The class is the object's COCO
category (``person``, ``rectangle``, ``ellipse``, ``triangle``); other
objects that overlap the crop stay in it, as in real crops. Nothing is random:
the same toy COCO gives byte-identical files.

Layout written under ``--out`` (default ``data/toy_cls``), MMPretrain's
``CustomDataset`` sub-folder format (classes are the sorted folder names)::

    train/<class>/<annotation id>.png      # from the toy COCO train split
    val/<class>/<annotation id>.png        # from its val split

Example::

    python tools/make_toy_coco.py --out data/toy_coco
    python tools/make_toy_classification.py --coco data/toy_coco --out data/toy_cls

Errors (a missing toy COCO, an unwritable ``--out``) end with one
``ERROR: <file>: <problem>`` line and exit status 1; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, Optional, Sequence

import cv2
import numpy as np
from make_toy_coco import read_instances

from mmicconv.utils.cli import ToolError, add_debug_arg, run_cli

SPLITS = ('train', 'val')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Cut the toy classification dataset out of the toy COCO.')
    parser.add_argument('--coco', default='data/toy_coco', help='the toy COCO (default: data/toy_coco)')
    parser.add_argument('--out', default='data/toy_cls', help='output folder (default: data/toy_cls)')
    parser.add_argument('--size', type=int, default=64, help='side of every crop in pixels (default: 64)')
    parser.add_argument('--margin', type=float, default=0.15,
                        help="context around the box, as a fraction of its longer side (default: 0.15)")
    parser.add_argument('--min-side', type=int, default=12,
                        help='skip objects whose box is shorter than this on its longer side (default: 12)')
    parser.add_argument('--quiet', action='store_true', help='no summary lines')
    add_debug_arg(parser)
    args = parser.parse_args(argv)
    if args.size < 16:
        parser.error('--size must be at least 16')
    if args.margin < 0:
        parser.error('--margin must be >= 0')
    return args


def crop_object(image: np.ndarray, bbox: Sequence[float], margin: float, size: int) -> np.ndarray:
    """The square ``size`` x ``size`` crop around ``bbox`` (``[x, y, w, h]``) with ``margin``."""
    x, y, w, h = bbox
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    side_px = max(1, int(round(side)))
    pad = side_px
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    crop = padded[y0 + pad:y0 + pad + side_px, x0 + pad:x0 + pad + side_px]
    interpolation = cv2.INTER_AREA if side_px > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interpolation)


def write_split(coco: Path, out: Path, split: str, args: argparse.Namespace) -> Dict[str, int]:
    """Write one split's crops; returns the count per class."""
    data = read_instances(coco, split)
    names = {c['id']: c['name'] for c in data['categories']}
    files = {im['id']: coco / split / im['file_name'] for im in data['images']}
    by_image: Dict[int, list] = {}
    for ann in data['annotations']:
        if not ann.get('iscrowd') and max(ann['bbox'][2:]) >= args.min_side:
            by_image.setdefault(ann['image_id'], []).append(ann)
    counts: Counter = Counter()
    for image_id in sorted(by_image):
        image = cv2.imread(str(files[image_id]), cv2.IMREAD_COLOR)
        if image is None:
            raise ToolError(f'{files[image_id]}: cannot be read as an image')
        for ann in sorted(by_image[image_id], key=lambda a: a['id']):
            name = names[ann['category_id']]
            folder = out / split / name
            folder.mkdir(parents=True, exist_ok=True)
            crop = crop_object(image, ann['bbox'], args.margin, args.size)
            cv2.imwrite(str(folder / f'{ann["id"]:07d}.png'), crop)
            counts[name] += 1
    return dict(sorted(counts.items()))


def write_dataset(args: argparse.Namespace) -> int:
    coco, out = Path(args.coco), Path(args.out)
    for split in SPLITS:
        counts = write_split(coco, out, split, args)
        if not args.quiet:
            print(f'[toy_cls] {split}: {sum(counts.values())} crops of {args.size}x{args.size} '
                  f'({", ".join(f"{k} {v}" for k, v in counts.items())})', flush=True)
    if not args.quiet:
        print(f'[toy_cls] wrote {out}', flush=True)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: write_dataset(args), args.debug, files=[args.coco, args.out])


if __name__ == '__main__':
    sys.exit(main())
