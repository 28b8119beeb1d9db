"""Export a searched supernet as an IC-ResNet: pattern JSON + inherited weights.

An IC conv lays its output channels out by dilation, in the pattern's key
order. The selection gives every channel its own dilation in the supernet's
channel order, so the channels are regrouped: with ``perm`` the stable sort of
the channels by candidate index (row-major ``(d_h, d_w)``, the key order of
the published format), the Bottleneck's

* ``conv2`` weight becomes ``W3[perm]``, where ``W3[c]`` is channel ``c``'s
  chosen 3x3 sub-kernel (its bias, if any, ``bias[perm]``),
* its norm (``bn2``: weight, bias, running mean and variance) is permuted by
  ``perm``,
* the next 1x1 conv (``conv3``) takes its input channels as ``W[:, perm]``.

A permutation of the channels between ``conv2`` and ``conv3`` (through a
per-channel norm and ReLU) leaves the block's function unchanged, so the
IC-ResNet computes exactly the supernet restricted to the chosen taps.
Only Bottleneck blocks can be regrouped: a BasicBlock's ``conv2`` feeds the
residual sum directly.
"""

from __future__ import annotations

from collections import Counter
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn as nn

from ..pattern import ConvPattern, Pattern
from .supernet import candidate_dilations, candidate_taps, supernet_sites

__all__ = ['dilations_to_pattern', 'regroup_permutation', 'export_ic_state_dict', 'assign_to_pattern']

Dilation = Tuple[int, int]


def dilations_to_pattern(dilations: Sequence[Sequence[Dilation]], d_max: int,
                         source: str = '<searched>') -> Pattern:
    """The pattern (published format: every ``(a, b)`` key of 0..d_max-1, row-major, zero
    counts included) of per-channel dilations, one list per IC conv in network order."""
    keys = candidate_dilations(d_max)
    entries = []
    for layer in dilations:
        counts = Counter(tuple(d) for d in layer)
        outside = set(counts) - set(keys)
        if outside:
            raise ValueError(f'dilations {sorted(outside)} outside 1..{d_max}')
        entries.append({f'({dh - 1}, {dw - 1})': counts.get((dh, dw), 0) for dh, dw in keys})
    return Pattern.from_list(entries, source=source)


def regroup_permutation(layer: Sequence[Dilation], d_max: int) -> torch.Tensor:
    """``perm`` such that new channel ``i`` is old channel ``perm[i]``: channels grouped by
    dilation in key order, keeping their relative order inside a group."""
    order = {d: i for i, d in enumerate(candidate_dilations(d_max))}
    keys = torch.tensor([order[tuple(d)] for d in layer])
    return torch.sort(keys, stable=True).indices


def _norm_name(block: nn.Module) -> str:
    name = getattr(block, 'norm2_name', 'bn2')
    if not isinstance(getattr(block, name, None), nn.Module):
        raise ValueError(f'{type(block).__name__} has no norm after conv2 ({name!r})')
    return name


