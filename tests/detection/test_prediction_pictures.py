"""tools/test.py --show-dir paints the toy Mask R-CNN's predictions (mmdet's DetLocalVisualizer).

Kept cheap: one image, the toy config's model with seeded random weights
(an untrained model still predicts boxes and masks; ``score_thr=0`` draws
them all), so no training is needed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import REPO, build_model
from mmengine.config import Config
from PIL import Image
from tool_helpers import run, tool

import mmicconv  # noqa: F401

pytestmark = pytest.mark.e2e

TOY_MASK = REPO / 'configs' / 'toy' / 'mask-rcnn_ic-r50_fpn_toy.py'


def test_show_dir_writes_the_painted_prediction(tmp_path):
    run(tool('make_toy_coco.py') + ['--out', tmp_path / 'data' / 'toy_coco', '--train-images', '1',
                                    '--val-images', '1', '--quiet'], cwd=tmp_path)
    cfg = Config.fromfile(str(TOY_MASK))
    torch.manual_seed(0)
    model = build_model('mmdet', cfg.model)
    model.init_weights()
    checkpoint = tmp_path / 'random.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)

    work_dir = tmp_path / 'show'
    run(tool('test.py') + [TOY_MASK, checkpoint, '--work-dir', work_dir, '--show-dir', 'pictures',
                           '--cfg-options', 'test_dataloader.dataset.indices=1',
                           'default_hooks.visualization.score_thr=0.0'], cwd=tmp_path)

    val = json.loads((tmp_path / 'data' / 'toy_coco' / 'annotations' / 'instances_val.json').read_text())
    image_info = val['images'][0]
    pictures = sorted(work_dir.glob(f'*/pictures/{image_info["file_name"]}'))
    assert len(pictures) == 1, sorted(p.relative_to(work_dir) for p in work_dir.rglob('*'))
    with Image.open(pictures[0]) as image:
        painted = np.asarray(image.convert('RGB'), dtype=np.float64)
    with Image.open(tmp_path / 'data' / 'toy_coco' / 'val' / image_info['file_name']) as image:
        original = np.asarray(image.convert('RGB'), dtype=np.float64)
    width, height = image_info['width'], image_info['height']
    # ground truth on the left, prediction on the right, each at the image's own size
    assert painted.shape == (height, 2 * width, 3)
    assert painted.std() > 10
    ground_truth, prediction = painted[:, :width], painted[:, width:]
    # JPEG noise alone stays around 1-2 levels; drawn boxes and masks change far more
    assert np.abs(prediction - original).mean() > 5, 'no prediction drawn'
    assert np.abs(ground_truth - original).mean() > 2, 'no ground truth drawn'
    assert np.abs(prediction - ground_truth).mean() > 2
