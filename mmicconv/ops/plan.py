"""The plan of an IC convolution, written once and read by every strategy.

An IC conv output channel ``o`` with dilation ``(dh, dw)`` is the sum over the
nine taps ``(i, j)`` of ``W[o, :, i, j] @ x`` read at the offset
``((i - 1) * dh, (j - 1) * dw)``. All nine taps of all channels form ONE
matrix, ``W9`` (:func:`w9_matrix`, ``[9 * C_out, C_in]``, tap-major: row
``(3 i + j) * C_out + o``), so ``Z = W9 @ x`` has exactly the FLOPs of the
3x3 conv. With stride ``s`` along an axis, the offset ``e`` of a tap reads the
input phase (sub-grid) ``e mod s`` shifted by ``e // s`` output pixels
(:func:`phase_rows`), so each row of ``W9`` runs only on the phase it needs.

Everything here is a pure function of the per-channel dilations (an
``[C_out, 2]`` int64 tensor that :class:`~mmicconv.ops.ICConv2d` keeps as a
non-persistent buffer): no cache outlives its caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, List, Optional, Sequence, Tuple, TypeVar

import torch
import torch.nn.functional as F

from ..pattern import ConvPattern

__all__ = ['Segment', 'ICConvSpec', 'PhaseRows', 'equal_runs', 'dilation_runs', 'segments_conv2d',
           'phase_rows', 'w9_matrix', 'tap_major', 'is_tap_major', 'weight_from_w9', 'output_size']

Key = TypeVar('Key', bound=Hashable)


@dataclass(frozen=True)
class Segment:
    """Output channels ``[start, stop)`` convolved with one dilation."""

    dilation_h: int
    dilation_w: int
    start: int
    stop: int


@dataclass(frozen=True)
class ICConvSpec:
    """Everything a strategy needs to know about one IC convolution.

    Attributes:
        in_channels: Input channels.
        out_channels: Output channels.
        stride: ``(stride_h, stride_w)``.
        groups: Cardinality (1 for ResNet, 32 for ResNeXt-101 32x4d).
        segments: The dilation segments, covering ``[0, out_channels)`` in order.
    """

    in_channels: int
    out_channels: int
    stride: Tuple[int, int]
    groups: int
    segments: Tuple[Segment, ...]

    @classmethod
    def build(cls, in_channels: int, out_channels: int, stride: Tuple[int, int], groups: int,
              pattern: ConvPattern) -> ICConvSpec:
        """Lay the pattern's groups out over the output channels.

        A pattern summing to ``out_channels`` assigns one dilation per
        channel; one summing to ``groups`` (ResNeXt) one per cardinality
        group, i.e. ``out_channels // groups`` channels per count.
        """
        _check_divisible(in_channels, out_channels, groups)
        total = pattern.total
        if total == out_channels:
            unit = 1
        elif groups > 1 and total == groups:
            unit = out_channels // groups
        else:
            raise ValueError(f'pattern counts sum to {total}, expected out_channels '
                             f'({out_channels}){f" or groups ({groups})" if groups > 1 else ""}')
        segments = []
        start = 0
        for group in pattern.groups:
            stop = start + group.channels * unit
            segments.append(Segment(group.dilation_h, group.dilation_w, start, stop))
            start = stop
        return cls._checked(in_channels, out_channels, stride, groups, segments)

    @classmethod
    def from_dilations(cls, in_channels: int, stride: Tuple[int, int], groups: int,
                       dilations: torch.Tensor) -> ICConvSpec:
        """The spec of per-channel ``dilations`` (``[C_out, 2]``, as :meth:`channel_dilations`)."""
        if dilations.dim() != 2 or dilations.shape[1] != 2:
            raise ValueError(f'dilations must be a [C_out, 2] tensor, got shape {tuple(dilations.shape)}')
        out_channels = dilations.shape[0]
        _check_divisible(in_channels, out_channels, groups)
        return cls._checked(in_channels, out_channels, stride, groups, dilation_runs(dilations))

    @classmethod
    def _checked(cls, in_channels: int, out_channels: int, stride: Tuple[int, int], groups: int,
                 segments: Sequence[Segment]) -> ICConvSpec:
        spec = cls(in_channels, out_channels, (int(stride[0]), int(stride[1])), groups, tuple(segments))
        spec._check_group_alignment()
        return spec

    def _check_group_alignment(self) -> None:
        if self.groups == 1:
            return
        per_group = self.out_channels // self.groups
        for seg in self.segments:
            if seg.start % per_group or seg.stop % per_group:
                raise ValueError(
                    f'with groups={self.groups}, each dilation segment must cover whole '
                    f'cardinality groups of {per_group} output channels; found channels '
                    f'[{seg.start}, {seg.stop})')

    def channel_dilations(self) -> torch.Tensor:
        """``[out_channels, 2]`` long tensor: the (h, w) dilation of each channel."""
        rows = []
        for seg in self.segments:
            rows.extend([(seg.dilation_h, seg.dilation_w)] * (seg.stop - seg.start))
        return torch.tensor(rows, dtype=torch.long)


@dataclass(frozen=True)
class PhaseRows:
    """The ``W9`` rows that read input phase ``(p, q)`` and where they add.

    Row ``k`` (``rows[k]`` of ``W9``, sorted by output channel; those of channel
    ``o`` are ``ptr[o]:ptr[o + 1]``) read at phase position ``(r, c)`` adds into
    the output at ``(r + a[k], c + b[k])``.
    """

    phase: Tuple[int, int]
    rows: torch.Tensor
    ptr: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor


def _check_divisible(in_channels: int, out_channels: int, groups: int) -> None:
    if in_channels % groups or out_channels % groups:
        raise ValueError(f'in_channels ({in_channels}) and out_channels ({out_channels}) '
                         f'must be divisible by groups ({groups})')


def output_size(size: int, stride: int) -> int:
    """Output length of a "same" 3x3 conv along an axis of ``size`` and ``stride``."""
    return (size - 1) // stride + 1


def equal_runs(keys: Sequence[Key]) -> List[Tuple[Key, int, int]]:
    """Run-length encoding: ``(key, start, stop)`` of each maximal run of equal consecutive keys."""
    runs: List[Tuple[Key, int, int]] = []
    start = 0
    for index in range(1, len(keys) + 1):
        if index == len(keys) or keys[index] != keys[start]:
            runs.append((keys[start], start, index))
            start = index
    return runs


def dilation_runs(dilations: torch.Tensor) -> List[Segment]:
    """Maximal runs of consecutive output channels with equal dilation."""
    rows = [(int(h), int(w)) for h, w in dilations.tolist()]
    return [Segment(dh, dw, start, stop) for (dh, dw), start, stop in equal_runs(rows)]


def w9_matrix(weight: torch.Tensor) -> torch.Tensor:
    """``W9``: ``[9 * C_out, C_in]`` contiguous, row ``(3 i + j) * C_out + o`` = ``weight[o, :, i, j]``.

    A view (no copy) when ``weight`` has the tap-major layout of
    :func:`tap_major`; a copy otherwise.
    """
    c_out, c_in = weight.shape[:2]
    return weight.permute(2, 3, 0, 1).reshape(9 * c_out, c_in).contiguous()


def tap_major(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` (``[C_out, C_in, 3, 3]``) with its memory laid out as ``W9``.

    Same shape and values, strides ``(C_in, 1, 3 * C_out * C_in, C_out * C_in)``:
    :func:`w9_matrix` of it is a view, so a forward reads the conv weight in
    place instead of re-laying it out on every call. Returns ``weight`` itself
    when it already has that layout.
    """
    if is_tap_major(weight):
        return weight
    return weight.permute(2, 3, 0, 1).contiguous().permute(2, 3, 0, 1)


