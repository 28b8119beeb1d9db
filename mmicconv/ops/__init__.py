"""IC convolution: the ``ICConv2d`` module, the ``ic_conv2d`` function it calls, and the strategies.

``ic_conv2d`` runs a strategy; the ``band`` strategy runs the custom operator
``torch.ops.mmicconv.ic_conv2d`` (:mod:`.op`), registered when this package is imported.
"""

from .export_forms import EXPORT_FORMS, export_form_as
from .functional import ic_conv2d
from .ic_conv import ICConv2d
from .strategies import ENV_VAR, available_strategies, register_strategy

__all__ = ['ICConv2d', 'ic_conv2d', 'available_strategies', 'register_strategy', 'ENV_VAR', 'EXPORT_FORMS',
           'export_form_as']
