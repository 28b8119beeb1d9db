"""The paper's protocol after a search: pretrain the searched IC backbone as an
ImageNet classifier with MMPretrain, then fine-tune the task from it.

``tools/search_dilation.py`` writes both configs next to the searched pattern:

* ``pretrain_config.py``: an MMPretrain classification config (by default the
  stock ``mmpretrain::resnet/resnet{depth}_8xb32_in1k.py``, or ``--pretrain-config``)
  whose backbone is the task's IC backbone with the searched pattern (same
  type, depth and widths), its head sized to the backbone's last stage;
* ``finetune_config.py``: the task config with the searched pattern and
  ``init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=...)``
  pointing at the last checkpoint the pretraining writes.

The pattern record (:mod:`mmicconv.checkpoint.record`) follows the chain: the
pretraining's checkpoints record the pattern, and the fine-tuned backbone
refuses a classifier pretrained with another pattern, naming the first layer.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Dict, Optional

from mmengine.config import Config

__all__ = ['ARCH_KEYS', 'default_pretrain_base', 'pretrain_config_text', 'finetune_config',
           'last_checkpoint_name', 'write_protocol_configs']

#: Backbone arguments that define the architecture and carry over from the task to the
#: classifier (the rest, like ``out_indices``, ``frozen_stages`` and ``norm_eval``, are the
#: task's own).
ARCH_KEYS = ('depth', 'base_channels', 'stem_channels', 'deep_stem', 'avg_down', 'pattern')

#: IC backbone type -> MMPretrain's stock ImageNet config of that ResNet variant.
_PRETRAIN_BASES = {'ICResNet': 'mmpretrain::resnet/resnet{depth}_8xb32_in1k.py',
                   'ICResNetV1d': 'mmpretrain::resnet/resnetv1d{depth}_8xb32_in1k.py',
                   'ICResNetV1c': 'mmpretrain::resnet/resnetv1c{depth}_8xb32_in1k.py'}


def default_pretrain_base(backbone: Dict) -> str:
    """MMPretrain's ImageNet config of the backbone's variant and depth."""
    btype = str(backbone.get('type', '')).split('.')[-1]
    if btype not in _PRETRAIN_BASES:
        raise ValueError(f'no MMPretrain ImageNet config for {btype!r}; pass --pretrain-config')
    return _PRETRAIN_BASES[btype].format(depth=backbone['depth'])


def _last_stage_channels(backbone: Dict) -> int:
    """Output channels of a Bottleneck ResNet's last stage (4 stages, expansion 4)."""
    return int(backbone.get('base_channels', 64)) * 8 * 4


def pretrain_config_text(task_backbone: Dict, pattern: str, base: str) -> str:
    """The classification config, as Python text inheriting ``base``."""
    btype = str(task_backbone['type']).split('.')[-1]
    arch = {key: task_backbone[key] for key in ARCH_KEYS if key in task_backbone}
    arch['pattern'] = str(pattern)
    args = ''.join(f', {key}={value!r}' for key, value in arch.items())
    return (
        '# Pretraining of the searched IC backbone as an ImageNet classifier (the paper\'s protocol,\n'
        '# docs/search.md): mmpretrain\'s tools/train.py THIS_FILE --work-dir <pretrain dir>\n'
        '# Written by tools/search_dilation.py; the backbone is the task\'s, with the searched pattern.\n'
        f'_base_ = {base!r}\n'
        "custom_imports = dict(imports=['mmicconv'], allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='ICPatternRecordHook')]  # checkpoints record the pattern\n\n"
        f"model = dict(\n    backbone=dict(type={btype!r}{args}),\n"
        f'    head=dict(in_channels={_last_stage_channels(task_backbone)}))\n')


def last_checkpoint_name(pretrain_cfg: Config) -> str:
    """The file name of the last checkpoint an mmengine run of ``pretrain_cfg`` saves."""
    train_cfg = pretrain_cfg.get('train_cfg') or {}
    if 'max_epochs' in train_cfg:
        return f'epoch_{train_cfg["max_epochs"]}.pth'
    if 'max_iters' in train_cfg:
        return f'iter_{train_cfg["max_iters"]}.pth'
    raise ValueError('the pretraining config has neither train_cfg.max_epochs nor max_iters')


def finetune_config(task_cfg: Config, pattern: str, checkpoint: str,
                    load_from: Optional[str] = None) -> Config:
    """The task config with the searched pattern, its backbone initialised from the classifier."""
    cfg = copy.deepcopy(task_cfg)
    cfg.model.backbone.pattern = str(pattern)
    cfg.model.backbone.init_cfg = dict(type='Pretrained', prefix='backbone.', checkpoint=str(checkpoint))
    cfg.load_from = load_from
    return cfg


def write_protocol_configs(task_cfg: Config, pattern: Path, work_dir: Path,
                           base: Optional[str] = None) -> Dict[str, Path]:
    """Write ``pretrain_config.py`` and ``finetune_config.py`` into ``work_dir``; returns their
    paths and the checkpoint the fine-tuning expects (``work_dir/pretrain/<last>.pth``)."""
    backbone = task_cfg.model.backbone
    base = base or default_pretrain_base(backbone)
    pretrain_path = work_dir / 'pretrain_config.py'
    pretrain_path.write_text(pretrain_config_text(backbone, str(pattern), base))
    checkpoint = work_dir / 'pretrain' / last_checkpoint_name(Config.fromfile(str(pretrain_path)))
    finetune_path = work_dir / 'finetune_config.py'
    finetune_config(task_cfg, str(pattern), str(checkpoint)).dump(str(finetune_path))
    return dict(pretrain_config=pretrain_path, finetune_config=finetune_path, checkpoint=checkpoint)
