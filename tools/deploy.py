#!/usr/bin/env python
"""Deploy an mmdet detector with IC convs to ONNX Runtime through MMDeploy, and evaluate it there.

Examples::

    # export: WORK_DIR/end2end.onnx (standard ONNX ops only) and WORK_DIR/deploy_config.py
    python tools/deploy.py configs/toy/faster-rcnn_ic-r50_fpn_toy.py work_dirs/toy/epoch_12.pth \\
        --work-dir work_dirs/toy_deploy
    # ... and evaluate the exported model in ONNX Runtime on the config's test set
    python tools/deploy.py configs/toy/faster-rcnn_ic-r50_fpn_toy.py work_dirs/toy/epoch_12.pth \\
        --work-dir work_dirs/toy_deploy --test --metrics-out ort_metrics.json --out ort_predictions.pkl

The whole detector (backbone, FPN, RPN with its proposal NMS, RoIAlign, box head,
per-class NMS) becomes one ONNX graph of standard operators (``Conv``, ``RoiAlign``,
``NonMaxSuppression``, ...) through MMDeploy 1.3.1's rewriters, run by
``onnxruntime`` without custom-op libraries. IC convs are written in the export
form ``--export-form`` (default ``taps``: nine 1x1 convs and eight one-hot
depthwise convs per layer, :mod:`mmicconv.ops.export_forms`). Height and width
are dynamic (``--static`` fixes them to the export image's). The export image is
``--image``, by default the first image of the config's test set.

``--test`` runs the exported model in ONNX Runtime (batch 1) over the config's
test dataloader with its evaluator (COCO mAP for the toy configs), as mmdet's
``tools/test.py`` does in PyTorch; ``--metrics-out`` writes the metrics as JSON,
``--out`` the predictions as mmdet's ``tools/test.py --out`` does.

MMDeploy 1.3.1 predates torch 2.13: ``mmicconv.deploy.mmdeploy_compat`` closes the two
gaps while the export runs (see ``docs/deploy.md``). Exit status 1 with one ``ERROR:``
line when a file is missing, MMDeploy/onnxruntime are not installed (with the install
command), the config is not an mmdet detector, or the export fails; ``--debug`` shows
the traceback.
"""

from __future__ import annotations

import argparse
import json
import os.path as osp
import sys
from pathlib import Path
from typing import Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# importing mmicconv registers the IC backbones and allow-lists checkpoint contents
from mmicconv.ops import EXPORT_FORMS, export_form_as  # noqa: E402
from mmicconv.utils.cli import ToolError, add_debug_arg, require_file, run_cli  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', help='mmdet detector config (e.g. configs/toy/faster-rcnn_ic-r50_fpn_toy.py)')
    p.add_argument('checkpoint', help='its trained checkpoint')
    p.add_argument('--work-dir', required=True, help='where end2end.onnx and deploy_config.py are written')
    p.add_argument('--image', help='the image traced for the export (default: the first test image)')
    p.add_argument('--export-form', default=EXPORT_FORMS[0], choices=list(EXPORT_FORMS),
                   help='how IC convs are written in ONNX (default: %(default)s)')
    p.add_argument('--opset', type=int, default=11, help='ONNX opset (default: %(default)s, as MMDeploy)')
    p.add_argument('--static', action='store_true', help="fix the input shape to the export image's")
    p.add_argument('--test', action='store_true',
                   help="evaluate the exported model in ONNX Runtime on the config's test set")
    p.add_argument('--metrics-out', type=Path, help='--test: write the metrics here (JSON)')
    p.add_argument('--out', help='--test: dump the predictions here (.pkl), as tools/test.py --out')
    add_debug_arg(p)
    return p.parse_args(argv)


def first_test_image(cfg) -> str:
    """The first image of the config's test set (COCO-style annotation file)."""
    dataset = cfg.test_dataloader.dataset
    root = dataset.get('data_root', '')
    ann = osp.join(root, dataset.ann_file)
    require_file(ann, 'test annotation')
    with open(ann) as f:
        images = json.load(f).get('images', [])
    if not images:
        raise ToolError(f'{ann}: no images; give --image')
    return osp.join(root, dataset.get('data_prefix', {}).get('img', ''), images[0]['file_name'])


