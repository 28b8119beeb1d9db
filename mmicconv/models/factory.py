"""Making a framework's ``<prefix><Base>`` backbone classes from the framework table.

Each class is ``type(name, (mixin, upstream Base), ...)`` put into the globals
of the framework's module (``mmicconv.models.mmdet_backbones``) with that
module as ``__module__``, so it is a real attribute there: importable by name,
picklable, and registered in the framework's ``MODELS``. Used for the IC
classes (:func:`define_backbones`, at the module's import) and for the search
supernets (:func:`mmicconv.search.backbones.register_supernet_backbones`, which
:func:`define_classes` into the same modules).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Dict, List, Sequence

from .frameworks import FRAMEWORKS, Framework
from .ic_resnet import ICResNetMixin

__all__ = ['define_backbones', 'define_classes', 'class_docstring']

#: class-name prefix -> the module whose import defines those classes in every framework
#: module (looked up on first access, e.g. by ``pickle``/``torch.load`` in a fresh process).
LAZY_PREFIXES = {'Supernet': 'mmicconv.search'}


def define_backbones(namespace: Dict[str, Any], package: str) -> List[str]:
    """Define and register ``IC<Base>`` for each backbone of ``FRAMEWORKS[package]``.

    Args:
        namespace: The framework module's ``globals()``; its ``__name__`` must be the row's
            :attr:`~mmicconv.models.frameworks.Framework.module`.
        package: The framework's row.

    Returns:
        The class names defined.
    """
    row = FRAMEWORKS[package]
    if namespace['__name__'] != row.module:
        raise ValueError(f'{package} classes belong in {row.module}, not {namespace["__name__"]}')
    namespace.setdefault('__getattr__', _lazy_getattr(namespace))
    return define_classes(namespace, row, ICResNetMixin, 'IC', row.backbones)


def define_classes(namespace: Dict[str, Any], row: Framework, mixin: type, prefix: str,
                   bases: Sequence[str]) -> List[str]:
    """Define ``<prefix><Base> = (mixin, Base)`` for each upstream ``Base`` into ``namespace``
    (idempotent), add it to ``__all__`` and register it in ``row``'s ``MODELS``."""
    registry = importlib.import_module(row.registry).MODELS
    upstream = importlib.import_module(row.upstream)
    exported = namespace.setdefault('__all__', [])
    names = []
    for base_name in bases:
        name = prefix + base_name
        cls = namespace.get(name)
        if cls is None:
            base = getattr(upstream, base_name)
            cls = type(name, (mixin, base), {'__module__': namespace['__name__'], '__qualname__': name,
                                             '__doc__': class_docstring(name, row, mixin, base)})
            namespace[name] = cls
            exported.append(name)
        if registry.module_dict.get(name) is not cls:
            registry.register_module(module=cls)
        names.append(name)
    return names


def class_docstring(name: str, row: Framework, mixin: type, base: type) -> str:
    """The generated class's docstring: the upstream class, the mixin and its arguments."""
    doc = inspect.cleandoc(mixin.__doc__ or '')
    summary = doc.split('\n\n')[0].replace('\n', ' ')
    args_section = doc[doc.index('Args:'):] if 'Args:' in doc else ''
    own = [p.name for p in inspect.signature(mixin.__init__).parameters.values()
           if p.kind is inspect.Parameter.KEYWORD_ONLY]
    arguments = ' and '.join(f'``{arg}``' for arg in own) or 'no argument'
    return (f'{name} for {row.title}: ``{row.upstream}.{base.__name__}`` with '
            f':class:`{mixin.__module__}.{mixin.__qualname__}` first in the bases, registered in '
            f'``{row.registry}.MODELS``.\n\n'
            f'{summary}\n\nArguments: {arguments} (the mixin\'s), plus every argument of '
            f'``{base.__name__}`` unchanged.\n\n{args_section}\n')


def _lazy_getattr(namespace: Dict[str, Any]):
    """A module ``__getattr__`` that imports the module defining a lazy-prefixed class."""

    def module_getattr(name: str) -> Any:
        for prefix, module in LAZY_PREFIXES.items():
            if name.startswith(prefix):
                importlib.import_module(module)
                if name in namespace:
                    return namespace[name]
        raise AttributeError(f'module {namespace["__name__"]!r} has no attribute {name!r}')

    return module_getattr
