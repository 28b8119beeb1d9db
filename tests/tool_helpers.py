"""Running the project's command-line tools from tests (subprocesses, CPU)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Optional, Sequence

from conftest import REPO


def run(cmd: Sequence, cwd: Path, timeout: int = 900,
        env: Optional[Mapping[str, str]] = None) -> subprocess.CompletedProcess:
    """Run ``cmd`` in ``cwd``; fail the test with the output tails on a non-zero exit."""
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})), check=False)
    assert proc.returncode == 0, f'{cmd} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}'
    return proc


def tool(name: str) -> list:
    """The command prefix running ``tools/<name>`` with this interpreter."""
    return [sys.executable, REPO / 'tools' / name]


def make_toy_workspace(root: Path) -> Path:
    """``root`` with the generated toy COCO under ``data/toy_coco`` (the tools' cwd)."""
    run(tool('make_toy_coco.py') + ['--out', root / 'data' / 'toy_coco', '--quiet'], cwd=root)
    return root


def free_port() -> int:
    """A TCP port free right now (for a distributed launcher's master port)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
