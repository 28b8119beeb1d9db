"""The framework table: each row's ``IC<Base>`` and ``Supernet<Base>`` classes are real attributes
of the row's module (picklable, documented), registered in its ``MODELS``; the tools pick the
framework from the table, never from the install order."""

from __future__ import annotations

import importlib
import io
import pickle
import subprocess
import sys

import pytest
import torch
from conftest import REPO, build_model

import mmicconv
import mmicconv.search  # noqa: F401  (defines and registers the Supernet classes)
from mmicconv.models import ic_conv_sites
from mmicconv.models.frameworks import (
    FRAMEWORKS,
    Framework,
    FrameworkError,
    get_framework,
    installed_frameworks,
)
from mmicconv.search.backbones import SupernetResNetMixin
from mmicconv.utils.cli import ToolError

sys.path.insert(0, str(REPO / 'tools'))
import convert_checkpoint  # noqa: E402
import search_dilation  # noqa: E402

INSTALLED = installed_frameworks()
CLASSES = [(row, prefix + base) for row in INSTALLED
           for prefix, bases in (('IC', row.backbones), ('Supernet', row.search_backbones)) for base in bases]
IDS = [f'{row.package}.{name}' for row, name in CLASSES]


def small_cfg(row: Framework, name: str) -> dict:
    """A narrow depth-50 config (Bottleneck, as every backbone of the table supports)."""
    cfg = dict(type=name, depth=50, base_channels=8, stem_channels=16, out_indices=(3,))
    if name.endswith('ResNeXt'):
        cfg.update(groups=2, width_per_group=4)
    if name.startswith('Supernet'):
        cfg.update(d_max=1)
    return row.backbone_cfg(**cfg)


def with_pattern(row: Framework, cfg: dict) -> dict:
    """``cfg`` with a pattern (dilation 2 everywhere) fitting its IC convs."""
    plain = build_model(row.package, cfg)
    pattern = [{'(1, 1)': getattr(block, attr).out_channels} for _, block, attr in ic_conv_sites(plain)]
    return dict(cfg, pattern=pattern)


def test_the_table_has_the_installed_frameworks_in_order():
    assert list(FRAMEWORKS) == ['mmdet', 'mmpose', 'mmpretrain', 'mmseg']
    assert mmicconv.REGISTERED_FRAMEWORKS == [row.package for row in INSTALLED]
    assert [row.package for row in INSTALLED] == ['mmdet', 'mmpose', 'mmpretrain', 'mmseg']  # this stack


@pytest.mark.parametrize('row', INSTALLED, ids=[row.package for row in INSTALLED])
def test_each_row_has_its_classes_in_its_registry(row):
    module = importlib.import_module(row.module)
    registry = importlib.import_module(row.registry).MODELS
    expected = [f'IC{base}' for base in row.backbones] + [f'Supernet{base}' for base in row.search_backbones]
    assert sorted(module.__all__) == sorted(expected)
    upstream = importlib.import_module(row.upstream)
    for name in expected:
        cls = getattr(module, name)
        assert registry.get(name) is cls and registry.module_dict[name] is cls
        assert cls.__mro__[2] is getattr(upstream, name.removeprefix('IC').removeprefix('Supernet'))
    assert 'SupernetResNeXt' not in vars(module)  # grouped: no supernet


@pytest.mark.parametrize('row, name', CLASSES, ids=IDS)
def test_class_is_a_picklable_documented_module_attribute(row, name):
    cls = getattr(importlib.import_module(row.module), name)
    assert (cls.__module__, cls.__qualname__, cls.__name__) == (row.module, name, name)
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        assert pickle.loads(pickle.dumps(cls, protocol=protocol)) is cls
    base = cls.__mro__[2].__name__
    assert f'``{row.upstream}.{base}``' in cls.__doc__ and row.title in cls.__doc__
    mixin_args = ('``d_max`` and ``supernet_init``' if issubclass(cls, SupernetResNetMixin)
                  else '``pattern`` and ``ic_strategy``')
    assert f'Arguments: {mixin_args}' in cls.__doc__ and 'Args:' in cls.__doc__


