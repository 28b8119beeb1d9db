"""Reaching the model inside a wrapper.

A Runner's ``model`` may be a model wrapper (DDP, mmengine's
``MMDistributedDataParallel``, the project's ``CPUDistributedDataParallel``)
or a test-time-augmentation model (``tools/test.py --tta``); both keep the
real model as ``module``, and everything that reads layer names (the IC
pattern record, RF-Next's search) wants that one.
"""

from __future__ import annotations

import torch.nn as nn
from mmengine.model import BaseTTAModel, is_model_wrapper

__all__ = ['unwrap_model']


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside ``model``: its ``module`` when ``model`` is a model wrapper
    (mmengine's ``is_model_wrapper``: every class in ``MODEL_WRAPPERS``, torch's DDP
    included) or a ``BaseTTAModel``; else ``model`` itself."""
    if is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        return model.module
    return model
