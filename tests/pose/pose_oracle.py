"""A perfect "network" for the AE test path: ground-truth heatmaps and tags
rendered in the original image, through the real resize, flip, predict,
decode, ``add_pred_to_datasample`` and ``CocoMetric``.

Only the image loading and the network are replaced:

* :class:`RenderGroundTruth` (in place of ``LoadImage``) draws, in original
  image pixels, a Gaussian per keypoint (K heatmap channels) and each
  person's tag in a disk around its keypoints (K tag channels) as a float
  "image" that the config's own resize transform warps (pyramid included);
  tag channel k holds, at every pixel, the tag of the person whose keypoint k
  is nearest (smooth enough to survive the 0.5x scale's pooling);
* :class:`OracleBackbone` averages 4x4 blocks (stride 4, the heatmap
  resolution of the real model) and, for the flipped copy of an input (every
  second call under flip testing, as ``BottomupPoseEstimator.predict`` calls
  it), swaps left and right channels as a perfect network would; the head's
  ``forward`` only splits heatmap and tag channels.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Dict, List, Optional

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from conftest import build_model
from mmengine.dataset import Compose, pseudo_collate
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope
from torch import nn

SIGMA_PX = 6.0    # Gaussian sigma of the rendered heatmaps, original image pixels
TAG_STEP = 3.0    # tag distance between people (the decoder groups within 1)


def image_shape(info: Dict) -> tuple:
    """(h, w) of a data info's image (read from the file: bottom-up infos do not carry it)."""
    return tuple(cv2.imread(info['img_path']).shape[:2])


class RenderGroundTruth:
    """Pipeline step: ``img`` = (H, W, 2K) float32 ground-truth heatmaps and tags."""

    def __init__(self, constant_tags: bool = False) -> None:
        self.constant_tags = constant_tags

    def __call__(self, results: Dict) -> Dict:
        h, w = image_shape(results)
        keypoints, visible = results['keypoints'], results['keypoints_visible']
        num_kpts = keypoints.shape[1]
        img = np.zeros((h, w, 2 * num_kpts), np.float32)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5  # pixel centres
        nearest = np.full((num_kpts, h, w), np.inf, np.float32)
        for n, (person, vis) in enumerate(zip(keypoints, visible)):
            tag = 0.0 if self.constant_tags else TAG_STEP * (n + 1)
            for k, ((x, y), v) in enumerate(zip(person, vis)):
                if v <= 0:
                    continue
                dist2 = (xx - x) ** 2 + (yy - y) ** 2
                img[..., k] = np.maximum(img[..., k], np.exp(-dist2 / (2 * SIGMA_PX ** 2)))
                closer = dist2 < nearest[k]
                nearest[k][closer] = dist2[closer]
                img[..., num_kpts + k][closer] = tag
        results.update(img=img, img_shape=(h, w), ori_shape=(h, w))
        return results


class OracleBackbone(nn.Module):
    """Stride-4 block average of the rendered maps; left/right swap on flipped inputs."""

    def __init__(self, flip_indices: List[int], flip_test: bool) -> None:
        super().__init__()
        self.flip_indices = list(flip_indices)
        self.flip_test = flip_test
        self.calls = 0
        self.input_shapes: List[tuple] = []

    def forward(self, x: torch.Tensor):
        self.input_shapes.append(tuple(x.shape[-2:]))
        flipped = self.flip_test and self.calls % 2 == 1
        self.calls += 1
        out = F.avg_pool2d(x, 4)
        if flipped:
            num_kpts = len(self.flip_indices)
            order = self.flip_indices + [num_kpts + i for i in self.flip_indices]
            out = out[:, order]
        return (out,)


def oracle_model(cfg, flip_test: bool, multiscale: bool = False):
    """The config's ``BottomupPoseEstimator`` (its data preprocessor, head
    ``predict`` and decoder) with the oracle backbone and no normalisation."""
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg = None
    model_cfg.data_preprocessor.update(mean=None, std=None, bgr_to_rgb=False)
    model_cfg.test_cfg.update(flip_test=flip_test, multiscale_test=multiscale)
    model = build_model('mmpose', model_cfg)
    num_kpts = model.head.num_keypoints
    model.backbone = OracleBackbone([], flip_test)  # flip_indices: set from the dataset
    model.head.forward = lambda feats: (feats[-1][:, :num_kpts], feats[-1][:, num_kpts:])
    return model.eval()


