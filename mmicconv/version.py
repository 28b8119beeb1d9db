"""The single source of mmicconv's version."""

__version__ = '0.1.0'
