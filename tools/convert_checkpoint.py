#!/usr/bin/env python
"""Convert a published IC-Conv checkpoint into an mmicconv backbone checkpoint.

Examples::

    # ImageNet retrain checkpoint (torchvision names, conv_list layout)
    python tools/convert_checkpoint.py ckpt/detection/r50_imagenet_retrain/ckpt.pth.tar \\
        checkpoints/ic-r50-k9_det_imagenet.pth --pattern detection/ic_resnet50_k9.json

    # MMPose 0.x pose checkpoint (backbone.* prefix; the head is dropped)
    python tools/convert_checkpoint.py ckpt/human_pose/ic_res50_k13_coco_640x640_lr0.001/ckpt.pth \\
        checkpoints/ic-r50-k13_pose_backbone.pth --pattern human_pose/ic_resnet50_k13.json

The input is read with ``torch.load(weights_only=True)``. The output holds
``state_dict`` (backbone-relative names, one ``weight`` per IC conv) and
``meta``, including the pattern record ``meta['ic_pattern']``
(:mod:`mmicconv.checkpoint.record`), so a model built with another pattern
refuses it; use it with ``init_cfg=dict(type='Pretrained', checkpoint=...)``.
Exit status 1, with one ``ERROR: <file>: <problem>`` line on stderr, when a
file is missing or unreadable, the pattern is malformed, the checkpoint has
no tensors, does not fit the pattern, or keys are missing; ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import pickle
import re
import sys
from pathlib import Path

import torch

from mmicconv.checkpoint import (
    CheckpointMismatchError,
    extract_backbone_state,
    load_state_dict_safely,
    merge_conv_lists,
)
from mmicconv.models import ic_conv_sites
from mmicconv.pattern import Pattern, PatternError
from mmicconv.checkpoint.record import add_record
from mmicconv.version import __version__

DEPTH_BY_ENTRIES = {16: 50, 33: 101, 50: 152}
ARCHS = {'resnet': dict(type='ICResNet'), 'resnext': dict(type='ICResNeXt', groups=32)}
#: ResNeXt's width-per-group argument is named differently in each framework.
RESNEXT_WIDTH = {'mmdet': 'base_width', 'mmpose': 'width_per_group'}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='published checkpoint (.pth / .pth.tar)')
    parser.add_argument('dst', help='where to write the mmicconv backbone checkpoint')
    parser.add_argument('--pattern', required=True,
                        help='pattern file the checkpoint was trained with (path or pattern_zoo-relative)')
    parser.add_argument('--depth', type=int, default=None,
                        help='ResNet depth (default: inferred from the pattern length)')
    parser.add_argument('--arch', choices=sorted(ARCHS), default='resnet',
                        help='resnet, or resnext (ResNeXt 32x4d)')
    parser.add_argument('--debug', action='store_true',
                        help='on an error, show the full traceback instead of one line')
    return parser.parse_args(argv)


def build_backbone(cfg: dict):
    """Build an IC backbone from whichever framework registry is installed."""
    from mmengine.registry import DefaultScope

    import mmicconv  # noqa: F401  (registers the backbones)
    framework = mmicconv.REGISTERED_FRAMEWORKS[0]
    registry = importlib.import_module(f'{framework}.registry').MODELS
    if cfg['type'] == 'ICResNeXt':
        cfg = dict(cfg, **{RESNEXT_WIDTH[framework]: 4})
    with DefaultScope.overwrite_default_scope(framework):
        return registry.build(cfg)


def convert(args: argparse.Namespace) -> int:
    if not Path(args.src).is_file():
        raise FileNotFoundError(f'{args.src}: checkpoint file not found')
    pattern = Pattern.load(args.pattern, search_dirs=_search_dirs())
    depth = args.depth or DEPTH_BY_ENTRIES.get(len(pattern))
    if depth is None:
        raise PatternError(f'cannot infer the depth from {len(pattern)} entries; pass --depth')
    model = build_backbone(dict(ARCHS[args.arch], depth=depth, pattern=pattern))
    conv_names = [name for name, _, _ in ic_conv_sites(model)]

    print(f'loading {args.src} (weights_only=True)')
    state, dropped = extract_backbone_state(read_checkpoint(args.src))
    state, merged = merge_conv_lists(state, pattern, conv_names)
    print(f'merged the conv_list pieces of {len(merged)} IC convs into single weights')
    if dropped:
        print(f'dropped {len(dropped)} non-backbone keys: {_short(dropped)}')
    # --- POSE helper: whole MMPose 0.x bottom-up models (mmicconv/pose/convert_0x.py, docs/pose.md) ---
    if any('keypoint_head.' in key for key in dropped):
        print('note: an MMPose 0.x bottom-up AE model; to test it as a whole (backbone and head) use '
              'python -m mmicconv.pose.convert_0x POSE_CONFIG SRC DST')
    # --- end POSE helper ---

    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # size mismatches
        detail = ' '.join(str(err).split())
        raise CheckpointMismatchError(f'{args.src} does not fit IC-ResNet-{depth} with '
                                      f'{pattern.source}: {detail[:500]}') from err
    if result.unexpected_keys:
        print(f'unexpected keys (ignored): {", ".join(result.unexpected_keys)}')
    if result.missing_keys:
        print(f'ERROR: {args.src}: missing keys: {_short(result.missing_keys, 10)}', file=sys.stderr)
        return 1
    Path(args.dst).parent.mkdir(parents=True, exist_ok=True)
    meta = dict(source=str(args.src), pattern=pattern.source, depth=depth, arch=args.arch,
                mmicconv_version=__version__)
    torch.save(add_record(dict(state_dict=model.state_dict(), meta=meta), model), args.dst)
    print(f'wrote {args.dst}: {len(state)} tensors, no missing keys')
    return 0


def read_checkpoint(path: str):
    """:func:`load_state_dict_safely`, with a file torch cannot read reported as such."""
    try:
        return load_state_dict_safely(path)
    except (CheckpointMismatchError, pickle.UnpicklingError):
        raise
    except Exception as err:  # noqa: BLE001  (torch raises many types for a file that is no checkpoint)
        raise CheckpointMismatchError(f'{path}: not a PyTorch checkpoint ({type(err).__name__}: '
                                      f'{" ".join(str(err).split())[:200]})') from err


def _search_dirs():
    from mmicconv.models import pattern_search_dirs
    return pattern_search_dirs()


def _short(keys, limit: int = 5) -> str:
    return ', '.join(keys[:limit]) + (f', ... ({len(keys) - limit} more)' if len(keys) > limit else '')


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return convert(args)
    except Exception as err:  # noqa: BLE001  (one line, no traceback, unless --debug)
        if args.debug:
            raise
        print(f'ERROR: {describe_error(err, args)}', file=sys.stderr)
        return 1


def describe_error(err: Exception, args: argparse.Namespace) -> str:
    """One line naming the file and the problem."""
    text = ' '.join(str(err).split()) or type(err).__name__
    text = re.sub(r'class `\w+` in [\w.:-]+/[\w.-]+: ', '', text)  # mmengine's build prefixes
    if isinstance(err, pickle.UnpicklingError):
        if 'weights only' in text.lower():
            return (f'{args.src}: refused to load: it holds objects outside the weights-only '
                    f'allow-list ({text[:300]})')
        return f'{args.src}: not a PyTorch checkpoint ({text[:200]})'
    if isinstance(err, PatternError):
        return text
    if isinstance(err, CheckpointMismatchError):
        return text if str(args.src) in text else f'{args.src}: {text}'
    if isinstance(err, FileNotFoundError) and str(args.src) in text:
        return text
    return f'{args.src}: {type(err).__name__}: {text[:300]}'


if __name__ == '__main__':
    sys.exit(main())
