"""Shared pieces of ``tools/train.py`` and ``tools/test.py`` (not a CLI).

* :func:`load_config`: read a config, merge ``--cfg-options``, set the launcher
  and the work dir the way MMDetection's stock tools do.
* :func:`prepare_cpu_distributed`: make ``--launcher pytorch`` work without
  CUDA. mmengine 0.10.7 calls ``torch.cuda.set_device`` before
  ``init_process_group`` and wraps the model in DDP with ``device_ids``; both
  fail on a CPU-only torch. Here the process group is created first (gloo;
  mmengine then skips its own init) and the model wrapper is one that drops
  ``device_ids``.
* :func:`import_scope_registry`: the config's ``default_scope`` (``mmdet``,
  ``mmpose``, ...) decides which OpenMMLab package the Runner builds from.
* :func:`check_config_patterns`: fail fast on a bad ``pattern=``, before a
  model or dataset is built (the error contract itself, ``run_cli`` and
  ``require_file``, is :mod:`mmicconv.utils.cli`).
* :func:`add_project_hooks`: the IC pattern record of
  :mod:`mmicconv.checkpoint.record` in every Runner the tools build, and the
  label-map check (:class:`mmicconv.engine.hooks.SegLabelCheckHook`) in
  MMSegmentation's.
"""

from __future__ import annotations

import argparse
import importlib
import os
import os.path as osp
from typing import Any, Iterator

import torch
from mmengine.config import Config, DictAction

from mmicconv.utils.cli import ToolError, add_debug_arg, first_line, require_file

__all__ = ['add_common_args', 'load_config', 'prepare_cpu_distributed', 'import_scope_registry',
           'finish_distributed', 'check_config_patterns', 'add_project_hooks']


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """``--work-dir``, ``--cfg-options``, ``--launcher``, ``--local_rank`` (as in mmdet's tools)."""
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override some settings in the used config, the key-value pair in xxx=yyy format '
             'will be merged into the config file (e.g. env_cfg.dist_cfg.backend=gloo)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or --local_rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help='set by the launcher; exported as LOCAL_RANK')
    add_debug_arg(parser)


def load_config(args: argparse.Namespace) -> Config:
    """The config with ``--cfg-options`` merged, ``launcher`` and ``work_dir`` set."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    require_file(args.config, 'config')
    try:
        cfg = Config.fromfile(args.config)
    except Exception as err:  # syntax errors, missing _base_ files, bad imports
        raise ToolError(f'{args.config}: cannot read the config: {first_line(err)}') from err
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def import_scope_registry(cfg: Config) -> str:
    """Import ``<default_scope>.registry`` (clear error if that package is missing)."""
    scope = cfg.get('default_scope', None) or 'mmengine'
    if scope != 'mmengine':
        try:
            importlib.import_module(f'{scope}.registry')
        except ImportError as err:
            raise SystemExit(f'the config has default_scope={scope!r} but {scope} cannot be '
                             f'imported: {err}') from err
    return scope


def finish_distributed() -> None:
    """Barrier, then destroy the process group, if one exists.

    Without it, gloo's worker threads are still alive at interpreter exit and
    a rank may die with "terminate called without an active exception"
    (SIGABRT) after a run that otherwise completed.
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def prepare_cpu_distributed(cfg: Config) -> None:
    """For a distributed launch without CUDA: gloo process group + CPU DDP wrapper.

    A ``nccl`` backend in ``env_cfg.dist_cfg`` (the mmdet/mmpose default) is
    switched to ``gloo``; any other backend set in the config or through
    ``--cfg-options`` is kept.
    """
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'
    if cfg.launcher != 'pytorch':
        return  # slurm/mpi: left to mmengine
    if not torch.distributed.is_initialized():
        extra = {k: v for k, v in dist_cfg.items() if k != 'backend'}
        torch.distributed.init_process_group(backend=dist_cfg['backend'], **extra)
    wrapper = cfg.get('model_wrapper_cfg', None)
    if wrapper is None:
        cfg.model_wrapper_cfg = dict(type='CPUDistributedDataParallel',
                                     find_unused_parameters=cfg.get('find_unused_parameters', False))
    elif wrapper.get('type', 'MMDistributedDataParallel') == 'MMDistributedDataParallel':
        wrapper['type'] = 'CPUDistributedDataParallel'


def _pattern_args(node: Any, where: str = 'model') -> Iterator[tuple]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'pattern' and isinstance(value, (str, list, tuple)):
                yield f'{where}.pattern', value
            else:
                yield from _pattern_args(value, f'{where}.{key}')
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from _pattern_args(value, f'{where}[{index}]')


def check_config_patterns(cfg: Config, config_path: str) -> int:
    """Load every ``pattern=`` file or list of ``cfg.model`` (before the model is built).

    Returns:
        How many were checked.

    Raises:
        ToolError: naming the config, the config key and the pattern problem.
    """
    from mmicconv.models import pattern_search_dirs
    from mmicconv.pattern import Pattern, PatternError

    count = 0
    for where, value in _pattern_args(cfg.get('model', None)):
        try:
            Pattern.load(value, search_dirs=pattern_search_dirs())
        except PatternError as err:
            raise ToolError(f'{config_path}: {where}: {first_line(err)}') from err
        count += 1
    return count


def _find_hook(hooks: list, name: str):
    return next((hook for hook in hooks if hook.get('type') in (name, f'mmicconv.{name}')), None)


def add_project_hooks(cfg: Config, check_fit: bool = False) -> None:
    """Add :class:`mmicconv.engine.ICPatternRecordHook` to ``custom_hooks`` unless the
    config has it (its ``check_fit`` is then set when asked), and for an
    MMSegmentation config (``default_scope='mmseg'``) the
    :class:`mmicconv.engine.hooks.SegLabelCheckHook` unless it has it."""
    import mmicconv.engine  # noqa: F401  (registers the hooks)

    hooks = list(cfg.get('custom_hooks', None) or [])
    record = _find_hook(hooks, 'ICPatternRecordHook')
    if record is None:
        hooks.append(dict(type='ICPatternRecordHook', check_fit=check_fit))
    elif check_fit:
        record['check_fit'] = True
    if cfg.get('default_scope', None) == 'mmseg' and _find_hook(hooks, 'SegLabelCheckHook') is None:
        hooks.append(dict(type='SegLabelCheckHook'))
    cfg.custom_hooks = hooks
