"""Run MMCV's RF-Next search (``mmcv.cnn.rfsearch.RFSearchHook``) under an mmengine Runner.

``RFSearchHook`` (mmcv 2.x) replaces the model's convs by multi-branch search
ops (``search`` mode) or sets their dilations from a searched JSON file
(``fixed_single_branch`` / ``fixed_multi_branch``) in its ``init_model(model)``.
Nothing in mmengine 0.10, mmdet 3.3 or mmpose 1.3 calls that method: with the
hook only in ``custom_hooks`` the model is never wrapped, the search steps find
no search op and write an empty structure, and a fixed-mode retrain trains the
plain network. The search ops also add parameters (the branch weights), so
``init_model`` has to run after the model is built and before the optimizer
is (mmdet 2.x's ``train.py`` called it there).

:class:`RFSearchRunner` does exactly that: a Runner that, once its model and
hooks are built, calls ``init_model`` of every ``RFSearchHook`` on the bare
model; ``runner.train()`` then builds the optimizer over the new parameters.
Select it in a config with ``runner_type = 'RFSearchRunner'`` and
``custom_imports`` of ``mmicconv.search.rfnext`` (``tools/train.py`` and the
stock mmdet/mmpose train scripts build ``runner_type`` runners).

One more difference of a single-process run: the hook records the searched
layers under their ``model.named_modules()`` names (``backbone.layer1.0.conv2``),
but its fixed modes look them up with the ``module.`` prefix of a
distributed wrapper (``module.backbone.layer1.0.conv2``). Before
``init_model``, this runner adds the prefix to the loaded structure's names
that lack it, so the JSON of a single-process search retrains as is.
"""

from __future__ import annotations

from typing import Dict, List

import torch.nn as nn
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ..utils.model import unwrap_model

__all__ = ['RFSearchRunner', 'distributed_names', 'rfsearch_hooks']

_PREFIX = 'module.'


def distributed_names(structure: Dict[str, object]) -> Dict[str, object]:
    """``structure`` with every layer name prefixed by ``module.`` (the names
    ``RFSearchHook``'s fixed modes look up); names that have it are kept."""
    return {(k if k.startswith(_PREFIX) else _PREFIX + k): v for k, v in structure.items()}


def rfsearch_hooks(hooks) -> List[object]:
    """The ``RFSearchHook`` instances among ``hooks``."""
    from mmcv.cnn.rfsearch import RFSearchHook
    return [hook for hook in hooks if isinstance(hook, RFSearchHook)]


@RUNNERS.register_module()
class RFSearchRunner(Runner):
    """A :class:`~mmengine.runner.Runner` that applies its ``RFSearchHook`` s to the model.

    Right after the Runner is built (model and hooks, not yet the optimizer),
    every ``RFSearchHook`` gets ``init_model(model)`` on the bare model
    (``model.module`` under a distributed wrapper). Raises if the config has no
    ``RFSearchHook`` (the runner would then be a plain Runner by mistake).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        hooks = rfsearch_hooks(self.hooks)
        if not hooks:
            raise ValueError("runner_type='RFSearchRunner' needs an RFSearchHook in custom_hooks")
        model = unwrap_model(self.model)
        for hook in hooks:
            if hook.config.get('structure'):
                hook.config['structure'] = distributed_names(hook.config['structure'])
            hook.init_model(model)
        searched = [name for name, m in model.named_modules() if _is_search_op(m)]
        self.logger.info(f'RFSearchRunner: {len(searched)} RF-Next search ops '
                         f"({', '.join(h.mode for h in hooks)})")


def _is_search_op(module: nn.Module) -> bool:
    from mmcv.cnn.rfsearch import BaseConvRFSearchOp
    return isinstance(module, BaseConvRFSearchOp)
