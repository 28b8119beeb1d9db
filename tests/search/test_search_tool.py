"""tools/search_dilation.py: the config conversion (no training)."""

from __future__ import annotations

import sys

import pytest
from conftest import REPO
from mmengine.config import Config

sys.path.insert(0, str(REPO / 'tools'))
import search_dilation  # noqa: E402

TOY_FASTER = REPO / 'configs' / 'toy' / 'faster-rcnn_ic-r50_fpn_toy.py'


def args(config=TOY_FASTER, **kw):
    return search_dilation.parse_args([str(config), '--work-dir', '/tmp/unused', '--supernet-iters', '40',
                                       *[x for k, v in kw.items() for x in (f'--{k}', str(v))]])


def test_supernet_config_from_ic_config(tmp_path):
    a = args(**{'d-max': 3, 'supernet-init': 'scratch'})
    cfg = search_dilation.supernet_config(Config.fromfile(str(TOY_FASTER)), a, tmp_path)
    backbone = cfg.model.backbone
    assert backbone.type == 'SupernetResNet' and 'pattern' not in backbone
    assert (backbone.d_max, backbone.supernet_init) == (3, 'scratch')
    assert 'mmicconv.search' in cfg.custom_imports['imports']
    assert cfg.train_cfg == dict(type='IterBasedTrainLoop', max_iters=40, val_interval=41)
    assert cfg.val_dataloader is None and cfg.test_dataloader is None
    assert cfg.param_scheduler[0]['end'] == 8  # warmup: a fifth of the iterations


def test_non_ic_config_is_refused(tmp_path):
    cfg = Config.fromfile(str(TOY_FASTER))
    cfg.model.backbone.type = 'ResNet'
    with pytest.raises(SystemExit, match='needs an IC config'):
        search_dilation.supernet_config(cfg, args(), tmp_path)
