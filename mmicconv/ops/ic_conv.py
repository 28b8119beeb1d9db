"""``ICConv2d``: a 3x3 convolution with a dilation per output channel and axis."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Union

import torch
import torch.nn as nn

from ..pattern import ConvPattern
from .functional import IntPair, as_conv_pattern, as_pair, ic_conv2d
from .plan import is_tap_major, tap_major
from .strategies import ICConvSpec, ICConvStrategy, autocast_fallback, resolve_strategy
from .strategies.loop import LoopStrategy

__all__ = ['ICConv2d']


class ICConv2d(nn.Conv2d):
    """Inception convolution: output channel ``c`` is a 3x3 conv of its own dilation.

    The module form of :func:`mmicconv.ops.ic_conv2d` (which ``forward`` calls
    on every device, with the strategy chosen at build/move). A subclass of
    ``nn.Conv2d`` (only ``forward`` differs): ``weight``
    (``[out_channels, in_channels // groups, 3, 3]``), ``bias``,
    ``in_channels``, ``out_channels``, ``stride`` and ``groups`` are exactly
    ``nn.Conv2d``'s, so initialisers (mmengine's ``Kaiming`` with
    ``layer='Conv2d'``), ``fuse_conv_bn``, FLOP counters and ``isinstance``
    checks treat it as the 3x3 conv it is, and a plain ResNet checkpoint
    loads unchanged;
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
        padding: Ignored: every channel is padded by its own dilation ("same"
            3x3 conv). The ``padding`` and ``dilation`` attributes hold those
            of a plain 3x3 conv with the same output size (``(1, 1)``), or the
            uniform dilation when ``pattern`` is None; the per-channel
            dilations are in ``pattern`` / ``spec``.
        dilation: The dilation of every channel when ``pattern`` is None.
        groups: Cardinality (ResNeXt). The pattern then sums either to
            ``out_channels`` or to ``groups`` (one dilation per cardinality
            group); each dilation segment must cover whole groups.
        bias: Whether to add a learnable bias.
        pattern: This conv's pattern: a :class:`~mmicconv.pattern.ConvPattern`
            or one entry of the published format (``{"(a, b)": count}``).
        strategy: How to compute it: ``'auto'`` (default; on CPU the fastest
            that supports this conv, on CUDA ``tap`` (measured), elsewhere ``loop``; replaced by
            ``$MMICCONV_STRATEGY`` when set) or a name from
            :func:`mmicconv.ops.available_strategies`. Resolved when the
            module is built or moved; change it with :meth:`set_strategy`.
            Shown by ``repr``; :attr:`active_strategy` is what runs.

    Tracing (``torch.jit.trace``, FLOP counters such as mmengine's
    ``get_model_complexity_info``) sees the ``loop`` computation: one standard
    dilated ``Conv`` per dilation segment and a ``Concat``, with exactly the
    FLOPs of the 3x3 conv. ONNX export writes standard ops in the form of
    ``$MMICCONV_EXPORT_FORM`` (:mod:`mmicconv.ops.export_forms`; default
    ``taps``: nine 1x1 ``Conv`` and eight one-hot depthwise ``Conv``).
    ``torch.compile`` and ``torch.export`` see the active strategy (``band``:
    the registered operator ``torch.ops.mmicconv.ic_conv2d``).
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
        if as_pair(kernel_size) != (3, 3):
            raise ValueError(f'ICConv2d only supports 3x3 kernels, got kernel_size={kernel_size}')
        uniform = (1, 1) if pattern is not None else as_pair(dilation)
        super().__init__(in_channels, out_channels, 3, stride=as_pair(stride), padding=uniform,
                         dilation=uniform, groups=groups, bias=bias)
        self.pattern = as_conv_pattern(as_pair(dilation) if pattern is None else pattern, out_channels)
        self.spec = ICConvSpec.build(in_channels, out_channels, self.stride, groups, self.pattern)
        self.register_buffer('ic_dilations', self.spec.channel_dilations(), persistent=False)
        self._requested = 'auto'
        self._impl: ICConvStrategy = LoopStrategy(self.spec)
        self._autocast_impl: Optional[ICConvStrategy] = None
        self._lay_out_weight()
        self.set_strategy(strategy)
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
        ic._lay_out_weight()
        return ic.to(conv.weight.device)

    @property
    def strategy(self) -> str:
        """The requested strategy (``'auto'`` or a name); assigning calls :meth:`set_strategy`."""
        return self._requested

    @strategy.setter
    def strategy(self, name: str) -> None:
        self.set_strategy(name)

    @property
    def active_strategy(self) -> str:
        """The name of the strategy that runs (what ``'auto'`` resolved to)."""
        return self._impl.name

    def set_strategy(self, name: str) -> ICConv2d:
        """Choose how to compute the conv: ``'auto'`` or a name of :func:`available_strategies`.

        Resolved now, for the module's current device and dtype (and again
        whenever the module is moved). ``'auto'`` is replaced by
        ``$MMICCONV_STRATEGY`` when that is set (read here, never per forward).

        Raises:
            ValueError: an unknown name, or a strategy that is unavailable
                (e.g. the compiled kernel is not built) or cannot run this
                conv on this device/dtype. The current strategy is kept.
        """
        device = self.weight.device
        impl = resolve_strategy(name, self.spec, device, self.weight.dtype)(self.spec, device)
        self._requested, self._impl, self._autocast_impl = name, impl, None
        return self

    def _apply(self, fn, *args, **kwargs):
        """``nn.Module._apply`` (``to``, ``cuda``, ``double``, ...), then re-resolve the strategy."""
        result = super()._apply(fn, *args, **kwargs)
        if '_impl' in self.__dict__:  # not during __init__
            # rebuilt from the spec: a move may leave a non-persistent buffer uninitialised (to_empty)
            self.ic_dilations = self.spec.channel_dilations().to(self.weight.device)
            self._lay_out_weight()
            self.set_strategy(self._requested)
        return result

    def _lay_out_weight(self) -> None:
        """Keep the weight's memory tap-major (:func:`~mmicconv.ops.plan.tap_major`), ``groups=1``.

        The shape, values and Parameter object stay those of ``nn.Conv2d``
        (only ``weight.data``'s strides change), so initialisers, optimizers,
        ``state_dict`` and ``load_state_dict`` (which copies into it) work as
        for any conv; the ``band`` and ``tap`` strategies then read ``W9`` in
        place instead of re-laying the weight out on every forward, and get
        their weight gradient in that layout without a copy. A weight assigned
        later in another layout is still computed correctly (with a copy per
        forward) until the module is moved again.
        """
        if self.groups == 1 and not is_tap_major(self.weight):
            self.weight.data = tap_major(self.weight.data)

    def _autocast_fallback(self, x: torch.Tensor) -> Optional[ICConvStrategy]:
        """Under low-precision autocast, ``tap``/``loop`` when the active strategy cannot run it."""
        cls = autocast_fallback(type(self._impl), self.spec, x.device, self.training)
        if cls is None:
            return None
        if type(self._autocast_impl) is not cls:
            self._autocast_impl = cls(self.spec, x.device)
        return self._autocast_impl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """:func:`~mmicconv.ops.ic_conv2d` with this module's weight, bias, dilations and strategy."""
        return ic_conv2d(x, self.weight, self.bias, self.stride, self.ic_dilations, self.groups,
                         strategy=self._autocast_fallback(x) or self._impl)

    def extra_repr(self) -> str:
        dilations = ', '.join(f'{g.dilation_h}x{g.dilation_w}:{g.channels}' for g in self.pattern.groups)
        strategy = self.active_strategy if self._requested != 'auto' else f'auto:{self.active_strategy}'
        return (f'{self.in_channels}, {self.out_channels}, kernel_size=(3, 3), stride={self.stride}'
                f'{f", groups={self.groups}" if self.groups > 1 else ""}'
                f'{", bias=False" if self.bias is None else ""}, dilations=[{dilations}], '
                f'strategy={strategy}')

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
