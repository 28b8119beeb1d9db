"""The IC conv written in standard ops, for ONNX export (what ``torch.onnx.export`` records).

Two forms, both exact (the same sums as the 3x3 conv, in another order):

* ``'taps'`` (the default): each of the nine taps ``(i, j)`` is a 1x1 ``Conv`` of
  the input (``W[:, :, i, j]``; together exactly the FLOPs of the 3x3 conv), and
  each channel's shift by its own ``((i - 1) * dh, (j - 1) * dw)`` is a depthwise
  ``Conv`` with a one-hot kernel: per kernel row ``i`` the two side taps are
  shifted along the width and added to the centre tap, then rows 0 and 2 are
  shifted along the height and added to row 1. Seventeen ``Conv`` nodes per IC
  conv whatever its pattern, channels in place (no ``Concat``), every channel
  count a multiple of the conv's: ONNX Runtime keeps its blocked (NCHWc) layout
  through them. The one-hot convs add ``2 * (2 * max(dw) + 1) * 3 + 2 * (2 *
  max(dh) + 1)`` multiply-adds per output value (108 for dilations up to 4), small
  beside the ``9 * C_in`` of the taps.
* ``'segments'``: one dilated ``Conv`` per dilation segment and a ``Concat`` (the
  paper's computation, :func:`~mmicconv.ops.plan.segments_conv2d`): a k13 layer
  has up to 36 convs of 1-5 channels, each of which re-reads the whole input.

Measured in ONNX Runtime, and how to choose: ``docs/deploy.md``. The form is
``$MMICCONV_EXPORT_FORM`` (default ``taps``) or, within a block,
:func:`export_form_as`. Tracing for FLOP counters (``torch.jit.trace``) always
sees ``segments`` (exactly the 3x3 conv's FLOPs, no one-hot convs counted).
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .plan import ICConvSpec, segments_conv2d

__all__ = ['EXPORT_FORMS', 'EXPORT_ENV_VAR', 'export_form', 'export_form_as', 'taps_conv2d',
           'exported_conv2d']

#: The standard-op forms of an IC conv, default first.
EXPORT_FORMS = ('taps', 'segments')
#: Environment variable naming the form (see :func:`export_form`).
EXPORT_ENV_VAR = 'MMICCONV_EXPORT_FORM'

_override: List[str] = []


def _checked(name: str, origin: str) -> str:
    if name not in EXPORT_FORMS:
        raise ValueError(f"{origin}: unknown IC conv export form '{name}'; choose one of "
                         f"{', '.join(EXPORT_FORMS)}")
    return name


def export_form() -> str:
    """The form ONNX export writes now: :func:`export_form_as`'s, else
    ``$MMICCONV_EXPORT_FORM``, else ``'taps'``.

    Raises:
        ValueError: the environment variable names no form.
    """
    if _override:
        return _override[-1]
    value = os.environ.get(EXPORT_ENV_VAR, '').strip()
    return _checked(value, f'${EXPORT_ENV_VAR}') if value else EXPORT_FORMS[0]


@contextmanager
def export_form_as(name: str) -> Iterator[None]:
    """Within this block ONNX export writes IC convs in form ``name`` (one of :data:`EXPORT_FORMS`)."""
    _override.append(_checked(name, 'export_form_as'))
    try:
        yield
    finally:
        _override.pop()


def _one_hot(offsets: Sequence[int], reach: int, vertical: bool, like: Tensor) -> Tensor:
    """Depthwise kernels ``[C, 1, k, 1]`` (or ``[C, 1, 1, k]``), ``k = 2 * reach + 1``: channel
    ``c`` reads its input ``offsets[c]`` pixels away (a constant of the exported graph)."""
    k = 2 * reach + 1
    rows = [[1.0 if t == reach + off else 0.0 for t in range(k)] for off in offsets]
    with warnings.catch_warnings():
        # a constant by design: the pattern is fixed when a model is exported
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        kernel = torch.tensor(rows, dtype=like.dtype, device=like.device)
    return kernel.view(len(offsets), 1, k, 1) if vertical else kernel.view(len(offsets), 1, 1, k)


def taps_conv2d(x: Tensor, weight: Tensor, bias: Optional[Tensor], dilations: Sequence[Tuple[int, int]],
                stride: Sequence[int], groups: int = 1) -> Tensor:
    """The IC conv as nine 1x1 convs and eight one-hot depthwise convs (the ``'taps'`` form).

    Args:
        x: ``[N, C_in, H, W]``.
        weight: ``[C_out, C_in // groups, 3, 3]``.
        bias: ``[C_out]`` or None.
        dilations: Each output channel's ``(dh, dw)``, as Python ints.
        stride: ``(stride_h, stride_w)``.
        groups: Cardinality of the 1x1 tap convs.
    """
    sh, sw = int(stride[0]), int(stride[1])
    channels = weight.shape[0]
    reach_h = max(d[0] for d in dilations)
    reach_w = max(d[1] for d in dilations)
    rows = []
    for i in range(3):
        row_stride = sh if i == 1 else 1  # rows 0 and 2 are strided by their vertical shift
        row = F.conv2d(x, weight[:, :, i:i + 1, 1:2], None, stride=(row_stride, sw), groups=groups)
        for j in (0, 2):
            tap = F.conv2d(x, weight[:, :, i:i + 1, j:j + 1], None, stride=(row_stride, 1), groups=groups)
            shift = _one_hot([(j - 1) * d[1] for d in dilations], reach_w, False, weight)
            row = row + F.conv2d(tap, shift, None, stride=(1, sw), padding=(0, reach_w), groups=channels)
        rows.append(row)
    out = rows[1]
    for i in (0, 2):
        shift = _one_hot([(i - 1) * d[0] for d in dilations], reach_h, True, weight)
        out = out + F.conv2d(rows[i], shift, None, stride=(sh, 1), padding=(reach_h, 0), groups=channels)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


def exported_conv2d(x: Tensor, weight: Tensor, bias: Optional[Tensor], spec: ICConvSpec,
                    form: Optional[str] = None) -> Tensor:
    """The IC conv of ``spec`` in standard ops, in ``form`` (default :func:`export_form`).

    A conv with a single dilation is one dilated ``Conv`` in every form.
    """
    form = _checked(form, 'exported_conv2d') if form is not None else export_form()
    if form == 'segments' or len(spec.segments) == 1:
        return segments_conv2d(x, weight, bias, spec.segments, spec.stride, spec.groups)
    dilations = [(seg.dilation_h, seg.dilation_w) for seg in spec.segments
                 for _ in range(seg.stop - seg.start)]
    return taps_conv2d(x, weight, bias, dilations, spec.stride, spec.groups)
