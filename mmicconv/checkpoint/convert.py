"""Converting the paper's published checkpoints into mmicconv backbone checkpoints.

Published layouts (see the README, "Checkpoints"):

* ImageNet "retrain" ``.pth.tar``: torchvision ResNet names, each IC conv as
  ``layer{i}.{j}.conv2.conv_list.{k}.weight`` (``[n_k, C_in, 3, 3]``, one per
  non-zero pattern group, in key order), optionally wrapped in
  ``state_dict`` and prefixed ``module.``.
* MMPose 0.x pose checkpoints: the same under ``backbone.``, beside
  ``keypoint_head.*``.

The converted checkpoint is ``{'state_dict': backbone_weights, 'meta': ...}``
with ICConv2d's single ``weight`` per conv and backbone-relative names, as
``init_cfg=dict(type='Pretrained', checkpoint=...)`` of ``ICResNet`` expects;
or, for a whole ImageNet classifier (:func:`classifier_state`), MMPretrain's
``ImageClassifier`` names: ``backbone.*`` and the classifier ``head.fc.*``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from ..pattern import Pattern
from .record import state_dict_of

__all__ = ['CheckpointMismatchError', 'ConversionReport', 'load_state_dict_safely',
           'extract_backbone_state', 'extract_fc_state', 'classifier_state', 'merge_conv_lists']

StateDict = Dict[str, torch.Tensor]
_CONV_LIST = re.compile(r'^(?P<conv>.+)\.conv_list\.(?P<k>\d+)\.(?P<param>weight|bias)$')
_PREFIXES = ('module.', 'backbone.')


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the pattern it is converted with."""


@dataclass
class ConversionReport:
    """What a conversion did, for the tool to print."""

    merged_convs: List[str] = field(default_factory=list)
    dropped_keys: List[str] = field(default_factory=list)


def load_state_dict_safely(path: Union[str, Path]) -> StateDict:
    """``torch.load(..., weights_only=True)`` and unwrap ``state_dict``/``model``."""
    obj = torch.load(str(path), map_location='cpu', weights_only=True)
    state = state_dict_of(obj)
    if state is None:
        found = sorted(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointMismatchError(f'{path}: found no tensors (top level: {found})')
    return dict(state)


def extract_backbone_state(state: StateDict) -> Tuple[StateDict, List[str]]:
    """Strip ``module.``/``backbone.`` prefixes; drop heads and ``fc``.

    Returns:
        The backbone-relative state and the dropped key names.
    """
    has_backbone = any(k.replace('module.', '', 1).startswith('backbone.') for k in state)
    out: StateDict = {}
    dropped = []
    for key, value in state.items():
        name = key
        if name.startswith('module.'):
            name = name[len('module.'):]
        if has_backbone:
            if not name.startswith('backbone.'):
                dropped.append(key)
                continue
            name = name[len('backbone.'):]
        if name.startswith('fc.'):
            dropped.append(key)
            continue
        out[name] = value
    return out, dropped


def extract_fc_state(state: StateDict) -> StateDict:
    """The torchvision classifier ``fc.weight``/``fc.bias`` of a published ImageNet checkpoint
    (``module.`` stripped), named without the ``fc.`` prefix; empty when it has none."""
    out = {}
    for key, value in state.items():
        name = key[len('module.'):] if key.startswith('module.') else key
        if name.startswith('fc.'):
            out[name[len('fc.'):]] = value
    return out


def classifier_state(backbone: StateDict, fc: StateDict) -> StateDict:
    """MMPretrain ``ImageClassifier`` names: ``backbone.<key>`` and ``head.fc.<key>``."""
    state = {f'backbone.{key}': value for key, value in backbone.items()}
    state.update({f'head.fc.{key}': value for key, value in fc.items()})
    return state


def merge_conv_lists(state: StateDict, pattern: Pattern,
                     conv_names: Sequence[str]) -> Tuple[StateDict, List[str]]:
    """Concatenate each IC conv's ``conv_list.{k}`` tensors into one ``weight``.

    Args:
        state: Backbone-relative published state.
        pattern: The pattern the checkpoint was trained with.
        conv_names: The IC conv names in network order (``layer1.0.conv2``, ...).

    Raises:
        CheckpointMismatchError: a conv's pieces do not match its pattern entry
            (count of pieces, channels of each piece), with the conv's name.
    """
    state = dict(state)
    merged = []
    for index, (name, conv_pattern) in enumerate(zip(conv_names, pattern)):
        pieces = sorted((int(m['k']), m['param'], key) for key in list(state)
                         if (m := _CONV_LIST.match(key)) and m['conv'] == name)
        if not pieces:
            continue
        weights = [state.pop(key) for k, param, key in pieces if param == 'weight']
        biases = [state.pop(key) for k, param, key in pieces if param == 'bias']
        expected = [g.channels for g in conv_pattern.groups]
        found = [int(w.shape[0]) for w in weights]
        if len(found) != len(expected) or _units(found, expected) is None:
            raise CheckpointMismatchError(
                f'{name} (pattern entry {index}): checkpoint has conv_list pieces with '
                f'{found} output channels, the pattern ({pattern.source}) expects {expected} '
                '(one piece per non-zero group, in key order). Is this the right pattern file?')
        state[f'{name}.weight'] = torch.cat(weights, dim=0)
        if biases:
            state[f'{name}.bias'] = torch.cat(biases, dim=0)
        merged.append(name)
    leftovers = [k for k in state if '.conv_list.' in k]
    if leftovers:
        raise CheckpointMismatchError(f'conv_list tensors outside the pattern\'s convs: {leftovers[:5]}')
    return state, merged


def _units(found: Sequence[int], expected: Sequence[int]) -> Optional[int]:
    """The channels per pattern count shared by every piece (1, or C_out / groups), or None."""
    unit = found[0] // expected[0]
    return unit if unit >= 1 and all(f == e * unit for f, e in zip(found, expected)) else None