def _check_detector(cfg, config: str) -> None:
    model = cfg.get('model') or {}
    if cfg.get('default_scope', 'mmdet') != 'mmdet' or ('roi_head' not in model and 'bbox_head' not in model):
        raise ToolError(f'{config}: not an mmdet detector config (tools/deploy.py deploys mmdet detectors)')
    roi_head = cfg.model.get('roi_head') or {}
    if roi_head.get('mask_head') is not None:
        raise ToolError(f'{config}: has a mask head; tools/deploy.py deploys box detectors (ObjectDetection) '
                        'only, instance segmentation is not verified')


def deploy(args: argparse.Namespace) -> int:
    """Export (and with ``--test`` evaluate); errors are raised, :func:`run_cli` prints them."""
    require_file(args.config, 'config')
    require_file(args.checkpoint, 'checkpoint')
    from mmicconv.deploy import mmdeploy_compat, mmdeploy_unavailable, onnxruntime_detection_config
    missing = mmdeploy_unavailable()
    if missing:
        raise ToolError(missing)
    from mmdeploy.apis import torch2onnx
    from mmengine.config import Config

    # importing the rewriters registers mmdet's per-level RPN NMS and in-graph padding for onnxruntime
    from mmicconv.deploy.rewriters import pad_inside_graph
    model_cfg = Config.fromfile(args.config)
    _check_detector(model_cfg, args.config)
    image = args.image or first_test_image(model_cfg)
    require_file(image, 'image')
    rcnn = (model_cfg.model.get('test_cfg') or {}).get('rcnn') or {}
    deploy_cfg = onnxruntime_detection_config(
        opset=args.opset, dynamic=not args.static, max_per_img=rcnn.get('max_per_img', 100),
        score_thr=rcnn.get('score_thr', 0.05), iou_thr=(rcnn.get('nms') or {}).get('iou_threshold', 0.5))
    if not args.static:  # a static graph has one input shape: the padded one
        pad_inside_graph(model_cfg, deploy_cfg)
    work_dir = Path(args.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    deploy_cfg.dump(str(work_dir / 'deploy_config.py'))
    print(f'[deploy] exporting {args.config} (IC convs as {args.export_form!r}), tracing {image}', flush=True)
    with mmdeploy_compat(), export_form_as(args.export_form):
        torch2onnx(image, str(work_dir), 'end2end.onnx', deploy_cfg, model_cfg, args.checkpoint, 'cpu')
    onnx_file = work_dir / 'end2end.onnx'
    if not onnx_file.is_file():
        raise ToolError(f'{args.config}: MMDeploy wrote no {onnx_file}')
    print(f'[deploy] wrote {onnx_file} ({onnx_file.stat().st_size / 2**20:.1f} MiB)', flush=True)
    if args.test:
        metrics = evaluate(model_cfg, deploy_cfg, onnx_file, work_dir, args.out)
        print(f'[deploy] ONNX Runtime metrics: {json.dumps(metrics)}', flush=True)
        if args.metrics_out:
            args.metrics_out.write_text(json.dumps(metrics, indent=1))
    return 0


def evaluate(model_cfg, deploy_cfg, onnx_file: Path, work_dir: Path, out: Optional[str]) -> dict:
    """The exported model in ONNX Runtime over the config's test set, batch 1, its evaluator."""
    from mmdeploy.apis.utils import build_task_processor
    model_cfg = model_cfg.copy()
    model_cfg.test_dataloader.batch_size = 1  # the exported graph runs one image at a time
    processor = build_task_processor(model_cfg, deploy_cfg, 'cpu')
    model = processor.build_backend_model([str(onnx_file)])
    runner = processor.build_test_runner(model, str(work_dir / 'ort_test'))
    if out:
        from mmdet.evaluation import DumpDetResults
        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=out))
    return {k: float(v) for k, v in runner.test().items()}


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: deploy(args), args.debug, files=[args.config])


if __name__ == '__main__':
    sys.exit(main())
