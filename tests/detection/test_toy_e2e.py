"""End to end on the toy COCO, through the command-line tools (CPU).

Everything runs in a temporary workspace (toy data under ``data/toy_coco``,
the cwd of every subprocess); the configs are used in place, nothing is
copied into the installed mmdet.

One full toy training (Mask R-CNN IC-R50, the toy schedule) serves the
segm and bbox learning assertions. Resume and multi-process training are
checked in ``test_resume.py`` and ``test_multiprocess.py`` (narrow models,
compared against uninterrupted / single-process runs).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, build_model
from mmengine.config import Config
from tool_helpers import make_toy_workspace, run, tool

import mmicconv  # noqa: F401  (allow-lists mmengine's checkpoint contents for weights_only)

pytestmark = pytest.mark.e2e

TOY_MASK = REPO / 'configs' / 'toy' / 'mask-rcnn_ic-r50_fpn_toy.py'
TOY_FASTER = REPO / 'configs' / 'toy' / 'faster-rcnn_ic-r50_fpn_toy.py'
# a few iterations: 8 train images (2 iterations of 4), 4 val images
SHORT = ['train_cfg.max_epochs=1', 'train_dataloader.dataset.indices=8',
         'val_dataloader.dataset.indices=4', 'test_dataloader.dataset.indices=4']
# toy val AP floors and gains over the untrained model; see test_toy_mask_rcnn_learns
UNTRAINED_MAX = 0.02
AP_FLOOR = {'segm': 0.065, 'bbox': 0.08}
AP_GAIN = {'segm': 0.06, 'bbox': 0.07}
AP50_GAIN = {'segm': 0.18, 'bbox': 0.25}


@pytest.fixture(scope='module')
def workspace(tmp_path_factory) -> Path:
    return make_toy_workspace(tmp_path_factory.mktemp('toy_ws'))


def evaluate(ws: Path, config: Path, checkpoint: Path, name: str, extra=()) -> dict:
    out = ws / f'{name}_metrics.json'
    run(tool('test.py') + [config, checkpoint, '--work-dir', ws / f'{name}_test',
                           '--metrics-out', out, *extra], cwd=ws)
    return json.loads(out.read_text())


@pytest.fixture(scope='module')
def trained(workspace) -> dict:
    """The toy Mask R-CNN IC-R50 trained with tools/train.py (the full toy schedule).

    One training serves the bbox and the segm assertions: the toy Faster R-CNN
    is the same detector without the mask branch (its config is trained in the
    resume and multi-process tests, narrow, and by tools/run_demo.sh). The
    config validates on the val split after the last epoch (the test split is
    the same), so those metrics are the trained model's test metrics.
    """
    work_dir = workspace / 'mask_train'
    run(tool('train.py') + [TOY_MASK, '--work-dir', work_dir], cwd=workspace, timeout=1500)
    checkpoint = Path((work_dir / 'last_checkpoint').read_text().strip())
    assert checkpoint.is_file()
    check_pattern_record(checkpoint)
    records = [json.loads(line) for scalars in work_dir.glob('*/vis_data/scalars.json')
               for line in scalars.read_text().splitlines()]
    metrics = [r for r in records if 'coco/segm_mAP' in r]
    assert len(metrics) == 1, f'expected one validation after the last epoch, found {len(metrics)}'
    return dict(checkpoint=checkpoint, metrics=metrics[0])


def check_pattern_record(checkpoint: Path) -> None:
    """tools/train.py's checkpoints record the toy pattern: the file's entries and their
    sha256, recomputed here from pattern_zoo/ with hashlib."""
    meta = torch.load(checkpoint, map_location='cpu')['meta']
    [record] = meta['ic_pattern']['patterns']
    published = json.loads((REPO / 'pattern_zoo' / 'toy' / 'ic_resnet50_toy.json').read_text())
    assert record['pattern'] == published
    canonical = json.dumps(published, separators=(',', ':'))    # key order = channel order
    assert record['sha256'] == hashlib.sha256(canonical.encode()).hexdigest()
    assert len(meta['ic_pattern']['layers']) == len(published) == 16


def untrained_checkpoint(ws: Path, config: Path) -> Path:
    cfg = Config.fromfile(str(config))
    torch.manual_seed(0)
    model = build_model('mmdet', cfg.model)
    model.init_weights()
    path = ws / 'untrained.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


def test_toy_mask_rcnn_learns(workspace, trained):
    """Trained vs untrained segm and bbox AP on the toy val split (32 images, 4 classes).

    Measured on 2 CPU cores (toy data seed 0, the config's 4 epochs = 128
    iterations, 2026-11-25): trained segm AP 0.134 (AP50 0.365), bbox AP 0.178
    (AP50 0.544); untrained (same architecture, init_weights only) segm 0.000
    (AP50 0.000), bbox 0.000 (AP50 0.003). With mmdet's full mask head (4 convs
    x 256 channels; the toy config now uses 2 x 128) one run gave segm 0.210
    (AP50 0.507), bbox 0.232 (AP50 0.628), untrained 0.000 / 0.001.
    The thresholds are about half the measured trained values (the config
    sets no seed, so every run differs; the toy Faster R-CNN varied by about
    10 % between runs) and far above the untrained scores.
    """
    trained_metrics = trained['metrics']
    untrained_metrics = evaluate(workspace, TOY_MASK, untrained_checkpoint(workspace, TOY_MASK), 'untrained')
    for kind in ('segm', 'bbox'):
        ap, ap0 = trained_metrics[f'coco/{kind}_mAP'], untrained_metrics[f'coco/{kind}_mAP']
        ap50, ap50_0 = trained_metrics[f'coco/{kind}_mAP_50'], untrained_metrics[f'coco/{kind}_mAP_50']
        print(f'toy {kind} AP trained {ap:.3f} (AP50 {ap50:.3f}), untrained {ap0:.3f} (AP50 {ap50_0:.3f})')
        assert ap0 < UNTRAINED_MAX, f'untrained {kind} AP {ap0:.3f}'
        assert ap >= AP_FLOOR[kind], f'{kind} AP {ap:.3f}'
        assert ap >= ap0 + AP_GAIN[kind], f'{kind} AP {ap:.3f} vs untrained {ap0:.3f}'
        assert ap50 >= ap50_0 + AP50_GAIN[kind], f'{kind} AP50 {ap50:.3f} vs untrained {ap50_0:.3f}'


def test_trained_detector_deploys_whole_to_onnxruntime(workspace, trained):
    """tools/deploy.py exports the trained toy detector whole (MMDeploy: backbone, FPN, RPN and
    its NMS, RoIAlign, box head, per-class NMS) to standard ONNX ops, IC convs in the 'taps'
    form; in ONNX Runtime it gives PyTorch's detections on the toy val images.

    The detector is the trained toy Mask R-CNN's box detector: its checkpoint in the toy Faster
    R-CNN config (the same config without the mask head, whose weights are left out). PyTorch's
    side is tools/test.py, batch 1. Measured (AMD EPYC, 2026-12-07, second session): PyTorch bbox
    mAP 0.189 (AP50 0.607), ONNX Runtime the same to the last digit; 488 of the 488 PyTorch
    detections scoring >= 0.3 have an ONNX Runtime one of the same class within 0.5 px and 0.01
    in score. Two of mmicconv's MMDeploy rewriters make it so (docs/deploy.md): mmdet's
    per-level RPN NMS, and the graph padding its unpadded input itself, so that it clips boxes
    to the image as mmdet does (before: 442 of 488 matched, mAP 0.187, AP50 0.596). Asserted:
    mAP and AP50 within 0.01 (the issue's tolerance), at least 95 % of the confident detections
    matched (room for another CPU's rounding).
    """
    onnx = pytest.importorskip('onnx')
    pytest.importorskip('mmdeploy', reason='mmdeploy is not installed (tools/install.sh installs it)')
    ws, checkpoint = workspace, trained['checkpoint']
    # batch 1 on both sides: a batch pads its images to one shape, which moves border features
    torch_metrics = evaluate(ws, TOY_FASTER, checkpoint, 'deploy_torch',
                             extra=['--out', ws / 'torch.pkl',
                                    '--cfg-options', 'test_dataloader.batch_size=1'])
    run(tool('deploy.py') + [TOY_FASTER, checkpoint, '--work-dir', ws / 'deploy', '--test',
                             '--metrics-out', ws / 'ort.json', '--out', ws / 'ort.pkl'], cwd=ws, timeout=900)
    ort_metrics = json.loads((ws / 'ort.json').read_text())
    print(f"toy box AP PyTorch {torch_metrics['coco/bbox_mAP']:.3f} "
          f"(AP50 {torch_metrics['coco/bbox_mAP_50']:.3f}), ONNX Runtime {ort_metrics['coco/bbox_mAP']:.3f} "
          f"(AP50 {ort_metrics['coco/bbox_mAP_50']:.3f})")
    # a trained detector, so that equal metrics mean something
    assert torch_metrics['coco/bbox_mAP'] >= AP_FLOOR['bbox']
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50'):
        assert abs(ort_metrics[key] - torch_metrics[key]) <= 0.01, (key, ort_metrics[key], torch_metrics[key])

    graph = onnx.load(str(ws / 'deploy' / 'end2end.onnx'), load_external_data=False).graph
    assert {node.domain for node in graph.node} <= {'', 'ai.onnx'}  # no custom-op library needed
    assert {'RoiAlign', 'NonMaxSuppression'} <= {node.op_type for node in graph.node}
    assert not any(node.op_type == 'Concat' and 'conv2' in node.name for node in graph.node)  # taps form

    with open(ws / 'torch.pkl', 'rb') as f:
        want = {r['img_id']: r['pred_instances'] for r in pickle.load(f)}
    with open(ws / 'ort.pkl', 'rb') as f:
        got = {r['img_id']: r['pred_instances'] for r in pickle.load(f)}
    assert got.keys() == want.keys()
    confident = matched = 0
    for img_id, ref in want.items():
        out = got[img_id]
        for box, score, label in zip(ref['bboxes'], ref['scores'], ref['labels']):
            if score < 0.3:
                continue
            confident += 1
            same = ((out['labels'] == label) & ((out['bboxes'] - box).abs().max(dim=1).values <= 0.5)
                    & ((out['scores'] - score).abs() <= 0.01))
            matched += bool(same.any())
    print(f'confident PyTorch detections matched in ONNX Runtime: {matched} of {confident}')
    assert confident >= 100 and matched >= 0.95 * confident, (matched, confident)


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