def is_tap_major(weight: torch.Tensor) -> bool:
    """Whether ``weight``'s memory is laid out as :func:`w9_matrix` (see :func:`tap_major`)."""
    c_out, c_in = weight.shape[:2]
    return weight.permute(2, 3, 0, 1).is_contiguous() and weight.numel() == 9 * c_out * c_in


def weight_from_w9(w9: torch.Tensor, like: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The inverse of :func:`w9_matrix`: ``[C_out, C_in, 3, 3]``.

    Contiguous, or with the strides of ``like`` when given (a view of ``w9``,
    no copy, when ``like`` is :func:`tap_major`): a gradient in the layout of
    its parameter, so autograd accumulates it without a copy.
    """
    c_out, c_in = w9.shape[0] // 9, w9.shape[1]
    weight = w9.view(3, 3, c_out, c_in).permute(2, 3, 0, 1)
    if like is None:
        return weight.contiguous()
    if weight.stride() == like.stride():
        return weight
    return torch.empty_like(like).copy_(weight)


def phase_rows(dilations: torch.Tensor, stride: Sequence[int]) -> List[PhaseRows]:
    """The per-phase row tables of an IC conv of ``stride`` (vectorised, a few tensor ops)."""
    sh, sw = int(stride[0]), int(stride[1])
    dil = dilations.to('cpu', torch.long)
    c_out = dil.shape[0]
    taps = torch.arange(3)
    # e[o, i] = (i - 1) * dh[o], f[o, j] = (j - 1) * dw[o]; every (o, i, j)
    e = ((taps - 1).view(1, 3, 1) * dil[:, 0].view(-1, 1, 1)).expand(c_out, 3, 3)
    f = ((taps - 1).view(1, 1, 3) * dil[:, 1].view(-1, 1, 1)).expand(c_out, 3, 3)
    channel = torch.arange(c_out).view(-1, 1, 1).expand(c_out, 3, 3)
    row = (3 * taps.view(1, 3, 1) + taps.view(1, 1, 3)) * c_out + channel
    phase = (e % sh) * sw + f % sw
    e, f, channel, row, phase = (t.reshape(-1) for t in (e, f, channel, row, phase))
    # sort by (phase, channel, row): phase-major tables, channel-sorted rows
    order = torch.argsort((phase * c_out + channel) * (9 * c_out) + row)
    e, f, channel, row, phase = (t[order] for t in (e, f, channel, row, phase))
    tables = []
    counts = torch.bincount(phase, minlength=sh * sw).tolist()
    begin = 0
    for key, count in enumerate(counts):
        if count == 0:
            continue
        part = slice(begin, begin + count)
        begin += count
        per_channel = torch.bincount(channel[part], minlength=c_out)
        ptr = torch.cat([torch.zeros(1, dtype=torch.long), per_channel.cumsum(0)])
        tables.append(PhaseRows((key // sw, key % sw), row[part].contiguous(), ptr,
                                (-torch.div(e[part], sh, rounding_mode='floor')).contiguous(),
                                (-torch.div(f[part], sw, rounding_mode='floor')).contiguous()))
    return tables


def segments_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                    segments: Sequence[Segment], stride: Sequence[int], groups: int) -> torch.Tensor:
    """The composite IC conv: one dilated ``conv2d`` per segment, concatenated.

    Plain differentiable PyTorch (twice differentiable, traceable, exported
    to ONNX as ``Conv`` + ``Concat``). With ``groups > 1`` each segment covers
    whole cardinality groups.
    """
    out_per_group = weight.shape[0] // groups
    in_per_group = weight.shape[1]
    outputs = []
    for seg in segments:
        if groups == 1:
            x_seg, seg_groups = x, 1
        else:
            first, last = seg.start // out_per_group, seg.stop // out_per_group
            x_seg = x[:, first * in_per_group:last * in_per_group]
            seg_groups = last - first
        dilation = (seg.dilation_h, seg.dilation_w)
        outputs.append(F.conv2d(x_seg, weight[seg.start:seg.stop],
                                None if bias is None else bias[seg.start:seg.stop],
                                stride=tuple(stride), padding=dilation, dilation=dilation,
                                groups=seg_groups))
    return outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=1)
