"""Turning a ResNet-like model into an IC-ResNet, independent of the framework.

:func:`convert_to_ic` swaps, in network order, every 3x3 conv a pattern
covers for an :class:`~mmicconv.ops.ICConv2d` that shares the conv's weight.
It works on mmdet's, mmpose's and torchvision's ResNet/ResNeXt, since they all
name blocks ``layer{i}.{j}`` and their convs ``conv1``/``conv2``/``conv3``:

* Bottleneck blocks (ResNet-50/101/152, ResNeXt): ``conv2``, one entry each.
* BasicBlock blocks (ResNet-18/34): ``conv1`` then ``conv2``, two entries
  per block (both are 3x3). The paper published no pattern for them.

The stem (including the 3x3 convs of a ``deep_stem``) and downsample paths
are never converted. :class:`ICResNetMixin` adds a ``pattern`` argument to
any such backbone class.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import torch.nn as nn

from ..checkpoint.record import check_pretrained
from ..ops import ICConv2d
from ..pattern import Pattern, PatternError, PatternSource
from .arch import ARCHS, archs_for_entries, describe_entry_count

__all__ = ['block_conv_slots', 'convert_to_ic', 'ic_conv_sites', 'pattern_search_dirs', 'ICResNetMixin']

_BLOCK_NAME = re.compile(r'(^|\.)layer\d+\.\d+$')


def pattern_search_dirs() -> List[Path]:
    """Folders where relative pattern paths are looked up, after the working dir.

    ``$MMICCONV_PATTERN_ZOO`` if set, then the repository's ``pattern_zoo/``
    (editable installs) and the installed copy in ``mmicconv/.mim/pattern_zoo``.
    """
    package = Path(__file__).resolve().parents[1]
    dirs = [package.parent / 'pattern_zoo', package / '.mim' / 'pattern_zoo']
    env = os.environ.get('MMICCONV_PATTERN_ZOO')
    return ([Path(env)] if env else []) + dirs


def _is_3x3(module: object) -> bool:
    return isinstance(module, nn.Conv2d) and tuple(module.kernel_size) == (3, 3)


def block_conv_slots(model: nn.Module) -> Iterator[Tuple[str, nn.Module, str]]:
    """Yield ``(qualified_name, parent_block, attribute)`` of every slot an IC pattern covers,
    whatever module fills it (a 3x3 conv, an ICConv2d, a search supernet conv, or none).

    In network (pattern) order: residual blocks ``layer{i}.{j}`` as registered
    (``layer1.0``, ``layer1.1``, ...); in a Bottleneck (a block with ``conv3``)
    ``conv2``, in a BasicBlock ``conv1`` then ``conv2``. Callers keep the slots
    whose module they handle (:func:`ic_conv_sites`,
    :func:`mmicconv.search.supernet.supernet_sites`).
    """
    for name, block in model.named_modules():
        if not _BLOCK_NAME.search(name):
            continue
        for attr in (('conv2',) if hasattr(block, 'conv3') else ('conv1', 'conv2')):
            yield f'{name}.{attr}', block, attr


def ic_conv_sites(model: nn.Module) -> Iterator[Tuple[str, nn.Module, str]]:
    """The slots of :func:`block_conv_slots` holding a 3x3 ``nn.Conv2d`` or an ICConv2d:
    ``(qualified_name, parent_block, attribute)`` of each convertible conv, in network order."""
    for name, block, attr in block_conv_slots(model):
        conv = getattr(block, attr, None)
        if _is_3x3(conv) or isinstance(conv, ICConv2d):
            yield name, block, attr


def convert_to_ic(model: nn.Module, pattern: PatternSource, strategy: str = 'auto') -> Pattern:
    """Replace the model's covered 3x3 convs by ICConv2d, in place.

    A conv the backbone dilates (a dilated stage, e.g. MMSegmentation's
    ``dilations=(1, 1, 2, 4)``, including ``contract_dilation`` and ``multi_grid``)
    keeps its dilation as a factor: channel ``c`` gets ``d * pattern dilation``
    (:meth:`~mmicconv.pattern.ConvPattern.scaled`), padded by its own dilation.

    Args:
        model: A ResNet-like model (mmdet, mmpose or torchvision layout).
        pattern: A Pattern, an in-memory list, or a path (relative paths are
            also looked up in :func:`pattern_search_dirs`).
        strategy: The ICConv2d execution strategy (``'auto'`` by default).

    Returns:
        The validated pattern.

    Raises:
        PatternError: the pattern does not fit the model (message names the
            entry, the layer, expected and found values).
    """
    pattern = Pattern.load(pattern, search_dirs=pattern_search_dirs())
    sites = list(ic_conv_sites(model))
    if not sites:
        raise PatternError(f'{type(model).__name__} has no convertible 3x3 conv in layer*.* blocks')
    convs = [getattr(block, attr) for _, block, attr in sites]
    names = [name for name, _, _ in sites]
    try:
        pattern.check_fits(names, [c.out_channels for c in convs], [c.groups for c in convs])
    except PatternError as err:
        if len(pattern) == len(names):
            raise
        raise PatternError(f'{err}; {_entry_count_mismatch(model, len(pattern), names)}') from err
    for (name, block, attr), conv, conv_pattern in zip(sites, convs, pattern):
        if isinstance(conv, ICConv2d):
            raise PatternError(f'{name} is already an ICConv2d')
        if tuple(conv.padding) != tuple(conv.dilation):
            raise PatternError(f'{name} has padding {tuple(conv.padding)} and dilation '
                               f'{tuple(conv.dilation)}: an IC conv is a "same" 3x3 conv (padding = '
                               'dilation per channel); this backbone layout is not supported')
        if tuple(conv.dilation) != (1, 1):  # a dilated stage: the pattern scales with it
            conv_pattern = conv_pattern.scaled(tuple(conv.dilation))
        setattr(block, attr, ICConv2d.from_conv(conv, conv_pattern, strategy))
    return pattern


def _entry_count_mismatch(model: nn.Module, entries: int, names: List[str]) -> str:
    """``'the pattern has 16 entries = ResNet-50 or ResNet-18, the backbone ResNet-101 has
    33 IC convs'``: which ResNet each side is, from the stage table (:mod:`.arch`)."""
    block = 'basic' if any(name.endswith('.conv1') for name in names) else 'bottleneck'
    depth = getattr(model, 'depth', None)
    if depth not in ARCHS or ARCHS[depth].ic_conv_count != len(names):
        # torchvision's ResNet has no ``depth``: the one depth of this layout, if it is one
        matches = archs_for_entries(len(names), block)
        depth = matches[0].depth if len(matches) == 1 else None
    family = 'ResNeXt' if 'resnext' in type(model).__name__.lower() else 'ResNet'
    backbone = f'{family}-{depth}' if depth is not None else type(model).__name__
    return (f'the pattern has {describe_entry_count(entries)}, '
            f'the backbone {backbone} has {len(names)} IC convs')


