#!/usr/bin/env python
"""Generate a small, deterministic COCO-format dataset ("toy COCO"), offline.

Every image shows a textured background with a few coloured shapes and
several person-like stick figures, drawn in a random depth order so that
objects overlap. Everything is derived from ``--seed`` (image ``i`` of a split
depends only on the seed, the split and ``i``), so two runs with the same
arguments write byte-identical annotation files and images.

Layout written under ``--out`` (default ``data/toy_coco``)::

    train/000000000001.jpg ...              # --train-images JPEGs (ids 1..N)
    val/000000100001.jpg ...                # --val-images JPEGs (ids 100001..)
    annotations/instances_train.json        # detection / instance segmentation
    annotations/instances_val.json
    annotations/person_keypoints_train.json # 17 COCO keypoints per person
    annotations/person_keypoints_val.json

Images are ``--size`` pixels (default 160) along each side, give or take up to
20 % (width and height vary per image). Image ``file_name`` entries are
relative to the split folder (use ``data_prefix=dict(img='train/')``).

``instances_*.json`` (COCO "instances" format):

* ``categories``: ``person`` (id 1), ``rectangle`` (id 2, red, any aspect and
  rotation), ``ellipse`` (id 3, green), ``triangle`` (id 4, blue).
* ``annotations``: ``id``, ``image_id``, ``category_id``, ``bbox``
  ``[x, y, w, h]`` (tight box of the visible pixels), ``segmentation`` (list
  of polygons ``[x1, y1, x2, y2, ...]`` outlining the visible pixels, so
  occluded parts are cut out), ``area`` (pixel area of those polygons as the
  COCO tools rasterise them), ``iscrowd``. About one image
  in six holds a crowd: a cluster of tiny shapes of one class annotated as one
  region with ``iscrowd: 1``. Every object keeps at least 40 % of its pixels
  visible.

``person_keypoints_*.json`` (COCO "person_keypoints" format): the same images;
one ``person`` category with the 17 COCO ``keypoints`` names in COCO order
(nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles; left = the
person's left, i.e. the image's right for these front-facing figures) and the
COCO ``skeleton``. Each person annotation has the same ``id``, ``bbox`` and
``segmentation`` as in ``instances_*.json``; its ``area`` is that of the
convex hull of the figure's visible pixels (what a COCO person's segmentation
area would be for a solid body: the keypoint metric's OKS scales its
tolerance with it, and the thin stick itself, about a fifth of its box, made
OKS far stricter than for real people). Plus ``keypoints``
(17 x ``[x, y, v]``: ``v=2`` visible, ``v=1`` inside the image but covered by
an object drawn in front, ``v=0`` outside the image, then ``x=y=0``) and
``num_keypoints`` (count of ``v > 0``). Figures are 30-75 % of the image
height, can be cut by the image border, and 1-4 appear per image.

Example::

    python tools/make_toy_coco.py                       # data/toy_coco, seed 0
    python tools/make_toy_coco.py --out /tmp/toy --train-images 32 --val-images 8 --seed 3

Errors (an unwritable ``--out``) end with one ``ERROR: <file>: <problem>`` line
and exit status 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from mmicconv.utils.cli import ToolError, add_debug_arg, run_cli

SHAPE_CLASSES: Tuple[str, ...] = ('rectangle', 'ellipse', 'triangle')
CATEGORIES: List[dict] = [
    {'id': 1, 'name': 'person', 'supercategory': 'person'},
    {'id': 2, 'name': 'rectangle', 'supercategory': 'shape'},
    {'id': 3, 'name': 'ellipse', 'supercategory': 'shape'},
    {'id': 4, 'name': 'triangle', 'supercategory': 'shape'},
]
CATEGORY_ID: Dict[str, int] = {c['name']: c['id'] for c in CATEGORIES}
KEYPOINT_NAMES: Tuple[str, ...] = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
    'left_wrist', 'right_wrist', 'left_hip', 'right_hip',
    'left_knee', 'right_knee', 'left_ankle', 'right_ankle')
# COCO's skeleton (1-based keypoint indices), the standard limb list
SKELETON: List[List[int]] = [
    [16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7],
    [6, 8], [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
# base BGR colour per shape class; each object jitters it
SHAPE_COLOURS: Dict[str, Tuple[int, int, int]] = {
    'rectangle': (50, 50, 210), 'ellipse': (60, 190, 60), 'triangle': (210, 90, 40)}
SPLIT_ID_BASE: Dict[str, int] = {'train': 0, 'val': 100000}
MIN_VISIBLE_FRACTION = 0.4
MIN_VISIBLE_PIXELS = 12


@dataclass
class ToyObject:
    """One drawn object: its full (amodal) mask, colour layer and annotation data."""

    category: str
    mask: np.ndarray                      # bool, full object (before occlusion)
    colour: np.ndarray                    # uint8 HxWx3 layer, used where mask is set
    iscrowd: int = 0
    keypoints: Optional[np.ndarray] = None  # (17, 2) float, persons only
    visible: np.ndarray = field(default=None)  # bool, filled in after compositing


def _jitter(rng: np.random.Generator, colour: Sequence[int], amount: int = 30) -> np.ndarray:
    return np.clip(np.asarray(colour, float) + rng.uniform(-amount, amount, 3), 0, 255)


def _layer(rng: np.random.Generator, shape: Tuple[int, int], colour: np.ndarray) -> np.ndarray:
    """A flat colour with mild per-pixel noise, as an HxWx3 uint8 image."""
    noise = rng.normal(0.0, 6.0, (*shape, 1))
    return np.clip(colour[None, None, :] + noise, 0, 255).astype(np.uint8)


def _shape_mask(rng: np.random.Generator, hw: Tuple[int, int], category: str,
                centre: Tuple[float, float], size: float) -> np.ndarray:
    """Filled mask of one shape of ``category`` with its longest extent about ``size``."""
    mask = np.zeros(hw, np.uint8)
    cx, cy = centre
    angle = float(rng.uniform(0, 180))
    if category == 'rectangle':
        aspect = float(np.exp(rng.uniform(-0.7, 0.7)))
        w, h = size * math.sqrt(aspect), size / math.sqrt(aspect)
        box = cv2.boxPoints(((cx, cy), (w, h), angle))
        cv2.fillPoly(mask, [np.round(box).astype(np.int32)], 1)
    elif category == 'ellipse':
        aspect = float(rng.uniform(0.5, 1.0))
        axes = (max(1, round(size / 2)), max(1, round(size * aspect / 2)))
        cv2.ellipse(mask, (round(cx), round(cy)), axes, angle, 0, 360, 1, -1)
    elif category == 'triangle':
        start = rng.uniform(0, 2 * math.pi)
        angles = start + np.array([0.0, 2.0, 4.0]) * math.pi / 3 + rng.uniform(-0.35, 0.35, 3)
        pts = np.stack([cx + size / 2 * np.cos(angles), cy + size / 2 * np.sin(angles)], 1)
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    else:
        raise ValueError(f'unknown shape class {category!r}')
    return mask.astype(bool)


def make_shape(rng: np.random.Generator, hw: Tuple[int, int]) -> ToyObject:
    """A single shape of a random class, scale 6-40 % of the short image side."""
    h, w = hw
    category = SHAPE_CLASSES[int(rng.integers(len(SHAPE_CLASSES)))]
    size = float(min(h, w) * np.exp(rng.uniform(math.log(0.08), math.log(0.45))))
    centre = (float(rng.uniform(0.1 * w, 0.9 * w)), float(rng.uniform(0.1 * h, 0.9 * h)))
    mask = _shape_mask(rng, hw, category, centre, size)
    return ToyObject(category, mask, _layer(rng, hw, _jitter(rng, SHAPE_COLOURS[category])))


def make_crowd(rng: np.random.Generator, hw: Tuple[int, int]) -> ToyObject:
    """A cluster of 5-9 tiny shapes of one class: one ``iscrowd=1`` region."""
    h, w = hw
    category = SHAPE_CLASSES[int(rng.integers(len(SHAPE_CLASSES)))]
    cx, cy = float(rng.uniform(0.2 * w, 0.8 * w)), float(rng.uniform(0.2 * h, 0.8 * h))
    spread = min(h, w) * 0.08
    mask = np.zeros(hw, bool)
    for _ in range(int(rng.integers(5, 10))):
        centre = (cx + float(rng.normal(0, spread)), cy + float(rng.normal(0, spread)))
        mask |= _shape_mask(rng, hw, category, centre, float(rng.uniform(4, 8)))
    return ToyObject(category, mask, _layer(rng, hw, _jitter(rng, SHAPE_COLOURS[category])), iscrowd=1)


def _rot(vec: Tuple[float, float], degrees: float) -> np.ndarray:
    """``vec`` (dx, dy in image coordinates) rotated by ``degrees``."""
    a = math.radians(degrees)
    return np.array([vec[0] * math.cos(a) - vec[1] * math.sin(a),
                     vec[0] * math.sin(a) + vec[1] * math.cos(a)])


def person_keypoints(rng: np.random.Generator, top: Tuple[float, float], height: float) -> np.ndarray:
    """The 17 keypoints (COCO order) of a front-facing figure; its left is image right."""
    s = height
    width = float(rng.uniform(0.8, 1.2))
    lean = float(rng.uniform(-12, 12))
    cx, ty = top
    r = 0.08 * s
    head = np.array([cx, ty + r])
    kp = np.zeros((17, 2))
    kp[0] = head + (0, 0.25 * r)                       # nose
    kp[1], kp[2] = head + (0.4 * r, -0.2 * r), head + (-0.4 * r, -0.2 * r)  # eyes
    kp[3], kp[4] = head + (0.95 * r, 0.05 * r), head + (-0.95 * r, 0.05 * r)  # ears
    kp[5], kp[6] = (cx + 0.13 * s * width, ty + 0.22 * s), (cx - 0.13 * s * width, ty + 0.22 * s)
    kp[11], kp[12] = (cx + 0.08 * s * width, ty + 0.55 * s), (cx - 0.08 * s * width, ty + 0.55 * s)
    for side, sign in ((0, 1), (1, -1)):               # left (image right), right
        down = (0.0, 1.0)
        upper = _rot(down, -sign * float(rng.uniform(-20, 110)))
        lower = _rot(upper, -sign * float(rng.uniform(-10, 120)))
        kp[7 + side] = kp[5 + side] + 0.17 * s * upper
        kp[9 + side] = kp[7 + side] + 0.15 * s * lower
        thigh = _rot(down, -sign * float(rng.uniform(-15, 35)))
        shin = _rot(thigh, float(rng.uniform(-25, 25)))
        kp[13 + side] = kp[11 + side] + 0.22 * s * thigh
        kp[15 + side] = kp[13 + side] + 0.21 * s * shin
    pivot = kp[11:13].mean(0)                          # lean the whole figure about the hips
    return pivot + np.stack([_rot(tuple(p - pivot), lean) for p in kp])


def make_person(rng: np.random.Generator, hw: Tuple[int, int]) -> ToyObject:
    """A stick figure (head, torso, limbs) 30-75 % of the image height."""
    h, w = hw
    height = float(rng.uniform(0.3, 0.75) * h)
    top = (float(rng.uniform(0.05 * w, 0.95 * w)), float(rng.uniform(-0.1 * h, h - 0.8 * height)))
    kp = person_keypoints(rng, top, height)
    thick = max(2, round(0.05 * height))
    mask = np.zeros(hw, np.uint8)
    pt = [tuple(int(v) for v in np.round(p)) for p in kp]
    head_centre = tuple(int(v) for v in np.round((kp[3] + kp[4]) / 2))
    head_r = max(2, round(0.08 * height))
    torso = np.round(kp[[5, 6, 12, 11]]).astype(np.int32)
    cv2.fillPoly(mask, [torso], 1)
    neck = tuple(int(v) for v in np.round((kp[5] + kp[6]) / 2))
    cv2.line(mask, head_centre, neck, 1, thick)
    for a, b in ((5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16)):
        cv2.line(mask, pt[a], pt[b], 1, thick)
    clothes = [(40, 200, 230), (200, 60, 170), (40, 140, 240), (170, 170, 40)]
    body = _jitter(rng, clothes[int(rng.integers(len(clothes)))])
    layer = _layer(rng, hw, body)
    head = np.zeros(hw, np.uint8)
    cv2.circle(head, head_centre, head_r, 1, -1)
    skin = _jitter(rng, (150, 180, 220), 25).astype(np.uint8)
    layer[head.astype(bool)] = skin
    for eye in (1, 2):
        cv2.circle(layer, pt[eye], max(1, head_r // 4), (20, 20, 20), -1)
    mask = (mask | head).astype(bool)
    return ToyObject('person', mask, layer, keypoints=kp)


def _background(rng: np.random.Generator, hw: Tuple[int, int]) -> np.ndarray:
    """A low-contrast gradient with noise and a few grey clutter strokes."""
    h, w = hw
    base = rng.uniform(90, 170, 3)
    gx, gy = rng.uniform(-40, 40, 3), rng.uniform(-40, 40, 3)
    yy, xx = np.mgrid[0:h, 0:w]
    img = base + xx[..., None] / w * gx + yy[..., None] / h * gy + rng.normal(0, 8, (h, w, 3))
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(0, 4))):
        p1 = (int(rng.integers(w)), int(rng.integers(h)))
        p2 = (int(rng.integers(w)), int(rng.integers(h)))
        grey = int(rng.integers(60, 200))
        cv2.line(img, p1, p2, (grey, grey, grey), int(rng.integers(1, 3)))
    return img


def _visible_masks(objects: List[ToyObject], hw: Tuple[int, int]) -> np.ndarray:
    """Painter's algorithm: index map (0 = background, k+1 = objects[k])."""
    index = np.zeros(hw, np.int32)
    for k, obj in enumerate(objects):
        index[obj.mask] = k + 1
    return index


