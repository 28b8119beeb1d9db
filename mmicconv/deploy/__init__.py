"""Deployment through MMDeploy: the ONNX Runtime deploy config of an mmdet detector and what
MMDeploy 1.3.1 needs to run beside torch 2.13 (``tools/deploy.py`` uses both; ``docs/deploy.md``)."""

from .compat import MMDEPLOY_HINT, mmdeploy_compat, mmdeploy_unavailable
from .config import onnxruntime_detection_config

__all__ = ['MMDEPLOY_HINT', 'mmdeploy_compat', 'mmdeploy_unavailable', 'onnxruntime_detection_config']