class ICResNetMixin:
    """Adds ``pattern`` and ``ic_strategy`` arguments to a ResNet backbone class.

    Put it first in the bases (``class ICResNet(ICResNetMixin, ResNet)``). All
    other arguments go to the upstream class unchanged, so parameter names
    and behaviour (``out_indices``, ``frozen_stages``, ``norm_eval``,
    ``with_cp``, ``init_cfg``, ...) are exactly the upstream ones. The
    converted convs share the upstream Parameters, so frozen stages stay
    frozen and ``init_cfg=dict(type='Pretrained', ...)`` loads plain-ResNet
    and IC checkpoints alike (the paper's ``conv_list`` layout included).

    Args:
        pattern: The dilation pattern: a path (absolute, relative to the
            working directory, or relative to ``pattern_zoo/``, e.g.
            ``'detection/ic_resnet50_k9.json'``), a list in the published format, or a
            :class:`~mmicconv.pattern.Pattern`. ``None`` builds the plain
            upstream network.
        ic_strategy: ICConv2d execution strategy, ``'auto'`` by default
            (see :meth:`mmicconv.ops.ICConv2d.set_strategy`).
        *args, **kwargs: Every argument of the upstream class (``depth``,
            ``out_indices``, ``frozen_stages``, ``norm_cfg``, ``norm_eval``,
            ``style``, ``with_cp``, ``init_cfg``, ...), unchanged.
    """

    def __init__(self, *args, pattern: Optional[PatternSource] = None,
                 ic_strategy: str = 'auto', **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ic_pattern: Optional[Pattern] = None
        if pattern is not None:
            self.ic_pattern = convert_to_ic(self, pattern, strategy=ic_strategy)
            freeze = getattr(self, '_freeze_stages', None)
            if callable(freeze):
                freeze()

    def init_weights(self) -> None:
        """Refuse an ``init_cfg=dict(type='Pretrained')`` checkpoint recorded with
        another pattern (:func:`mmicconv.checkpoint.record.check_pretrained`),
        then the upstream ``init_weights``."""
        check_pretrained(self)
        super().init_weights()

    def train(self, mode: bool = True):
        """Upstream ``train`` (frozen stages, ``norm_eval``), returning ``self``
        as ``nn.Module.train`` promises (mmdet's ResNet returns None)."""
        super().train(mode)
        return self
