"""The plan of the per-tap strategy: channel orders, shift runs and sub-grids.

An IC conv output channel ``c`` with dilation ``(dh, dw)`` is the sum over
the nine taps ``(i, j)`` of ``W[c, :, i, j] @ x`` read at the offset
``((i - 1) * dh, (j - 1) * dw)``. With stride ``s`` along an axis, the offset
``o`` of a tap splits into a sub-grid (phase) ``o mod s`` of the input and a
shift ``o // s`` on the output grid. A :class:`TapPlan` holds everything that
depends only on the spec (computed once per layer): which (tap, channel)
rows read which input phase, and the runs of channels that share a shift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

import torch

from ..plan import equal_runs, phase_rows
from .base import ICConvSpec

__all__ = ['ShiftRun', 'TapPlan']


@dataclass(frozen=True)
class ShiftRun:
    """Channels ``[start, stop)`` whose tap 0 reads ``before`` earlier and tap 2 ``after`` later."""

    before: int
    after: int
    start: int
    stop: int


def _axis_taps(dilation: int, stride: int) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """``((phase0, before), (phase2, after))`` of taps 0 and 2 along one axis."""
    phase0, shift0 = (-dilation) % stride, (-dilation) // stride
    phase2, shift2 = dilation % stride, dilation // stride
    return (phase0, -shift0), (phase2, shift2)


def _runs(keys: List[Tuple[int, int]]) -> Tuple[ShiftRun, ...]:
    """The runs of equal ``(before, after)`` shifts (:func:`~mmicconv.ops.plan.equal_runs`)."""
    return tuple(ShiftRun(before, after, start, stop) for (before, after), start, stop in equal_runs(keys))


class TapPlan:
    """Channel permutation, shift runs and phase rows of one IC conv.

    Attributes:
        order: Output channels sorted by width dilation (the order of the
            GEMM rows), or None when the natural order already groups them.
        inverse: ``inverse[c]`` is the position of channel ``c`` in ``order``.
        width_runs: Runs (in ``order``) of equal width shifts.
        height_runs: Runs (in natural order) of equal height shifts.
        phases: ``(phase_h, phase_w) -> row indices`` into the ``9 * C``
            GEMM rows (tap-major, ``(i, j, c)``) that read that input phase.
    """

    def __init__(self, spec: ICConvSpec) -> None:
        if spec.groups != 1:
            raise ValueError('TapPlan supports groups=1 only')
        self.stride = spec.stride
        channels = spec.out_channels
        dil = spec.channel_dilations().tolist()
        sh, sw = spec.stride
        taps_h = [_axis_taps(dh, sh) for dh, _ in dil]
        taps_w = [_axis_taps(dw, sw) for _, dw in dil]
        w_keys = [(t[0][1], t[1][1]) for t in taps_w]
        order = sorted(range(channels), key=lambda c: w_keys[c])
        natural_runs = _runs(w_keys)
        if len(natural_runs) == len(set(w_keys)):
            order = list(range(channels))
        self.order = None if order == list(range(channels)) else torch.tensor(order)
        self.inverse = None
        if self.order is not None:
            self.inverse = torch.empty(channels, dtype=torch.long)
            self.inverse[self.order] = torch.arange(channels)
        self.width_runs = _runs([w_keys[c] for c in order])
        self.height_runs = _runs([(t[0][1], t[1][1]) for t in taps_h])
        position = {c: pos for pos, c in enumerate(order)}
        segments = []
        for seg in spec.segments:
            if seg.stop > seg.start:
                ws = position[seg.start]
                assert position[seg.stop - 1] == ws + seg.stop - seg.start - 1
                (_, before), (_, after) = taps_h[seg.start]
                segments.append((seg.start, seg.stop, ws, before, after))
        #: ``(start, stop, start_in_order, before_h, after_h)`` per dilation segment
        self.segment_map: Tuple[Tuple[int, int, int, int, int], ...] = tuple(segments)
        # the phase decomposition of :func:`~mmicconv.ops.plan.phase_rows`, rows renumbered
        # into this plan's channel order (row (3 i + j) C + o -> (3 i + j) C + position[o])
        positions = torch.tensor([position[c] for c in range(channels)], dtype=torch.long)
        self.phases = {}
        for table in phase_rows(spec.channel_dilations(), spec.stride):
            tap, channel = table.rows // channels, table.rows % channels
            self.phases[table.phase] = torch.sort(tap * channels + positions[channel]).values
        self.device = torch.device('cpu')

    def to(self, device: torch.device) -> TapPlan:
        """This plan with its index tensors on ``device`` (a new plan; this one is unchanged)."""
        device = torch.device(device)
        if device == self.device:
            return self
        plan = object.__new__(TapPlan)
        plan.__dict__.update(self.__dict__)
        plan.order = None if self.order is None else self.order.to(device)
        plan.inverse = None if self.inverse is None else self.inverse.to(device)
        plan.phases = {k: v.to(device) for k, v in self.phases.items()}
        plan.device = device
        return plan
