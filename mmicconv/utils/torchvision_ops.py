"""Make PyPI's torchvision importable beside the CPU build of torch this stack pins.

The torchvision release paired with torch 2.13 (0.28.0) exists on PyPI only as a
CUDA build: its compiled ops library ``torchvision/_C*.so`` links
``libtorch_cuda``/``libc10_cuda``, which the CPU torch does not have, so the
library does not load and ``import torchvision`` fails at once with
``operator torchvision::nms does not exist`` (its meta registrations need the
op schemas the library would have defined). MMPretrain imports torchvision
when it is imported (``torchvision.ops`` in its visual-grounding metric,
``torchvision.transforms`` in its data pipeline), and MMDetection imports
MMPretrain when it is installed, so without a fix neither imports.

:func:`declare_torchvision_ops` runs before anything imports torchvision
(``import mmicconv`` calls it first). When torchvision is installed and its
library cannot be loaded, it defines the schemas of torchvision's 14 ops in
the ``torchvision`` namespace with kernels that raise
:class:`TorchvisionOpsUnavailableError`. torchvision then imports, and everything
that is pure Python works (``transforms``, ``models``, ``ops.boxes``'s box
arithmetic, ``ops.misc``); calling a compiled op (``nms``, ``roi_align``,
``deform_conv2d`` & co.) raises with a message saying why. MMPretrain's
classifiers use none of them; mmcv has its own compiled ``nms`` and
``RoIAlign``, which MMDetection uses.

With a torchvision whose library loads (a matching CPU build, or a GPU
machine), or with none installed, it does nothing.

Limits: the stand-in must be in place before the first ``import torchvision``
of the process, so ``import mmicconv`` must come before ``import mmpretrain``
or ``import torchvision`` in a script. Configs are fine: ``custom_imports`` is
imported when the config is read, before the runner builds anything.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys
from typing import Optional

import torch

__all__ = ['TorchvisionOpsUnavailableError', 'declare_torchvision_ops', 'torchvision_ops_status',
           'TORCHVISION_SCHEMAS']

#: torchvision 0.28's operator schemas (its ``csrc/ops``), without the ``torchvision::`` prefix.
TORCHVISION_SCHEMAS = (
    'nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor',
    'qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor',
    'box_iou_rotated(Tensor boxes1, Tensor boxes2) -> Tensor',
    'roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, '
    'SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor',
    '_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, SymInt pooled_height, '
    'SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width, '
    'int sampling_ratio, bool aligned) -> Tensor',
    'qroi_align(Tensor input, Tensor rois, float input_scale, int input_zero_point, '
    'float rois_scale, int rois_zero_point, float spatial_scale, SymInt pooled_height, '
    'SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor',
    'ps_roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, '
    'SymInt pooled_width, int sampling_ratio) -> (Tensor, Tensor)',
    '_ps_roi_align_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, '
    'SymInt pooled_height, SymInt pooled_width, int sampling_ratio, SymInt batch_size, '
    'SymInt channels, SymInt height, SymInt width) -> Tensor',
    'roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, '
    'SymInt pooled_width) -> (Tensor, Tensor)',
    '_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, '
    'SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, '
    'SymInt height, SymInt width) -> Tensor',
    'ps_roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, '
    'SymInt pooled_width) -> (Tensor, Tensor)',
    '_ps_roi_pool_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, '
    'SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, '
    'SymInt height, SymInt width) -> Tensor',
    'deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, '
    'SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, '
    'SymInt dilation_w, SymInt groups, SymInt offset_groups, bool use_mask) -> Tensor',
    '_deform_conv2d_backward(Tensor grad, Tensor input, Tensor weight, Tensor offset, Tensor mask, '
    'Tensor bias, SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, '
    'SymInt dilation_w, SymInt groups, SymInt offset_groups, bool use_mask) '
    '-> (Tensor, Tensor, Tensor, Tensor, Tensor)',
)

_LIBRARY: Optional[torch.library.Library] = None  # kept alive: dropping it undefines the ops
_LOAD_ERROR: Optional[str] = None


class TorchvisionOpsUnavailableError(RuntimeError):
    """A compiled torchvision op was called where only its stand-in is defined."""


def _library_files() -> list:
    spec = importlib.util.find_spec('torchvision')
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = list(spec.submodule_search_locations)[0]
    return sorted(glob.glob(os.path.join(folder, '_C*.so')) + glob.glob(os.path.join(folder, '_C*.pyd')))


def _nms_has_cpu_kernel() -> bool:
    try:
        return torch._C._dispatch_has_kernel_for_dispatch_key('torchvision::nms', 'CPU')
    except RuntimeError:  # the op is not defined at all
        return False


def _unavailable(name: str):
    def kernel(*args, **kwargs):
        raise TorchvisionOpsUnavailableError(
            f'torchvision::{name} is unavailable: the installed torchvision\'s compiled ops do not '
            f'load beside torch {torch.__version__} ({_LOAD_ERROR}); mmicconv defined its schema only '
            'so that torchvision imports (see mmicconv/utils/torchvision_ops.py). Install a '
            'torchvision built for this torch to use it.')
    return kernel


def declare_torchvision_ops() -> str:
    """Make ``import torchvision`` work; returns what was done (see :func:`torchvision_ops_status`)."""
    global _LIBRARY, _LOAD_ERROR
    if _LIBRARY is not None or 'torchvision' in sys.modules:
        return torchvision_ops_status()
    files = _library_files()
    if not files:
        return torchvision_ops_status()
    if _nms_has_cpu_kernel():
        return torchvision_ops_status()  # loaded already
    try:
        torch.ops.load_library(files[0])
    except OSError as err:
        _LOAD_ERROR = str(err).splitlines()[0]
    else:
        return torchvision_ops_status()
    library = torch.library.Library('torchvision', 'DEF')
    for schema in TORCHVISION_SCHEMAS:
        name = schema.split('(', 1)[0]
        library.define(schema)
        for key in ('CPU', 'CUDA'):
            library.impl(name, _unavailable(name), key)
    _LIBRARY = library
    return torchvision_ops_status()


def torchvision_ops_status() -> str:
    """``'absent'`` (no torchvision), ``'stand-in'`` (schemas defined by mmicconv, ops raise),
    ``'compiled'`` (torchvision's own ops loaded) or ``'not loaded'`` (not yet imported)."""
    if _LIBRARY is not None:
        return 'stand-in'
    if importlib.util.find_spec('torchvision') is None:
        return 'absent'
    if _nms_has_cpu_kernel():
        return 'compiled'
    return 'not loaded'