def compose_scene(rng: np.random.Generator, hw: Tuple[int, int]) -> Tuple[np.ndarray, List[ToyObject]]:
    """Place persons, shapes and maybe a crowd, each kept >= 40 % visible."""
    kinds = ['person'] * int(rng.integers(1, 5)) + ['shape'] * int(rng.integers(2, 6))
    if rng.random() < 1 / 6:
        kinds.append('crowd')
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]   # random depth order
    makers = {'person': make_person, 'shape': make_shape, 'crowd': make_crowd}
    objects: List[ToyObject] = []
    for kind in kinds:
        for _ in range(10):                               # retry a placement that hides too much
            candidate = makers[kind](rng, hw)
            trial = objects + [candidate]
            index = _visible_masks(trial, hw)
            ok = all(
                (index == k + 1).sum() >= max(MIN_VISIBLE_PIXELS, MIN_VISIBLE_FRACTION * o.mask.sum())
                for k, o in enumerate(trial))
            if ok:
                objects = trial
                break
    index = _visible_masks(objects, hw)
    img = _background(rng, hw)
    for k, obj in enumerate(objects):
        obj.visible = index == k + 1
        img[obj.mask] = obj.colour[obj.mask]
    img = cv2.GaussianBlur(img, (3, 3), 0.6)
    return img, objects


