"""Environment report: ``python -m mmicconv.utils.env``.

Built on mmengine's ``collect_env`` (Python, torch, CUDA, compilers, ...),
extended with the OpenMMLab packages, whether mmcv's ops are compiled, whether
torchvision's are (or only mmicconv's stand-in, :mod:`mmicconv.utils.torchvision_ops`), the
IC conv strategies and compiled kernels, and the registries ``ICResNet`` is in (one per row of the
framework table, :mod:`mmicconv.models.frameworks`).
"""

from __future__ import annotations

import importlib
from collections import OrderedDict
from typing import Dict

__all__ = ['collect_env', 'main']


def _mmcv_ops_status() -> str:
    try:
        from mmcv.ops import nms  # noqa: F401
        from mmcv.utils import ext_loader
        ext_loader.load_ext('_ext', ['nms'])
        return 'compiled'
    except Exception as err:  # report, never fail
        return f'NOT available ({type(err).__name__}: {err})'


def collect_env() -> Dict[str, str]:
    """The report as an ordered dict of name -> value."""
    from mmengine.utils.dl_utils import collect_env as mmengine_env

    import mmicconv
    from mmicconv.models.frameworks import FRAMEWORKS
    from mmicconv.ops import available_strategies
    info = OrderedDict(mmengine_env())
    info['mmicconv'] = mmicconv.__version__
    for name in ('mmcv', *FRAMEWORKS, 'numpy', 'xtcocotools', 'pycocotools'):
        try:
            info[name] = getattr(importlib.import_module(name), '__version__', 'installed')
        except ImportError:
            info[name] = 'not installed'
    info['mmcv ops'] = _mmcv_ops_status()
    from .torchvision_ops import torchvision_ops_status
    info['torchvision ops'] = torchvision_ops_status()
    info['IC conv strategies'] = ', '.join(available_strategies())
    from mmicconv.ops.extension import extension_error
    error = extension_error()
    info['mmicconv compiled kernels'] = 'built' if error is None else f'missing: {error}'
    if error is None:
        from mmicconv.ops.gemm import cpu_vendor, gemm_backend
        info['mmicconv kernel GEMM'] = f'{gemm_backend()} (CPU vendor {cpu_vendor() or "unknown"})'
    registries = []
    for row in FRAMEWORKS.values():
        try:
            models = importlib.import_module(row.registry).MODELS
        except ImportError:
            continue
        if 'ICResNet' in models.module_dict:
            registries.append(f'{row.registry}.MODELS')
    info['ICResNet registered in'] = ', '.join(registries) or 'none'
    return info


def main() -> None:
    for name, value in collect_env().items():
        print(f'{name}: {value}')


if __name__ == '__main__':
    main()
