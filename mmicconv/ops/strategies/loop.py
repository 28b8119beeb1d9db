"""The reference strategy: one dilated conv per dilation segment, concatenated.

This is how the paper's code computes an IC conv (one ``nn.Conv2d`` per
pattern, then ``torch.cat``). It is simple, exact, works on every device and
dtype, is twice differentiable and traces to standard ops (FLOP counters,
ONNX: one ``Conv`` per segment and a ``Concat``); the faster strategies are
checked against it.
"""

from __future__ import annotations

from typing import Optional

import torch

from ..plan import segments_conv2d
from .base import ICConvStrategy
from .registry import register_strategy

__all__ = ['LoopStrategy']


@register_strategy('loop')
class LoopStrategy(ICConvStrategy):
    """Per-segment ``F.conv2d`` calls followed by a concatenation."""

    priority = 0

    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                dilations: torch.Tensor) -> torch.Tensor:
        spec = self.spec
        return segments_conv2d(x, weight, bias, spec.segments, spec.stride, spec.groups)
