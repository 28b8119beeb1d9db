"""Shared fixtures: the published reference patterns (read in place, never copied)."""

from __future__ import annotations

import json
from pathlib import Path

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
