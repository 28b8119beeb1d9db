"""The framework table: one row per OpenMMLab package mmicconv plugs into.

Everything framework-specific reads this table: the IC and supernet backbone
classes (:mod:`mmicconv.models.factory` makes ``IC<Base>`` and
``Supernet<Base>`` for each row's ``backbones``), :func:`mmicconv.registry.register_all`,
the environment report and the tools. Adding a framework is one row here plus
the two-line module ``mmicconv/models/<package>_backbones.py``::

    from .factory import define_backbones
    define_backbones(globals(), 'mmseg')

Standard library only: reading the table imports no framework.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from dataclasses import dataclass, field
from types import ModuleType
from typing import Dict, Iterator, List, Mapping, Tuple

__all__ = ['Framework', 'FRAMEWORKS', 'GROUPED_BACKBONES', 'FrameworkError', 'installed_frameworks',
           'get_framework', 'import_framework_modules']

#: Upstream backbones with grouped 3x3 convs: the search cannot regroup their channels by
#: dilation, so they get an ``IC`` class but no ``Supernet`` class.
GROUPED_BACKBONES = frozenset({'ResNeXt'})


@dataclass(frozen=True)
class Framework:
    """One OpenMMLab package.

    Attributes:
        package: The importable package, also the configs' ``default_scope`` (``'mmdet'``).
        title: Its name in prose (``'MMDetection'``).
        registry: The module holding its ``MODELS`` registry (``'mmdet.registry'``).
        upstream: The module holding its backbone classes (``'mmdet.models.backbones'``).
        backbones: The upstream classes to wrap, each as ``IC<Base>`` (and, unless grouped,
            ``Supernet<Base>``).
        arg_names: Backbone arguments this package names differently: mmicconv's name ->
            the package's name (``{'width_per_group': 'base_width'}``); see :meth:`arg`.
    """

    package: str
    title: str
    registry: str
    upstream: str
    backbones: Tuple[str, ...]
    arg_names: Mapping[str, str] = field(default_factory=dict)

    @property
    def module(self) -> str:
        """The mmicconv module holding (and registering) this framework's classes."""
        return f'mmicconv.models.{self.package}_backbones'

    @property
    def search_backbones(self) -> Tuple[str, ...]:
        """The backbones that get a ``Supernet<Base>`` class (the ungrouped ones)."""
        return tuple(b for b in self.backbones if b not in GROUPED_BACKBONES)

    @property
    def installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None

    def arg(self, name: str) -> str:
        """This package's name for the backbone argument mmicconv calls ``name``."""
        return self.arg_names.get(name, name)

    def backbone_cfg(self, **kwargs) -> Dict[str, object]:
        """A backbone config dict with the arguments renamed by :meth:`arg`."""
        return {self.arg(key): value for key, value in kwargs.items()}


#: package -> row, in the order tools pick a default framework.
FRAMEWORKS: Dict[str, Framework] = {row.package: row for row in (
    Framework('mmdet', 'MMDetection', 'mmdet.registry', 'mmdet.models.backbones',
              ('ResNet', 'ResNetV1d', 'ResNeXt'), {'width_per_group': 'base_width'}),
    Framework('mmpose', 'MMPose', 'mmpose.registry', 'mmpose.models.backbones',
              ('ResNet', 'ResNetV1d', 'ResNeXt')),
    Framework('mmpretrain', 'MMPretrain', 'mmpretrain.registry', 'mmpretrain.models.backbones',
              ('ResNet', 'ResNetV1c', 'ResNetV1d', 'ResNeXt')),
    Framework('mmseg', 'MMSegmentation', 'mmseg.registry', 'mmseg.models.backbones',
              ('ResNet', 'ResNetV1c', 'ResNetV1d', 'ResNeXt'), {'width_per_group': 'base_width'}),
)}


class FrameworkError(ValueError):
    """A framework name that is not in the table or not installed; the message says which."""


def installed_frameworks() -> List[Framework]:
    """The rows whose package is installed, in table order."""
    return [row for row in FRAMEWORKS.values() if row.installed]


def get_framework(name: object) -> Framework:
    """The installed row named ``name`` (a package / ``default_scope``).

    Raises:
        FrameworkError: ``name`` is not in the table, or not installed; the message lists
            the installed ones.
    """
    installed = ', '.join(row.package for row in installed_frameworks()) or 'none'
    row = FRAMEWORKS.get(name) if isinstance(name, str) else None
    if row is None:
        raise FrameworkError(f'{name!r} is not a framework mmicconv supports '
                             f'({", ".join(FRAMEWORKS)}; installed: {installed})')
    if not row.installed:
        raise FrameworkError(f'{name!r} ({row.title}) is not installed (installed: {installed})')
    return row


def import_framework_modules(what: str) -> Iterator[Tuple[Framework, ModuleType]]:
    """Import ``row.module`` of every installed row; yield ``(row, module)``.

    A package that is installed but fails to import is skipped with a warning
    saying that ``what`` is not registered in it, so the others stay usable.
    """
    for row in installed_frameworks():
        try:
            module = importlib.import_module(row.module)
        except ImportError as err:
            warnings.warn(f'mmicconv: {row.package} is installed but failed to import ({err}); '
                          f'{what} not registered in {row.registry}.MODELS', stacklevel=3)
            continue
        yield row, module
