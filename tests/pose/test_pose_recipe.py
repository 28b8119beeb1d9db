"""The eight pose configs carry the training recipe of the paper's own configs.

The expected values below are transcribed by hand from the paper's MMPose 0.x
configs (GitHub yifan123/IC-Conv, commit
0a92284559f6ddfc9d0e6ad94bcfed3e982d875f, folder ``human_pose/config/``); they
are not read back from our configs, so an edit that drifts from the paper fails
here. docs/pose.md has the comparison setting by setting, including what could
not be carried over (the augmentation's sampling distributions, for one).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mmengine.config import Config

POSE_DIR = Path(__file__).resolve().parents[2] / 'configs' / 'pose'

# --- from the paper's configs (human_pose/config/ at the commit above) -----------------------
# What differs between the four files: optimizer lr (``optimizer``), images per GPU
# (``data.samples_per_gpu``) and the evaluation / checkpoint interval (``evaluation``,
# ``checkpoint_config``).
PAPER = {
    'res50_coco_640x640.py': dict(lr=1e-3, per_gpu=16, interval=50),
    'ic_res50_k13_coco_640x640.py': dict(lr=1e-3, per_gpu=16, interval=50),
    'res101_coco_640x640.py': dict(lr=5e-4, per_gpu=12, interval=50),
    'ic_res101_k13_coco_640x640.py': dict(lr=5e-4, per_gpu=12, interval=20),
}
# What all four files share.
PAPER_OPTIMIZER = 'Adam'      # optimizer type; no weight decay, no gradient clipping
PAPER_EPOCHS = 300            # total_epochs
PAPER_STEPS = [200, 260]      # lr_config step (mmcv's step policy: x0.1 each)
PAPER_WARMUP_ITERS = 500      # lr_config warmup='linear', warmup_iters
PAPER_WARMUP_RATIO = 0.001    # lr_config warmup_ratio
PAPER_ROTATION = 30           # BottomUpRandomAffine rot_factor
PAPER_SCALE = (0.75, 1.5)     # BottomUpRandomAffine scale_factor, scale_type='short'
PAPER_SHIFT = 40 / 200        # BottomUpRandomAffine trans_factor (0.x counts it in 1/200 of the crop)
PAPER_FLIP_PROB = 0.5         # BottomUpRandomFlip flip_prob
PAPER_INPUT = 640             # data_cfg image_size
PAPER_HEATMAP = 160           # data_cfg heatmap_size
PAPER_SIGMA = 2               # BottomUpGenerateTarget sigma
PAPER_AE_FACTOR = 0.001       # loss_pose push_loss_factor = pull_loss_factor
PAPER_HEATMAP_FACTOR = 1.0    # loss_pose heatmaps_loss_factor
PAPER_TEST_SCALES = [2, 1, 0.5]  # the val pipeline's active test_scale_factor
# Not in the paper's configs: the number of GPUs. 8, as our file names (8xb16, 8xb12) say.
GPUS = 8

# Our config -> the paper's config it reproduces (the _ms twins only change the test).
OURS = {
    'ae_r50_8xb16-300e_coco-640x640.py': 'res50_coco_640x640.py',
    'ae_r50_8xb16-300e_coco-640x640_ms.py': 'res50_coco_640x640.py',
    'ae_ic-r50-k13_8xb16-300e_coco-640x640.py': 'ic_res50_k13_coco_640x640.py',
    'ae_ic-r50-k13_8xb16-300e_coco-640x640_ms.py': 'ic_res50_k13_coco_640x640.py',
    'ae_r101_8xb12-300e_coco-640x640.py': 'res101_coco_640x640.py',
    'ae_r101_8xb12-300e_coco-640x640_ms.py': 'res101_coco_640x640.py',
    'ae_ic-r101-k13_8xb12-300e_coco-640x640.py': 'ic_res101_k13_coco_640x640.py',
    'ae_ic-r101-k13_8xb12-300e_coco-640x640_ms.py': 'ic_res101_k13_coco_640x640.py',
}


def _load(name: str) -> Config:
    return Config.fromfile(POSE_DIR / name)


def _step(pipeline, type_: str) -> dict:
    (step,) = [t for t in pipeline if t['type'] == type_]
    return step


def test_every_pose_config_is_checked():
    assert {p.name for p in POSE_DIR.glob('*.py')} == set(OURS)


@pytest.mark.parametrize('name', sorted(OURS))
def test_optimizer_schedule_and_batch(name):
    paper = PAPER[OURS[name]]
    cfg = _load(name)
    # the file name states the batch and the schedule: <gpus>x b<images per gpu>-<epochs>e
    assert f'_{GPUS}xb{paper["per_gpu"]}-{PAPER_EPOCHS}e_' in name

    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.type == PAPER_OPTIMIZER
    assert optimizer.lr == paper['lr']
    assert optimizer.get('weight_decay', 0) == 0
    assert cfg.optim_wrapper.get('clip_grad') is None

    assert cfg.train_dataloader.batch_size == paper['per_gpu']
    # off unless --auto-scale-lr; the lr above is the one for GPUS x images per GPU
    assert cfg.auto_scale_lr.base_batch_size == GPUS * paper['per_gpu']
    assert cfg.auto_scale_lr.get('enable', False) is False

    assert cfg.train_cfg.max_epochs == PAPER_EPOCHS
    warmup, steps = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.by_epoch is False
    assert (warmup.begin, warmup.end) == (0, PAPER_WARMUP_ITERS)
    assert warmup.start_factor == PAPER_WARMUP_RATIO and warmup.get('end_factor', 1.0) == 1.0
    assert steps.type == 'MultiStepLR' and steps.by_epoch is True
    assert list(steps.milestones) == PAPER_STEPS and steps.gamma == 0.1
    assert (steps.begin, steps.end) == (0, PAPER_EPOCHS)

    # evaluation and checkpoint interval; 0.x's key_indicator='AP' saves the best by AP
    assert cfg.train_cfg.val_interval == paper['interval']
    checkpoint = cfg.default_hooks.checkpoint
    assert checkpoint.interval == paper['interval']
    assert (checkpoint.save_best, checkpoint.rule) == ('coco/AP', 'greater')


@pytest.mark.parametrize('name', sorted(OURS))
def test_augmentation_targets_losses_and_test(name):
    cfg = _load(name)
    affine = _step(cfg.train_pipeline, 'BottomupRandomAffine')
    assert affine.rotate_factor == PAPER_ROTATION
    assert tuple(affine.scale_factor) == PAPER_SCALE and affine.scale_type == 'short'
    assert affine.shift_factor == pytest.approx(PAPER_SHIFT)
    assert tuple(affine.input_size) == (PAPER_INPUT, PAPER_INPUT)
    assert _step(cfg.train_pipeline, 'RandomFlip').get('prob', 0.5) == PAPER_FLIP_PROB

    codec = _step(cfg.train_pipeline, 'GenerateTarget').encoder
    assert tuple(codec.input_size) == (PAPER_INPUT, PAPER_INPUT)
    assert tuple(codec.heatmap_size) == (PAPER_HEATMAP, PAPER_HEATMAP)
    assert codec.sigma == PAPER_SIGMA

    head = cfg.model.head
    assert head.keypoint_loss.get('loss_weight', 1.0) == PAPER_HEATMAP_FACTOR
    tag_loss = head.tag_loss
    assert tag_loss.type == 'TrainableAssociativeEmbeddingLoss'  # 0.x's batch mean
    assert tag_loss.loss_weight == PAPER_AE_FACTOR
    assert tag_loss.get('push_type', 'exp') == 'exp'  # ae_loss_type='exp'

    assert cfg.model.test_cfg.flip_test is True
    # single-scale configs test at scale 1; the _ms twins at the paper's scales 2, 1 and 0.5
    resize = _step(cfg.val_dataloader.dataset.pipeline, 'BottomupMultiscaleResize')
    assert tuple(resize.input_size) == (PAPER_INPUT, PAPER_INPUT)
    scales = sorted([1] + list(resize.get('aug_scales') or []), reverse=True)
    if name.endswith('_ms.py'):
        assert scales == PAPER_TEST_SCALES and cfg.model.test_cfg.multiscale_test is True
    else:
        assert scales == [1] and cfg.model.test_cfg.multiscale_test is False


@pytest.mark.parametrize('name', sorted(OURS))
def test_hooks_match_between_plain_and_ic(name):
    """Every config keeps mmpose's SyncBuffersHook (BN statistics synced across GPUs each
    epoch); an IC config adds the pattern record without dropping it."""
    hooks = [h['type'] for h in _load(name).get('custom_hooks', [])]
    assert 'SyncBuffersHook' in hooks
    assert ('ICPatternRecordHook' in hooks) == ('_ic-' in name)
