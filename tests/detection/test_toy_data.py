"""tools/make_toy_coco.py (format, determinism) and the committed toy pattern."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from mmicconv.pattern import Pattern

sys.path.insert(0, str(REPO / 'tools'))
import make_toy_coco  # noqa: E402
import make_toy_pattern  # noqa: E402

sys.path.pop(0)


def generate(out: Path, seed: int = 0, train: int = 12, val: int = 3) -> dict:
    assert make_toy_coco.main(['--out', str(out), '--seed', str(seed), '--train-images', str(train),
                               '--val-images', str(val), '--quiet']) == 0
    return {p.name: json.loads(p.read_text()) for p in (out / 'annotations').glob('*.json')}


@pytest.fixture(scope='module')
def toy(tmp_path_factory) -> tuple:
    out = tmp_path_factory.mktemp('toy') / 'toy_coco'
    return out, generate(out)


def test_layout(toy):
    out, anns = toy
    assert sorted(anns) == ['instances_train.json', 'instances_val.json',
                            'person_keypoints_train.json', 'person_keypoints_val.json']
    assert len(list((out / 'train').glob('*.jpg'))) == 12 and len(list((out / 'val').glob('*.jpg'))) == 3
    for split in ('train', 'val'):
        for img in anns[f'instances_{split}.json']['images']:
            assert (out / split / img['file_name']).is_file()


def test_instances_are_valid_coco(toy):
    import cv2
    from pycocotools import mask as mask_utils
    out, anns = toy
    data = anns['instances_train.json']
    assert [c['name'] for c in data['categories']] == ['person', 'rectangle', 'ellipse', 'triangle']
    images = {i['id']: i for i in data['images']}
    assert len({a['id'] for a in data['annotations']}) == len(data['annotations'])
    per_image = {}
    for ann in data['annotations']:
        img = images[ann['image_id']]
        x, y, w, h = ann['bbox']
        assert 0 <= x and 0 <= y and w >= 1 and h >= 1
        assert x + w <= img['width'] and y + h <= img['height']
        assert ann['iscrowd'] in (0, 1) and ann['area'] > 0
        assert all(len(poly) >= 6 and len(poly) % 2 == 0 for poly in ann['segmentation'])
        rle = mask_utils.merge(mask_utils.frPyObjects(ann['segmentation'], img['height'], img['width']))
        assert mask_utils.area(rle) == ann['area']
        per_image.setdefault(ann['image_id'], set()).add(ann['category_id'])
        assert cv2.imread(str(out / 'train' / img['file_name'])).shape[:2] == (img['height'], img['width'])
    assert any(a['iscrowd'] for a in data['annotations'])                 # at least one crowd region
    assert max(len(c) for c in per_image.values()) >= 3                    # several classes in one image
    sizes = [a['bbox'][2] * a['bbox'][3] for a in data['annotations'] if a['category_id'] > 1]
    assert max(sizes) > 8 * min(sizes)                                     # varied scales


def test_overlaps_exist(toy):
    _, anns = toy
    data = anns['instances_train.json']

    def iou(a, b):
        ax, ay, aw, ah = a
        bx, by, bw, bh = b
        iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
        ih = max(0, min(ay + ah, by + bh) - max(ay, by))
        return iw * ih / (aw * ah + bw * bh - iw * ih)

    by_image = {}
    for ann in data['annotations']:
        by_image.setdefault(ann['image_id'], []).append(ann['bbox'])
    overlapping = sum(1 for boxes in by_image.values() for i, a in enumerate(boxes) for b in boxes[i + 1:]
                      if iou(a, b) > 0.1)
    assert overlapping >= 5


def test_person_keypoints(toy):
    _, anns = toy
    data = anns['person_keypoints_train.json']
    (cat,) = data['categories']
    assert cat['name'] == 'person' and cat['id'] == 1
    assert cat['keypoints'][:3] == ['nose', 'left_eye', 'right_eye'] and len(cat['keypoints']) == 17
    assert cat['keypoints'][-1] == 'right_ankle'
    assert len(cat['skeleton']) == 19 and all(1 <= i <= 17 for pair in cat['skeleton'] for i in pair)
    people = {}
    vis = []
    for ann in data['annotations']:
        kp = np.array(ann['keypoints'], float).reshape(17, 3)
        assert set(kp[:, 2]) <= {0, 1, 2}
        assert ann['num_keypoints'] == int((kp[:, 2] > 0).sum())
        assert np.all(kp[kp[:, 2] == 0, :2] == 0)
        x, y, w, h = ann['bbox']
        seen = kp[kp[:, 2] == 2]                 # visible keypoints lie on the visible figure
        assert np.all(seen[:, 0] >= x - 1) and np.all(seen[:, 0] <= x + w + 1)
        assert np.all(seen[:, 1] >= y - 1) and np.all(seen[:, 1] <= y + h + 1)
        # front-facing figures: the person's left shoulder is on the image's right
        if kp[5, 2] and kp[6, 2]:
            assert kp[5, 0] > kp[6, 0]
        assert ann['category_id'] == 1 and ann['segmentation'] and ann['area'] > 0
        people[ann['image_id']] = people.get(ann['image_id'], 0) + 1
        vis.extend(kp[:, 2])
    assert max(people.values()) >= 2                       # several people in an image
    assert {0, 1, 2} <= set(vis)                           # outside, occluded and visible all occur
    # the same persons (ids, boxes) are in the instances file
    inst = {a['id']: a for a in anns['instances_train.json']['annotations'] if a['category_id'] == 1}
    assert {a['id'] for a in data['annotations']} == set(inst)


def test_deterministic_and_seeded(tmp_path, toy):
    _, anns = toy
    again = generate(tmp_path / 'a')
    assert again == anns
    other = generate(tmp_path / 'b', seed=1)
    assert other['instances_train.json']['annotations'] != anns['instances_train.json']['annotations']
    # image i depends only on (seed, split, i): a shorter run is a prefix
    short = generate(tmp_path / 'c', train=5)
    assert short['instances_train.json']['images'] == anns['instances_train.json']['images'][:5]


def test_cli_rejects_bad_args(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'make_toy_coco.py'), '--out', str(tmp_path),
                           '--size', '10'], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and '--size' in proc.stderr


def test_committed_toy_pattern_is_the_generated_one(tmp_path):
    committed = REPO / 'pattern_zoo' / 'toy' / 'ic_resnet50_toy.json'
    assert make_toy_pattern.main(['--out', str(tmp_path / 'p.json')]) == 0
    assert json.loads(committed.read_text()) == json.loads((tmp_path / 'p.json').read_text())
    pattern = Pattern.load(committed)
    assert len(pattern) == 16
    assert [c.total for c in pattern] == [64] * 3 + [128] * 4 + [256] * 6 + [512] * 3
    assert {g.dilation for c in pattern for g in c.groups} == {(1, 1), (1, 2), (2, 1), (2, 2)}
