#!/usr/bin/env python
"""Convert a published IC-Conv checkpoint into an mmicconv backbone checkpoint.

Examples::

    # ImageNet retrain checkpoint (torchvision names, conv_list layout)
    python tools/convert_checkpoint.py ckpt/detection/r50_imagenet_retrain/ckpt.pth.tar \\
        checkpoints/ic-r50-k9_det_imagenet.pth --pattern detection/ic_resnet50_k9.json

    # the same as a whole MMPretrain ImageNet classifier (backbone.* and head.fc.*), for
    # mmpretrain's tools/test.py and ImageClassificationInferencer
    python tools/convert_checkpoint.py ckpt/detection/r50_imagenet_retrain/ckpt.pth.tar \
        checkpoints/ic-r50-k9-det_in1k.pth --pattern detection/ic_resnet50_k9.json --classifier

    # MMPose 0.x pose checkpoint (backbone.* prefix; the head is dropped)
    python tools/convert_checkpoint.py ckpt/human_pose/ic_res50_k13_coco_640x640_lr0.001/ckpt.pth \\
        checkpoints/ic-r50-k13_pose_backbone.pth --pattern human_pose/ic_resnet50_k13.json

The input is read with ``torch.load(weights_only=True)``. The output holds
``state_dict`` (backbone-relative names, one ``weight`` per IC conv) and
``meta``, including the pattern record ``meta['ic_pattern']``
(:mod:`mmicconv.checkpoint.record`), so a model built with another pattern
refuses it; use it with ``init_cfg=dict(type='Pretrained', checkpoint=...)``.

With ``--classifier`` the ImageNet classifier is kept: the output is a whole
MMPretrain ``ImageClassifier`` (``backbone.*``, and ``fc.*`` as ``head.fc.*``;
global average pooling between them, which equals the paper's ``AvgPool2d(7)``
at 224x224), checked by loading it into one built from MMPretrain's registry.
Its pattern record names ``backbone.layer1.0.conv2`` & co., so a detector or
pose model initialised from it with ``init_cfg=dict(type='Pretrained',
prefix='backbone.', checkpoint=...)`` is checked against the same pattern.

The depth is inferred from the pattern length (the stage table of
:mod:`mmicconv.models.arch`) unless ``--depth`` is given. The conversion is
checked by loading the result into an IC backbone built from one framework's
registry: ``--framework`` (``mmdet``, ``mmpose``, ...), by default the first
installed row of the framework table (:mod:`mmicconv.models.frameworks`); the
output is the same whichever builds it. An unknown or uninstalled framework is
refused with one error line.

Exit status 1, with one ``ERROR: <file>: <problem>`` line on stderr, when a
file is missing or unreadable, the pattern is malformed, the checkpoint has
no tensors, does not fit the pattern, or keys are missing; with
``--classifier``, when the checkpoint has no ``fc``, its class count differs
from ``--num-classes`` or its ``fc`` does not fit the backbone; ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import pickle
import sys
from pathlib import Path
from typing import Optional

import torch

from mmicconv.checkpoint import (
    CheckpointMismatchError,
    classifier_state,
    extract_backbone_state,
    extract_fc_state,
    load_state_dict_safely,
    merge_conv_lists,
)
from mmicconv.checkpoint.record import add_record
from mmicconv.models import (
    FRAMEWORKS,
    Framework,
    FrameworkError,
    get_framework,
    ic_conv_sites,
    installed_frameworks,
    pattern_search_dirs,
)
from mmicconv.models.arch import archs_for_entries, describe_entry_count
from mmicconv.pattern import Pattern, PatternError
from mmicconv.utils.cli import ToolError, add_debug_arg, require_file, run_cli
from mmicconv.version import __version__

#: The framework whose ImageClassifier ``--classifier`` builds.
CLASSIFIER_FRAMEWORK = 'mmpretrain'

#: --arch -> the IC backbone config (mmicconv's argument names, see Framework.arg).
BACKBONES = {'resnet': dict(type='ICResNet'),
             'resnext': dict(type='ICResNeXt', groups=32, width_per_group=4)}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='published checkpoint (.pth / .pth.tar)')
    parser.add_argument('dst', help='where to write the mmicconv backbone checkpoint')
    parser.add_argument('--pattern', required=True,
                        help='pattern file the checkpoint was trained with (path or pattern_zoo-relative)')
    parser.add_argument('--depth', type=int, default=None,
                        help='ResNet depth (default: inferred from the pattern length)')
    parser.add_argument('--arch', choices=sorted(BACKBONES), default='resnet',
                        help='resnet, or resnext (ResNeXt 32x4d)')
    parser.add_argument('--framework', default=None,
                        help=f'the framework ({", ".join(FRAMEWORKS)}) whose IC backbone is built to check '
                             'the conversion; default: the first installed one, in that order. The output '
                             'is the same for all')
    parser.add_argument('--classifier', action='store_true',
                        help='keep the ImageNet classifier: write a whole MMPretrain ImageClassifier '
                             '(backbone.*, head.fc.*); needs mmpretrain')
    parser.add_argument('--num-classes', type=int, default=None,
                        help='with --classifier: the class count the head must have (default: what the '
                             "checkpoint's fc has); a checkpoint with another count is refused")
    add_debug_arg(parser)
    args = parser.parse_args(argv)
    if args.num_classes is not None and not args.classifier:
        parser.error('--num-classes needs --classifier')
    return args


def pick_framework(name: Optional[str], classifier: bool = False) -> Framework:
    """The ``--framework`` row: the named one, else the first installed one in table order
    (``mmpretrain`` with ``--classifier``, whose ImageClassifier only MMPretrain has)."""
    if classifier:
        if name not in (None, CLASSIFIER_FRAMEWORK):
            raise ToolError(f'--classifier builds an MMPretrain ImageClassifier; --framework {name} cannot')
        name = CLASSIFIER_FRAMEWORK
    if name is None:
        installed = installed_frameworks()
        if not installed:
            raise ToolError(f'no framework is installed (mmicconv supports {", ".join(FRAMEWORKS)})')
        return installed[0]
    try:
        return get_framework(name)
    except FrameworkError as err:
        raise ToolError(f'--framework {err}') from err


def build_backbone(cfg: dict, framework: Framework) -> torch.nn.Module:
    """Build an IC backbone (``cfg`` in mmicconv's argument names) from ``framework``'s registry."""
    return _build(framework.backbone_cfg(**cfg), framework)


def build_classifier(backbone: dict, num_classes: int, in_channels: int,
                     framework: Framework) -> torch.nn.Module:
    """An MMPretrain ``ImageClassifier``: the IC backbone (its last stage), global average
    pooling, and a linear head of ``num_classes`` (as mmpretrain's ResNet ImageNet configs)."""
    cfg = dict(type='ImageClassifier', backbone=framework.backbone_cfg(**backbone),
               neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=in_channels))
    return _build(cfg, framework)


def _build(cfg: dict, framework: Framework) -> torch.nn.Module:
    from mmengine.registry import DefaultScope

    import mmicconv  # noqa: F401  (registers the backbones)
    registry = importlib.import_module(framework.registry).MODELS
    with DefaultScope.overwrite_default_scope(framework.package):
        return registry.build(cfg)


def fc_shape(fc: dict, src: str, num_classes: Optional[int]) -> tuple:
    """``(classes, features)`` of the checkpoint's ``fc``; refuses a missing one or another count."""
    weight = fc.get('weight')
    if weight is None or weight.dim() != 2:
        raise ToolError(f'{src}: no ImageNet classifier (fc.weight) in the checkpoint; convert it without '
                        '--classifier for the backbone alone')
    classes, features = (int(n) for n in weight.shape)
    if num_classes is not None and num_classes != classes:
        raise ToolError(f'{src}: its classifier has {classes} classes, --num-classes asks for {num_classes}')
    return classes, features


def infer_depth(pattern: Pattern) -> int:
    """The Bottleneck ResNet depth a whole-backbone pattern fits (the stage table)."""
    archs = archs_for_entries(len(pattern), block='bottleneck')
    if len(archs) != 1:
        raise PatternError(f'cannot infer the depth from {len(pattern)} entries '
                           f'({describe_entry_count(len(pattern))}); pass --depth')
    return archs[0].depth


def convert(args: argparse.Namespace) -> int:
    """The conversion; returns the exit status (errors are raised, :func:`run_cli` prints them)."""
    require_file(args.src, 'checkpoint')
    framework = pick_framework(args.framework, args.classifier)
    pattern = Pattern.load(args.pattern, search_dirs=pattern_search_dirs())
    depth = args.depth or infer_depth(pattern)
    backbone_cfg = dict(BACKBONES[args.arch], depth=depth, pattern=pattern)
    backbone = model = build_backbone(backbone_cfg, framework)
    conv_names = [name for name, _, _ in ic_conv_sites(model)]

    print(f'loading {args.src} (weights_only=True)')
    published = read_checkpoint(args.src)
    state, dropped = extract_backbone_state(published)
    state, merged = merge_conv_lists(state, pattern, conv_names)
    if args.classifier:
        classes, features = fc_shape(extract_fc_state(published), args.src, args.num_classes)
        last_stage = _last_stage_channels(backbone)
        if features != last_stage:
            raise CheckpointMismatchError(f'{args.src}: its fc takes {features} features, the last stage '
                                          f'of IC-ResNet-{depth} gives {last_stage}')
        model = build_classifier(backbone_cfg, classes, features, framework)
        state = classifier_state(state, extract_fc_state(published))
        dropped = [key for key in dropped if not key.replace('module.', '', 1).startswith('fc.')]
        print(f'keeping the classifier: {classes} classes (head.fc), an MMPretrain ImageClassifier')
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
        raise ToolError(f'{args.src}: missing keys: {_short(result.missing_keys, 10)}')
    Path(args.dst).parent.mkdir(parents=True, exist_ok=True)
    meta = dict(source=str(args.src), pattern=pattern.source, depth=depth, arch=args.arch,
                mmicconv_version=__version__)
    if args.classifier:
        meta.update(model='ImageClassifier', num_classes=classes)
    torch.save(add_record(dict(state_dict=model.state_dict(), meta=meta), model), args.dst)
    print(f'wrote {args.dst}: {len(state)} tensors, no missing keys')
    return 0


def read_checkpoint(path: str):
    """:func:`load_state_dict_safely`, with a file torch cannot read reported as such."""
    try:
        return load_state_dict_safely(path)
    except CheckpointMismatchError:
        raise
    except pickle.UnpicklingError as err:
        text = ' '.join(str(err).split())
        if 'weights only' in text.lower():
            raise ToolError(f'{path}: refused to load: it holds objects outside the weights-only '
                            f'allow-list ({text[:300]})') from err
        raise ToolError(f'{path}: not a PyTorch checkpoint ({text[:200]})') from err
    except Exception as err:  # noqa: BLE001  (torch raises many types for a file that is no checkpoint)
        raise CheckpointMismatchError(f'{path}: not a PyTorch checkpoint ({type(err).__name__}: '
                                      f'{" ".join(str(err).split())[:200]})') from err


def _last_stage_channels(backbone: torch.nn.Module) -> int:
    """Output channels of the backbone's last residual stage."""
    stage = getattr(backbone, backbone.res_layers[-1])
    return int(stage[-1].conv3.out_channels if hasattr(stage[-1], 'conv3') else stage[-1].conv2.out_channels)


def _short(keys, limit: int = 5) -> str:
    return ', '.join(keys[:limit]) + (f', ... ({len(keys) - limit} more)' if len(keys) > limit else '')


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: convert(args), args.debug, files=[args.src])


if __name__ == '__main__':
    sys.exit(main())
