"""Per-channel dilation selection from a trained supernet (EDO's selection step).

For output channel ``c`` of a supernet conv with input ``x`` and candidate
dilation ``d``, the representation error is

    e[c, d] = E |conv(x, W)[c] - conv_d(x, W_d)[c]|

(mean over calibration images and output positions), where ``W_d`` is the
candidate's 3x3 sub-kernel and ``conv_d`` a 3x3 conv of dilation ``d`` (the
same as the L1 response of the residual kernel ``W - W * mask_d``). Each
channel takes the candidate with the least error (ties: the first in
row-major order, i.e. the smaller dilations).

:class:`DilationErrorCollector` registers forward hooks on every supernet
conv, so ONE forward of the network per calibration batch measures every
layer and every candidate: inside the hook, the candidates are evaluated on
the captured input (``d_max**2`` dilated 3x3 convs of that layer, each
batched over images, channels and positions), never by another forward of
the network.

The statistical variant (``'stat'``) only needs the weights and the mean
absolute value ``m_k`` of each input channel:

    s[c, d] = sum_{k, taps t outside d} |W[c, k, t]| * m_k,

an upper bound of the exact error by the triangle inequality (boundary
padding aside). It costs nothing beyond the channel means.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .supernet import SupernetConv2d, candidate_dilations, candidate_mask, candidate_taps, supernet_sites

__all__ = ['LayerErrors', 'DilationErrorCollector', 'select_dilations', 'compare_methods', 'METHODS']

METHODS = ('exact', 'stat')


@dataclass
class LayerErrors:
    """The representation errors of one supernet conv.

    Attributes:
        name: The conv's qualified name (``layer2.0.conv2``).
        d_max: Its search space, dilations 1..d_max per axis.
        errors: ``{method: [C_out, d_max**2] tensor}``, candidates in
            :func:`~mmicconv.search.supernet.candidate_dilations` order.
        output_l1: Mean ``|conv(x, W)|`` per output channel (scale reference).
        input_hw: The smallest input map ``(H, W)`` the conv saw during calibration.
    """

    name: str
    d_max: int
    errors: Dict[str, torch.Tensor] = field(default_factory=dict)
    output_l1: Optional[torch.Tensor] = None
    input_hw: Optional[Tuple[int, int]] = None

    @property
    def candidates(self) -> List[Tuple[int, int]]:
        return candidate_dilations(self.d_max)

    def choice(self, method: str = 'exact') -> torch.Tensor:
        """Index of the chosen candidate per output channel: the least error; among exact ties
        (candidates that read the same pixels, e.g. every dilation that only reaches the zero
        padding of a small map) the smallest dilation (:func:`dilation_rank`)."""
        errors = self.errors[method]
        ranks = torch.tensor([dilation_rank(d) for d in self.candidates], dtype=torch.float64)
        tied = errors == errors.min(dim=1, keepdim=True).values
        return torch.where(tied, ranks, torch.inf).argmin(dim=1)

    def indistinguishable(self) -> List[Tuple[int, int]]:
        """Candidates this layer's calibration maps could not tell apart from a smaller one:
        a dilation ``d`` along an axis of ``n`` pixels reads only zero padding beyond the centre
        tap once ``d >= n``, so every such ``d`` gives the same output."""
        if self.input_hw is None:
            return []
        h, w = self.input_hw
        return [(dh, dw) for dh, dw in self.candidates if dh > max(h, 1) or dw > max(w, 1)]

    def dilations(self, method: str = 'exact') -> List[Tuple[int, int]]:
        """The chosen ``(d_h, d_w)`` of every output channel."""
        cands = self.candidates
        return [cands[i] for i in self.choice(method).tolist()]


def dilation_rank(dilation: Tuple[int, int]) -> Tuple[int, int, int]:
    """Order of "smaller" dilations for tie-breaking: by ``d_h + d_w``, then the larger of the
    two, then ``d_h``."""
    dh, dw = dilation
    return (dh + dw) * 10000 + max(dh, dw) * 100 + dh


class _LayerState:
    def __init__(self, name: str, conv: SupernetConv2d, methods: Sequence[str]) -> None:
        self.name, self.conv, self.methods = name, conv, methods
        self.err_sum = torch.zeros(conv.out_channels, conv.d_max ** 2, dtype=torch.float64)
        self.out_sum = torch.zeros(conv.out_channels, dtype=torch.float64)
        self.in_abs_sum = torch.zeros(conv.in_channels, dtype=torch.float64)
        self.out_count = 0
        self.in_count = 0
        self.input_hw: Optional[Tuple[int, int]] = None

    @torch.no_grad()
    def hook(self, module: SupernetConv2d, inputs: Tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        x = inputs[0].detach()
        y = output.detach()
        hw = (int(x.shape[2]), int(x.shape[3]))
        self.input_hw = hw if self.input_hw is None else tuple(map(min, self.input_hw, hw))
        if module.bias is not None:
            y = y - module.bias.view(1, -1, 1, 1)
        self.out_sum += y.abs().sum(dim=(0, 2, 3)).double().cpu()
        self.out_count += y.shape[0] * y.shape[2] * y.shape[3]
        if 'stat' in self.methods:
            self.in_abs_sum += x.abs().sum(dim=(0, 2, 3)).double().cpu()
            self.in_count += x.shape[0] * x.shape[2] * x.shape[3]
        if 'exact' in self.methods:
            weight = module.weight.detach()
            for index, dilation in enumerate(candidate_dilations(module.d_max)):
                rows, cols = candidate_taps(dilation, module.d_max)
                w3 = weight[:, :, rows][:, :, :, cols]
                y_d = F.conv2d(x, w3, None, module.stride, dilation, dilation, module.groups)
                self.err_sum[:, index] += (y - y_d).abs().sum(dim=(0, 2, 3)).double().cpu()

    @torch.no_grad()
    def result(self) -> LayerErrors:
        conv = self.conv
        layer = LayerErrors(self.name, conv.d_max)
        if self.out_count == 0:
            raise RuntimeError(f'{self.name} saw no input: did the calibration forward reach it?')
        layer.output_l1 = (self.out_sum / self.out_count).float()
        layer.input_hw = self.input_hw
        if 'exact' in self.methods:
            layer.errors['exact'] = (self.err_sum / self.out_count).float()
        if 'stat' in self.methods:
            means = (self.in_abs_sum / self.in_count).float()
            layer.errors['stat'] = stat_errors(conv.weight.detach().float().cpu(), means, conv.groups,
                                               conv.d_max)
        return layer


def stat_errors(weight: torch.Tensor, in_abs_mean: torch.Tensor, groups: int, d_max: int) -> torch.Tensor:
    """The statistical error ``[C_out, d_max**2]`` from a KxK weight and input channel means."""
    c_out, c_in_g = weight.shape[:2]
    means = in_abs_mean.view(groups, 1, c_in_g, 1, 1)
    w = weight.abs().view(groups, c_out // groups, c_in_g, *weight.shape[2:])
    per_tap = (w * means).sum(dim=2).reshape(c_out, -1)  # [C_out, K*K]
    masks = candidate_mask(d_max).reshape(d_max * d_max, -1)  # [D, K*K]
    return per_tap.sum(dim=1, keepdim=True) - per_tap @ masks.T


class DilationErrorCollector:
    """Forward hooks on every supernet conv of ``model`` accumulating the errors.

    Use as a context manager around the calibration forwards::

        with DilationErrorCollector(backbone) as collector:
            for batch in batches:
                backbone(batch)
        layers = collector.results()
    """

    def __init__(self, model: nn.Module, methods: Sequence[str] = METHODS) -> None:
        unknown = set(methods) - set(METHODS)
        if unknown:
            raise ValueError(f'unknown selection method(s) {sorted(unknown)}; choose from {METHODS}')
        self.states = [_LayerState(name, getattr(block, attr), tuple(methods))
                       for name, block, attr in supernet_sites(model)]
        if not self.states:
            raise ValueError(f'{type(model).__name__} has no SupernetConv2d (convert_to_supernet first)')
        self._handles: List = []

    def __enter__(self) -> DilationErrorCollector:
        self._handles = [s.conv.register_forward_hook(s.hook) for s in self.states]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def results(self) -> List[LayerErrors]:
        """One :class:`LayerErrors` per supernet conv, in network order."""
        return [s.result() for s in self.states]


@torch.no_grad()
def select_dilations(model: nn.Module, batches: Iterable, forward: Optional[Callable] = None,
                     methods: Sequence[str] = METHODS,
                     progress: Optional[Callable[[], None]] = None) -> List[LayerErrors]:
    """Measure every candidate of every supernet conv of ``model`` over ``batches``.

    Args:
        model: A module holding supernet convs (a converted backbone, or a
            detector/pose model; the hooks find them anywhere in it).
        batches: Calibration inputs.
        forward: ``forward(batch)`` runs the network (default ``model(batch)``).
        methods: Which errors to compute (``'exact'``, ``'stat'`` or both).
        progress: Called after each batch (e.g. a progress bar's update).

    Returns:
        Per layer, in network order, the errors from which
        :meth:`LayerErrors.dilations` reads the choice.
    """
    forward = forward or model
    with DilationErrorCollector(model, methods) as collector:
        for batch in batches:
            forward(batch)
            if progress is not None:
                progress()
    layers = collector.results()
    small = [layer for layer in layers if layer.indistinguishable()]
    if small:
        worst = min(small, key=lambda layer: layer.input_hw)
        warnings.warn(
            f'{len(small)} of {len(layers)} searched convs saw maps too small to tell all their '
            f'candidates apart (e.g. {worst.name}: {worst.input_hw[0]}x{worst.input_hw[1]} input, '
            f'd_max {worst.d_max}: a dilation larger than the map reads only zero padding); ties go to '
            'the smaller dilation. Calibrate with larger images for a meaningful choice there.',
            stacklevel=2)
    return layers


def compare_methods(layers: Sequence[LayerErrors], method: str = 'stat',
                    reference: str = 'exact') -> Dict[str, float]:
    """How close ``method``'s choice is to ``reference``'s, over all channels.

    Returns:
        ``agreement``: fraction of channels with the same choice;
        ``regret``: the reference error of ``method``'s choice divided by the
        reference error of the reference's own choice, summed over channels
        (1.0 = as good).
    """
    same = total = 0
    err_choice = err_best = 0.0
    for layer in layers:
        ref = layer.errors[reference]
        a, b = layer.choice(method), layer.choice(reference)
        same += int((a == b).sum())
        total += a.numel()
        err_choice += float(ref.gather(1, a[:, None]).sum())
        err_best += float(ref.gather(1, b[:, None]).sum())
    return {'agreement': same / max(total, 1), 'regret': err_choice / err_best if err_best > 0 else 1.0}
