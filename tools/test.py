#!/usr/bin/env python
"""Evaluate a checkpoint with an MMDetection or MMPose config (mmengine Runner).

Same command line as MMDetection's ``tools/test.py``::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
        [--show] [--show-dir DIR] [--wait-time S] [--tta] [--cfg-options k=v ...]
        [--launcher none|pytorch|slurm|mpi] [--debug]

plus ``--metrics-out FILE`` (this project's addition): write the final
metrics as JSON, e.g. ``{"coco/bbox_mAP": 0.41, ...}``.

The checkpoint must fit the model: one with no tensors, missing tensors or
other shapes is refused, and so is one recorded with another IC pattern than
the config's (:mod:`mmicconv.checkpoint.record`), before any image is evaluated.
``--show-dir DIR`` writes the painted predictions (mmdet's or mmpose's
visualiser) under ``WORK_DIR/<timestamp>/DIR``. Errors end with one
``ERROR: <file>: <problem>`` line on stderr and exit status 1; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import json
import numbers
import os.path as osp
import sys
from pathlib import Path
from typing import Optional, Sequence

from launch_utils import (
    add_common_args,
    add_project_hooks,
    check_config_patterns,
    finish_distributed,
    import_scope_registry,
    load_config,
    prepare_cpu_distributed,
)
from mmengine.config import Config, ConfigDict
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmicconv.utils.cli import require_file, run_cli


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', type=str, help='dump predictions to a pickle file (.pkl)')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument('--show-dir', help='directory (inside the run dir) where painted images are saved')
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation (tta_model in the config)')
    parser.add_argument('--metrics-out', help='write the final metrics to this JSON file')
    add_common_args(parser)
    args = parser.parse_args(argv)
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error('--out must end with .pkl or .pickle')
    return args


def enable_visualization(cfg: Config, args: argparse.Namespace) -> None:
    """``--show``/``--show-dir`` for mmdet's, mmpose's and mmseg's visualization hooks."""
    hook = cfg.default_hooks.get('visualization', None)
    if hook is None:
        raise SystemExit('--show/--show-dir need default_hooks.visualization in the config')
    if hook.get('type') == 'PoseVisualizationHook':
        hook.enable = True
        if args.show_dir:
            hook.out_dir = args.show_dir
    elif hook.get('type') == 'SegVisualizationHook':
        # mmseg's hook paints through the visualizer's backends, every `interval` images:
        # every image, into WORK_DIR/SHOW_DIR/vis_data/vis_image/ (mmdet's and mmpose's paint all)
        hook.draw = True
        if args.show_dir:
            cfg.visualizer.save_dir = osp.join(cfg.work_dir, args.show_dir)
            hook.interval = 1
    else:
        hook.draw = True
        if args.show_dir:
            hook.test_out_dir = args.show_dir
    hook.show = args.show
    hook.wait_time = args.wait_time
    if args.show:
        hook.interval = 1


def enable_tta(cfg: Config) -> None:
    if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
        raise SystemExit('--tta needs tta_model and tta_pipeline in the config')
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def dump_metric(scope: str, out: str):
    """mmdet's ``DumpDetResults`` for mmdet configs, mmengine's ``DumpResults`` otherwise."""
    try:
        return importlib.import_module(f'{scope}.evaluation').DumpDetResults(out_file_path=out)
    except (ImportError, AttributeError):
        from mmengine.evaluator import DumpResults
        return DumpResults(out_file_path=out)


def test(args: argparse.Namespace) -> int:
    require_file(args.checkpoint, 'checkpoint')
    cfg = load_config(args)
    scope = import_scope_registry(cfg)
    check_config_patterns(cfg, args.config)
    cfg.load_from = args.checkpoint
    add_project_hooks(cfg, check_fit=True)
    if args.show or args.show_dir:
        enable_visualization(cfg, args)
    if args.tta:
        enable_tta(cfg)
    prepare_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    if args.out is not None:
        runner.test_evaluator.metrics.append(dump_metric(scope, args.out))
    metrics = runner.test()
    if args.metrics_out and runner.rank == 0:
        Path(args.metrics_out).parent.mkdir(parents=True, exist_ok=True)
        # numbers.Number covers numpy scalars too (mmseg's metrics are numpy float32)
        Path(args.metrics_out).write_text(json.dumps({k: float(v) if isinstance(v, numbers.Number) else v
                                                      for k, v in metrics.items()}, indent=2))
    finish_distributed()
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: test(args), args.debug, files=[args.config, args.checkpoint])


if __name__ == '__main__':
    sys.exit(main())
