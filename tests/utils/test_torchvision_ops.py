"""PyPI's torchvision beside the CPU torch: importable after ``import mmicconv``, its compiled
ops defined as stand-ins that fail with a clear error (mmicconv/utils/torchvision_ops.py)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mmicconv.utils.torchvision_ops import TORCHVISION_SCHEMAS

pytestmark = pytest.mark.skipif(importlib.util.find_spec('torchvision') is None,
                                reason='torchvision is not installed')


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)


def test_every_op_torchvision_calls_has_a_schema():
    folder = Path(importlib.util.find_spec('torchvision').submodule_search_locations[0])
    used = set()
    for path in folder.rglob('*.py'):
        used |= set(re.findall(r'torch\.ops\.torchvision\.(\w+)', path.read_text(errors='replace')))
        used |= set(re.findall(r'register_meta\("(\w+)"', path.read_text(errors='replace')))
    used.discard('_cuda_version')  # looked up with hasattr by torchvision itself
    declared = {schema.split('(', 1)[0] for schema in TORCHVISION_SCHEMAS}
    assert used and used <= declared, sorted(used - declared)


def test_torchvision_and_mmpretrain_import_after_mmicconv():
    proc = _run('''
import mmicconv, torch
from mmicconv.utils.torchvision_ops import TorchvisionOpsUnavailableError, torchvision_ops_status
import torchvision
from torchvision.transforms import functional as F
status = torchvision_ops_status()
image = F.to_tensor(F.to_pil_image(torch.zeros(3, 4, 5)))
assert image.shape == (3, 4, 5)
if status == 'stand-in':
    try:
        torch.ops.torchvision.roi_align(torch.zeros(1, 1, 4, 4), torch.zeros(1, 5), 1.0, 2, 2, 0, True)
    except TorchvisionOpsUnavailableError as err:
        print('raised:', str(err).split(': ')[0])
from mmpretrain.registry import MODELS
print(status, MODELS.get('ICResNet').__module__)
''')
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.split('\n')
    status = lines[-2].split()[0]
    assert status in ('stand-in', 'compiled')
    assert lines[-2].split()[1] == 'mmicconv.models.mmpretrain_backbones'
    if status == 'stand-in':
        assert lines[-3] == 'raised: torchvision::roi_align is unavailable'


def test_without_the_stand_in_torchvision_does_not_import_here():
    """Why the stand-in exists: the same import, without mmicconv first, fails on this stack
    (and, where torchvision's own ops load, works without it)."""
    proc = _run('import torchvision')
    probe = _run('import mmicconv\nfrom mmicconv.utils.torchvision_ops import torchvision_ops_status\n'
                 'print(torchvision_ops_status())')
    assert probe.returncode == 0, probe.stderr[-2000:]
    if probe.stdout.split()[-1] == 'stand-in':
        assert proc.returncode != 0 and 'torchvision::nms does not exist' in proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr[-2000:]
