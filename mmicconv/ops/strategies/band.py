"""The banded per-tap strategy: the registered operator ``torch.ops.mmicconv.ic_conv2d``.

Same algebra as :mod:`.tap` (``Z = W9 @ x`` holds the nine taps of every
output channel, exactly the FLOPs of the 3x3 conv; each output channel then
sums its nine taps read at its own offsets), but ``Z`` is never materialised
whole: the C++ kernel (``mmicconv/ops/csrc/ic_band.cpp``) computes it for a
band of input rows at a time, sized to stay in cache, and adds it into the
output rows it feeds right away. Backward gathers ``dZ`` per band and runs
the two GEMMs of a conv backward (``W9^T @ dZ`` and ``dZ @ x^T``). The GEMMs are
oneDNN's or MKL's, chosen per process by CPU (:mod:`mmicconv.ops.gemm`). Strided
convs run per input phase (:func:`mmicconv.ops.plan.phase_rows`), so no FLOP
is wasted.

The strategy calls the registered operator (:mod:`mmicconv.ops.op`), whose
CPU kernel calls the kernel's pybind11 functions, so ``torch.compile(fullgraph=True)``
and ``torch.export`` see one operator. Scope: CPU, ``groups=1``,
float32/float64; needs the extension built at install time (without it
``'auto'`` uses ``tap`` with a one-time warning). Not twice differentiable.
Under ``torch.func`` transforms it computes with the composite ops instead.
"""

from __future__ import annotations

from typing import Optional

import torch

from ..extension import extension_error
from ..op import ic_conv2d_op
from ..plan import segments_conv2d
from .base import ICConvSpec, ICConvStrategy
from .registry import register_strategy

__all__ = ['BandStrategy']


@register_strategy('band')
class BandStrategy(ICConvStrategy):
    """Compiled banded per-tap kernel behind ``torch.ops.mmicconv.ic_conv2d``."""

    priority = 20

    @classmethod
    def unavailable_reason(cls) -> Optional[str]:
        return extension_error()

    @classmethod
    def supports(cls, spec: ICConvSpec, device: torch.device, dtype: torch.dtype,
                 training: bool) -> bool:
        return device.type == 'cpu' and spec.groups == 1 and dtype in (torch.float32, torch.float64)

    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                dilations: torch.Tensor) -> torch.Tensor:
        spec = self.spec
        if torch._C._are_functorch_transforms_active():
            # torch.func (grad, vmap, jacrev, ...) cannot transform a custom operator's registered
            # autograd; the composite computation can
            return segments_conv2d(x, weight, bias, spec.segments, spec.stride, spec.groups)
        return ic_conv2d_op(x, weight, bias, dilations, list(spec.stride), spec.groups)
