"""``SupernetResNet`` / ``SupernetResNetV1d``: the search supernet as config backbones.

Registered in ``mmdet.registry.MODELS`` and ``mmpose.registry.MODELS`` (each
only when installed) by ``import mmicconv.search``; a config uses them with
``custom_imports=dict(imports=['mmicconv', 'mmicconv.search'])``, which
``tools/search_dilation.py`` adds itself.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import List

from .supernet import INIT_MODES, convert_to_supernet, supernet_sites

__all__ = ['SupernetResNetMixin', 'register_supernet_backbones']


class SupernetResNetMixin:
    """Adds ``d_max`` and ``supernet_init`` to a ResNet backbone class; its covered 3x3
    convs become :class:`~mmicconv.search.supernet.SupernetConv2d` (KxK, K = 2 * d_max + 1).

    Args:
        d_max: Largest dilation per axis of the search space (4: "k9", 6: "k13").
        supernet_init: ``'centre'``: each KxK kernel starts as a 3x3 kernel
            on its centre taps, outer taps zero (from ``init_cfg=Pretrained``
            or ``load_from`` with a 3x3 checkpoint, else the upstream init
            rescaled to a 3x3 fan); ``'scratch'``: the upstream init of the
            whole KxK kernel.
        **kwargs: Every argument of the upstream ResNet, unchanged.
    """

    def __init__(self, *args, d_max: int = 4, supernet_init: str = 'centre', **kwargs) -> None:
        if supernet_init not in INIT_MODES:
            raise ValueError(f'supernet_init must be one of {INIT_MODES}, got {supernet_init!r}')
        super().__init__(*args, **kwargs)
        self.d_max = d_max
        self.supernet_init = supernet_init
        self.supernet_names = convert_to_supernet(self, d_max, supernet_init)
        freeze = getattr(self, '_freeze_stages', None)
        if callable(freeze):
            freeze()

    def init_weights(self) -> None:
        """Upstream init; then, for ``'centre'``, supernet convs that no checkpoint set get
        their centre taps rescaled to a 3x3 fan and their outer taps zeroed."""
        super().init_weights()
        if self.supernet_init != 'centre':
            return
        for _, block, attr in supernet_sites(self):
            conv = getattr(block, attr)
            if not conv.loaded_from_state_dict:
                conv.centre_after_init_()

    def train(self, mode: bool = True):
        super().train(mode)
        return self


_FRAMEWORKS = {'mmdet': 'mmdet.models.backbones', 'mmpose': 'mmpose.models.backbones'}
_BASES = ('ResNet', 'ResNetV1d')


def register_supernet_backbones() -> List[str]:
    """Register ``Supernet<Base>`` for each base in every installed framework; returns them."""
    done = []
    for framework, backbones in _FRAMEWORKS.items():
        if importlib.util.find_spec(framework) is None:
            continue
        registry = importlib.import_module(f'{framework}.registry').MODELS
        module = importlib.import_module(backbones)
        for base_name in _BASES:
            name = f'Supernet{base_name}'
            if name not in registry.module_dict:
                base = getattr(module, base_name)
                cls = type(name, (SupernetResNetMixin, base),
                           {'__doc__': f'{base_name} of {framework} as an EDO search supernet.\n\n'
                                       + (SupernetResNetMixin.__doc__ or ''),
                            '__module__': __name__, '__qualname__': name})
                registry.register_module(module=cls)
            done.append(f'{framework}.{name}')
    return done