@torch.no_grad()
def export_ic_state_dict(backbone: nn.Module, dilations: Sequence[Sequence[Dilation]],
                         prefix: str = '') -> Tuple[Pattern, Dict[str, torch.Tensor]]:
    """The pattern and the IC-ResNet state dict inherited from a supernet backbone.

    Args:
        backbone: The supernet backbone (its supernet convs in Bottleneck blocks).
        dilations: Per supernet conv (network order), the ``(d_h, d_w)`` of
            every output channel, in the supernet's channel order.
        prefix: Prepended to every key (``'backbone.'`` for a detector's state dict).

    Returns:
        ``(pattern, state_dict)``: the state dict has every key of
        ``backbone.state_dict()``, with the supernet convs as 3x3 weights and
        the regrouped tensors permuted; it loads strictly into the IC-ResNet
        built with ``pattern``.
    """
    sites = list(supernet_sites(backbone))
    if len(sites) != len(dilations):
        raise ValueError(f'{len(dilations)} layers of dilations for {len(sites)} supernet convs')
    d_max = {getattr(block, attr).d_max for _, block, attr in sites}
    if len(d_max) != 1:
        raise ValueError(f'supernet convs with different d_max {sorted(d_max)}')
    d_max = d_max.pop()
    state = {k: v.detach().clone() for k, v in backbone.state_dict().items()}
    for (name, block, attr), layer in zip(sites, dilations):
        conv = getattr(block, attr)
        if attr != 'conv2' or not hasattr(block, 'conv3'):
            raise ValueError(f'{name}: only Bottleneck conv2 can be regrouped by dilation (a '
                             "BasicBlock's convs feed the residual sum or a searched conv)")
        if conv.groups != 1:
            raise ValueError(f'{name}: grouped convs (ResNeXt, groups={conv.groups}) are not supported')
        if getattr(block, 'with_plugins', False):
            raise ValueError(f'{name}: blocks with plugins are not supported')
        if len(layer) != conv.out_channels:
            raise ValueError(f'{name}: {len(layer)} dilations for {conv.out_channels} output channels')
        perm = regroup_permutation(layer, d_max)
        w3 = torch.empty(conv.out_channels, conv.in_channels, 3, 3, dtype=conv.weight.dtype)
        for c, dilation in enumerate(layer):
            rows, cols = candidate_taps(tuple(dilation), d_max)
            w3[c] = conv.weight[c][:, rows][:, :, cols]
        base = name.rsplit('.', 1)[0] + '.'
        state[f'{base}{attr}.weight'] = w3[perm].contiguous()
        if conv.bias is not None:
            state[f'{base}{attr}.bias'] = conv.bias[perm].clone()
        norm = _norm_name(block)
        for key in ('weight', 'bias', 'running_mean', 'running_var'):
            full = f'{base}{norm}.{key}'
            if full in state:
                state[full] = state[full][perm].contiguous()
        state[f'{base}conv3.weight'] = state[f'{base}conv3.weight'][:, perm].contiguous()
    pattern = dilations_to_pattern(dilations, d_max)
    return pattern, {prefix + k: v for k, v in state.items()}


def pattern_histogram(layer: Sequence[Dilation]) -> List[Tuple[Dilation, int]]:
    """``[(dilation, count), ...]`` sorted by decreasing count."""
    return Counter(tuple(d) for d in layer).most_common()


def assign_to_pattern(errors: torch.Tensor, conv: ConvPattern, d_max: int) -> List[Dilation]:
    """Per-channel dilations with a layer's counts prescribed: the least total error.

    For exporting inherited weights at a pattern that was not searched (a
    control, a published pattern): the pattern fixes how many channels use each
    dilation, and the supernet's channels are matched to those slots so that the
    sum of their representation errors is least (an assignment problem, solved
    exactly with ``scipy.optimize.linear_sum_assignment``). When the counts are
    those of the per-channel argmin, that argmin is an optimum.

    Args:
        errors: ``[C_out, d_max**2]`` errors of one layer, candidates in
            :func:`~mmicconv.search.supernet.candidate_dilations` order.
        conv: The layer's pattern (its counts must add up to ``C_out``).
        d_max: The search space.

    Returns:
        The ``(d_h, d_w)`` of every output channel, in the supernet's channel order
        (the input of :func:`export_ic_state_dict`).
    """
    from scipy.optimize import linear_sum_assignment

    cands = candidate_dilations(d_max)
    index = {d: i for i, d in enumerate(cands)}
    channels = errors.shape[0]
    if errors.shape[1] != len(cands):
        raise ValueError(f'{errors.shape[1]} candidates in the errors, {len(cands)} for d_max={d_max}')
    if conv.total != channels:
        raise ValueError(f'the pattern has {conv.total} channels, the layer {channels}')
    slots = []
    for group in conv.groups:
        if group.dilation not in index:
            raise ValueError(f'dilation {group.dilation} outside 1..{d_max}')
        slots.extend([index[group.dilation]] * group.channels)
    cost = errors.detach().double().cpu()[:, slots].numpy()
    rows, cols = linear_sum_assignment(cost)
    out: List[Dilation] = [(1, 1)] * channels
    for r, c in zip(rows.tolist(), cols.tolist()):
        out[r] = cands[slots[c]]
    return out
