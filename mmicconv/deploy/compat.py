"""MMDeploy 1.3.1 beside torch 2.13: two gaps, closed only while an export runs.

* ``torch.onnx.export`` defaults to the dynamo exporter since torch 2.9 (it needs
  ``onnxscript`` and does not run MMDeploy's TorchScript rewriters); MMDeploy
  passes no ``dynamo`` argument. Within :func:`mmdeploy_compat` the default is
  ``dynamo=False`` (an explicit argument is kept).
* MMDeploy's RoIAlign symbolic for ONNX Runtime imports
  ``torch.onnx.symbolic_opset9._cast_Long``, which torch removed; within
  :func:`mmdeploy_compat` it exists and casts to int64 (ONNX ``Cast``, ``to=INT64``),
  what the removed helper did.

Nothing else is changed and both are undone on exit.
"""

from __future__ import annotations

import functools
import importlib
from contextlib import contextmanager
from typing import Iterator

import torch

__all__ = ['MMDEPLOY_HINT', 'mmdeploy_unavailable', 'mmdeploy_compat']

#: What to install when MMDeploy is missing (the pins of requirements/stack.txt).
MMDEPLOY_HINT = ('pip install --no-deps mmdeploy==1.3.1 aenum==3.1.17 multiprocess==0.70.19 dill==0.4.1 '
                 'prettytable==3.19.0 wcwidth==0.9.5 (tools/install.sh installs them)')
_ONNX_INT64 = 7


def mmdeploy_unavailable() -> str:
    """Why MMDeploy cannot be used here ('' when it can)."""
    for name in ('mmdeploy', 'onnx', 'onnxruntime'):
        try:
            importlib.import_module(name)
        except ImportError as err:
            return f'{name} is not installed ({err}): {MMDEPLOY_HINT}'
    return ''


def _cast_long(g, value, non_blocking):
    return g.op('Cast', value, to_i=_ONNX_INT64)


@contextmanager
def mmdeploy_compat() -> Iterator[None]:
    """Within this block MMDeploy 1.3.1's ONNX export runs on torch 2.13 (see the module doc)."""
    import torch.onnx.symbolic_opset9 as opset9
    export = torch.onnx.export

    @functools.wraps(export)
    def torchscript_export(*args, **kwargs):
        kwargs.setdefault('dynamo', False)
        return export(*args, **kwargs)

    added_cast = not hasattr(opset9, '_cast_Long')
    torch.onnx.export = torchscript_export
    if added_cast:
        opset9._cast_Long = _cast_long
    try:
        yield
    finally:
        torch.onnx.export = export
        if added_cast:
            del opset9._cast_Long
