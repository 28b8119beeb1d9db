"""``ic_conv2d``: the IC convolution as a function, what :class:`~mmicconv.ops.ICConv2d` runs.

The module/function split of ``nn.Conv2d`` / ``F.conv2d``: the module holds
the parameters, the pattern and the strategy chosen at build/move, and its
``forward`` calls :func:`ic_conv2d` on every device; the function runs a
strategy, which for ``band`` is the registered operator
``torch.ops.mmicconv.ic_conv2d`` (:mod:`mmicconv.ops.op`).
"""

from __future__ import annotations

from typing import Mapping, Optional, Tuple, Union

import torch
from torch import Tensor

from ..pattern import ConvPattern, Pattern
from .export_forms import exported_conv2d
from .plan import ICConvSpec, segments_conv2d
from .strategies import ICConvStrategy, autocast_fallback, resolve_strategy

__all__ = ['ic_conv2d', 'as_conv_pattern', 'as_pair', 'IntPair', 'Dilations']

IntPair = Union[int, Tuple[int, int]]
#: A per-channel ``[C_out, 2]`` int tensor, a pattern entry, or one dilation for every channel.
Dilations = Union[Tensor, ConvPattern, Mapping[str, int], int, Tuple[int, int]]


def as_pair(value: IntPair) -> Tuple[int, int]:
    """``(value, value)`` for an int, else the first two entries as ints."""
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def as_conv_pattern(pattern: Union[ConvPattern, Mapping[str, int], int, Tuple[int, int]],
                    out_channels: int) -> ConvPattern:
    """A :class:`~mmicconv.pattern.ConvPattern` from a pattern, a published entry
    (``{"(a, b)": count}``) or one ``(dh, dw)`` dilation (int: both axes) for all channels."""
    if isinstance(pattern, ConvPattern):
        return pattern
    if isinstance(pattern, Mapping):
        return Pattern.from_list([pattern], source='<IC conv pattern>')[0]
    return ConvPattern.uniform(out_channels, as_pair(pattern))


def _spec_of(weight: Tensor, stride: Tuple[int, int], dilations: Dilations, groups: int) -> ICConvSpec:
    in_channels = weight.shape[1] * groups
    if isinstance(dilations, Tensor):
        spec = ICConvSpec.from_dilations(in_channels, stride, groups, dilations)
    else:
        spec = ICConvSpec.build(in_channels, weight.shape[0], stride, groups,
                                as_conv_pattern(dilations, weight.shape[0]))
    if spec.out_channels != weight.shape[0]:
        raise ValueError(f'dilations are given for {spec.out_channels} output channels, '
                         f'the weight has {weight.shape[0]}')
    return spec


def ic_conv2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: IntPair = 1,
              dilations: Dilations = 1, groups: int = 1,
              strategy: Union[str, ICConvStrategy] = 'auto') -> Tensor:
    """Inception convolution: output channel ``c`` is a 3x3 conv of ``input`` with its own dilation.

    There is no ``padding`` argument: every channel is zero-padded by its own
    dilation ("same" 3x3 conv), so the output has the size of a plain 3x3
    conv of that stride (``(H - 1) // stride + 1``).

    Args:
        input: ``[N, C_in, H, W]``.
        weight: ``[C_out, C_in // groups, 3, 3]``.
        bias: ``[C_out]`` or None.
        stride: An int or ``(stride_h, stride_w)``.
        dilations: Each output channel's ``(dh, dw)``: an ``[C_out, 2]`` int64
            tensor (what :attr:`ICConv2d.ic_dilations` holds), a
            :class:`~mmicconv.pattern.ConvPattern` or published entry
            ``{"(a, b)": count}`` (channels in key order; counts may sum to
            ``groups`` instead of ``C_out``), or one dilation for all channels.
        groups: Cardinality (ResNeXt); with ``groups > 1`` each run of equal
            dilation covers whole cardinality groups.
        strategy: How to compute it: ``'auto'`` or a name of
            :func:`~mmicconv.ops.available_strategies`, resolved at every call
            as :meth:`ICConv2d.set_strategy` resolves it (``'auto'`` honours
            ``$MMICCONV_STRATEGY``); or a strategy instance built for this conv
            (what :class:`~mmicconv.ops.ICConv2d` passes: its plan is then not
            rebuilt, and ``dilations`` must be its spec's).

    Under ONNX export this is written in standard ops, in the form of
    :func:`~mmicconv.ops.export_forms.export_form` (default ``'taps'``: nine 1x1
    convs and eight one-hot depthwise convs); under ``torch.jit.trace`` (FLOP
    counters) it is the ``loop`` computation (one standard dilated conv per
    dilation segment + ``cat``), exactly the 3x3 conv's FLOPs.
    Under low-precision autocast a named strategy that cannot run the autocast
    dtype (``band``) hands over to ``tap`` (``loop`` where ``tap`` cannot run).

    Raises:
        ValueError: dilations that do not fit the weight or ``groups``, an
            unknown strategy, or one that cannot run this input.
    """
    if isinstance(strategy, ICConvStrategy):
        impl: Optional[ICConvStrategy] = strategy
        spec = strategy.spec
    else:
        impl, spec = None, _spec_of(weight, as_pair(stride), dilations, groups)
    if torch.onnx.is_in_onnx_export():
        return exported_conv2d(input, weight, bias, spec)
    if torch.jit.is_tracing():
        # FLOP counters: one dilated conv per segment + cat, exactly the 3x3 conv's FLOPs
        return segments_conv2d(input, weight, bias, spec.segments, spec.stride, spec.groups)
    if impl is None:
        cls = resolve_strategy(str(strategy), spec, input.device, input.dtype)
        cls = autocast_fallback(cls, spec, input.device) or cls
        impl = cls(spec, input.device)
    if not isinstance(dilations, Tensor):
        dilations = spec.channel_dilations().to(input.device)
    return impl.forward(input, weight, bias, dilations)
