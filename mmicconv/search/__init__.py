"""EDO dilation search: supernet, per-channel selection, export as an IC-ResNet.

* :mod:`.supernet`: dense KxK supernet convs (:func:`convert_to_supernet`).
* :mod:`.selection`: representation errors of every candidate dilation
  (:func:`select_dilations`, exact and statistical).
* :mod:`.export`: pattern JSON and inherited IC-ResNet weights
  (:func:`export_ic_state_dict`).
* :mod:`.backbones`: ``SupernetResNet`` / ``SupernetResNetV1d`` in the registry
  of every installed framework of the table (:mod:`mmicconv.models.frameworks`),
  as attributes of its module (``mmicconv.models.mmdet_backbones``).

``tools/search_dilation.py`` drives all of it from an IC config; see docs/search.md.
"""

from .backbones import register_supernet_backbones
from .export import assign_to_pattern, dilations_to_pattern, export_ic_state_dict, regroup_permutation
from .selection import METHODS, DilationErrorCollector, LayerErrors, compare_methods, select_dilations
from .supernet import (
                       SupernetConv2d,
                       candidate_dilations,
                       candidate_mask,
                       candidate_taps,
                       convert_to_supernet,
                       restrict_to_taps_,
                       supernet_sites,
)

__all__ = ['SupernetConv2d', 'candidate_dilations', 'candidate_mask', 'candidate_taps',
           'convert_to_supernet', 'restrict_to_taps_', 'supernet_sites', 'METHODS',
           'DilationErrorCollector', 'LayerErrors', 'compare_methods', 'select_dilations',
           'dilations_to_pattern', 'export_ic_state_dict', 'assign_to_pattern', 'regroup_permutation',
           'register_supernet_backbones']

register_supernet_backbones()
