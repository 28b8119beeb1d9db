"""IC convolution operators."""

from .ic_conv import ICConv2d
from .strategies import ENV_VAR, available_strategies
from .strategies.scratch import release_scratch

__all__ = ['ICConv2d', 'available_strategies', 'ENV_VAR', 'release_scratch']
