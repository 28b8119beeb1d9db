"""The execution-strategy interface of :class:`~mmicconv.ops.ICConv2d`.

An IC convolution is fully described by an :class:`ICConvSpec` (shapes,
stride, cardinality and the dilation segments of its output channels; see
:mod:`mmicconv.ops.plan`). A strategy turns ``(input, weight, bias)`` into
the output; it is built by the module when the module is built, moved or
given :meth:`~mmicconv.ops.ICConv2d.set_strategy` (or by
:func:`mmicconv.ops.ic_conv2d` per call when given a name), may precompute a
plan for that device then, and holds no parameters, so strategies can be
swapped at any time without touching the module or its state_dict.
"""

from __future__ import annotations

from typing import ClassVar, Optional

import torch

from ..plan import ICConvSpec, Segment

__all__ = ['Segment', 'ICConvSpec', 'ICConvStrategy']


class ICConvStrategy:
    """Computes an IC convolution.

    Subclasses implement :meth:`forward`, may override :meth:`supports` and
    :meth:`unavailable_reason`, and register themselves with
    :func:`~mmicconv.ops.strategies.register_strategy` (which sets
    :attr:`name`). An instance is built for one module on one device and must
    not rebuild its plan per call.
    """

    #: The registered name (set by ``register_strategy``).
    name: ClassVar[str] = ''
    #: Higher wins when ``strategy='auto'`` and several support the input;
    #: None: never chosen by ``'auto'``, only when named.
    priority: ClassVar[Optional[int]] = 0

    def __init__(self, spec: ICConvSpec, device: Optional[torch.device] = None) -> None:
        self.spec = spec

    @classmethod
    def unavailable_reason(cls) -> Optional[str]:
        """Why this strategy cannot run in this installation (None: it can).

        Optional compiled kernels return e.g. ``'extension not built'``;
        ``strategy='auto'`` then falls back to the next strategy with a
        one-time warning.
        """
        return None

    @classmethod
    def supports(cls, spec: ICConvSpec, device: torch.device, dtype: torch.dtype,
                 training: bool) -> bool:
        """Whether this strategy can run ``spec`` for such an input."""
        return True

    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                dilations: torch.Tensor) -> torch.Tensor:
        """Return the IC convolution of ``x`` (N, C_in, H, W).

        ``dilations`` is the ``[C_out, 2]`` int64 tensor of per-channel
        dilations (the module's ``ic_dilations`` buffer; the operator's plan
        argument).
        """
        raise NotImplementedError