def mask_to_polygons(mask: np.ndarray) -> List[List[float]]:
    """Outer contours of a binary mask as COCO polygons (at least 3 points each)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        c = c.reshape(-1, 2).astype(float)
        if len(c) >= 3:
            polys.append([round(float(v), 2) for v in c.reshape(-1)])
        else:                                             # a 1-2 pixel sliver: its pixel box
            x0, y0 = c.min(0)
            x1, y1 = c.max(0) + 1
            polys.append([x0, y0, x1, y0, x1, y1, x0, y1])
    return polys


def polygon_area(polygons: List[List[float]], hw: Tuple[int, int]) -> float:
    """Pixel area of the polygons as COCO tools rasterise them (what ``area`` means in COCO)."""
    from pycocotools import mask as mask_utils
    rle = mask_utils.merge(mask_utils.frPyObjects(polygons, hw[0], hw[1]))
    return float(mask_utils.area(rle))


def hull_area(mask: np.ndarray) -> float:
    """Pixel count of the filled convex hull of a mask's pixels (a solid figure's area)."""
    ys, xs = np.nonzero(mask)
    hull = cv2.convexHull(np.stack([xs, ys], axis=1).astype(np.int32))
    filled = np.zeros(mask.shape, np.uint8)
    cv2.fillPoly(filled, [hull.reshape(-1, 2)], 1)
    return float(max(int(filled.sum()), int(mask.sum())))


def mask_bbox(mask: np.ndarray) -> List[float]:
    """Tight ``[x, y, w, h]`` box of a mask's pixels."""
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    return [float(x0), float(y0), float(xs.max() - x0 + 1), float(ys.max() - y0 + 1)]


