"""The execution-strategy interface of :class:`~mmicconv.ops.ICConv2d`.

An IC convolution is fully described by an :class:`ICConvSpec` (shapes,
stride, cardinality and the dilation segments of its output channels). A
strategy turns ``(input, weight, bias)`` into the output; it may precompute a
plan from the spec at construction, but holds no parameters, so strategies
can be swapped at any time without touching the module or its state_dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional, Tuple

import torch

from ...pattern import ConvPattern

__all__ = ['Segment', 'ICConvSpec', 'ICConvStrategy']


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
        if in_channels % groups or out_channels % groups:
            raise ValueError(f'in_channels ({in_channels}) and out_channels ({out_channels}) '
                             f'must be divisible by groups ({groups})')
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
        spec = cls(in_channels, out_channels, tuple(stride), groups, tuple(segments))
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

    @property
    def max_dilation(self) -> Tuple[int, int]:
        """Largest dilation along (height, width)."""
        return (max(s.dilation_h for s in self.segments), max(s.dilation_w for s in self.segments))

    def channel_dilations(self) -> torch.Tensor:
        """``[out_channels, 2]`` long tensor: the (h, w) dilation of each channel."""
        rows = []
        for seg in self.segments:
            rows.extend([(seg.dilation_h, seg.dilation_w)] * (seg.stop - seg.start))
        return torch.tensor(rows, dtype=torch.long)


class ICConvStrategy:
    """Computes an IC convolution; subclasses register themselves by ``name``.

    Subclasses implement :meth:`forward` and may override :meth:`supports`.
    A strategy instance is built once per module (and per device/dtype when
    its plan depends on them) and must not rebuild its plan per call.
    """

    name: ClassVar[str] = ''
    #: Higher wins when ``strategy='auto'`` and several support the input.
    priority: ClassVar[int] = 0

    def __init__(self, spec: ICConvSpec) -> None:
        self.spec = spec

    @classmethod
    def unavailable_reason(cls) -> Optional[str]:
        """Why this strategy cannot run in this installation (None: it can).

        Optional compiled kernels return e.g. ``'extension not built'``;
        ``strategy='auto'`` then falls back to the next strategy with a
        one-time warning.
        """
        return None

    @classmethod
    def supports(cls, spec: ICConvSpec, device: torch.device, dtype: torch.dtype,
                 training: bool) -> bool:
        """Whether this strategy can run ``spec`` for such an input."""
        return True

    def forward(self, x: torch.Tensor, weight: torch.Tensor,
                bias: Optional[torch.Tensor]) -> torch.Tensor:
        """Return the IC convolution of ``x`` (N, C_in, H, W)."""
        raise NotImplementedError
