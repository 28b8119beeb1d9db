"""``torch.ops.mmicconv.ic_conv2d``: the IC convolution as a PyTorch custom operator.

What it is: a custom operator defined **in Python** with
:func:`torch.library.custom_op` (schema inferred from the type hints below),
so that ``torch.compile(fullgraph=True)``, ``torch.export`` and
``torch.library.opcheck`` see one opaque, well-described operator instead of
a Python ``autograd.Function``::

    mmicconv::ic_conv2d(Tensor input, Tensor weight, Tensor? bias, Tensor dilations,
                        SymInt[] stride, SymInt groups) -> Tensor

``dilations`` is the ``[C_out, 2]`` int64 tensor of each output channel's
``(dh, dw)``; every channel is zero-padded by its own dilation ("same" 3x3
conv), so the output has the size of a plain 3x3 conv of that stride. The
operator exists once :mod:`mmicconv.ops` is imported; there is no C++ schema
(no ``TORCH_LIBRARY`` block): the compiled extension ``mmicconv._C``
(``mmicconv/ops/csrc/ic_band.cpp``) is a plain pybind11 module of tensor
functions (``band_forward``, ``band_forward_rows``, ``band_backward``,
``band_backward_rows``, ``phase_tables``) that the Python kernels below call.
Most code calls :func:`mmicconv.ops.ic_conv2d` (the functional form, which
reaches this operator through the ``band`` strategy) rather than the operator.

Kernels, all registered from Python:

* CPU (``register_kernel('cpu')``): for ``groups=1`` and float32/float64 when
  the extension is built, the banded kernel: one pybind call for stride 1;
  for a strided conv a Python loop over the input phases (sub-grids), one
  ``band_*_rows`` call per phase with that phase's rows of ``W9``, whose
  tables ``phase_tables`` computes in C++. Otherwise the composite
  computation below.
* every other device (the default kernel): composite PyTorch, one dilated
  ``conv2d`` per run of equal dilation, concatenated (the paper's method).
* a fake (meta) kernel (``register_fake``) for ``torch.compile`` /
  ``torch.export``: the output shape only.

Autograd is registered (``register_autograd``: ``setup_context`` + a
``backward`` calling ``mmicconv::ic_conv2d_backward``, a second custom
operator with the same kinds of kernels). Double backward through the
operator is not supported and raises a clear error; the pure-PyTorch
strategies ``'loop'`` and ``'tap'`` of :class:`~mmicconv.ops.ICConv2d` are
twice differentiable.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .extension import load_extension
from .gemm import gemm_backend
from .plan import PhaseRows, dilation_runs, output_size, segments_conv2d, w9_matrix, weight_from_w9

__all__ = ['ic_conv2d_op', 'ic_conv2d_backward_op', 'loop_conv2d', 'band_supported', 'band_chunking',
           'band_columns', 'BAND_COLUMNS', 'ONEDNN_BAND_WORK', 'ONEDNN_BAND_RANGE']

#: GEMM columns (band rows x width, or whole small images side by side) per
#: GEMM of the compiled kernel with MKL's GEMM: large enough for an efficient
#: GEMM, small enough that the band's ``9 * C_out`` rows stay in cache.
#: Measured best on 2 cores (AMD EPYC, AVX2) for ResNet-50 widths 7..160; on
#: the Intel Xeon 256 to 2048 showed no trend.
BAND_COLUMNS = 512
#: With oneDNN's GEMM (:mod:`.gemm`): columns x C_in x C_out per GEMM call, so that
#: narrow layers get longer GEMMs (64 channels: 4096 columns, 128: 1024, 256 and
#: up: 256), within ONEDNN_BAND_RANGE. Measured on 2 cores of an AMD EPYC per
#: ResNet-50 ``conv2`` shape, forward and train step, 256 to 4096 columns: 64
#: channels at 56x56 1.52x plain with 512 columns, 1.33x with 4096; 128 channels
#: best at 1024 (1.13x vs 1.28x at 28x28); 256 channels flat (0.99-1.06x).
ONEDNN_BAND_WORK = 2 ** 24
ONEDNN_BAND_RANGE = (256, 4096)


def band_columns(in_channels: int, out_channels: int) -> int:
    """GEMM columns per call of the compiled kernel for a layer of these widths."""
    if gemm_backend() == 'onednn':
        low, high = ONEDNN_BAND_RANGE
        return min(high, max(low, ONEDNN_BAND_WORK // max(in_channels * out_channels, 1)))
    return BAND_COLUMNS


def band_chunking(height: int, width: int, columns: int = BAND_COLUMNS) -> Tuple[int, int]:
    """``(band rows, images per GEMM)`` for a ``height x width`` (phase) map and
    about ``columns`` GEMM columns per call."""
    rows = max(1, min(height, round(columns / max(width, 1))))
    images = max(1, columns // max(height * width, 1)) if rows == height else 1
    return rows, images


def band_supported(input: Tensor, groups: int) -> bool:
    """Whether the compiled kernel can run this call (CPU, groups 1, float32/64, built)."""
    return (input.device.type == 'cpu' and groups == 1
            and input.dtype in (torch.float32, torch.float64) and load_extension() is not None)


def loop_conv2d(input: Tensor, weight: Tensor, bias: Optional[Tensor], dilations: Tensor,
                stride: Sequence[int], groups: int) -> Tensor:
    """The composite kernel: :func:`~mmicconv.ops.plan.segments_conv2d` over the dilation runs."""
    return segments_conv2d(input, weight, bias, dilation_runs(dilations), stride, groups)


def _phase_tables(ext, dilations: Tensor, stride: Sequence[int]) -> List[PhaseRows]:
    """:func:`~mmicconv.ops.plan.phase_rows`, computed by the kernel (microseconds instead of ~20
    tensor ops per call; the tests check that both agree)."""
    return [PhaseRows((p, q), rows, ptr, a, b)
            for p, q, rows, ptr, a, b in ext.phase_tables(dilations, int(stride[0]), int(stride[1]))]


def _phase_input(x: Tensor, phase: Tuple[int, int], stride: Sequence[int]) -> Tensor:
    return x[:, :, phase[0]::stride[0], phase[1]::stride[1]].contiguous()


def _band_forward(x: Tensor, weight: Tensor, dilations: Tensor, stride: Sequence[int]) -> Tensor:
    ext = load_extension()
    x = x.contiguous()
    w9 = w9_matrix(weight.to(x.dtype))
    dil = dilations.to('cpu', torch.long).contiguous()
    columns = band_columns(x.shape[1], weight.shape[0])
    if tuple(stride) == (1, 1):
        return ext.band_forward(x, w9, dil, *band_chunking(x.shape[2], x.shape[3], columns))
    n, _, h, w = x.shape
    out = x.new_zeros(n, weight.shape[0], output_size(h, stride[0]), output_size(w, stride[1]))
    for table in _phase_tables(ext, dil, stride):
        xp = _phase_input(x, table.phase, stride)
        ext.band_forward_rows(xp, w9.index_select(0, table.rows), table.ptr, table.a, table.b, out,
                              *band_chunking(xp.shape[2], xp.shape[3], columns))
    return out


def _band_backward(grad: Tensor, x: Tensor, weight: Tensor, dilations: Tensor, stride: Sequence[int],
                   need_x: bool, need_w: bool) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    ext = load_extension()
    x, grad = x.contiguous(), grad.contiguous()
    w9 = w9_matrix(weight.to(x.dtype))
    dil = dilations.to('cpu', torch.long).contiguous()
    columns = band_columns(x.shape[1], weight.shape[0])
    if tuple(stride) == (1, 1):
        dx, dw9 = ext.band_backward(grad, x, w9, dil, *band_chunking(x.shape[2], x.shape[3], columns),
                                    need_x, need_w)
    else:
        dx = torch.zeros_like(x) if need_x else None
        dw9 = torch.zeros_like(w9) if need_w else None
        for table in _phase_tables(ext, dil, stride):
            xp = _phase_input(x, table.phase, stride)
            chunking = band_chunking(xp.shape[2], xp.shape[3], columns)
            dxp, dwp = ext.band_backward_rows(grad, xp, w9.index_select(0, table.rows), table.ptr,
                                              table.a, table.b, *chunking, need_x, need_w)
            if need_x:
                dx[:, :, table.phase[0]::stride[0], table.phase[1]::stride[1]] = dxp
            if need_w:
                dw9.index_copy_(0, table.rows, dwp)
    return (dx if need_x else None), (weight_from_w9(dw9.to(weight.dtype), like=weight) if need_w else None)


def _loop_backward(grad: Tensor, x: Tensor, weight: Tensor, dilations: Tensor, stride: Sequence[int],
                   groups: int, need_x: bool, need_w: bool) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    """Per-run ``aten.convolution_backward`` (the adjoint of :func:`loop_conv2d`)."""
    out_per_group, in_per_group = weight.shape[0] // groups, weight.shape[1]
    dx = torch.zeros_like(x) if need_x else None
    dw = torch.empty_like(weight) if need_w else None
    for run in dilation_runs(dilations):
        if groups == 1:
            lo, hi, run_groups = 0, x.shape[1], 1
        else:
            first, last = run.start // out_per_group, run.stop // out_per_group
            lo, hi, run_groups = first * in_per_group, last * in_per_group, last - first
        dilation = [run.dilation_h, run.dilation_w]
        gx, gw, _ = torch.ops.aten.convolution_backward(
            grad[:, run.start:run.stop], x[:, lo:hi], weight[run.start:run.stop], None,
            list(stride), dilation, dilation, False, [0, 0], run_groups, [need_x, need_w, False])
        if need_x:
            dx[:, lo:hi] += gx
        if need_w:
            dw[run.start:run.stop] = gw
    return dx, dw


@torch.library.custom_op('mmicconv::ic_conv2d', mutates_args=())
def ic_conv2d_op(input: Tensor, weight: Tensor, bias: Optional[Tensor], dilations: Tensor,
                 stride: List[int], groups: int) -> Tensor:
    """``mmicconv::ic_conv2d`` (see the module docstring); this body is the default (composite)
    kernel, used on every device without a kernel of its own."""
    return loop_conv2d(input, weight, bias, dilations, stride, groups)


@ic_conv2d_op.register_kernel('cpu')
def _ic_conv2d_cpu(input: Tensor, weight: Tensor, bias: Optional[Tensor], dilations: Tensor,
                   stride: List[int], groups: int) -> Tensor:
    if not band_supported(input, groups):
        return loop_conv2d(input, weight, bias, dilations, stride, groups)
    out = _band_forward(input, weight, dilations, stride)
    return out if bias is None else out + bias.to(out.dtype).view(1, -1, 1, 1)


@ic_conv2d_op.register_fake
def _ic_conv2d_fake(input: Tensor, weight: Tensor, bias: Optional[Tensor], dilations: Tensor,
                    stride: List[int], groups: int) -> Tensor:
    torch._check(input.dim() == 4, lambda: 'ic_conv2d: input must be NCHW')
    torch._check(input.shape[1] == weight.shape[1] * groups,
                 lambda: 'ic_conv2d: input channels do not match weight.shape[1] * groups')
    n, _, h, w = input.shape
    return input.new_empty(n, weight.shape[0], (h - 1) // stride[0] + 1, (w - 1) // stride[1] + 1)


@torch.library.custom_op('mmicconv::ic_conv2d_backward', mutates_args=())
def ic_conv2d_backward_op(grad: Tensor, input: Tensor, weight: Tensor, dilations: Tensor,
                          stride: List[int], groups: int,
                          output_mask: List[bool]) -> Tuple[Tensor, Tensor]:
    """``mmicconv::ic_conv2d_backward``: ``(grad_input, grad_weight)`` of :func:`ic_conv2d_op`; an empty
    tensor where not masked in. This body is the default (composite) kernel."""
    dx, dw = _loop_backward(grad, input, weight, dilations, stride, groups, *output_mask)
    return _or_empty(dx, input), _or_empty(dw, weight)


def _or_empty(value: Optional[Tensor], like: Tensor) -> Tensor:
    return like.new_empty(0) if value is None else value


@ic_conv2d_backward_op.register_kernel('cpu')
def _ic_conv2d_backward_cpu(grad: Tensor, input: Tensor, weight: Tensor, dilations: Tensor,
                            stride: List[int], groups: int,
                            output_mask: List[bool]) -> Tuple[Tensor, Tensor]:
    if band_supported(input, groups):
        dx, dw = _band_backward(grad, input, weight, dilations, stride, *output_mask)
    else:
        dx, dw = _loop_backward(grad, input, weight, dilations, stride, groups, *output_mask)
    return _or_empty(dx, input), _or_empty(dw, weight)


@ic_conv2d_backward_op.register_fake
def _ic_conv2d_backward_fake(grad: Tensor, input: Tensor, weight: Tensor, dilations: Tensor,
                             stride: List[int], groups: int,
                             output_mask: List[bool]) -> Tuple[Tensor, Tensor]:
    return (torch.empty_like(input) if output_mask[0] else input.new_empty(0),
            torch.empty_like(weight) if output_mask[1] else weight.new_empty(0))


def _setup_context(ctx, inputs, output) -> None:
    input, weight, bias, dilations, stride, groups = inputs
    ctx.save_for_backward(input, weight, dilations)
    ctx.stride, ctx.groups, ctx.has_bias = stride, groups, bias is not None


def _backward(ctx, grad: Tensor):
    input, weight, dilations = ctx.saved_tensors
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    dx = dw = None
    if need_x or need_w:
        dx, dw = ic_conv2d_backward_op(grad, input, weight, dilations, list(ctx.stride), ctx.groups,
                                    [need_x, need_w])
    db = grad.sum((0, 2, 3)) if need_b and ctx.has_bias else None
    return (dx if need_x else None), (dw if need_w else None), db, None, None, None


ic_conv2d_op.register_autograd(_backward, setup_context=_setup_context)


def _no_double_backward(ctx, grad_x: Tensor, grad_w: Tensor):
    raise RuntimeError(
        'double backward through mmicconv::ic_conv2d (the compiled kernel) is not supported; '
        "use ICConv2d.set_strategy('loop') or 'tap' (pure PyTorch, twice differentiable)")


def _backward_setup_context(ctx, inputs, output) -> None:
    pass


ic_conv2d_backward_op.register_autograd(_no_double_backward, setup_context=_backward_setup_context)
