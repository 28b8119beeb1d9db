"""The reference strategy: one dilated conv per dilation segment, concatenated.

This is how the paper's code computes an IC conv (one ``nn.Conv2d`` per
pattern, then ``torch.cat``). It is simple, exact and works everywhere; the
faster strategies are checked against it.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .base import ICConvStrategy

__all__ = ['LoopStrategy']


class LoopStrategy(ICConvStrategy):
    """Per-segment ``F.conv2d`` calls followed by a concatenation."""

    name = 'loop'
    priority = 0

    def forward(self, x: torch.Tensor, weight: torch.Tensor,
                bias: Optional[torch.Tensor]) -> torch.Tensor:
        spec = self.spec
        out_per_group = spec.out_channels // spec.groups
        in_per_group = spec.in_channels // spec.groups
        outputs = []
        for seg in spec.segments:
            if spec.groups == 1:
                x_seg, seg_groups = x, 1
            else:
                first, last = seg.start // out_per_group, seg.stop // out_per_group
                x_seg = x[:, first * in_per_group:last * in_per_group]
                seg_groups = last - first
            outputs.append(F.conv2d(
                x_seg, weight[seg.start:seg.stop],
                None if bias is None else bias[seg.start:seg.stop],
                stride=spec.stride, padding=(seg.dilation_h, seg.dilation_w),
                dilation=(seg.dilation_h, seg.dilation_w), groups=seg_groups))
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=1)
