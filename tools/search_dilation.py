#!/usr/bin/env python
"""Search an IC-Conv dilation pattern for a task (EDO: supernet, selection, export).

From an IC config of a framework of the framework table (its ``default_scope``,
e.g. mmdet or mmpose; see :mod:`mmicconv.models.frameworks`) whose backbone is
an ``IC<Base>`` with a ``Supernet<Base>`` (``ICResNet`` or ``ICResNetV1d``, a
Bottleneck depth of the stage table :mod:`mmicconv.models.arch`)::

    python tools/search_dilation.py CONFIG --d-max 4 --supernet-iters N --calib-batches M \\
        --work-dir DIR [--supernet-init centre|scratch] [--load-from CKPT] [--method exact|stat] [--debug]

1. Supernet: the backbone becomes ``Supernet<Base>`` (covered 3x3 convs -> dense
   KxK, K = 2 * d_max + 1), trained for N iterations with the config's own
   data, model and optimizer (mmengine Runner, no validation, linear warmup).
2. Selection: M batches of the training data through the supernet backbone,
   once each; every candidate of every layer is scored on the captured inputs
   (``exact`` and ``stat``); ``--method`` picks which one gives the pattern.
3. Export: ``DIR/pattern.json`` (published format), ``DIR/inherited.pth``
   (the whole model with the regrouped IC weights: ``load_from`` it, or
   ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``),
   a check that the IC model with those weights equals the supernet restricted
   to the chosen taps, ``DIR/summary.md`` (one row per layer),
   ``DIR/search.json`` (numbers), ``DIR/errors.pth`` (all errors),
   ``DIR/pattern.png`` and ``DIR/retrain_config.py`` (the config with the
   searched pattern and the inherited weights).
4. The paper's protocol (with MMPretrain installed): ``DIR/pretrain_config.py``
   (the searched IC backbone as an ImageNet classifier, on ``--pretrain-config``
   or MMPretrain's stock ResNet ImageNet config of that depth) and
   ``DIR/finetune_config.py`` (the task, its backbone initialised from the
   last checkpoint of that pretraining, ``DIR/pretrain/epoch_N.pth``), with
   the commands printed (:mod:`mmicconv.search.protocol`).

A failure prints one ``ERROR: <file>: <problem>`` line and exits with status 1
(:mod:`mmicconv.utils.cli`); ``--debug`` shows the traceback instead. See
docs/search.md for the method, the choices and the measured cost.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

from mmicconv.models.arch import ARCHS
from mmicconv.models.frameworks import Framework, FrameworkError, get_framework
from mmicconv.utils.cli import ToolError, add_debug_arg, require_file, run_cli
from mmicconv.utils.model import unwrap_model as unwrap

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='EDO dilation search from an IC config')
    parser.add_argument('config', help='an mmdet/mmpose/... config with an ICResNet/ICResNetV1d backbone')
    parser.add_argument('--d-max', type=int, default=4,
                        help='largest dilation per axis (4: the "k9" space, 6: "k13"; default 4)')
    parser.add_argument('--supernet-iters', type=int, default=1000,
                        help='supernet training iterations (0: no training, e.g. with --load-from)')
    parser.add_argument('--calib-batches', type=int, default=8,
                        help='training batches used to measure the representation errors (default 8)')
    parser.add_argument('--work-dir', required=True, help='where every output goes')
    parser.add_argument('--supernet-init', choices=['centre', 'scratch'], default='centre',
                        help="'centre': KxK kernels start as the 3x3 ones on their centre taps "
                             "(outer taps zero); 'scratch': the upstream init of the whole KxK kernel")
    parser.add_argument('--load-from', default=None,
                        help='checkpoint to start the supernet from (a plain/3x3 checkpoint goes '
                             'to the centre taps; a supernet checkpoint loads as is)')
    parser.add_argument('--method', choices=['exact', 'stat'], default='exact',
                        help='which error picks the pattern (both are computed and compared)')
    parser.add_argument('--warmup-iters', type=int, default=None,
                        help='linear LR warmup length (default: a fifth of the iterations, at most 100)')
    parser.add_argument('--export-pattern', default=None, metavar='FILE',
                        help='export this pattern (published format, same layers) instead of the '
                             'searched one: inherited weights at its dilations, each layer\'s '
                             'channels matched to its counts by least total error (a control, or '
                             'a published pattern); e.g. with --supernet-iters 0 --load-from '
                             'DIR/supernet/iter_N.pth of an earlier search')
    parser.add_argument('--pretrain-config', default=None, metavar='CONFIG',
                        help='the MMPretrain classification config the pretraining step inherits '
                             '(default: mmpretrain::resnet/resnet{depth}_8xb32_in1k.py for ICResNet)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default 0)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value (merged before the conversion)')
    add_debug_arg(parser)
    return parser.parse_args(argv)


def config_framework(cfg: Config, config: str) -> Framework:
    """The framework of the config's ``default_scope`` (a row of mmicconv.models.frameworks)."""
    try:
        return get_framework(cfg.get('default_scope', None))
    except FrameworkError as err:
        raise ToolError(f'{config}: default_scope {err}') from err


