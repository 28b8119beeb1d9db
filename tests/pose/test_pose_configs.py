"""Every AE pose config loads, builds, and runs a training and a test forward
on CPU at a small input (64x64: heatmaps 16x16)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import REFERENCE_ZOO, build_model
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope
from pose_helpers import POSE_CONFIGS, TOY_CONFIG, people_sample, shrink

SIZE = 64
EXPECTED = {'ae_ic-r50-k13_8xb16-300e_coco-640x640.py', 'ae_ic-r101-k13_8xb12-300e_coco-640x640.py',
            'ae_r50_8xb16-300e_coco-640x640.py', 'ae_r101_8xb12-300e_coco-640x640.py'}


def test_all_four_recipes_exist():
    assert EXPECTED <= {p.name for p in POSE_CONFIGS}


@pytest.mark.parametrize('path', POSE_CONFIGS, ids=lambda p: p.stem)
def test_recipe(path):
    """The published model and pipeline: 640 input, 160x160 heatmaps, 17
    keypoints with a tag each, complete AE training pipeline, COCO keypoint AP.
    The optimizer, schedule and batch (which differ between R50 and R101) are
    checked against the paper's configs in test_pose_recipe.py."""
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == dict(imports=['mmicconv', 'mmicconv.pose'], allow_failed_imports=False)
    assert cfg.model.type == 'MultiscaleBottomupPoseEstimator'  # a BottomupPoseEstimator
    assert cfg.codec.input_size == (640, 640) and cfg.codec.heatmap_size == (160, 160)
    head = cfg.model.head
    assert (head.num_keypoints, head.tag_dim, head.tag_per_keypoint) == (17, 1, True)
    assert len(head.deconv_out_channels) == 3  # stride 32 -> 4
    assert [t['type'] for t in cfg.train_pipeline] == [
        'LoadImage', 'BottomupRandomAffine', 'RandomFlip', 'GenerateTarget',
        'TrainableBottomupGetHeatmapMask', 'PackPoseInputs']
    assert cfg.val_evaluator.type == 'CocoMetric'
    backbone = cfg.model.backbone
    if '_ic-' in path.name:
        depth = 101 if 'r101' in path.name else 50
        assert backbone.type == 'ICResNet' and backbone.depth == depth
        assert backbone.pattern == f'human_pose/ic_resnet{depth}_k13.json'
    else:
        assert backbone.type == 'ResNet' and 'pattern' not in backbone


def _run_forwards(cfg_path, monkeypatch):
    """Build the config's model at SIZE and run loss + predict; returns (losses, predictions)."""
    cfg = Config.fromfile(cfg_path)
    if cfg.model.backbone.get('pattern', '').startswith('human_pose/'):
        if not REFERENCE_ZOO.is_dir():
            pytest.skip(f'{REFERENCE_ZOO} is absent: the published k13 patterns are needed')
        monkeypatch.setenv('MMICCONV_PATTERN_ZOO', str(REFERENCE_ZOO))
    model_cfg, pipeline, _ = shrink(cfg, SIZE)
    torch.manual_seed(0)
    model = build_model('mmpose', model_cfg)
    with DefaultScope.overwrite_default_scope('mmpose'):
        pipeline = Compose(pipeline)
        np.random.seed(0)
        rng = np.random.default_rng(0)
        batch = pseudo_collate([pipeline(people_sample(rng)) for _ in range(2)])
    for sample in batch['data_samples']:
        assert int(sample.gt_instance_labels.keypoint_indices[..., 1].any(dim=1).sum()) >= 2
    model.train()
    losses = model(**model.data_preprocessor(batch, training=True), mode='loss')
    sum(losses.values()).backward()
    assert model.head.final_layer.weight.grad.abs().sum() > 0

    model.eval()
    model.head.decoder.decode_keypoint_thr = -math.inf  # untrained: take every candidate
    with DefaultScope.overwrite_default_scope('mmpose'):
        test_pipeline = Compose([
            dict(type='BottomupResize', input_size=(SIZE, SIZE), size_factor=32, resize_mode='expand'),
            dict(type='PackPoseInputs', meta_keys=('id', 'img_id', 'img_path', 'ori_shape', 'img_shape',
                                                   'input_size', 'input_center', 'input_scale',
                                                   'flip_indices'))])
        data = pseudo_collate([test_pipeline(people_sample(np.random.default_rng(1)))])
    with torch.no_grad():
        predictions = model(**model.data_preprocessor(data), mode='predict')
    return losses, predictions


@pytest.mark.parametrize('path', POSE_CONFIGS + [TOY_CONFIG], ids=lambda p: p.stem)
def test_builds_and_runs_loss_and_predict(path, monkeypatch):
    losses, predictions = _run_forwards(path, monkeypatch)
    assert set(losses) == {'loss_kpt', 'loss_pull', 'loss_push'}
    for name, value in losses.items():
        assert torch.isfinite(value) and value > 0, (name, value)
    instances = predictions[0].pred_instances
    keypoints = np.asarray(instances.keypoints)
    assert keypoints.ndim == 3 and keypoints.shape[0] >= 1 and keypoints.shape[1:] == (17, 2)
    assert np.isfinite(keypoints).all()
    assert np.asarray(instances.keypoint_scores).shape == keypoints.shape[:2]
    # mapped back to original-image pixels (200 x 220; the 64-px input, padded to 96 wide,
    # covers up to x = 300), not left in input (64) or heatmap (16) pixels
    assert 1.5 * SIZE < keypoints[..., 0].max() < 300
