"""The GEMM library of the compiled ``band`` kernel: oneDNN or ATen's BLAS (MKL).

The kernel's work is GEMMs (``Z = W9 @ x`` per band, and the two of the
backward). torch's CPU build links two GEMM libraries: MKL (behind
``torch.mm``) and oneDNN (behind the plain convolutions). Measured on a
2-core AMD EPYC VM (AVX-512, torch 2.13.0+cpu, MKL 2024.2, oneDNN 3.12): MKL
runs the kernel's float32 GEMMs 2.0-2.4x slower than oneDNN's matmul (MKL's
``MKL_VERBOSE`` header names no ISA extension on that CPU: it does not take its
AVX-512 code path on a non-Intel processor), while oneDNN's JIT uses the
CPU's ISA whatever its vendor. On Intel Xeon the measured tables of
``docs/performance.md`` were made with MKL.

The rule (``'auto'``, applied when the extension is loaded): oneDNN on a CPU
whose vendor is not Intel, when torch's oneDNN can run float32 matmuls there
(``torch.ops.mkldnn._is_mkldnn_bf16_supported()``, the check ATen's oneDNN matmul
makes); MKL otherwise. float64 always uses ATen's BLAS. The choice holds for
the whole process; :func:`set_gemm_backend` changes it (benchmarks, tests).
The two libraries round differently (same FLOPs, another summation order):
results agree to float32 rounding, not bitwise. oneDNN's matmul follows
torch's float32 matmul precision for oneDNN (``torch.backends.mkldnn``): asking
torch for bfloat16/TF32 matmuls there makes the kernel's GEMMs use them too.
"""

from __future__ import annotations

from typing import Optional

import torch

from ..utils.cpu import cpu_vendor
from .extension import load_extension

__all__ = ['GEMM_BACKENDS', 'cpu_vendor', 'onednn_unusable_reason', 'default_gemm_backend',
           'set_gemm_backend', 'gemm_backend']

#: names accepted by :func:`set_gemm_backend` besides ``'auto'``, in the kernel's numbering
GEMM_BACKENDS = ('mkl', 'onednn')


def onednn_unusable_reason() -> Optional[str]:
    """Why oneDNN cannot run the kernel's float32 GEMMs here (None when it can)."""
    if not torch.backends.mkldnn.is_available():
        return 'this torch is built without oneDNN'
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return "this CPU lacks the ISA ATen's oneDNN matmul asks for (AVX-512 BW/VL/DQ or AVX-NE-CONVERT)"
    except (AttributeError, RuntimeError) as err:
        return f'torch.ops.mkldnn cannot say ({err})'
    return None


def default_gemm_backend() -> str:
    """``'auto'`` resolved: ``'onednn'`` on a non-Intel CPU where it can run, else ``'mkl'``."""
    if cpu_vendor() != 'GenuineIntel' and onednn_unusable_reason() is None:
        return 'onednn'
    return 'mkl'


def set_gemm_backend(name: str = 'auto') -> str:
    """Choose the GEMM library of the compiled kernel for this process; returns the one set.

    Args:
        name: ``'auto'`` (the rule of this module), ``'mkl'`` (ATen's BLAS) or
            ``'onednn'``.

    Raises:
        ValueError: an unknown name, ``'onednn'`` where it cannot run, or no
            compiled kernel.
    """
    if name != 'auto' and name not in GEMM_BACKENDS:
        raise ValueError(f'unknown GEMM backend {name!r}; choose auto, {", ".join(GEMM_BACKENDS)}')
    ext = load_extension()
    if ext is None:
        raise ValueError('the GEMM backend is a setting of the compiled kernel, which is not built')
    resolved = default_gemm_backend() if name == 'auto' else name
    if resolved == 'onednn' and (reason := onednn_unusable_reason()) is not None:
        raise ValueError(f'GEMM backend onednn cannot run here: {reason}')
    ext.set_gemm_backend(GEMM_BACKENDS.index(resolved))
    return resolved


def gemm_backend() -> Optional[str]:
    """The compiled kernel's GEMM library now (None without the compiled kernel)."""
    ext = load_extension()
    return None if ext is None else GEMM_BACKENDS[ext.get_gemm_backend()]
