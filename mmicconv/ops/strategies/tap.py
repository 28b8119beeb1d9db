"""The per-tap strategy: one GEMM for all nine taps, then per-channel shifts.

Every output channel of an IC conv is ``sum_{i,j} W[c, :, i, j] @ x`` read at
a channel-dependent offset. The nine taps of all channels are ONE matrix
product ``Z = W9 @ x`` (``W9``: ``[9 * C_out, C_in]``), i.e. exactly the
FLOPs of the 3x3 conv, as one large efficient GEMM instead of one small conv
per dilation group. The offsets are then applied to ``Z`` in two cheap
memory-bound stages, each grouped by ONE axis' dilation only:

1. width: ``P[i] = Z[i, 1] + Z[i, 0] << dw + Z[i, 2] >> dw`` over runs of
   channels sorted by width dilation (at most as many runs as distinct
   ``dw``);
2. height: ``out = P[1] + P[0] << dh + P[2] >> dh`` over runs of equal
   ``dh`` in the natural channel order (published patterns list their keys
   sorted by height dilation, so again at most as many runs as distinct
   ``dh``).

Strides are handled exactly: an offset ``o`` along an axis of stride ``s``
reads the input phase ``o mod s`` shifted by ``o // s`` output pixels, so
each GEMM row runs only on the input phase it needs (no wasted FLOPs).

A custom :class:`torch.autograd.Function` keeps only ``x`` and ``W9`` for
backward (the same tensors a plain conv keeps); the ``9 * C_out`` wide
intermediate exists only transiently (a fresh tensor per call: no state
outlives the call). Its backward is made of differentiable ops, so the
strategy is twice differentiable.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import torch
import torch.nn.functional as F

from ..plan import output_size, w9_matrix
from .base import ICConvSpec, ICConvStrategy
from .registry import register_strategy
from .tap_plan import TapPlan

__all__ = ['TapStrategy', 'tap_conv']


def _phase_input(x: torch.Tensor, phase: Tuple[int, int], stride: Tuple[int, int],
                 out_hw: Tuple[int, int]) -> torch.Tensor:
    """``[N, C_in, Ho * Wo]``: the input phase read by rows of that phase."""
    n, c_in, h, w = x.shape
    (sh, sw), (ho, wo) = stride, out_hw
    if (sh, sw) == (1, 1):
        return x.reshape(n, c_in, h * w)
    padded = F.pad(x, (0, sw * wo - w, 0, sh * ho - h))
    return padded[:, :, phase[0]::sh, phase[1]::sw].reshape(n, c_in, ho * wo)


def _gemm(x: torch.Tensor, w9: torch.Tensor, plan: TapPlan, out_hw: Tuple[int, int]) -> torch.Tensor:
    """``Z``: ``[N, 9 * C_out, Ho * Wo]``, each row computed on its input phase."""
    z = x.new_empty(x.shape[0], w9.shape[0], out_hw[0] * out_hw[1])
    if len(plan.phases) == 1 and plan.stride == (1, 1):
        return torch.matmul(w9, _phase_input(x, (0, 0), plan.stride, out_hw), out=z)
    for phase, rows in plan.phases.items():
        xs = _phase_input(x, phase, plan.stride, out_hw)
        z.index_copy_(1, rows, torch.matmul(w9.index_select(0, rows), xs))
    return z


def _shift_add(z: torch.Tensor, plan: TapPlan, channels: int,
               out_hw: Tuple[int, int]) -> torch.Tensor:
    """Sum the nine shifted taps of ``z`` (modified in place) into the output."""
    ho, wo = out_hw
    zv = z.view(z.shape[0], 3, 3, channels, ho, wo)
    rows = zv[:, :, 1]  # [N, 3, C, Ho, Wo]: the row partial sums, accumulated in place
    for run in plan.width_runs:
        lo, hi, b, a = run.start, run.stop, run.before, run.after
        if b < wo:
            rows[:, :, lo:hi, :, b:] += zv[:, :, 0, lo:hi, :, :wo - b]
        if a < wo:
            rows[:, :, lo:hi, :, :wo - a] += zv[:, :, 2, lo:hi, :, a:]
    if plan.inverse is not None:
        # height stage per dilation segment, reading the width order, writing the natural one
        out = z.new_empty(z.shape[0], channels, ho, wo)
        for start, stop, ws, b, a in plan.segment_map:
            we = ws + stop - start
            seg = out[:, start:stop]
            seg.copy_(rows[:, 1, ws:we])
            if b < ho:
                seg[:, :, b:] += rows[:, 0, ws:we, :ho - b]
            if a < ho:
                seg[:, :, :ho - a] += rows[:, 2, ws:we, a:]
        return out
    out = rows[:, 1].clone(memory_format=torch.contiguous_format)
    for run in plan.height_runs:
        lo, hi, b, a = run.start, run.stop, run.before, run.after
        if b < ho:
            out[:, lo:hi, b:] += rows[:, 0, lo:hi, :ho - b]
        if a < ho:
            out[:, lo:hi, :ho - a] += rows[:, 2, lo:hi, a:]
    return out


def _shift_add_backward(grad: torch.Tensor, plan: TapPlan) -> torch.Tensor:
    """The adjoint of :func:`_shift_add`: ``dZ`` ``[N, 9 * C_out, Ho * Wo]``."""
    n, channels, ho, wo = grad.shape
    rows = grad.new_empty(n, 3, channels, ho, wo)  # in the width (GEMM row) order
    if plan.order is None:
        keys = [(r.start, r.stop, r.start, r.before, r.after) for r in plan.height_runs]
    else:
        keys = plan.segment_map
    for start, stop, ws, b, a in keys:
        we = ws + stop - start
        g = grad[:, start:stop]
        rows[:, 1, ws:we] = g
        r0, r2 = rows[:, 0, ws:we], rows[:, 2, ws:we]
        if b < ho:
            r0[:, :, :ho - b] = g[:, :, b:]
        r0[:, :, max(ho - b, 0):] = 0
        if a < ho:
            r2[:, :, a:] = g[:, :, :ho - a]
        r2[:, :, :min(a, ho)] = 0
    dz = grad.new_empty(n, 3, 3, channels, ho, wo)
    dz[:, :, 1] = rows
    for run in plan.width_runs:
        lo, hi, b, a = run.start, run.stop, run.before, run.after
        d0, d2 = dz[:, :, 0, lo:hi], dz[:, :, 2, lo:hi]
        if b < wo:
            d0[..., :wo - b] = rows[:, :, lo:hi, :, b:]
        d0[..., max(wo - b, 0):] = 0
        if a < wo:
            d2[..., a:] = rows[:, :, lo:hi, :, :wo - a]
        d2[..., :min(a, wo)] = 0
    return dz.view(n, 9 * channels, ho * wo)


def _out_hw(x: torch.Tensor, plan: TapPlan) -> Tuple[int, int]:
    return output_size(x.shape[2], plan.stride[0]), output_size(x.shape[3], plan.stride[1])


class _TapConv(torch.autograd.Function):
    """``out = shift_add(W9 @ x)``; saves only ``x`` and ``W9``.

    Written with a separate ``setup_context`` and a ``vmap`` rule, so that
    ``torch.func`` transforms (``grad``, ``vjp``, ``jacrev``, ``vmap``) accept it.
    """

    @staticmethod
    def forward(x: torch.Tensor, w9: torch.Tensor, plan: TapPlan) -> torch.Tensor:
        out_hw = _out_hw(x, plan)
        return _shift_add(_gemm(x, w9, plan, out_hw), plan, w9.shape[0] // 9, out_hw)

    @staticmethod
    def setup_context(ctx: Any, inputs: Tuple[Any, ...], output: torch.Tensor) -> None:
        x, w9, plan = inputs
        ctx.save_for_backward(x, w9)
        ctx.plan, ctx.out_hw = plan, _out_hw(x, plan)

    @staticmethod
    def vmap(info: Any, in_dims: Tuple[Optional[int], ...], x: torch.Tensor, w9: torch.Tensor,
             plan: TapPlan) -> Tuple[torch.Tensor, int]:
        """A vmapped input is folded into the batch (one call); a vmapped weight runs per sample."""
        x_dim, w_dim, _ = in_dims
        size = info.batch_size
        if w_dim is None:
            xb = x.movedim(x_dim, 0)
            out = _TapConv.apply(xb.reshape(-1, *xb.shape[2:]), w9, plan)
            return out.view(size, -1, *out.shape[1:]), 0
        outs = [_TapConv.apply(x if x_dim is None else x.select(x_dim, i), w9.select(w_dim, i), plan)
                for i in range(size)]
        return torch.stack(outs), 0

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Tuple[Optional[torch.Tensor], ...]:
        x, w9 = ctx.saved_tensors
        plan, out_hw = ctx.plan, ctx.out_hw
        dz = _shift_add_backward(grad.contiguous(), plan)
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        n, c_in, h, w = x.shape
        dx = dw9 = None
        if plan.stride == (1, 1) and len(plan.phases) == 1:
            xf = x.reshape(n, c_in, h * w)
            if need_x:
                dx = torch.matmul(w9.t(), dz).view(n, c_in, h, w)
            if need_w:
                dw9 = torch.matmul(dz, xf.transpose(1, 2)).sum(0)
            return dx, dw9, None
        # out of place (no in-place update of a fresh tensor), so that vmap of this backward
        # (per-sample gradients) works
        (sh, sw), (ho, wo) = plan.stride, out_hw
        dx_phases = {}
        dw9 = torch.zeros_like(w9) if need_w else None
        for phase, rows in plan.phases.items():
            dzs = dz.index_select(1, rows)
            if need_x:
                dx_phases[phase] = torch.matmul(w9.index_select(0, rows).t(), dzs).view(n, c_in, ho, wo)
            if need_w:
                xs = _phase_input(x, phase, plan.stride, out_hw)
                dw9 = dw9.index_copy(0, rows, torch.matmul(dzs, xs.transpose(1, 2)).sum(0))
        if need_x:
            zero = x.new_zeros(n, c_in, ho, wo)
            # [N, C_in, Ho, sh, Wo, sw]: phase (p, q) at [..., :, p, :, q]
            grid = torch.stack([torch.stack([dx_phases.get((p, q), zero) for q in range(sw)], dim=-1)
                                for p in range(sh)], dim=3)
            dx = grid.reshape(n, c_in, ho * sh, wo * sw)[:, :, :h, :w]
        return dx, dw9, None


def tap_conv(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
             plan: TapPlan) -> torch.Tensor:
    """The IC conv of ``x`` by the per-tap method (autocast aware)."""
    device_type = x.device.type
    if plan.device != x.device:
        plan = plan.to(x.device)
    w9 = w9_matrix(weight)  # a view for the module's tap-major weight
    if plan.order is not None:  # the GEMM rows in the width order: one row gather, no re-layout
        c_out, c_in = weight.shape[:2]
        w9 = w9.view(9, c_out, c_in).index_select(1, plan.order).view(9 * c_out, c_in)
    if torch.is_autocast_enabled(device_type):
        dtype = torch.get_autocast_dtype(device_type)
        with torch.autocast(device_type, enabled=False):
            out = _TapConv.apply(x.to(dtype), w9.to(dtype), plan)
            return out if bias is None else out + bias.to(dtype).view(1, -1, 1, 1)
    out = _TapConv.apply(x, w9.to(x.dtype), plan)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


@register_strategy('tap')
class TapStrategy(ICConvStrategy):
    """Per-tap GEMM + two one-axis shift stages (see the module docstring)."""

    priority = 10

    def __init__(self, spec: ICConvSpec, device: Optional[torch.device] = None) -> None:
        super().__init__(spec, device)
        self.plan = TapPlan(spec).to(device or torch.device('cpu'))

    @classmethod
    def supports(cls, spec: ICConvSpec, device: torch.device, dtype: torch.dtype,
                 training: bool) -> bool:
        return spec.groups == 1 and dtype in (torch.float32, torch.float64, torch.bfloat16,
                                              torch.float16)

    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                dilations: torch.Tensor) -> torch.Tensor:
        return tap_conv(x, weight, bias, self.plan)
