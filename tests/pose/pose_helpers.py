"""Helpers of the pose tests: configs shrunk to a small input, synthetic people."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

import mmicconv.pose  # noqa: F401  (the AE pieces: pose configs import them with custom_imports)

REPO = Path(__file__).resolve().parents[2]
POSE_CONFIGS = sorted(p for p in (REPO / 'configs' / 'pose').glob('ae_*.py') if not p.stem.endswith('_ms'))
# the multi-scale test variants (scales 2, 1, 0.5) of POSE_CONFIGS
MS_CONFIGS = sorted((REPO / 'configs' / 'pose').glob('ae_*_ms.py'))
TOY_CONFIG = REPO / 'configs' / 'toy' / 'ae_ic-r50_toy-coco-128x128.py'
# the 17 COCO keypoints' left/right swap (mmpose's coco.py metainfo)
COCO_FLIP_INDICES = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


def shrink(cfg, size: int) -> Tuple[dict, list, dict]:
    """``(model, train_pipeline_without_LoadImage, codec)`` of a pose config
    at a ``size`` x ``size`` input (heatmaps ``size // 4``), no pretrained weights."""
    codec = dict(copy.deepcopy(cfg.codec), input_size=(size, size), heatmap_size=(size // 4, size // 4))
    model = copy.deepcopy(cfg.model)
    model.backbone.init_cfg = None
    model.head.decoder = dict(codec, heatmap_size=(size, size))
    pipeline = []
    for step in copy.deepcopy(cfg.train_pipeline):
        if step['type'] == 'LoadImage':
            continue
        if 'input_size' in step:
            step['input_size'] = (size, size)
        if step['type'] == 'GenerateTarget':
            step['encoder'] = codec
        pipeline.append(step)
    return model, pipeline, codec


def figure(center: np.ndarray, height: float) -> np.ndarray:
    """17 COCO keypoints (x, y) of a front-facing stick figure of ``height``."""
    unit = np.array([
        [0, -0.45], [0.03, -0.48], [-0.03, -0.48], [0.06, -0.46], [-0.06, -0.46],   # nose, eyes, ears
        [0.12, -0.32], [-0.12, -0.32], [0.2, -0.14], [-0.2, -0.14],                # shoulders, elbows
        [0.24, 0.02], [-0.24, 0.02], [0.08, 0.02], [-0.08, 0.02],                  # wrists, hips
        [0.1, 0.25], [-0.1, 0.25], [0.11, 0.48], [-0.11, 0.48]])                   # knees, ankles
    return (center[None] + unit * height).astype(np.float32)


def people_sample(rng: np.random.Generator, img_hw: Tuple[int, int] = (200, 220),
                  num_people: int = 3) -> Dict:
    """A pipeline input (image already loaded) with overlapping people and
    one crowd region (uncompressed RLE) plus one unlabelled person (polygon)."""
    h, w = img_hw
    centers = np.stack([np.linspace(0.35, 0.65, num_people) * w, np.full(num_people, 0.5 * h)], axis=1)
    keypoints = np.stack([figure(c + rng.uniform(-3, 3, 2), 0.7 * h) for c in centers])
    crowd = np.zeros((h, w), dtype=np.uint8)
    crowd[:20, :30] = 1  # RLE counts are column-major
    counts: List[int] = []
    flat, value, run = crowd.flatten(order='F'), 0, 0
    for pixel in flat:
        if pixel != value:
            counts.append(run)
            value, run = pixel, 0
        run += 1
    counts.append(run)
    return dict(
        img=rng.integers(0, 255, (h, w, 3), dtype=np.uint8),
        img_shape=(h, w), ori_shape=(h, w), img_id=1, img_path='synthetic.jpg', id=list(range(num_people)),
        keypoints=keypoints, keypoints_visible=np.ones(keypoints.shape[:2], np.float32),
        bbox=np.array([[k[:, 0].min(), k[:, 1].min(), k[:, 0].max(), k[:, 1].max()] for k in keypoints],
                      np.float32),
        flip_indices=COCO_FLIP_INDICES,
        invalid_segs=[dict(counts=counts, size=[h, w]),
                      [[w - 30.0, h - 30, w - 1, h - 30, w - 1, h - 1, w - 30, h - 1]]])
