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
``meta``; use it with ``init_cfg=dict(type='Pretrained', checkpoint=...)``.
Exit status 1 when the checkpoint does not fit the pattern or keys are missing.
"""

from __future__ import annotations

import argparse
import importlib
import pickle
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
    pattern = Pattern.load(args.pattern, search_dirs=_search_dirs())
    depth = args.depth or DEPTH_BY_ENTRIES.get(len(pattern))
    if depth is None:
        raise PatternError(f'cannot infer the depth from {len(pattern)} entries; pass --depth')
    model = build_backbone(dict(ARCHS[args.arch], depth=depth, pattern=pattern))
    conv_names = [name for name, _, _ in ic_conv_sites(model)]

    print(f'loading {args.src} (weights_only=True)')
    state, dropped = extract_backbone_state(load_state_dict_safely(args.src))
    state, merged = merge_conv_lists(state, pattern, conv_names)
    print(f'merged the conv_list pieces of {len(merged)} IC convs into single weights')
    if dropped:
        print(f'dropped {len(dropped)} non-backbone keys: {_short(dropped)}')

    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # size mismatches
        raise CheckpointMismatchError(f'the checkpoint does not fit IC-ResNet-{depth} with '
                                 f'{pattern.source}:\n{err}') from err
    if result.unexpected_keys:
        print(f'unexpected keys (ignored): {", ".join(result.unexpected_keys)}')
    if result.missing_keys:
        print(f'ERROR: missing keys: {", ".join(result.missing_keys)}', file=sys.stderr)
        return 1
    Path(args.dst).parent.mkdir(parents=True, exist_ok=True)
    meta = dict(source=str(args.src), pattern=pattern.source, depth=depth, arch=args.arch,
                mmicconv_version=__version__)
    torch.save(dict(state_dict=model.state_dict(), meta=meta), args.dst)
    print(f'wrote {args.dst}: {len(state)} tensors, no missing keys')
    return 0


def _search_dirs():
    from mmicconv.models import pattern_search_dirs
    return pattern_search_dirs()


def _short(keys, limit: int = 5) -> str:
    return ', '.join(keys[:limit]) + (f', ... ({len(keys) - limit} more)' if len(keys) > limit else '')


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return convert(args)
    except (CheckpointMismatchError, PatternError, FileNotFoundError) as err:
        print(f'ERROR: {err}', file=sys.stderr)
        return 1
    except pickle.UnpicklingError as err:
        print(f'ERROR: refused to load {args.src}: it holds objects outside the weights-only '
              f'allow-list ({err})', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
