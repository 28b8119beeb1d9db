"""The GEMM-only oracle: a strategy computing only the compiled kernel's GEMMs (``Z = W9 @ x``).

Importing this module registers :class:`GemmOracleStrategy` as ``'gemm-oracle'``
(``ICConv2d(..., strategy='gemm-oracle')``, ``convert_to_ic(..., strategy='gemm-oracle')``).
It has exactly the 3x3 conv's FLOPs and none of the shifted adds: the outputs
are wrong, the shapes right. An IC-R50 running it is the floor of any kernel
built on that GEMM (``tools/benchmark_icconv.py --gemm-oracle``, the case
``oracle:gemm``). Forward only (no autograd); never chosen by ``'auto'``.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from ..ops.extension import extension_error, load_extension
from ..ops.op import band_chunking, band_columns
from ..ops.plan import w9_matrix
from ..ops.strategies import ICConvSpec, ICConvStrategy, register_strategy
from ..ops.strategies.band import BandStrategy

__all__ = ['GemmOracleStrategy', 'gemm_only_forward', 'oracle_wanted']


def gemm_only_forward(x: torch.Tensor, weight: torch.Tensor, stride: Sequence[int]) -> torch.Tensor:
    """The band kernel's GEMMs only, no shifted adds.

    The same GEMMs as the kernel (``W9 @`` a band of ``band_columns`` columns into one reused
    buffer, small images several per GEMM); a strided conv multiplies ``W9`` with one input
    phase, which has the FLOPs of all phases' row subsets together. Each band's first ``C_out``
    rows are written to the output (wrong values, right shape, one write as the kernel's):
    the result is the 1x1 conv of the phase-``(0, 0)`` input by ``weight[:, :, 0, 0]``.
    """
    gemm = load_extension().gemm  # the kernel's own GEMM (its library: mmicconv.ops.gemm)
    x = x.contiguous()
    if tuple(stride) != (1, 1):
        x = x[:, :, ::stride[0], ::stride[1]].contiguous()
    n, c, h, w = x.shape
    cout, w9 = weight.shape[0], w9_matrix(weight.to(x.dtype))
    rows, _ = band_chunking(h, w, band_columns(c, cout))
    if rows == h:  # whole images side by side in one GEMM
        z = x.new_empty(9 * cout, n * h * w)
        gemm(z, w9, x.view(n, c, h * w).transpose(0, 1).reshape(c, n * h * w), False)
        return z[:cout].view(cout, n, h, w).transpose(0, 1).contiguous()
    y = x.new_empty(n, cout, h * w)
    buffer = x.new_empty(9 * cout * rows * w)
    for i in range(n):
        for start in range(0, h * w, rows * w):
            columns = min(rows * w, h * w - start)
            z = buffer[:9 * cout * columns].view(9 * cout, columns)
            gemm(z, w9, x[i].view(c, h * w)[:, start:start + columns], False)
            y[i, :, start:start + columns] = z[:cout]
    return y.view(n, cout, h, w)


@register_strategy('gemm-oracle')
class GemmOracleStrategy(ICConvStrategy):
    """:func:`gemm_only_forward` as a strategy: the scope of ``band`` (CPU, ``groups=1``, float32/64)."""

    priority = None  # only when named

    @classmethod
    def supports(cls, spec: ICConvSpec, device: torch.device, dtype: torch.dtype,
                 training: bool) -> bool:
        return BandStrategy.supports(spec, device, dtype, training)

    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                dilations: torch.Tensor) -> torch.Tensor:
        out = gemm_only_forward(x, weight, self.spec.stride)
        return out if bias is None else out + bias.to(out.dtype).view(1, -1, 1, 1)


def oracle_wanted(asked: bool, device: torch.device) -> bool:
    """Whether ``--gemm-oracle`` can run here (CPU with the compiled kernel it is the floor of);
    prints why not."""
    if not asked:
        return False
    why = f'it replaces the CPU kernel; the device is {device}' if device.type != 'cpu' else extension_error()
    if why:
        print(f'# --gemm-oracle skipped: {why}', flush=True)
    return why is None
