"""MMSegmentation's ``ICResNet`` & co. (and, with :mod:`mmicconv.search`, ``SupernetResNet`` & co.),
made from the framework table (:mod:`mmicconv.models.frameworks`) and registered in
``mmseg.registry.MODELS``. Dilated stages (``dilations=(1, 1, 2, 4)``) are supported: see
:class:`~mmicconv.models.ic_resnet.ICResNetMixin`."""

from .factory import define_backbones

define_backbones(globals(), 'mmseg')
