"""IC convolution operators: the ``ICConv2d`` module and the ``mmicconv::ic_conv2d`` operator."""

from .ic_conv import ICConv2d
from .op import ic_conv2d
from .strategies import ENV_VAR, available_strategies

__all__ = ['ICConv2d', 'ic_conv2d', 'available_strategies', 'ENV_VAR']
