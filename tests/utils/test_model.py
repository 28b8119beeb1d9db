"""mmicconv/utils/model.py: the model inside a wrapper."""

from __future__ import annotations

import torch.nn as nn
from mmengine.model import BaseTTAModel

from mmicconv.utils.model import unwrap_model


class _TTA(BaseTTAModel):
    def merge_preds(self, data_samples_list):
        return data_samples_list


def test_wrappers_are_unwrapped_and_plain_models_kept():
    inner = nn.Linear(2, 2)
    inner.test_step = lambda data: data  # BaseTTAModel wants a model that can test
    assert unwrap_model(nn.DataParallel(inner)) is inner        # a torch wrapper mmengine registers
    assert unwrap_model(_TTA(module=inner)) is inner             # tools/test.py --tta
    assert unwrap_model(inner) is inner


def test_a_model_with_a_module_attribute_is_not_a_wrapper():
    """Only wrappers are unwrapped, not any model that happens to have a ``module`` child."""
    model = nn.Module()
    model.module = nn.Linear(2, 2)
    assert unwrap_model(model) is model
