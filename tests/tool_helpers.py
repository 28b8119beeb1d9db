"""Running the project's command-line tools from tests (subprocesses, CPU)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Optional, Sequence

import torch
from conftest import REPO

from mmicconv.pattern import Pattern


def run(cmd: Sequence, cwd: Path, timeout: int = 900,
        env: Optional[Mapping[str, str]] = None, returncode: int = 0) -> subprocess.CompletedProcess:
    """Run ``cmd`` in ``cwd``; fail the test with the output tails unless it exits with
    ``returncode`` (0 by default; ``-signal.SIGKILL`` for a process killed by that signal)."""
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})), check=False)
    assert proc.returncode == returncode, (
        f'{cmd} exited with {proc.returncode}, expected {returncode}:\n'
        f'{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}')
    return proc


def tool(name: str) -> list:
    """The command prefix running ``tools/<name>`` with this interpreter."""
    return [sys.executable, REPO / 'tools' / name]


def make_toy_workspace(root: Path, *options: str) -> Path:
    """``root`` with the generated toy COCO under ``data/toy_coco`` (the tools' cwd).

    ``options`` go to ``tools/make_toy_coco.py`` (e.g. ``'--train-images', '16'``).
    """
    run(tool('make_toy_coco.py') + ['--out', root / 'data' / 'toy_coco', '--quiet', *options], cwd=root)
    return root


def make_derived_workspace(root: Path, deriver: str, out: str) -> tuple:
    """``(workspace, stdout)``: :func:`make_toy_workspace`, then ``tools/<deriver>`` turning its toy
    COCO into another task's dataset under ``data/<out>``."""
    ws = make_toy_workspace(root)
    proc = run(tool(deriver) + ['--coco', ws / 'data' / 'toy_coco', '--out', ws / 'data' / out], cwd=ws)
    return ws, proc.stdout


def free_port() -> int:
    """A TCP port free right now (for a distributed launcher's master port)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


TOY_PATTERN = REPO / 'pattern_zoo' / 'toy' / 'ic_resnet50_toy.json'


def write_narrow_pattern(dst: Path, divisor: int = 4) -> Path:
    """The toy IC-R50 pattern with every channel count divided by ``divisor``:
    the pattern of an IC-R50 built with ``base_channels=64 // divisor``."""
    entries = json.loads(TOY_PATTERN.read_text())
    assert all(n % divisor == 0 for entry in entries for n in entry.values())
    dst.write_text(json.dumps([{k: n // divisor for k, n in entry.items()} for entry in entries]))
    return dst


def train_log_records(work_dir: Path) -> list:
    """The per-iteration training records (``iter``, ``lr``, ``loss``, ...) that mmengine's
    LoggerHook wrote into every run folder of ``work_dir``, in run order."""
    records = []
    for scalars in sorted(work_dir.glob('*/vis_data/scalars.json')):
        for line in scalars.read_text().splitlines():
            record = json.loads(line)
            if 'lr' in record and 'iter' in record:
                records.append(record)
    return records


def published_layout(model, pattern: Pattern, prefix: str = '') -> dict:
    """Split each IC conv weight into conv_list.{k} pieces, as the paper's code saves them."""
    state = {}
    sites = iter(pattern)
    for key, value in model.state_dict().items():
        if key.endswith('conv2.weight') and key.startswith('layer'):
            sizes = [g.channels for g in next(sites).groups]
            for k, piece in enumerate(torch.split(value, sizes)):
                state[f'{prefix}{key[:-len("weight")]}conv_list.{k}.weight'] = piece.clone()
        else:
            state[prefix + key] = value.clone()
    return state
