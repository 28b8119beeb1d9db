"""tools/make_toy_coco.py: a person's keypoint ``area`` is that of a solid
figure (the convex hull of its visible pixels), not of the thin stick, while
the detection annotations keep the pixel area of their polygons."""

from __future__ import annotations

import json

import numpy as np
from pycocotools import mask as mask_utils
from tool_helpers import run, tool


def test_keypoint_area_is_the_solid_figure(tmp_path):
    out = tmp_path / 'toy'
    run(tool('make_toy_coco.py') + ['--out', out, '--train-images', '24', '--val-images', '1', '--quiet'],
        cwd=tmp_path)
    persons = json.loads((out / 'annotations' / 'person_keypoints_train.json').read_text())
    instances = json.loads((out / 'annotations' / 'instances_train.json').read_text())
    images = {i['id']: i for i in persons['images']}
    inst = {a['id']: a for a in instances['annotations']}
    ratios = []
    for ann in persons['annotations']:
        img = images[ann['image_id']]
        rle = mask_utils.merge(mask_utils.frPyObjects(ann['segmentation'], img['height'], img['width']))
        pixels = float(mask_utils.area(rle))
        x, y, w, h = ann['bbox']
        assert pixels <= ann['area'] <= w * h + 1e-6
        assert inst[ann['id']]['area'] == pixels  # the detection annotation is unchanged
        ratios.append(ann['area'] / (w * h))
    # a stick figure covers a small part of its box, its hull a large part (COCO people: ~0.5)
    stick = [inst[a['id']]['area'] / (a['bbox'][2] * a['bbox'][3]) for a in persons['annotations']]
    assert np.median(stick) < 0.35 and 0.45 < np.median(ratios) < 0.9
