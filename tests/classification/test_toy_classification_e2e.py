"""The toy classification task end to end: crops of the toy COCO (tools/make_toy_classification.py),
the narrow IC-R50 toy config trained and tested with tools/train.py / tools/test.py, and its
checkpoint as the pretrained backbone of a detector (the paper's protocol, pretrain -> fine-tune)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import REPO, build_model
from mmengine.config import Config
from tool_helpers import make_derived_workspace, run, tool

import mmicconv  # noqa: F401
from mmicconv.checkpoint.record import PatternMismatchError

pytest.importorskip('mmpretrain')
pytestmark = pytest.mark.e2e

TOY_CLS = REPO / 'configs' / 'toy' / 'ic-r50-w16_toy-cls-64px.py'
TOY_PATTERN = REPO / 'pattern_zoo' / 'toy' / 'ic_resnet50-w16_toy.json'
# Measured on 2 CPU cores (Intel Xeon, quiet, toy data seed 0, the config's 12 epochs = 288
# iterations, about 35 s): top-1 0.974 on the 195 val crops for IC-R50 and for plain R50 alike;
# untrained (PyTorch's default init, seed 0) 0.210. The floor leaves room for other CPUs'
# rounding.
TOP1_FLOOR = 0.85
MARGIN = 0.3


@pytest.fixture(scope='module')
def workspace(tmp_path_factory) -> Path:
    ws, stdout = make_derived_workspace(tmp_path_factory.mktemp('toy_cls_ws'), 'make_toy_classification.py',
                                        'toy_cls')
    assert 'train: ' in stdout and 'val: ' in stdout
    return ws


def evaluate(ws: Path, checkpoint: Path, name: str) -> float:
    out = ws / f'{name}_metrics.json'
    run(tool('test.py') + [TOY_CLS, checkpoint, '--work-dir', ws / f'{name}_test', '--metrics-out', out],
        cwd=ws)
    return json.loads(out.read_text())['accuracy/top1'] / 100


@pytest.fixture(scope='module')
def trained(workspace) -> Path:
    work_dir = workspace / 'train'
    run(tool('train.py') + [TOY_CLS, '--work-dir', work_dir], cwd=workspace, timeout=900)
    checkpoint = Path((work_dir / 'last_checkpoint').read_text().strip())
    assert checkpoint.name == 'epoch_12.pth'
    return checkpoint


def test_crops_are_a_custom_dataset_layout(workspace):
    root = workspace / 'data' / 'toy_cls'
    for split in ('train', 'val'):
        folders = sorted(p.name for p in (root / split).iterdir())
        assert folders == ['ellipse', 'person', 'rectangle', 'triangle']
        assert all(any((root / split / f).glob('*.png')) for f in folders)
    import cv2
    image = cv2.imread(str(next((root / 'val' / 'person').glob('*.png'))))
    assert image.shape == (64, 64, 3)


def test_toy_classifier_learns(workspace, trained):
    cfg = Config.fromfile(str(TOY_CLS))
    torch.manual_seed(0)
    untrained = workspace / 'untrained.pth'
    torch.save({'state_dict': build_model('mmpretrain', cfg.model).state_dict(), 'meta': {}}, untrained)
    before = evaluate(workspace, untrained, 'untrained')
    after = evaluate(workspace, trained, 'trained')
    assert after >= TOP1_FLOOR, f'top-1 {after:.3f}'
    assert after >= before + MARGIN, f'top-1 {after:.3f} vs untrained {before:.3f}'


def test_detector_backbone_from_the_toy_classifier(trained):
    """Fine-tuning's start: init_cfg=Pretrained(prefix='backbone.') of the trained classifier loads
    into a detector's IC-R50 of the same pattern, and is refused, naming the layer, by one of another
    pattern (the toy pattern with each entry's channels rotated among its dilations)."""
    init = dict(type='Pretrained', prefix='backbone.', checkpoint=str(trained))
    narrow = dict(type='ICResNet', depth=50, base_channels=16, stem_channels=16, init_cfg=init)
    same = build_model('mmdet', dict(narrow, pattern=str(TOY_PATTERN)))
    same.init_weights()
    state = torch.load(trained, map_location='cpu', weights_only=True)['state_dict']
    assert torch.equal(same.layer3[2].conv2.weight, state['backbone.layer3.2.conv2.weight'])
    entries = json.loads(TOY_PATTERN.read_text())
    keys = list(entries[0])
    other = [{key: entry[keys[(i + 1) % len(keys)]] for i, key in enumerate(keys)} for entry in entries]
    other_path = trained.parent / 'other_pattern.json'
    other_path.write_text(json.dumps(other))
    refused = build_model('mmdet', dict(narrow, pattern=str(other_path)))
    with pytest.raises(PatternMismatchError, match=r'first difference at layer1\.0\.conv2'):
        refused.init_weights()
