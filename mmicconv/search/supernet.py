"""The EDO supernet: each covered 3x3 conv becomes a dense KxK conv, K = 2 * d_max + 1.

A candidate dilation ``(d_h, d_w)`` (1..d_max per axis) of an output channel
is the 3x3 sub-kernel at rows ``c + i * d_h`` and columns ``c + j * d_w``
(``c = d_max``, ``i, j`` in -1, 0, 1) of that channel's KxK kernel. With
"same" padding (``d_max``) and the conv's stride, the supernet conv and every
candidate (a 3x3 conv of that dilation, padding = dilation) have the same
output size, so a candidate is exactly the supernet conv with all other taps
zeroed.

The covered convs are the ones :func:`mmicconv.models.ic_conv_sites` yields
(Bottleneck ``conv2``; BasicBlock ``conv1`` and ``conv2``).
"""

from __future__ import annotations

from typing import Dict, Iterator, List, Sequence, Tuple

import torch
import torch.nn as nn

from ..models import ic_conv_sites
from ..models.ic_resnet import block_conv_slots
from ..ops import ICConv2d

__all__ = ['SupernetConv2d', 'convert_to_supernet', 'supernet_sites', 'candidate_dilations',
           'candidate_taps', 'candidate_mask', 'restrict_to_taps_']

INIT_MODES = ('centre', 'scratch')


def candidate_dilations(d_max: int) -> List[Tuple[int, int]]:
    """All ``(d_h, d_w)`` in 1..d_max, row-major: the key order of the published format."""
    if d_max < 1:
        raise ValueError(f'd_max must be >= 1, got {d_max}')
    return [(dh, dw) for dh in range(1, d_max + 1) for dw in range(1, d_max + 1)]


def candidate_taps(dilation: Tuple[int, int], d_max: int) -> Tuple[List[int], List[int]]:
    """Row and column indices (into the KxK kernel) of the candidate's 3x3 taps."""
    dh, dw = dilation
    if not (1 <= dh <= d_max and 1 <= dw <= d_max):
        raise ValueError(f'dilation {dilation} outside 1..{d_max}')
    return [d_max - dh, d_max, d_max + dh], [d_max - dw, d_max, d_max + dw]


