"""``ICConv2d``: a 3x3 convolution with a dilation per output channel and axis."""

from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Tuple, Union

import torch
import torch.nn as nn

from ..pattern import ConvPattern, Pattern
from .strategies import ICConvSpec, ICConvStrategy, select_strategy

__all__ = ['ICConv2d']

IntPair = Union[int, Tuple[int, int]]


def _pair(value: IntPair) -> Tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _as_conv_pattern(pattern: Union[None, ConvPattern, Mapping[str, int]], out_channels: int,
                     dilation: Tuple[int, int]) -> ConvPattern:
    if pattern is None:
        return ConvPattern.uniform(out_channels, dilation)
    if isinstance(pattern, ConvPattern):
        return pattern
    return Pattern.from_list([pattern], source='<ICConv2d pattern>')[0]


class ICConv2d(nn.Module):
    """Inception convolution: output channel ``c`` is a 3x3 conv of its own dilation.

    The weight is ONE parameter of shape ``[out_channels, in_channels // groups, 3, 3]``,
    exactly like ``nn.Conv2d``, so a plain ResNet checkpoint loads unchanged;
    output channels follow the pattern's layout (its groups in order). Padding
    is "same" per axis (``dilation`` along each axis), so every channel has
    the output size of a plain 3x3 conv with the same stride.

    State dict: saves ``weight`` (and ``bias``) like ``nn.Conv2d``. Loading
    also accepts the layout of the paper's code, ``conv_list.{k}.weight``
    (``[n_k, in_channels // groups, 3, 3]``, one per non-zero pattern in
    order), which is concatenated into ``weight`` by a load hook.

    Registered in mmcv's conv-layer registry as ``'ICConv'``, so
    ``build_conv_layer(dict(type='ICConv', pattern={...}), ...)`` works; the
    ``padding``/``dilation`` arguments that mmcv passes are then only used
    when no pattern is given (a plain dilated 3x3 conv).

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Must be 3.
        stride: Stride, an int or (h, w).
        padding: Ignored (always "same" for each channel's dilation); accepted
            for ``nn.Conv2d``/mmcv compatibility.
        dilation: The dilation of every channel when ``pattern`` is None.
        groups: Cardinality (ResNeXt). The pattern then sums either to
            ``out_channels`` or to ``groups`` (one dilation per cardinality
            group); each dilation segment must cover whole groups.
        bias: Whether to add a learnable bias.
        pattern: This conv's pattern: a :class:`~mmicconv.pattern.ConvPattern`
            or one entry of the published format (``{"(a, b)": count}``).
        strategy: How to compute it: ``'auto'`` (default; the fastest that
            supports the input, overridable by ``MMICCONV_STRATEGY``) or a
            name from :func:`mmicconv.ops.strategies.available_strategies`.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: IntPair = 3,
                 stride: IntPair = 1,
                 padding: Any = None,
                 dilation: IntPair = 1,
                 groups: int = 1,
                 bias: bool = False,
                 pattern: Union[None, ConvPattern, Mapping[str, int]] = None,
                 strategy: str = 'auto') -> None:
        super().__init__()
        if _pair(kernel_size) != (3, 3):
            raise ValueError(f'ICConv2d only supports 3x3 kernels, got kernel_size={kernel_size}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = (3, 3)
        self.stride = _pair(stride)
        self.groups = groups
        self.pattern = _as_conv_pattern(pattern, out_channels, _pair(dilation))
        self.spec = ICConvSpec.build(in_channels, out_channels, self.stride, groups, self.pattern)
        self.strategy = strategy
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, 3, 3))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self._executors: Dict[Tuple[str, torch.dtype, bool], ICConvStrategy] = {}
        self.reset_parameters()
        self._register_load_state_dict_pre_hook(self._load_conv_list_layout)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, pattern: ConvPattern, strategy: str = 'auto') -> ICConv2d:
        """Replace a 3x3 ``nn.Conv2d``, sharing its weight and bias Parameters.

        Sharing (not copying) keeps ``requires_grad`` (frozen stages) and any
        initialisation already done.
        """
        ic = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                 groups=conv.groups, bias=conv.bias is not None, pattern=pattern,
                 strategy=strategy)
        ic.weight = conv.weight
        ic.bias = conv.bias
        return ic.to(conv.weight.device)

    def reset_parameters(self) -> None:
        """Initialise like ``nn.Conv2d``."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.weight[0].numel())
            nn.init.uniform_(self.bias, -bound, bound)

    def executor(self, x: torch.Tensor) -> ICConvStrategy:
        """The strategy instance for this input (chosen and planned once per key)."""
        device_type = x.device.type
        autocast = torch.is_autocast_enabled(device_type)
        dtype = torch.get_autocast_dtype(device_type) if autocast else x.dtype
        key = (str(x.device), dtype, self.training)
        executor = self._executors.get(key)
        if executor is None:
            cls = select_strategy(self.strategy, self.spec, x.device, dtype, self.training)
            executor = self._executors[key] = cls(self.spec)
        return executor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.executor(x).forward(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        dilations = ', '.join(f'{g.dilation_h}x{g.dilation_w}:{g.channels}' for g in self.pattern.groups)
        return (f'{self.in_channels}, {self.out_channels}, kernel_size=(3, 3), stride={self.stride}'
                f'{f", groups={self.groups}" if self.groups > 1 else ""}'
                f'{", bias=False" if self.bias is None else ""}, dilations=[{dilations}]')

    def _load_conv_list_layout(self, state_dict: Dict[str, torch.Tensor], prefix: str,
                               *args: Any) -> None:
        """Concatenate the paper's ``conv_list.{k}.*`` tensors into ``weight``/``bias``."""
        list_prefix = prefix + 'conv_list.'
        if prefix + 'weight' in state_dict or list_prefix + '0.weight' not in state_dict:
            return
        for name in ('weight', 'bias'):
            parts = []
            k = 0
            while f'{list_prefix}{k}.{name}' in state_dict:
                parts.append(state_dict.pop(f'{list_prefix}{k}.{name}'))
                k += 1
            if parts:
                state_dict[prefix + name] = torch.cat(parts, dim=0)