def keypoint_triplets(obj: ToyObject, index: np.ndarray, own: int) -> Tuple[List[float], int]:
    """COCO ``keypoints`` list (x, y, v) * 17 and ``num_keypoints`` of a person."""
    h, w = index.shape
    out: List[float] = []
    for x, y in obj.keypoints:
        xi, yi = int(math.floor(x)), int(math.floor(y))
        if not (0 <= xi < w and 0 <= yi < h):
            out += [0.0, 0.0, 0]
            continue
        on_top = index[yi, xi]
        occluded = on_top != own and on_top > own        # covered by an object drawn later
        out += [round(float(x), 2), round(float(y), 2), 1 if occluded else 2]
    return out, sum(1 for v in out[2::3] if v > 0)


def make_split(out: Path, split: str, count: int, size: int, seed: int,
               log_every: int = 0) -> Tuple[dict, dict]:
    """Write ``count`` images of ``split`` and return (instances, person_keypoints) dicts."""
    img_dir = out / split
    img_dir.mkdir(parents=True, exist_ok=True)
    for stale in img_dir.glob('*.jpg'):
        stale.unlink()
    images, instances, persons = [], [], []
    ann_id = SPLIT_ID_BASE[split] * 100
    for i in range(count):
        image_id = SPLIT_ID_BASE[split] + i + 1
        rng = np.random.default_rng([seed, SPLIT_ID_BASE[split], i])
        hw = (int(size * rng.uniform(0.8, 1.2)), int(size * rng.uniform(0.8, 1.2)))
        img, objects = compose_scene(rng, hw)
        file_name = f'{image_id:012d}.jpg'
        cv2.imwrite(str(img_dir / file_name), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append({'id': image_id, 'file_name': file_name, 'height': hw[0], 'width': hw[1]})
        index = _visible_masks(objects, hw)
        for k, obj in enumerate(objects):
            ann_id += 1
            polygons = mask_to_polygons(obj.visible)
            ann = {'id': ann_id, 'image_id': image_id, 'category_id': CATEGORY_ID[obj.category],
                   'bbox': mask_bbox(obj.visible), 'area': polygon_area(polygons, hw),
                   'segmentation': polygons, 'iscrowd': obj.iscrowd}
            instances.append(ann)
            if obj.category == 'person':
                kps, num = keypoint_triplets(obj, index, k + 1)
                persons.append({**ann, 'area': hull_area(obj.visible), 'keypoints': kps,
                                'num_keypoints': num})
        if log_every and ((i + 1) % log_every == 0 or i + 1 == count):
            print(f'[toy_coco] {split}: {i + 1}/{count} images', flush=True)
    info = {'description': 'mmicconv toy COCO (synthetic, tools/make_toy_coco.py)',
            'version': '1.0', 'year': 2026, 'seed': seed}
    inst = {'info': info, 'licenses': [], 'images': images, 'annotations': instances,
            'categories': CATEGORIES}
    person_cat = dict(CATEGORIES[0], keypoints=list(KEYPOINT_NAMES), skeleton=SKELETON)
    kpt = {'info': info, 'licenses': [], 'images': images, 'annotations': persons,
           'categories': [person_cat]}
    return inst, kpt


def read_instances(coco: Path, split: str) -> dict:
    """A written toy COCO's ``annotations/instances_<split>.json`` (for the tools deriving other
    tasks from it); a missing one is a ToolError naming the command that writes it."""
    ann_file = Path(coco) / 'annotations' / f'instances_{split}.json'
    if not ann_file.is_file():
        raise ToolError(f'{ann_file}: not found (write the toy COCO first: python tools/make_toy_coco.py '
                        f'--out {coco})')
    return json.loads(ann_file.read_text())


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Generate the deterministic toy COCO dataset.')
    parser.add_argument('--out', default='data/toy_coco', help='output folder (default: data/toy_coco)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default: 0)')
    parser.add_argument('--train-images', type=int, default=128, help='train images (default: 128)')
    parser.add_argument('--val-images', type=int, default=32, help='val images (default: 32)')
    parser.add_argument('--size', type=int, default=160,
                        help='nominal image side in pixels, varied by +-20%% per image (default: 160)')
    parser.add_argument('--quiet', action='store_true', help='no progress lines')
    add_debug_arg(parser)
    args = parser.parse_args(argv)
    if args.size < 64:
        parser.error('--size must be at least 64')
    if args.train_images < 1 or args.val_images < 1:
        parser.error('--train-images and --val-images must be at least 1')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: write_dataset(args), args.debug, files=[args.out])


def write_dataset(args: argparse.Namespace) -> int:
    """Write both splits' images and annotation files under ``args.out``."""
    out = Path(args.out)
    (out / 'annotations').mkdir(parents=True, exist_ok=True)
    start = time.time()
    for split, count in (('train', args.train_images), ('val', args.val_images)):
        inst, kpt = make_split(out, split, count, args.size, args.seed,
                               log_every=0 if args.quiet else max(1, count // 4))
        for name, data in ((f'instances_{split}.json', inst), (f'person_keypoints_{split}.json', kpt)):
            (out / 'annotations' / name).write_text(json.dumps(data))
        if not args.quiet:
            print(f'[toy_coco] {split}: {len(inst["images"])} images, {len(inst["annotations"])} '
                  f'instances, {len(kpt["annotations"])} persons', flush=True)
    if not args.quiet:
        print(f'[toy_coco] wrote {out} in {time.time() - start:.1f}s', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
