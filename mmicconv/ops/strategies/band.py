"""The banded per-tap strategy: a compiled kernel for stride-1 IC convs on CPU.

Same algebra as :mod:`.tap` (``Z = W9 @ x`` holds the nine taps of every
output channel, exactly the FLOPs of the 3x3 conv; each output channel then
sums its nine taps read at its own offsets), but ``Z`` is never materialised
whole: the C++ kernel (``mmicconv/ops/csrc/ic_band.cpp``) computes it for a
band of input rows at a time, sized to stay in cache, and adds it into the
output rows it feeds right away. Backward gathers ``dZ`` per band and runs
the two GEMMs of a conv backward (``W9^T @ dZ`` and ``dZ @ x^T``).

Scope: CPU, stride 1, ``groups=1``, float32/float64 (bfloat16 autocast and
strided layers use ``tap``). Needs the extension built at install time;
without it ``'auto'`` falls back to ``tap`` with a one-time warning.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import torch

from ..extension import extension_error, load_extension
from .base import ICConvSpec, ICConvStrategy

__all__ = ['BandStrategy', 'band_rows']

#: GEMM columns (band rows x width) per band: large enough for an efficient
#: GEMM, small enough that the band's ``9 * C_out`` rows stay in cache.
#: Measured best on 2 cores (AMD EPYC, AVX2) for ResNet-50 widths 7..160.
BAND_COLUMNS = 512


def band_rows(height: int, width: int) -> int:
    """Input rows per band for a ``height x width`` map (about :data:`BAND_COLUMNS` columns)."""
    return max(1, min(height, round(BAND_COLUMNS / width)))


class _BandConv(torch.autograd.Function):
    """``out = IC conv(x, W9)`` by bands; saves only ``x`` and ``W9``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w9: torch.Tensor, dilations: torch.Tensor) -> torch.Tensor:
        ext = load_extension()
        x = x.contiguous()
        band = band_rows(x.shape[2], x.shape[3])
        ctx.save_for_backward(x, w9)
        ctx.dilations, ctx.band = dilations, band
        return ext.band_forward(x, w9, dilations, band)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Tuple[Optional[torch.Tensor], ...]:
        x, w9 = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if not (need_x or need_w):
            return None, None, None
        dx, dw9 = load_extension().band_backward(grad.contiguous(), x, w9, ctx.dilations,
                                                 ctx.band, need_x, need_w)
        return (dx if need_x else None), (dw9 if need_w else None), None


class BandStrategy(ICConvStrategy):
    """Compiled banded per-tap kernel (see the module docstring)."""

    name = 'band'
    priority = 20

    def __init__(self, spec: ICConvSpec) -> None:
        super().__init__(spec)
        #: ``[C_out, 2]`` (dh, dw) per output channel, the kernel's plan
        self.dilations = spec.channel_dilations().contiguous()

    @classmethod
    def unavailable_reason(cls) -> Optional[str]:
        return extension_error()

    @classmethod
    def supports(cls, spec: ICConvSpec, device: torch.device, dtype: torch.dtype,
                 training: bool) -> bool:
        return (device.type == 'cpu' and spec.groups == 1 and spec.stride == (1, 1)
                and dtype in (torch.float32, torch.float64))

    def forward(self, x: torch.Tensor, weight: torch.Tensor,
                bias: Optional[torch.Tensor]) -> torch.Tensor:
        c_out, c_in = weight.shape[:2]
        w9 = weight.permute(2, 3, 0, 1).reshape(9 * c_out, c_in).to(x.dtype).contiguous()
        out = _BandConv.apply(x, w9, self.dilations)
        return out if bias is None else out + bias.to(out.dtype).view(1, -1, 1, 1)