@pytest.mark.parametrize('row, name', CLASSES, ids=IDS)
def test_instance_round_trips_through_torch_save(row, name):
    cfg = small_cfg(row, name)
    if name.startswith('IC'):
        cfg = with_pattern(row, cfg)
    torch.manual_seed(0)
    model = build_model(row.package, cfg).eval()
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False).eval()
    assert type(loaded) is type(model)
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert list(state) == list(loaded_state)
    assert all(torch.equal(state[k], loaded_state[k]) for k in state)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x)[-1], loaded(x)[-1])


def test_a_pickled_supernet_loads_in_a_fresh_process_without_importing_search(tmp_path):
    """Unpickling ``mmicconv.models.<package>_backbones.SupernetResNet`` imports mmicconv.search itself."""
    row = INSTALLED[0]
    path = tmp_path / 'supernet.pth'
    torch.save(build_model(row.package, small_cfg(row, 'SupernetResNet')), path)
    code = ('import sys, torch; m = torch.load(sys.argv[1], weights_only=False); '
            'print(type(m).__module__, type(m).__name__, "mmicconv.search" in sys.modules)')
    proc = subprocess.run([sys.executable, '-c', code, str(path)], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == [row.module, 'SupernetResNet', 'True']


def test_get_framework_refuses_unknown_and_uninstalled_names(monkeypatch):
    assert get_framework('mmpose') is FRAMEWORKS['mmpose']
    with pytest.raises(FrameworkError,
                       match=r"^'mmnope' is not a framework mmicconv supports "
                             r'\(mmdet, mmpose.*; installed: mmdet, mmpose, mmpretrain, mmseg\)$'):
        get_framework('mmnope')
    missing = Framework('mmicconv_absent_pkg', 'Absent', 'mmicconv_absent_pkg.registry',
                        'mmicconv_absent_pkg.models', ('ResNet',))
    monkeypatch.setitem(FRAMEWORKS, missing.package, missing)
    with pytest.raises(FrameworkError, match=r"'mmicconv_absent_pkg' \(Absent\) is not installed"):
        get_framework(missing.package)
    assert missing not in installed_frameworks()


def test_argument_names_follow_the_row():
    assert FRAMEWORKS['mmdet'].backbone_cfg(width_per_group=4, depth=50) == dict(base_width=4, depth=50)
    assert FRAMEWORKS['mmpose'].backbone_cfg(width_per_group=4) == dict(width_per_group=4)


# ------------------------------------------------------------------ the tools
def test_convert_checkpoint_defaults_to_the_first_installed_row_and_refuses_others(tmp_path, capsys):
    assert convert_checkpoint.pick_framework(None) is INSTALLED[0]
    assert convert_checkpoint.pick_framework('mmpose') is FRAMEWORKS['mmpose']
    src = tmp_path / 'ckpt.pth'
    torch.save({'state_dict': {}}, src)
    status = convert_checkpoint.main([str(src), str(tmp_path / 'out.pth'), '--pattern', 'x.json',
                                      '--framework', 'mmnope'])
    errors = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(errors) == 1
    assert errors[0].startswith("ERROR: --framework 'mmnope' is not a framework mmicconv supports (mmdet")
    assert not (tmp_path / 'out.pth').exists()


def test_search_dilation_takes_the_framework_from_default_scope(tmp_path):
    from mmengine.config import Config
    cfg = Config.fromfile(str(REPO / 'configs' / 'toy' / 'faster-rcnn_ic-r50_fpn_toy.py'))
    assert search_dilation.config_framework(cfg, 'toy.py') is FRAMEWORKS['mmdet']
    cfg.default_scope = 'mmnope'
    with pytest.raises(ToolError, match=r"^toy.py: default_scope 'mmnope' is not a framework"):
        search_dilation.config_framework(cfg, 'toy.py')