def candidate_mask(d_max: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``[D, K, K]`` masks, 1 on the taps of each candidate of :func:`candidate_dilations`."""
    k = 2 * d_max + 1
    masks = torch.zeros(d_max * d_max, k, k, dtype=dtype)
    for index, dilation in enumerate(candidate_dilations(d_max)):
        rows, cols = candidate_taps(dilation, d_max)
        masks[index][torch.tensor(rows)[:, None], torch.tensor(cols)[None, :]] = 1
    return masks


class SupernetConv2d(nn.Conv2d):
    """A dense KxK conv standing in for a 3x3 conv during the dilation search.

    A plain ``nn.Conv2d`` (kernel ``2 * d_max + 1``, padding ``d_max``, the 3x3
    conv's stride and groups) plus two things: ``d_max`` is kept, and loading
    a state dict whose weight is 3x3 (a plain ResNet or detector checkpoint)
    puts it on the centre taps and zeros elsewhere, so ``init_cfg=Pretrained``
    and ``load_from`` initialise the supernet from 3x3 weights.
    """

    def __init__(self, in_channels: int, out_channels: int, d_max: int, stride=1, groups: int = 1,
                 bias: bool = False) -> None:
        k = 2 * d_max + 1
        super().__init__(in_channels, out_channels, k, stride=stride, padding=d_max, groups=groups,
                         bias=bias)
        self.d_max = d_max
        self.loaded_from_state_dict = False
        self._register_load_state_dict_pre_hook(self._centre_pad_3x3)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, d_max: int, init: str = 'centre') -> SupernetConv2d:
        """Build from a 3x3 conv: ``init='centre'`` copies its weight to the centre taps
        (outer taps zero), ``'scratch'`` keeps a fresh ``nn.Conv2d`` init of the KxK kernel."""
        if init not in INIT_MODES:
            raise ValueError(f'init must be one of {INIT_MODES}, got {init!r}')
        if tuple(conv.dilation) != (1, 1):
            raise ValueError(f'the 3x3 conv has dilation {tuple(conv.dilation)}; the supernet needs (1, 1)')
        sup = cls(conv.in_channels, conv.out_channels, d_max, conv.stride, conv.groups,
                  conv.bias is not None).to(conv.weight.device, conv.weight.dtype)
        if init == 'centre':
            sup.centre_from_(conv.weight.detach())
        if conv.bias is not None:
            sup.bias.data.copy_(conv.bias.detach())
        sup.weight.requires_grad_(conv.weight.requires_grad)
        return sup

    @torch.no_grad()
    def centre_from_(self, weight3: torch.Tensor) -> None:
        """Set the kernel to ``weight3`` (``[C_out, C_in/g, 3, 3]``) on the centre taps, 0 elsewhere."""
        c = self.d_max
        self.weight.zero_()
        self.weight[:, :, c - 1:c + 2, c - 1:c + 2] = weight3.to(self.weight)

    @torch.no_grad()
    def centre_after_init_(self) -> None:
        """Turn a fresh KxK init into a centre init: keep the centre 3x3 taps scaled by K / 3,
        zero the others. Any fan-based init (Kaiming, ``nn.Conv2d``'s default) has a scale
        proportional to ``1 / sqrt(fan)``; the fan of a 3x3 kernel is ``9 / K**2`` that of a
        KxK one, so the result is distributed like the same init of a 3x3 conv."""
        c = self.d_max
        centre = self.weight[:, :, c - 1:c + 2, c - 1:c + 2].clone() * (self.kernel_size[0] / 3)
        self.centre_from_(centre)

    def _centre_pad_3x3(self, state_dict: Dict[str, torch.Tensor], prefix: str, *args) -> None:
        weight = state_dict.get(prefix + 'weight')
        self.loaded_from_state_dict = self.loaded_from_state_dict or weight is not None
        if weight is not None and weight.dim() == 4 and tuple(weight.shape[-2:]) == (3, 3):
            padded = weight.new_zeros(weight.shape[:2] + self.kernel_size)
            c = self.d_max
            padded[:, :, c - 1:c + 2, c - 1:c + 2] = weight
            state_dict[prefix + 'weight'] = padded

    def extra_repr(self) -> str:
        return super().extra_repr() + f', d_max={self.d_max}'


def supernet_sites(model: nn.Module) -> Iterator[Tuple[str, nn.Module, str]]:
    """``(qualified_name, block, attribute)`` of each SupernetConv2d, in network (pattern) order
    (the slots of :func:`mmicconv.models.ic_resnet.block_conv_slots`)."""
    for name, block, attr in block_conv_slots(model):
        if isinstance(getattr(block, attr, None), SupernetConv2d):
            yield name, block, attr


def convert_to_supernet(model: nn.Module, d_max: int = 4, init: str = 'centre') -> List[str]:
    """Replace, in place, every 3x3 conv an IC pattern would cover by a :class:`SupernetConv2d`.

    Args:
        model: A ResNet-like backbone (mmdet, mmpose or torchvision layout).
        d_max: Largest dilation per axis (4: the "k9" space, 6: "k13").
        init: ``'centre'`` (the 3x3 weights on the centre taps, outer taps zero)
            or ``'scratch'`` (a fresh init of the whole KxK kernel).

    Returns:
        The converted convs' names, in network (pattern) order.
    """
    sites = list(ic_conv_sites(model))
    if not sites:
        raise ValueError(f'{type(model).__name__} has no 3x3 conv in layer*.* blocks to convert')
    names = []
    for name, block, attr in sites:
        conv = getattr(block, attr)
        if not isinstance(conv, nn.Conv2d) or isinstance(conv, ICConv2d):
            raise ValueError(f'{name} is {type(conv).__name__}; convert the plain model, not an IC one')
        setattr(block, attr, SupernetConv2d.from_conv(conv, d_max, init))
        names.append(name)
    return names


@torch.no_grad()
def restrict_to_taps_(model: nn.Module, dilations: Sequence[Sequence[Tuple[int, int]]]) -> None:
    """Zero every tap of each supernet conv except the chosen candidate's, per output channel.

    ``dilations[l][c]`` is the ``(d_h, d_w)`` of output channel ``c`` of the
    ``l``-th supernet conv. The result is the function the exported IC-ResNet
    computes (up to its channel regrouping).
    """
    sites = list(supernet_sites(model))
    if len(sites) != len(dilations):
        raise ValueError(f'{len(dilations)} layers of dilations for {len(sites)} supernet convs')
    for (name, block, attr), layer in zip(sites, dilations):
        conv = getattr(block, attr)
        if len(layer) != conv.out_channels:
            raise ValueError(f'{name}: {len(layer)} dilations for {conv.out_channels} output channels')
        masks = candidate_mask(conv.d_max).to(conv.weight)
        index = torch.tensor([candidate_dilations(conv.d_max).index(tuple(d)) for d in layer])
        conv.weight.mul_(masks[index][:, None])
