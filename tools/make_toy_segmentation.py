#!/usr/bin/env python
"""Turn the toy COCO into a toy semantic-segmentation dataset, offline and deterministically.

Every image of ``--coco`` (written by ``tools/make_toy_coco.py``) gets a label
map: 0 for background and ``1 + k`` for the pixels of the ``k``-th COCO category
(``person`` 1, ``rectangle`` 2, ``ellipse`` 3, ``triangle`` 4), rasterised from
the instance polygons with pycocotools. The toy COCO's polygons outline visible
pixels, so masks rarely overlap; a person's is the convex hull of its visible
pixels and may cover a neighbour: where masks overlap, the smaller object is
drawn last. A crowd (``iscrowd: 1``, a cluster of tiny shapes of one class) is
labelled with its class like any object. Nothing is random: the same toy COCO gives byte-identical
files.

Layout written under ``--out`` (default ``data/toy_seg``), MMSegmentation's
``BaseSegDataset`` format (``img_suffix='.jpg'``, ``seg_map_suffix='.png'``)::

    img_dir/{train,val}/<image>.jpg     # the toy COCO images, copied
    ann_dir/{train,val}/<image>.png     # uint8 label maps

Example::

    python tools/make_toy_coco.py --out data/toy_coco
    python tools/make_toy_segmentation.py --coco data/toy_coco --out data/toy_seg

Errors (a missing toy COCO, an unwritable ``--out``) end with one
``ERROR: <file>: <problem>`` line and exit status 1; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, Optional, Sequence

import cv2
import numpy as np
from make_toy_coco import read_instances

from mmicconv.utils.cli import ToolError, add_debug_arg, run_cli

SPLITS = ('train', 'val')
#: The class names of the label maps, index = label value.
CLASSES = ('background', 'person', 'rectangle', 'ellipse', 'triangle')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Turn the toy COCO into a toy semantic-segmentation set.')
    parser.add_argument('--coco', default='data/toy_coco', help='the toy COCO (default: data/toy_coco)')
    parser.add_argument('--out', default='data/toy_seg', help='output folder (default: data/toy_seg)')
    parser.add_argument('--quiet', action='store_true', help='no summary lines')
    add_debug_arg(parser)
    return parser.parse_args(argv)


def label_map(height: int, width: int, annotations: Sequence[dict], labels: Dict[int, int]) -> np.ndarray:
    """The ``uint8`` label map of one image: objects drawn largest first."""
    from pycocotools import mask as mask_utils
    out = np.zeros((height, width), np.uint8)
    for ann in sorted(annotations, key=lambda a: (-a['area'], a['id'])):
        segm = ann['segmentation']
        rles = mask_utils.frPyObjects(segm, height, width) if isinstance(segm, list) else [segm]
        mask = mask_utils.decode(mask_utils.merge(rles) if isinstance(rles, list) else rles).astype(bool)
        out[mask] = labels[ann['category_id']]
    return out


def write_split(coco: Path, out: Path, split: str) -> Counter:
    """Write one split; returns the pixel count per class."""
    data = read_instances(coco, split)
    ann_file = coco / 'annotations' / f'instances_{split}.json'
    names = [c['name'] for c in sorted(data['categories'], key=lambda c: c['id'])]
    if tuple(['background'] + names) != CLASSES:
        raise ToolError(f'{ann_file}: categories {names}, expected the toy COCO ones {list(CLASSES[1:])}')
    labels = {c['id']: 1 + names.index(c['name']) for c in data['categories']}
    by_image: Dict[int, list] = {}
    for ann in data['annotations']:  # crowds too: their polygons outline real pixels of the class
        by_image.setdefault(ann['image_id'], []).append(ann)
    img_dir, ann_dir = out / 'img_dir' / split, out / 'ann_dir' / split
    img_dir.mkdir(parents=True, exist_ok=True)
    ann_dir.mkdir(parents=True, exist_ok=True)
    pixels: Counter = Counter()
    for image in sorted(data['images'], key=lambda im: im['id']):
        source = coco / split / image['file_name']
        if not source.is_file():
            raise ToolError(f'{source}: not found')
        shutil.copyfile(source, img_dir / image['file_name'])
        labels_map = label_map(image['height'], image['width'], by_image.get(image['id'], []), labels)
        cv2.imwrite(str(ann_dir / (Path(image['file_name']).stem + '.png')), labels_map)
        values, counts = np.unique(labels_map, return_counts=True)
        pixels.update({CLASSES[v]: int(c) for v, c in zip(values, counts)})
    return pixels


def write_dataset(args: argparse.Namespace) -> int:
    coco, out = Path(args.coco), Path(args.out)
    for split in SPLITS:
        pixels = write_split(coco, out, split)
        if not args.quiet:
            total = sum(pixels.values())
            share = ', '.join(f'{name} {pixels[name] / total:.1%}' for name in CLASSES)
            print(f'[toy_seg] {split}: pixels {share}', flush=True)
    if not args.quiet:
        print(f'[toy_seg] wrote {out}', flush=True)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: write_dataset(args), args.debug, files=[args.coco, args.out])


if __name__ == '__main__':
    sys.exit(main())
