"""The optional compiled kernels (``mmicconv._C``), built at install time.

``tools/install.sh`` (``pip install --no-build-isolation -e .``) compiles
``mmicconv/ops/csrc/*.cpp`` with torch's ``CppExtension``. When the build was
skipped or failed, everything still works through the pure-PyTorch
strategies; :func:`extension_error` says why the kernels are missing. Set
``MMICCONV_DISABLE_EXT=1`` to ignore a built extension (for comparisons).
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Optional, Tuple

__all__ = ['DISABLE_ENV_VAR', 'load_extension', 'extension_error']

DISABLE_ENV_VAR = 'MMICCONV_DISABLE_EXT'

_cache: Optional[Tuple[Optional[ModuleType], Optional[str]]] = None


def _load() -> Tuple[Optional[ModuleType], Optional[str]]:
    if os.environ.get(DISABLE_ENV_VAR, '') not in ('', '0'):
        return None, f'disabled by {DISABLE_ENV_VAR}'
    global _cache
    if _cache is None:
        try:
            from .. import _C
            _cache = (_C, None)
        except ImportError as error:
            _cache = (None, f'the compiled extension mmicconv._C is not built ({error}); '
                            'build it with `bash tools/install.sh` or '
                            '`pip install --no-build-isolation -e .`')
    return _cache


def load_extension() -> Optional[ModuleType]:
    """The compiled module, or None when it is unavailable."""
    return _load()[0]


def extension_error() -> Optional[str]:
    """Why the compiled module is unavailable (None when it can be used)."""
    return _load()[1]
