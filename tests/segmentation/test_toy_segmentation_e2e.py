"""The toy semantic-segmentation task end to end: label maps from the toy COCO masks
(tools/make_toy_segmentation.py), the narrow IC-R50 Semantic FPN toy config trained and tested
with tools/train.py / tools/test.py, and --show-dir pictures."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import REPO, build_model
from mmengine.config import Config
from tool_helpers import make_derived_workspace, run, tool

import mmicconv  # noqa: F401

pytest.importorskip('mmseg')
pytestmark = pytest.mark.e2e

TOY_SEG = REPO / 'configs' / 'toy' / 'fpn_ic-r50-w16_toy-seg-128px.py'
# Measured on 2 CPU cores (AMD EPYC, 2026-12-07, toy data seed 0, the config's 320 iterations,
# about 1 minute, seeded): mIoU 0.769 trained, 0.164 untrained (all background), the same in
# two runs. Floor and margin leave room for other CPUs' rounding.
MIOU_FLOOR = 0.5
MARGIN = 0.3


@pytest.fixture(scope='module')
def workspace(tmp_path_factory) -> Path:
    ws, stdout = make_derived_workspace(tmp_path_factory.mktemp('toy_seg_ws'), 'make_toy_segmentation.py',
                                        'toy_seg')
    assert 'train: pixels background' in stdout and 'val: pixels' in stdout
    return ws


def evaluate(ws: Path, checkpoint: Path, name: str, extra=()) -> float:
    out = ws / f'{name}_metrics.json'
    run(tool('test.py') + [TOY_SEG, checkpoint, '--work-dir', ws / f'{name}_test', '--metrics-out', out,
                           *extra], cwd=ws)
    return json.loads(out.read_text())['mIoU'] / 100


@pytest.fixture(scope='module')
def trained(workspace) -> Path:
    work_dir = workspace / 'train'
    run(tool('train.py') + [TOY_SEG, '--work-dir', work_dir], cwd=workspace, timeout=1200)
    checkpoint = Path((work_dir / 'last_checkpoint').read_text().strip())
    assert checkpoint.name == f"iter_{Config.fromfile(str(TOY_SEG)).iters}.pth"
    return checkpoint


def test_label_maps_follow_the_coco_areas(workspace):
    """Per val image and class, the labelled pixels match the sum of that class's COCO areas
    (visible-pixel polygons: they rarely overlap) within 15 % + 40 px; values are 0..4."""
    coco = json.loads((workspace / 'data' / 'toy_coco' / 'annotations' / 'instances_val.json').read_text())
    areas = {}
    for ann in coco['annotations']:
        key = (ann['image_id'], ann['category_id'])
        areas[key] = areas.get(key, 0) + ann['area']
    for image in coco['images']:
        labels = cv2.imread(str(workspace / 'data' / 'toy_seg' / 'ann_dir' / 'val'
                                / (Path(image['file_name']).stem + '.png')), cv2.IMREAD_UNCHANGED)
        assert labels.shape == (image['height'], image['width']) and labels.dtype == np.uint8
        assert set(np.unique(labels)) <= {0, 1, 2, 3, 4}
        for category in range(2, 5):  # the shapes (a person's polygon is a convex hull)
            want = areas.get((image['id'], category), 0)
            got = int((labels == category).sum())
            assert abs(got - want) <= 0.15 * want + 40, (image['file_name'], category, got, want)


def test_toy_segmenter_learns(workspace, trained):
    """Trained vs untrained mIoU on the toy val split (32 images, 5 classes), and the painted
    predictions of tools/test.py --show-dir.

    Measured: trained 0.769, untrained 0.164 (it predicts background everywhere: 81 % pixel
    accuracy). tools/test.py --show-dir paints every val image (ground truth beside prediction).
    """
    cfg = Config.fromfile(str(TOY_SEG))
    torch.manual_seed(0)
    untrained = workspace / 'untrained.pth'
    torch.save({'state_dict': build_model('mmseg', cfg.model).state_dict(), 'meta': {}}, untrained)
    before = evaluate(workspace, untrained, 'untrained')
    after = evaluate(workspace, trained, 'trained', extra=['--show-dir', 'painted'])
    print(f'toy mIoU trained {after:.3f}, untrained {before:.3f}')
    assert after >= MIOU_FLOOR, f'mIoU {after:.3f}'
    assert after >= before + MARGIN, f'mIoU {after:.3f} vs untrained {before:.3f}'
    pictures = sorted((workspace / 'trained_test' / 'painted').rglob('*.png'))
    assert len(pictures) == 32, f'tools/test.py --show-dir painted {len(pictures)} of the 32 val images'
    painted = cv2.imread(str(pictures[0]))
    assert painted is not None and painted.ndim == 3


def test_search_on_the_toy_segmentation_config(workspace):
    """tools/search_dilation.py on an mmseg config (a short supernet): a valid pattern that fits
    the narrow backbone, and inherited weights that load strictly into the retrain config's
    segmentor."""
    from mmengine.runner import load_checkpoint

    from mmicconv.models.ic_resnet import ic_conv_sites
    from mmicconv.pattern import Pattern
    out = workspace / 'search'
    proc = run(tool('search_dilation.py') + [TOY_SEG, '--d-max', '2', '--supernet-iters', '20',
                                             '--calib-batches', '2', '--work-dir', out], cwd=workspace)
    assert 'IC model vs supernet restricted to the chosen taps' in proc.stdout
    pattern = Pattern.load(str(out / 'pattern.json'))
    retrain = Config.fromfile(str(out / 'retrain_config.py'))
    assert retrain.default_scope == 'mmseg'
    model = build_model('mmseg', retrain.model)
    widths = [getattr(block, attr).out_channels for _, block, attr in ic_conv_sites(model.backbone)]
    assert [entry.total for entry in pattern] == widths == [16] * 3 + [32] * 4 + [64] * 6 + [128] * 3
    assert all(max(g.dilation_h for g in e.groups) <= 2 and max(g.dilation_w for g in e.groups) <= 2
               for e in pattern)
    load_checkpoint(model, str(out / 'inherited.pth'), map_location='cpu', strict=True)


def test_a_label_map_outside_the_classes_stops_the_test_naming_it(workspace, trained, tmp_path):
    """One val label map with class 9 (the config has 5): tools/test.py exits 1 with one line
    naming that file, and without the config's hook listed (the tool adds it to mmseg configs)."""
    data = tmp_path / 'toy_seg'
    (data / 'ann_dir').mkdir(parents=True)
    (data / 'img_dir').symlink_to(workspace / 'data' / 'toy_seg' / 'img_dir')
    val = data / 'ann_dir' / 'val'
    val.mkdir()
    for src in sorted((workspace / 'data' / 'toy_seg' / 'ann_dir' / 'val').glob('*.png')):
        (val / src.name).write_bytes(src.read_bytes())
    bad = sorted(val.glob('*.png'))[3]
    labels = cv2.imread(str(bad), cv2.IMREAD_UNCHANGED)
    labels[:4, :4] = 9
    cv2.imwrite(str(bad), labels)
    config = tmp_path / 'no_label_hook.py'
    config.write_text(f"_base_ = ['{TOY_SEG}']\ncustom_hooks = [dict(type='ICPatternRecordHook')]\n"
                      f"test_dataloader = dict(dataset=dict(data_root='{data}/'))\n")
    proc = run(tool('test.py') + [config, trained, '--work-dir', tmp_path / 'work'], cwd=workspace,
               returncode=1)
    lines = proc.stderr.strip().splitlines()
    want = f"ERROR: {bad}: label map has class value(s) 9 outside the config's 5 classes"
    assert lines[-1].startswith(want), proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr
