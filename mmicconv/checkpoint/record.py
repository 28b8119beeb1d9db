"""The IC pattern a checkpoint was trained with, recorded in its ``meta``.

Two IC models that differ only in their dilation patterns have state dicts
with identical keys and shapes, so a checkpoint loads silently into a model
built with the wrong pattern and gives wrong results. This module records
the pattern in ``checkpoint['meta']['ic_pattern']`` and refuses such loads.

The record (all plain ``dict``/``list``/``str``/``int``, so it survives
``torch.load(weights_only=True)``)::

    {'version': 1,
     'layers': {'backbone.layer1.0.conv2': [[1, 1, 32], [2, 2, 16], ...], ...},
     'patterns': [{'module': 'backbone', 'source': 'toy/ic_resnet50_toy.json',
                   'sha256': '...', 'pattern': [{"(0, 0)": 32, ...}, ...]}]}

``layers`` maps every ``ICConv2d`` of the saved model (qualified state-dict
name) to its output channels per dilation, ``[dilation_h, dilation_w,
channels]`` in channel order; ``patterns`` holds each IC backbone's whole
pattern in the published format and the sha256 of its canonical JSON
(:func:`pattern_sha256`).

Where it is written and checked:

* :class:`~mmicconv.engine.ICPatternRecordHook` (an mmengine hook; ``tools/train.py`` and
  ``tools/test.py`` add it): writes the record into every checkpoint the
  Runner saves, and checks ``load_from``/``--resume``/``tools/test.py``
  checkpoints before their weights are loaded.
* ``ICResNet*.init_weights`` checks an ``init_cfg=dict(type='Pretrained')``
  checkpoint (:func:`check_pretrained`).
* ``tools/convert_checkpoint.py`` writes the record of the converted backbone.

A checkpoint without the record (plain ResNet, the paper's own, or one saved
before the record existed) loads as before.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..ops import ICConv2d
from ..pattern import Pattern
from ..utils.model import unwrap_model

__all__ = ['RECORD_KEY', 'RECORD_VERSION', 'PatternMismatchError', 'CheckpointFitError', 'pattern_sha256',
           'layer_dilations', 'build_record', 'add_record', 'check_record', 'check_fits_model',
           'state_dict_of', 'check_pretrained', 'format_dilations']

#: Key of the record in ``checkpoint['meta']``.
RECORD_KEY = 'ic_pattern'
RECORD_VERSION = 1

#: ``[(dilation_h, dilation_w, output_channels), ...]`` in output-channel order.
Dilations = List[Tuple[int, int, int]]


class PatternMismatchError(ValueError):
    """A checkpoint was trained with another IC pattern than the model's."""


class CheckpointFitError(ValueError):
    """A checkpoint has no tensors, or its tensors do not fit the model."""


def pattern_sha256(pattern: Pattern) -> str:
    """sha256 of the pattern's canonical JSON (published format, compact, key order kept).

    Key order is kept because it is the output-channel order of each conv.
    """
    text = json.dumps(pattern.to_list(), separators=(',', ':'))
    return hashlib.sha256(text.encode()).hexdigest()


def _conv_dilations(conv: nn.Conv2d) -> Dilations:
    """Output channels per dilation of a conv (an ICConv2d or a plain ``nn.Conv2d``)."""
    if isinstance(conv, ICConv2d):
        unit = conv.out_channels // max(conv.pattern.total, 1)
        return [(g.dilation_h, g.dilation_w, g.channels * unit) for g in conv.pattern.groups]
    dilation = tuple(int(d) for d in conv.dilation)
    return [(dilation[0], dilation[1], int(conv.out_channels))]


def layer_dilations(model: nn.Module) -> Dict[str, Dilations]:
    """Every ``ICConv2d`` of ``model`` (qualified name, network order) -> its dilations."""
    return {name: _conv_dilations(module) for name, module in model.named_modules()
            if isinstance(module, ICConv2d)}


def format_dilations(dilations: Optional[Sequence[Sequence[int]]]) -> str:
    """``(1,1)x32 (2,2)x16`` (dilation (h,w) x output channels), or ``not an IC conv``."""
    if dilations is None:
        return 'not an IC conv'
    return ' '.join(f'({h},{w})x{n}' for h, w, n in dilations)


def build_record(model: nn.Module) -> Optional[dict]:
    """The record of ``model``, or None when it has no IC conv."""
    layers = layer_dilations(model)
    if not layers:
        return None
    patterns = []
    for name, module in model.named_modules():
        pattern = getattr(module, 'ic_pattern', None)
        if isinstance(pattern, Pattern):
            patterns.append(dict(module=name, source=pattern.source, sha256=pattern_sha256(pattern),
                                 pattern=pattern.to_list()))
    return dict(version=RECORD_VERSION,
                layers={name: [list(group) for group in dil] for name, dil in layers.items()},
                patterns=patterns)


def add_record(checkpoint: dict, model: nn.Module) -> dict:
    """Put ``model``'s record into ``checkpoint['meta']`` (in place; nothing for a plain model)."""
    record = build_record(unwrap_model(model))
    if record is not None:
        meta = checkpoint.get('meta')
        if not isinstance(meta, dict):
            meta = checkpoint['meta'] = {}
        meta[RECORD_KEY] = record
    return checkpoint


def state_dict_of(checkpoint: Any) -> Optional[Mapping[str, Any]]:
    """The tensors dict of a loaded checkpoint (``state_dict``/``model`` or the dict itself)."""
    obj = checkpoint
    for _ in range(3):
        if not isinstance(obj, Mapping):
            return None
        if any(torch.is_tensor(v) for v in obj.values()):
            return obj
        wrapper = next((k for k in ('state_dict', 'model', 'net') if isinstance(obj.get(k), Mapping)), None)
        if wrapper is None:
            return None
        obj = obj[wrapper]
    return None


def _record_of(checkpoint: Any) -> Optional[dict]:
    meta = checkpoint.get('meta') if isinstance(checkpoint, Mapping) else None
    record = meta.get(RECORD_KEY) if isinstance(meta, Mapping) else None
    return record if isinstance(record, Mapping) else None


def _strip(name: str, prefix: str) -> Optional[str]:
    if not prefix:
        return name
    return name[len(prefix):] if name.startswith(prefix) else None


def check_record(checkpoint: Any, model: nn.Module, source: str = 'the checkpoint',
                 prefix: str = '') -> bool:
    """Refuse a checkpoint recorded with another pattern than ``model``'s.

    Compares, in ``model``'s module order, every conv named in the record (or
    an IC conv of ``model`` whose weight the checkpoint holds without a record
    entry, i.e. a plain conv when it was saved) with the model's conv of the
    same name. Names the record has but the model lacks are skipped (those
    weights do not load anyway).

    Args:
        checkpoint: The loaded checkpoint (with ``meta``).
        model: The model (or backbone) the weights go into.
        source: The checkpoint's name, for the message.
        prefix: Only the record's names under this prefix, with it stripped
            (``init_cfg=dict(type='Pretrained', prefix='backbone.')``).

    Returns:
        True when a record was found and matched, False when there is none.

    Raises:
        PatternMismatchError: naming the first differing layer and the
            dilations of both sides.
    """
    record = _record_of(checkpoint)
    if record is None:
        return False
    recorded: Dict[str, Optional[Dilations]] = {}
    for name, groups in (record.get('layers') or {}).items():
        local = _strip(name, prefix)
        if local is not None:
            recorded[local] = [tuple(int(v) for v in group) for group in groups]
    state = state_dict_of(checkpoint) or {}
    weight_names = {local[:-len('.weight')] for key in state
                    if (local := _strip(key.replace('module.', '', 1), prefix)) and local.endswith('.weight')}
    model = unwrap_model(model)
    differing = []
    compared = 0
    for name, module in model.named_modules():
        if not isinstance(module, nn.Conv2d):
            continue
        if name in recorded:
            theirs = recorded[name]
        elif isinstance(module, ICConv2d) and name in weight_names:
            theirs = None  # saved with a record, but this conv was not an IC conv then
        else:
            continue
        compared += 1
        ours = _conv_dilations(module)
        if theirs is None or [tuple(g) for g in theirs] != ours:
            differing.append((name, theirs, ours))
    if differing:
        name, theirs, ours = differing[0]
        raise PatternMismatchError(
            f'{source} was trained with another IC pattern than the model: first difference at {name}: '
            f'checkpoint dilations {format_dilations(theirs)}, model dilations {format_dilations(ours)} '
            f'({len(differing)} of {compared} convs differ; checkpoint pattern '
            f'{_describe_patterns(record.get("patterns"), prefix)}, model pattern '
            f'{_describe_model_patterns(model)})')
    return True


def _describe_patterns(patterns: Any, prefix: str) -> str:
    out = []
    for entry in patterns or []:
        if isinstance(entry, Mapping) and _strip(str(entry.get('module', '')) + '.', prefix) is not None:
            out.append(f'{entry.get("source")} sha256 {str(entry.get("sha256"))[:12]}')
    return ', '.join(out) or 'unknown'


def _describe_model_patterns(model: nn.Module) -> str:
    out = [f'{p.source} sha256 {pattern_sha256(p)[:12]}' for _, m in model.named_modules()
           if isinstance(p := getattr(m, 'ic_pattern', None), Pattern)]
    return ', '.join(out) or 'none (plain convs)'


def check_fits_model(checkpoint: Any, model: nn.Module, source: str = 'the checkpoint',
                     strict: bool = True) -> None:
    """Refuse a checkpoint without tensors, or (``strict``) one whose tensors do not fit.

    Raises:
        CheckpointFitError: no tensors; or missing keys / shape mismatches
            (counted, the first one named).
    """
    state = state_dict_of(checkpoint)
    if not state:
        keys = sorted(checkpoint)[:8] if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        raise CheckpointFitError(f'{source}: holds no tensors (top-level: {keys})')
    if not strict:
        return
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    expected = unwrap_model(model).state_dict()
    # BatchNorm fills a missing ``num_batches_tracked`` itself (checkpoints of older torch)
    missing = [k for k in expected if k not in state and not k.endswith('num_batches_tracked')]
    shapes = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in expected.items()
              if k in state and torch.is_tensor(state[k]) and tuple(state[k].shape) != tuple(v.shape)]
    if missing or shapes:
        parts = []
        if missing:
            parts.append(f'{len(missing)} of the model\'s {len(expected)} tensors missing '
                         f'(first: {missing[0]})')
        if shapes:
            key, theirs, ours = shapes[0]
            parts.append(f'{len(shapes)} shape mismatches (first: {key} {list(theirs)} in the checkpoint, '
                         f'{list(ours)} in the model)')
        raise CheckpointFitError(f'{source} does not fit the model: {"; ".join(parts)}')


def _pretrained_cfgs(init_cfg: Any) -> Iterable[Mapping]:
    for cfg in init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]:
        if isinstance(cfg, Mapping) and cfg.get('type') == 'Pretrained' and cfg.get('checkpoint'):
            yield cfg


def check_pretrained(backbone: nn.Module) -> None:
    """Check ``backbone.init_cfg``'s ``Pretrained`` checkpoint against the backbone's pattern.

    Called by ``ICResNet*.init_weights`` before the weights load. Only local
    files are read (a URL is not downloaded twice; the published checkpoints
    behind URLs carry no record); a file that cannot be read is left to the
    upstream loader, which reports it.

    Raises:
        PatternMismatchError: see :func:`check_record`.
    """
    for cfg in _pretrained_cfgs(getattr(backbone, 'init_cfg', None)):
        if not os.path.isfile(str(cfg['checkpoint'])):
            continue
        from mmengine.runner.checkpoint import CheckpointLoader
        try:
            checkpoint = CheckpointLoader.load_checkpoint(str(cfg['checkpoint']), map_location='cpu')
        except Exception:  # noqa: BLE001  (the upstream loader raises the real error next)
            continue
        check_record(checkpoint, backbone, source=str(cfg['checkpoint']), prefix=cfg.get('prefix') or '')