def oracle_pipeline(cfg, aug_scales: Optional[list] = None, constant_tags: bool = False) -> list:
    """The config's val pipeline with the ground truth rendered instead of the image loaded."""
    steps = []
    for step in copy.deepcopy(cfg.val_pipeline):
        if step['type'] == 'LoadImage':
            steps.append(RenderGroundTruth(constant_tags))
            continue
        if 'aug_scales' in step or step['type'].startswith('Bottomup'):
            step['aug_scales'] = aug_scales
        steps.append(step)
    return steps


def evaluate_oracle(cfg, data_root: Path, flip_test: bool, aug_scales: Optional[list] = None,
                    constant_tags: bool = False, num_images: Optional[int] = None) -> Dict:
    """COCO keypoint metrics of the oracle on the toy val split under ``data_root``;
    also returns the input shapes the backbone saw (``'shapes'``)."""
    from mmpose.datasets import CocoDataset
    with DefaultScope.overwrite_default_scope('mmpose'):
        dataset = CocoDataset(
            data_root=str(data_root), data_mode='bottomup', test_mode=True,
            ann_file='annotations/person_keypoints_val.json', data_prefix=dict(img='val/'),
            indices=num_images, pipeline=[])
        pipeline = Compose(oracle_pipeline(cfg, aug_scales, constant_tags))
        model = oracle_model(cfg, flip_test, multiscale=bool(aug_scales))
        model.backbone.flip_indices = list(dataset.metainfo['flip_indices'])
        metric = dict(cfg.val_evaluator, ann_file=str(data_root / 'annotations/person_keypoints_val.json'),
                      outfile_prefix=None)
        evaluator = Evaluator(metric)
        evaluator.dataset_meta = dataset.metainfo
        for idx in range(len(dataset)):
            data = pseudo_collate([pipeline(dataset[idx])])
            with torch.no_grad():
                outputs = model.test_step(data)
            evaluator.process(data_samples=outputs, data_batch=data)
        metrics = evaluator.evaluate(len(dataset))
    metrics['shapes'] = model.backbone.input_shapes
    return metrics


def quantisation_bound(cfg, data_root: Path, num_images: Optional[int] = None,
                       offset_heatmap_px: float = 0.25) -> float:
    """COCO AP of the ground truth itself, every keypoint moved by
    ``offset_heatmap_px`` heatmap pixels (of the single-scale input) right and
    down. A quarter pixel per axis is the mean error of rounding to a
    stride-4 grid: a correctly grouped perfect heatmap decoded without bias
    scores about this or better; a path off by half a heatmap pixel or more
    (a centre-shift bug) scores clearly less."""
    from mmengine.structures import InstanceData
    from mmpose.datasets import CocoDataset
    from mmpose.structures import PoseDataSample
    with DefaultScope.overwrite_default_scope('mmpose'):
        dataset = CocoDataset(
            data_root=str(data_root), data_mode='bottomup', test_mode=True,
            ann_file='annotations/person_keypoints_val.json', data_prefix=dict(img='val/'),
            indices=num_images, pipeline=[])
        resize = Compose([s for s in copy.deepcopy(cfg.val_pipeline) if s['type'].startswith('Bottomup')])
        metric = dict(cfg.val_evaluator, ann_file=str(data_root / 'annotations/person_keypoints_val.json'),
                      outfile_prefix=None)
        evaluator = Evaluator(metric)
        evaluator.dataset_meta = dataset.metainfo
        for idx in range(len(dataset)):
            info = dataset[idx]
            h, w = image_shape(info)
            info = resize(dict(info, img=np.zeros((h, w, 3), np.uint8), ori_shape=(h, w)))
            px = np.asarray(info['input_scale']) / np.asarray(info['input_size'])  # image px per input px
            offset = offset_heatmap_px * 4 * px
            sample = PoseDataSample(metainfo=dict(img_id=info['img_id'], id=info['id'],
                                                  ori_shape=(h, w), img_path=info['img_path']))
            sample.gt_instances = InstanceData()
            vis = np.asarray(info['keypoints_visible'], np.float32)
            sample.pred_instances = InstanceData(
                keypoints=np.asarray(info['keypoints'], np.float32) + offset,
                keypoint_scores=np.ones_like(vis), bbox_scores=np.ones(len(vis), np.float32))
            evaluator.process(data_samples=[sample], data_batch=None)
        return evaluator.evaluate(len(dataset))['coco/AP']
