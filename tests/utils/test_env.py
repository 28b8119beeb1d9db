"""The environment report and the installer's idempotence."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO

from mmicconv.models.frameworks import FRAMEWORKS


def test_env_report_names_ops_and_registries():
    proc = subprocess.run([sys.executable, '-m', 'mmicconv.utils.env'], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    report = dict(line.split(': ', 1) for line in proc.stdout.splitlines() if ': ' in line)
    assert report['mmcv ops'] == 'compiled'
    assert report['ICResNet registered in'] == ', '.join(f'{p}.registry.MODELS' for p in FRAMEWORKS)
    assert report['torchvision ops'] in ('stand-in', 'compiled')
    assert report['mmcv'] == '2.1.0' and report['PyTorch'].startswith('2.')
    assert {'loop', 'tap', 'band'} <= set(report['IC conv strategies'].split(', '))
    kernels = report['mmicconv compiled kernels']
    assert kernels == 'built' or kernels.startswith('missing: ')
    if kernels == 'built':  # the kernel's GEMM library follows the rule of mmicconv.ops.gemm
        from mmicconv.ops.gemm import cpu_vendor, default_gemm_backend
        vendor = cpu_vendor() or 'unknown'
        assert report['mmicconv kernel GEMM'] == f'{default_gemm_backend()} (CPU vendor {vendor})'


@pytest.mark.skipif(not (REPO / '.venv' / '.mmicconv-stack').is_file() or os.environ.get('MMICCONV_VENV'),
                    reason='the stack was not installed by tools/install.sh into .venv')
def test_install_script_builds_the_compiled_kernels():
    from mmicconv.ops.extension import extension_error
    assert extension_error() is None


@pytest.mark.skipif(not (REPO / '.venv' / '.mmicconv-stack').is_file() or os.environ.get('MMICCONV_VENV'),
                    reason='the stack was not installed by tools/install.sh into .venv')
def test_install_script_second_run_only_checks():
    proc = subprocess.run(['bash', str(REPO / 'tools' / 'install.sh')], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'environment up to date' in proc.stdout
    assert 'torch 2.13.0 (CPU build)' not in proc.stdout  # no install step ran
