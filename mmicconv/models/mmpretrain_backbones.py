"""MMPretrain's ``ICResNet`` & co. (and, with :mod:`mmicconv.search`, ``SupernetResNet`` & co.), made
from the framework table (:mod:`mmicconv.models.frameworks`) and registered in
``mmpretrain.registry.MODELS``."""

from .factory import define_backbones

define_backbones(globals(), 'mmpretrain')