def supernet_config(cfg: Config, args: argparse.Namespace, work_dir: Path) -> Config:
    """The IC config turned into the supernet's short training run."""
    cfg = copy.deepcopy(cfg)
    searchable = ['IC' + base for base in config_framework(cfg, args.config).search_backbones]
    depths = [arch.depth for arch in ARCHS.values() if arch.block == 'bottleneck']
    backbone = cfg.model.backbone
    btype = backbone.get('type', '')
    base = btype.split('.')[-1]
    if base not in searchable or backbone.get('depth') not in depths:
        raise SystemExit(f'{args.config}: model.backbone is {btype!r} of depth {backbone.get("depth")}; '
                         f'the search needs an IC config with {" or ".join(searchable)} '
                         f'(Bottleneck depths {"/".join(map(str, depths))})')
    backbone.type = btype.replace(base, 'Supernet' + base[2:])
    backbone.pop('pattern', None)
    backbone.pop('ic_strategy', None)
    backbone.d_max = args.d_max
    backbone.supernet_init = args.supernet_init
    imports = list(cfg.get('custom_imports', {}).get('imports', []))
    for name in ('mmicconv', 'mmicconv.search'):
        if name not in imports:
            imports.append(name)
    cfg.custom_imports = dict(imports=imports, allow_failed_imports=False)
    n = max(args.supernet_iters, 1)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=n, val_interval=n + 1)
    for key in ('val_cfg', 'val_dataloader', 'val_evaluator', 'test_cfg', 'test_dataloader',
                'test_evaluator'):
        cfg[key] = None
    warmup = args.warmup_iters if args.warmup_iters is not None else max(1, min(n // 5, 100))
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
                                end=max(1, min(warmup, n)))]
    hooks = cfg.setdefault('default_hooks', {})
    hooks['checkpoint'] = dict(type='CheckpointHook', interval=n, by_epoch=False, max_keep_ckpts=1)
    hooks['logger'] = dict(type='LoggerHook', interval=max(1, min(10, n // 5 or 1)))
    cfg.log_processor = dict(type='LogProcessor', window_size=10, by_epoch=False)
    cfg.load_from = args.load_from
    cfg.resume = False
    cfg.work_dir = str(work_dir / 'supernet')
    cfg.randomness = dict(seed=args.seed)
    cfg.launcher = 'none'
    return cfg




def calibration_batches(cfg: Config, model: torch.nn.Module, count: int, seed: int):
    """``count`` preprocessed input tensors from the training data."""
    loader = Runner.build_dataloader(copy.deepcopy(cfg.train_dataloader), seed=seed)
    if count > len(loader):
        print(f'[search] only {len(loader)} calibration batches available (asked {count})', flush=True)
    for batch in itertools.islice(loader, count):
        # training mode, as for the training batches they are: mmseg's preprocessor pads a batch
        # of different sizes only then (and refuses it in test mode)
        yield model.data_preprocessor(batch, True)['inputs']


def plot(pattern_path: Path, layers, method: str, out: Path) -> str:
    """tools/plot_pattern.py if present (the workflow's plot), else the built-in heat map."""
    from mmicconv.search.report import plot_histograms
    plot_tool = REPO / 'tools' / 'plot_pattern.py'
    if plot_tool.is_file():
        proc = subprocess.run([sys.executable, str(plot_tool), str(pattern_path), '--out', str(out)],
                              capture_output=True, text=True, check=False)
        if proc.returncode == 0 and out.is_file():
            return 'tools/plot_pattern.py'
        print(f'[search] tools/plot_pattern.py failed ({proc.stderr.strip()[-300:]}); '
              'using the built-in plot', flush=True)
    plot_histograms(layers, method, out)
    return 'built-in heat map'


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: search(args), args.debug, files=[args.config])


def search(args: argparse.Namespace) -> int:
    """The three steps; returns the exit status."""
    require_file(args.config, 'config')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    framework = config_framework(cfg, args.config)
    work_dir = Path(args.work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    importlib.import_module(framework.registry)
    import mmicconv  # noqa: F401
    from mmicconv.checkpoint.record import add_record
    from mmicconv.search import compare_methods, export_ic_state_dict, restrict_to_taps_, select_dilations
    from mmicconv.search.report import layer_rows, markdown_table

    # 1. supernet
    sup_cfg = supernet_config(cfg, args, work_dir)
    runner = Runner.from_cfg(sup_cfg)
    start = time.perf_counter()
    if args.supernet_iters > 0:
        print(f'[search] training the supernet (d_max={args.d_max}, K={2 * args.d_max + 1}) for '
              f'{args.supernet_iters} iterations', flush=True)
        runner.train()
    else:
        unwrap(runner.model).init_weights()
        if args.load_from:
            from mmengine.runner import load_checkpoint
            load_checkpoint(unwrap(runner.model), args.load_from, map_location='cpu')
    train_s = time.perf_counter() - start
    model = unwrap(runner.model)
    model.eval()

    # 2. selection: one pass, all layers and candidates
    print(f'[search] measuring representation errors on {args.calib_batches} batches', flush=True)
    torch.manual_seed(args.seed)
    batches = list(calibration_batches(cfg, model, args.calib_batches, args.seed))
    bar = ProgressBar(len(batches))
    start = time.perf_counter()
    layers = select_dilations(model.backbone, batches, forward=model.backbone, progress=bar.update)
    select_s = time.perf_counter() - start
    print(flush=True)
    comparison = compare_methods(layers, 'stat', 'exact')
    print(f"[search] stat vs exact: {100 * comparison['agreement']:.1f}% channels agree, "
          f"exact error of the stat choice {comparison['regret']:.3f}x the exact optimum", flush=True)

    # 3. export
    dilations = [layer.dilations(args.method) for layer in layers]
    if args.export_pattern:
        from mmicconv.pattern import Pattern
        from mmicconv.search import assign_to_pattern
        given = Pattern.load(args.export_pattern)
        if len(given) != len(layers):
            raise SystemExit(f'{args.export_pattern}: {len(given)} entries for {len(layers)} searched convs')
        dilations = [assign_to_pattern(layer.errors[args.method], conv, args.d_max)
                     for layer, conv in zip(layers, given)]
        print(f'[search] exporting the given pattern {args.export_pattern} (channels matched to its '
              f'counts by least {args.method} error), not the searched one', flush=True)
    pattern, backbone_state = export_ic_state_dict(model.backbone, dilations, prefix='backbone.')
    pattern_path = work_dir / 'pattern.json'
    pattern.dump(pattern_path)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith('backbone.')}
    state.update(backbone_state)
    torch.save({layer.name: {k: v for k, v in layer.errors.items()} for layer in layers},
               work_dir / 'errors.pth')

    # the IC model built from the config with the searched pattern; check that with the
    # inherited weights it equals the supernet restricted to the chosen taps
    ic_cfg = copy.deepcopy(cfg.model)
    ic_cfg.backbone.pattern = str(pattern_path)
    ic_cfg.backbone.init_cfg = None
    registry = importlib.import_module(framework.registry).MODELS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(framework.package):
        ic_model = registry.build(ic_cfg)
    ic_model.load_state_dict(state, strict=True)
    ic_model.eval()
    ckpt_path = work_dir / 'inherited.pth'
    meta = {'mmicconv_search': {'config': str(args.config), 'd_max': args.d_max, 'method': args.method,
                                'supernet_iters': args.supernet_iters, 'pattern': str(pattern_path),
                                'export_pattern': args.export_pattern}}
    # with the pattern record (mmicconv.checkpoint.record) that load_from / Pretrained check
    torch.save(add_record({'meta': meta, 'state_dict': state}, ic_model), ckpt_path)
    restrict_to_taps_(model.backbone, dilations)
    with torch.no_grad():
        ref = model.backbone(batches[0])
        got = ic_model.backbone(batches[0])
    max_diff = max(float((a - b).abs().max()) for a, b in zip(ref, got))
    scale = max(float(a.abs().max()) for a in ref)
    print(f'[search] IC model vs supernet restricted to the chosen taps: max |diff| {max_diff:.2e} '
          f'(outputs up to {scale:.2e})', flush=True)
    if max_diff > 1e-3 * max(scale, 1.0):
        raise SystemExit('[search] the exported IC model does not reproduce the restricted supernet')

    rows = layer_rows(layers, args.method)
    table = markdown_table(rows)
    (work_dir / 'summary.md').write_text(
        f'# Dilation search: {args.config}\n\nd_max {args.d_max}, method {args.method}, supernet '
        f'{args.supernet_iters} iterations ({args.supernet_init} init), {len(batches)} calibration '
        f"batches. stat vs exact: {100 * comparison['agreement']:.1f}% of channels agree.\n\n"
        + (f'Exported pattern: {args.export_pattern} (given; the table describes the search).\n\n'
           if args.export_pattern else '')
        +
        'rel_err_*: mean |supernet output - candidate output| / mean |supernet output|.\n\n' + table)
    print(table, flush=True)
    plotted = plot(pattern_path, layers, args.method, work_dir / 'pattern.png')
    retrain = copy.deepcopy(cfg)
    retrain.model.backbone.pattern = str(pattern_path)
    retrain.load_from = str(ckpt_path)
    retrain.dump(str(work_dir / 'retrain_config.py'))
    summary = {'config': str(args.config), 'd_max': args.d_max, 'method': args.method,
               'supernet_iters': args.supernet_iters, 'supernet_init': args.supernet_init,
               'export_pattern': args.export_pattern,
               'calib_batches': len(batches), 'supernet_train_s': train_s, 'selection_s': select_s,
               'stat_vs_exact': comparison, 'export_max_abs_diff': max_diff, 'plot': plotted,
               'layers': rows}
    (work_dir / 'search.json').write_text(json.dumps(summary, indent=2) + '\n')
    print(f'[search] wrote {pattern_path}, {ckpt_path}, summary.md, search.json, pattern.png, '
          f'retrain_config.py in {work_dir}', flush=True)
    write_protocol(cfg, pattern_path, work_dir, args.pretrain_config)
    return 0


def write_protocol(cfg: Config, pattern_path: Path, work_dir: Path, base: Optional[str]) -> None:
    """Step 4: the pretraining and fine-tuning configs of the paper's protocol."""
    from mmicconv.models.frameworks import FRAMEWORKS
    from mmicconv.search.protocol import write_protocol_configs
    if not FRAMEWORKS['mmpretrain'].installed:
        print('[search] mmpretrain is not installed: no pretrain_config.py / finetune_config.py '
              '(the paper\'s protocol pretrains the searched backbone on ImageNet with MMPretrain)',
              flush=True)
        return
    if base is not None:
        require_file(base, 'config')
        base = str(Path(base).resolve())
    paths = write_protocol_configs(cfg, pattern_path, work_dir, base)
    pretrain_dir = paths['checkpoint'].parent
    print('[search] the paper\'s protocol, next (docs/search.md):\n'
          f'  1. pretrain: python <mmpretrain>/tools/train.py {paths["pretrain_config"]} '
          f'--work-dir {pretrain_dir}\n'
          f'  2. fine-tune: python <{cfg.get("default_scope")}>/tools/train.py {paths["finetune_config"]}\n'
          f'     (its backbone starts from {paths["checkpoint"]})', flush=True)


if __name__ == '__main__':
    sys.exit(main())
