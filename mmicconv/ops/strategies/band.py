"""The banded per-tap strategy: a compiled kernel for stride-1 IC convs on CPU.

Same algebra as :mod:`.tap` (``Z = W9 @ x`` holds the nine taps of every
output channel, exactly the FLOPs of the 3x3 conv; each output channel then
sums its nine taps read at its own offsets), but ``Z`` is never materialised
whole: the C++ kernel (``mmicconv/ops/csrc/ic_band.cpp``) computes it for a
band of input rows at a time, sized to stay in cache, and adds it into the
output rows it feeds right away. Backward gathers ``dZ`` per band and runs
the two GEMMs of a conv backward (``W9^T @ dZ`` and ``dZ @ x^T``).

Strided convs run per input phase (the sub-grid ``x[:, :, p::s, q::s]``),
each phase with only the ``W9`` rows whose taps read it, so no FLOP is
wasted; the plan (which rows, and where each adds into the output) is built
once per layer.

Scope: CPU, ``groups=1``, float32/float64 (bfloat16 autocast uses ``tap``).
Needs the extension built at install time; without it ``'auto'`` falls back
to ``tap`` with a one-time warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

import torch

from ..extension import extension_error, load_extension
from .base import ICConvSpec, ICConvStrategy

__all__ = ['BandStrategy', 'band_rows', 'chunking', 'phase_rows']

#: GEMM columns (band rows x width, or whole small images side by side) per
#: GEMM: large enough for an efficient GEMM, small enough that the band's
#: ``9 * C_out`` rows stay in cache.
#: Measured best on 2 cores (AMD EPYC, AVX2) for ResNet-50 widths 7..160.
BAND_COLUMNS = 512


def band_rows(height: int, width: int) -> int:
    """Input rows per band for a ``height x width`` map (about :data:`BAND_COLUMNS` columns)."""
    return max(1, min(height, round(BAND_COLUMNS / width)))


def chunking(height: int, width: int) -> Tuple[int, int]:
    """``(band rows, images per GEMM)``: small maps put whole images side by side."""
    rows = band_rows(height, width)
    images = max(1, BAND_COLUMNS // (height * width)) if rows == height else 1
    return rows, images


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


def phase_rows(spec: ICConvSpec) -> List[PhaseRows]:
    """The per-phase row tables of a strided IC conv (tap ``(i, j)`` row ``(3i + j) C + o``)."""
    (sh, sw), c_out = spec.stride, spec.out_channels
    tables: dict = {}
    for o, (dh, dw) in enumerate(spec.channel_dilations().tolist()):
        for i in range(3):
            for j in range(3):
                e, f = (i - 1) * dh, (j - 1) * dw
                # input row sh*h + e = sh*(h + e // sh) + e % sh: phase e % sh, shifted by e // sh
                entry = ((3 * i + j) * c_out + o, o, -(e // sh), -(f // sw))
                tables.setdefault((e % sh, f % sw), []).append(entry)
    phases = []
    for phase, entries in sorted(tables.items()):
        entries.sort(key=lambda entry: (entry[1], entry[0]))
        counts = torch.bincount(torch.tensor([e[1] for e in entries]), minlength=c_out)
        ptr = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
        rows, _, a, b = (torch.tensor(column, dtype=torch.long) for column in zip(*entries))
        phases.append(PhaseRows(phase, rows, ptr, a, b))
    return phases


def _phase_input(x: torch.Tensor, phase: Tuple[int, int], stride: Tuple[int, int]) -> torch.Tensor:
    return x[:, :, phase[0]::stride[0], phase[1]::stride[1]].contiguous()


class _StridedBandConv(torch.autograd.Function):
    """The strided IC conv, one banded GEMM + scatter per input phase."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w9: torch.Tensor, phases: List[PhaseRows],
                stride: Tuple[int, int], phase_weights: Optional[List[torch.Tensor]]) -> torch.Tensor:
        ext = load_extension()
        n, _, h, w = x.shape
        out = x.new_zeros(n, w9.shape[0] // 9, (h - 1) // stride[0] + 1, (w - 1) // stride[1] + 1)
        if phase_weights is None:
            phase_weights = [w9.index_select(0, table.rows) for table in phases]
        for table, w_rows in zip(phases, phase_weights):
            xp = _phase_input(x, table.phase, stride)
            ext.band_forward_rows(xp, w_rows, table.ptr, table.a, table.b, out,
                                  *chunking(xp.shape[2], xp.shape[3]))
        ctx.save_for_backward(x, w9)
        ctx.phases, ctx.stride = phases, stride
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Tuple[Optional[torch.Tensor], ...]:
        x, w9 = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if not (need_x or need_w):
            return None, None, None, None, None
        ext, grad, stride = load_extension(), grad.contiguous(), ctx.stride
        dx = torch.zeros_like(x) if need_x else None
        dw9 = torch.zeros_like(w9) if need_w else None
        for table in ctx.phases:
            xp = _phase_input(x, table.phase, stride)
            dxp, dwp = ext.band_backward_rows(grad, xp, w9.index_select(0, table.rows), table.ptr,
                                              table.a, table.b, *chunking(xp.shape[2], xp.shape[3]),
                                              need_x, need_w)
            if need_x:
                dx[:, :, table.phase[0]::stride[0], table.phase[1]::stride[1]] = dxp
            if need_w:
                dw9.index_copy_(0, table.rows, dwp)
        return dx, dw9, None, None, None


class _BandConv(torch.autograd.Function):
    """``out = IC conv(x, W9)`` by bands; saves only ``x`` and ``W9``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w9: torch.Tensor, dilations: torch.Tensor) -> torch.Tensor:
        ext = load_extension()
        x = x.contiguous()
        chunks = chunking(x.shape[2], x.shape[3])
        ctx.save_for_backward(x, w9)
        ctx.dilations, ctx.chunks = dilations, chunks
        return ext.band_forward(x, w9, dilations, *chunks)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Tuple[Optional[torch.Tensor], ...]:
        x, w9 = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if not (need_x or need_w):
            return None, None, None
        dx, dw9 = load_extension().band_backward(grad.contiguous(), x, w9, ctx.dilations,
                                                 *ctx.chunks, need_x, need_w)
        return (dx if need_x else None), (dw9 if need_w else None), None


class BandStrategy(ICConvStrategy):
    """Compiled banded per-tap kernel (see the module docstring)."""

    name = 'band'
    priority = 20

    def __init__(self, spec: ICConvSpec) -> None:
        super().__init__(spec)
        #: the kernel's plan: ``[C_out, 2]`` (dh, dw) per output channel (stride 1) or the
        #: row tables of each input phase (strided)
        self.dilations = spec.channel_dilations().contiguous()
        self.phases = phase_rows(spec) if spec.stride != (1, 1) else []
        self._cache_key: Optional[tuple] = None
        self._cache: Tuple[torch.Tensor, Optional[List[torch.Tensor]]] = (torch.empty(0), None)

    @classmethod
    def unavailable_reason(cls) -> Optional[str]:
        return extension_error()

    @classmethod
    def supports(cls, spec: ICConvSpec, device: torch.device, dtype: torch.dtype,
                 training: bool) -> bool:
        return device.type == 'cpu' and spec.groups == 1 and dtype in (torch.float32, torch.float64)

    def weight_rows(self, weight: torch.Tensor,
                    dtype: torch.dtype) -> Tuple[torch.Tensor, Optional[List[torch.Tensor]]]:
        """``W9`` (``[9 * C_out, C_in]``, tap-major) in ``dtype``, and its rows per phase.

        Without autograd (inference) the copies are kept and reused until the
        weight changes (any in-place update bumps its version), as inference
        engines prepack weights; with autograd ``W9`` is rebuilt every call
        and the phase rows are taken inside the autograd function (None).
        """
        c_out, c_in = weight.shape[:2]
        if torch.is_grad_enabled() and weight.requires_grad:
            self._cache_key = None
            self._cache = (torch.empty(0), None)
            return weight.permute(2, 3, 0, 1).reshape(9 * c_out, c_in).to(dtype).contiguous(), None
        key = (id(weight), weight.data_ptr(), weight._version, dtype)
        if key != self._cache_key:
            w9 = weight.detach().permute(2, 3, 0, 1).reshape(9 * c_out, c_in).to(dtype).contiguous()
            rows = [w9.index_select(0, table.rows) for table in self.phases] if self.phases else None
            self._cache, self._cache_key = (w9, rows), key
        return self._cache

    def forward(self, x: torch.Tensor, weight: torch.Tensor,
                bias: Optional[torch.Tensor]) -> torch.Tensor:
        w9, phase_weights = self.weight_rows(weight, x.dtype)
        if self.phases:
            out = _StridedBandConv.apply(x, w9, self.phases, self.spec.stride, phase_weights)
        else:
            out = _BandConv.apply(x, w9, self.dilations)
        return out if bias is None else out + bias.to(out.dtype).view(1, -1, 1, 1)
