"""Make ``mmpose.visualization`` importable without torchvision.

mmpose 1.3.2 imports ``torchvision.transforms.ToPILImage`` at the top of
``mmpose/visualization/simcc_vis.py`` (used only by ``SimCCVisualizer``), and
its ``VISUALIZERS`` registry imports ``mmpose.visualization`` whenever *any*
visualizer is built in the mmpose scope, so every mmengine ``Runner`` of an
MMPose config (its ``default_runtime`` builds ``PoseLocalVisualizer``) fails
with ``No module named 'torchvision'`` in this stack, which has no torchvision
(the PyPI build does not import beside torch 2.13; see the README).

:func:`import_pose_visualization` imports ``mmpose.visualization`` once with,
only if the real torchvision cannot be imported, a stand-in
``torchvision.transforms`` module in ``sys.modules`` for the duration of that
import. The stand-in is removed right after, so any later
``import torchvision`` fails as before; its ``ToPILImage`` raises a clear
error if ``SimCCVisualizer`` is ever used. With a working torchvision this
does nothing but the import.
"""

from __future__ import annotations

import importlib
import sys
import types

__all__ = ['import_pose_visualization']


class _MissingToPILImage:
    """Stand-in for ``torchvision.transforms.ToPILImage``: fails when used."""

    def __init__(self, *args, **kwargs) -> None:
        raise ImportError('torchvision is not installed: mmpose SimCCVisualizer (the only user of '
                          'torchvision.transforms.ToPILImage) is unavailable')


def _torchvision_importable() -> bool:
    try:
        importlib.import_module('torchvision.transforms')
    except Exception:  # noqa: BLE001  (absent, or a build that does not load beside this torch)
        return False
    return True


def import_pose_visualization() -> bool:
    """Import ``mmpose.visualization``; returns whether the stand-in was needed."""
    if 'mmpose.visualization' in sys.modules or _torchvision_importable():
        importlib.import_module('mmpose.visualization')
        return False
    names = ('torchvision', 'torchvision.transforms')
    saved = {name: sys.modules.get(name) for name in names}
    package = types.ModuleType('torchvision')
    transforms = types.ModuleType('torchvision.transforms')
    transforms.ToPILImage = _MissingToPILImage
    package.transforms = transforms
    package.__path__ = []  # a package, so that "torchvision.transforms" resolves
    sys.modules.update({'torchvision': package, 'torchvision.transforms': transforms})
    try:
        importlib.import_module('mmpose.visualization')
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return True
