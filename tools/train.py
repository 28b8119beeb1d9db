#!/usr/bin/env python
"""Train a model from an MMDetection or MMPose config (mmengine Runner).

Same command line as MMDetection's ``tools/train.py``::

    python tools/train.py CONFIG [--work-dir DIR] [--amp] [--auto-scale-lr]
        [--resume [CHECKPOINT]] [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]
        [--debug]

Every checkpoint it saves records the IC pattern in ``meta['ic_pattern']``,
and a ``load_from``/``--resume`` checkpoint recorded with another pattern is
refused (:mod:`mmicconv.checkpoint.record`). Errors (missing or unreadable
config, pattern or checkpoint file, a checkpoint with no tensors, a config
that does not build) end with one ``ERROR: <file>: <problem>`` line on stderr
and exit status 1; ``--debug`` shows the traceback instead.

The config's ``default_scope`` (``mmdet`` or ``mmpose``) decides which
package builds the model, datasets and hooks. Distributed runs: see
``tools/dist_train.sh``; without CUDA the gloo backend is used.
"""

from __future__ import annotations

import argparse
import sys
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
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmicconv.utils.cli import require_file, run_cli


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a detector or pose model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true', default=False,
                        help='enable automatic-mixed-precision training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by the total batch size (auto_scale_lr in the config)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint, or without a value from the latest '
                             'checkpoint in the work dir')
    add_common_args(parser)
    return parser.parse_args(argv)


def apply_train_args(cfg: Config, args: argparse.Namespace) -> Config:
    """``--amp``, ``--auto-scale-lr`` and ``--resume`` as mmdet's tool applies them."""
    if args.amp:
        wrapper_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper_type == 'AmpOptimWrapper':
            print('AMP training is already enabled in the config', flush=True)
        else:
            if wrapper_type != 'OptimWrapper':
                raise SystemExit(f'--amp needs optim_wrapper.type OptimWrapper, not {wrapper_type}')
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise SystemExit('--auto-scale-lr needs auto_scale_lr=dict(base_batch_size=...) in the config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def train(args: argparse.Namespace) -> int:
    cfg = apply_train_args(load_config(args), args)
    import_scope_registry(cfg)
    check_config_patterns(cfg, args.config)
    require_file(cfg.get('load_from', None), 'checkpoint (load_from / --resume)')
    add_project_hooks(cfg)
    prepare_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()
    finish_distributed()
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    resume = None if args.resume == 'auto' else args.resume
    return run_cli(lambda: train(args), args.debug, files=[args.config, resume])


if __name__ == '__main__':
    sys.exit(main())
