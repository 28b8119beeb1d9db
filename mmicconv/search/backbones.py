"""``SupernetResNet`` / ``SupernetResNetV1d``: the search supernet as config backbones.

``import mmicconv.search`` makes ``Supernet<Base>`` (:class:`SupernetResNetMixin` +
the upstream ``Base``) for each ungrouped backbone of every installed framework of
the framework table (:mod:`mmicconv.models.frameworks`) and registers it in that
framework's ``MODELS``. Each class is an attribute of the framework's module, beside
its IC classes (``mmicconv.models.mmdet_backbones.SupernetResNet``), so it pickles;
unpickling one imports :mod:`mmicconv.search` itself. A config uses them with
``custom_imports=dict(imports=['mmicconv', 'mmicconv.search'])``, which
``tools/search_dilation.py`` adds itself.
"""

from __future__ import annotations

from typing import List

from ..models.factory import define_classes
from ..models.frameworks import import_framework_modules
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
        """Upstream ``train``, returning ``self`` (mmdet's ResNet returns None)."""
        super().train(mode)
        return self


def register_supernet_backbones() -> List[str]:
    """Define and register ``Supernet<Base>`` for each ungrouped backbone of every installed
    framework of the table, as attributes of its module; returns ``'<package>.<class>'`` of each."""
    done = []
    for row, module in import_framework_modules('its supernets (SupernetResNet & co.) are'):
        names = define_classes(vars(module), row, SupernetResNetMixin, 'Supernet', row.search_backbones)
        done += [f'{row.package}.{name}' for name in names]
    return done
