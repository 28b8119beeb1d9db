"""End to end on the toy COCO, through the command-line tools (CPU).

Everything runs in a temporary workspace (toy data under ``data/toy_coco``,
the cwd of every subprocess); the configs are used in place, nothing is
copied into the installed mmdet.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, build_model
from mmengine.config import Config
from tool_helpers import free_port, make_toy_workspace, run, tool

import mmicconv  # noqa: F401  (allow-lists mmengine's checkpoint contents for weights_only)

pytestmark = pytest.mark.e2e

TOY_FASTER = REPO / 'configs' / 'toy' / 'faster-rcnn_ic-r50_fpn_toy.py'
TOY_MASK = REPO / 'configs' / 'toy' / 'mask-rcnn_ic-r50_fpn_toy.py'
# a few iterations: 8 train images (2 iterations of 4), 4 val images
SHORT = ['train_cfg.max_epochs=1', 'train_dataloader.dataset.indices=8',
         'val_dataloader.dataset.indices=4', 'test_dataloader.dataset.indices=4']




@pytest.fixture(scope='module')
def workspace(tmp_path_factory) -> Path:
    return make_toy_workspace(tmp_path_factory.mktemp('toy_ws'))


def evaluate(ws: Path, config: Path, checkpoint: Path, name: str, extra=()) -> dict:
    out = ws / f'{name}_metrics.json'
    run(tool('test.py') + [config, checkpoint, '--work-dir', ws / f'{name}_test',
                           '--metrics-out', out, *extra], cwd=ws)
    return json.loads(out.read_text())


@pytest.fixture(scope='module')
def trained(workspace) -> Path:
    """The toy Faster R-CNN IC-R50 trained with tools/train.py (the full toy schedule)."""
    work_dir = workspace / 'faster_train'
    run(tool('train.py') + [TOY_FASTER, '--work-dir', work_dir], cwd=workspace, timeout=1500)
    checkpoint = Path((work_dir / 'last_checkpoint').read_text().strip())
    assert checkpoint.is_file()
    return checkpoint


def untrained_checkpoint(ws: Path, config: Path) -> Path:
    cfg = Config.fromfile(str(config))
    torch.manual_seed(0)
    model = build_model('mmdet', cfg.model)
    model.init_weights()
    path = ws / 'untrained.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


def test_toy_faster_rcnn_learns(workspace, trained):
    """Trained vs untrained bbox AP on the toy val split (32 images, 4 classes).

    Measured on 2 CPU cores (toy data seed 0, the config's 4 epochs = 128
    iterations): trained AP 0.174 (AP50 0.503, AP75 0.071); untrained
    (same architecture, init_weights only) AP 0.001 (AP50 0.007).
    The thresholds (AP >= 0.08, AP50 +0.2 over untrained) leave about a 2x
    margin for run-to-run variation of a from-scratch training.
    """
    trained_metrics = evaluate(workspace, TOY_FASTER, trained, 'trained')
    untrained_metrics = evaluate(workspace, TOY_FASTER, untrained_checkpoint(workspace, TOY_FASTER),
                                 'untrained')
    ap, ap0 = trained_metrics['coco/bbox_mAP'], untrained_metrics['coco/bbox_mAP']
    ap50, ap50_0 = trained_metrics['coco/bbox_mAP_50'], untrained_metrics['coco/bbox_mAP_50']
    print(f'toy bbox AP trained {ap:.3f} (AP50 {ap50:.3f}), untrained {ap0:.3f} (AP50 {ap50_0:.3f})')
    assert ap0 < 0.02
    assert ap >= 0.08 and ap >= ap0 + 0.06
    assert ap50 >= ap50_0 + 0.2


def test_resume_and_load_from_under_weights_only(workspace, trained):
    """A toy checkpoint (model + optimizer + message hub) loads with torch's default
    ``weights_only=True``: ``--resume`` continues at the next epoch, ``load_from`` loads."""
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ
    meta = torch.load(trained, map_location='cpu')['meta']      # weights_only=True is torch's default
    done = meta['epoch']
    work_dir = workspace / 'resumed'
    proc = run(tool('train.py') + [TOY_FASTER, '--work-dir', work_dir, '--resume', trained, '--cfg-options',
                                   *SHORT[1:], f'train_cfg.max_epochs={done + 1}'], cwd=workspace)
    log = proc.stdout + proc.stderr
    assert f'resumed epoch: {done}' in log and 'Weights only load failed' not in log
    resumed = torch.load(work_dir / f'epoch_{done + 1}.pth', map_location='cpu')
    assert resumed['meta']['epoch'] == done + 1
    assert 'optimizer' in resumed and 'message_hub' in resumed

    proc = run(tool('train.py') + [TOY_FASTER, '--work-dir', workspace / 'loaded', '--cfg-options', *SHORT,
                                   f'load_from={trained}'], cwd=workspace)
    log = proc.stdout + proc.stderr
    assert f'Load checkpoint from {trained}' in log and 'Weights only load failed' not in log


def test_stock_mmdet_tools_run_our_config(workspace):
    """mmdet's own tools/train.py and tools/test.py (inside the installed package)
    run the toy Mask R-CNN config unchanged: custom_imports brings mmicconv in."""
    import mmdet
    stock = Path(mmdet.__file__).parent / '.mim' / 'tools'
    assert (stock / 'train.py').is_file(), 'mmdet was installed without its .mim tools'
    work_dir = workspace / 'stock'
    run([sys.executable, stock / 'train.py', TOY_MASK, '--work-dir', work_dir, '--cfg-options', *SHORT],
        cwd=workspace)
    checkpoint = work_dir / 'epoch_1.pth'
    state = torch.load(checkpoint, map_location='cpu')['state_dict']
    assert 'backbone.layer4.2.conv2.weight' in state and 'roi_head.mask_head.conv_logits.weight' in state
    dumped = Config.fromfile(str(work_dir / TOY_MASK.name))
    assert dumped.model.backbone.type == 'ICResNet'
    proc = run([sys.executable, stock / 'test.py', TOY_MASK, checkpoint, '--work-dir', work_dir / 'test',
                '--cfg-options', *SHORT[3:]], cwd=workspace)
    log = proc.stdout + proc.stderr
    assert 'coco/bbox_mAP' in log and 'coco/segm_mAP' in log



def test_dist_train_two_cpu_processes(workspace):
    """tools/dist_train.sh with 2 processes on the CPU (gloo), then dist_test.sh."""
    work_dir = workspace / 'dist'
    env = {'PORT': str(free_port()), 'PYTHON': sys.executable}
    proc = run(['bash', REPO / 'tools' / 'dist_train.sh', TOY_FASTER, '2', '--work-dir', work_dir,
                '--cfg-options', *SHORT], cwd=workspace, env=env)
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log and 'Weights only load failed' not in log
    text = next(work_dir.glob('*/*.log')).read_text()
    assert "backend='gloo'" in text or 'backend=gloo' in text
    state = torch.load(work_dir / 'epoch_1.pth', map_location='cpu')['state_dict']
    assert not any(k.startswith('module.') for k in state)
    env['PORT'] = str(free_port())
    proc = run(['bash', REPO / 'tools' / 'dist_test.sh', TOY_FASTER, work_dir / 'epoch_1.pth', '2',
                '--work-dir', work_dir / 'test', '--cfg-options', *SHORT[3:]], cwd=workspace, env=env)
    assert 'coco/bbox_mAP' in proc.stdout + proc.stderr
