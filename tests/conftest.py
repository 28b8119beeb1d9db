"""Shared fixtures: the published reference patterns (read in place, never copied)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE_ZOO = REPO.parent / 'shared' / 'reference' / 'official_pattern_zoo'
RESNET_PATTERNS = [
    'detection/ic_resnet50_k9.json', 'detection/ic_resnet101_k9.json',
    'segmentation/ic_resnet50_k9.json', 'segmentation/ic_resnet101_k9.json',
    'human_pose/ic_resnet50_k13.json', 'human_pose/ic_resnet101_k13.json',
]


def reference_file(relative: str) -> Path:
    """A published pattern file, or skip the test with the reason."""
    path = REFERENCE_ZOO / relative
    if not path.is_file():
        pytest.skip(f'reference pattern {path} is absent (../shared/reference not beside the checkout)')
    return path


@pytest.fixture
def reference_zoo() -> Path:
    if not REFERENCE_ZOO.is_dir():
        pytest.skip(f'{REFERENCE_ZOO} is absent (../shared/reference not beside the checkout)')
    return REFERENCE_ZOO


def build_model(framework: str, cfg: dict):
    """Build ``cfg`` from ``framework``'s MODELS registry within its own default scope
    (an earlier mmengine Runner in the same process leaves the scope at 'mmengine')."""
    import importlib

    from mmengine.registry import DefaultScope

    import mmicconv  # noqa: F401
    registry = importlib.import_module(f'{framework}.registry').MODELS
    with DefaultScope.overwrite_default_scope(framework):
        return registry.build(cfg)


def load_json(path: Path):
    return json.loads(path.read_text())


@pytest.fixture(scope='session')
def fetched_zoo(tmp_path_factory) -> Path:
    """The published patterns, copied and sha256-verified by tools/fetch_pattern_zoo.py."""
    if not REFERENCE_ZOO.is_dir():
        pytest.skip(f'{REFERENCE_ZOO} is absent (../shared/reference not beside the checkout)')
    dest = tmp_path_factory.mktemp('zoo')
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'fetch_pattern_zoo.py'),
                           '--source', str(REFERENCE_ZOO), '--dest', str(dest)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dest


def check_config_file(path: Path, base: str, model_keys: Sequence[str], hooks: Sequence[str] = ()):
    """A shipped config sets only ``_base_`` (``base``, e.g. ``'mmdet::faster_rcnn/...'``),
    ``custom_imports``, the pattern-record hook (then ``hooks``, by type) and ``model`` with the
    keys ``model_keys``; returns it loaded (mmengine ``Config``)."""
    from mmengine.config import Config
    tree = ast.parse(path.read_text())
    assigned = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign) for t in node.targets}
    assert set(assigned) == {'_base_', 'custom_imports', 'custom_hooks', 'model'}
    assert ast.literal_eval(assigned['_base_']) == base
    assert [kw.arg for kw in assigned['model'].keywords] == list(model_keys)
    cfg = Config.fromfile(str(path))
    assert cfg.custom_imports == dict(imports=['mmicconv'], allow_failed_imports=False)
    assert cfg.custom_hooks == [dict(type=name) for name in ('ICPatternRecordHook', *hooks)]
    return cfg
