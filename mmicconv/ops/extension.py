"""The optional compiled kernels (``mmicconv._C``), built at install time.

``tools/install.sh`` (``pip install --no-build-isolation -e .``) compiles
``mmicconv/ops/csrc/*.cpp`` with torch's ``CppExtension``. When the build was
skipped or failed, everything still works through the pure-PyTorch
strategies; :func:`extension_error` says why the kernels are missing. To run
without a built extension, choose another strategy (``set_strategy('tap')``
or ``MMICCONV_STRATEGY=tap``). Loading it sets its GEMM library by CPU
(:mod:`mmicconv.ops.gemm`).
"""

from __future__ import annotations

from types import ModuleType
from typing import Optional, Tuple

__all__ = ['load_extension', 'extension_error']

#: ``(module, None)`` or ``(None, reason)`` once the import was tried (like
#: ``sys.modules``, it holds the imported module only).
_state: Optional[Tuple[Optional[ModuleType], Optional[str]]] = None


def _load() -> Tuple[Optional[ModuleType], Optional[str]]:
    global _state
    if _state is None:
        try:
            from .. import _C
            _state = (_C, None)
            from .gemm import set_gemm_backend
            set_gemm_backend('auto')  # the kernel's GEMM library, by CPU (see .gemm)
        except ImportError as error:
            _state = (None, f'the compiled extension mmicconv._C is not built ({error}); '
                            'build it with `bash tools/install.sh` or '
                            '`pip install --no-build-isolation -e .`')
    return _state


def load_extension() -> Optional[ModuleType]:
    """The compiled module, or None when it is unavailable."""
    return _load()[0]


def extension_error() -> Optional[str]:
    """Why the compiled module is unavailable (None when it can be used)."""
    return _load()[1]
