"""A checkpoint written by mmengine loads with weights_only in a FRESH process.

Regression: ``HistoryBuffer._statistics_methods`` is only filled when a
buffer is constructed, so ``tools/test.py`` (and mmdet's) loading a toy
checkpoint before logging anything was refused ("allows ... methods []").
"""

from __future__ import annotations

import subprocess
import sys

WRITE = '''
import sys, torch
from mmengine.logging import MessageHub
hub = MessageHub.get_instance('w')
hub.update_scalar('train/loss', 1.5)
torch.save({'state_dict': {}, 'message_hub': hub.state_dict()}, sys.argv[1])
'''
READ = '''
import sys, torch
import mmicconv  # noqa: F401
ckpt = torch.load(sys.argv[1], map_location='cpu')  # weights_only=True: torch's default
print(ckpt['message_hub']['log_scalars']['train/loss'].current())
'''


def test_load_in_fresh_process(tmp_path):
    path = tmp_path / 'ckpt.pth'
    subprocess.run([sys.executable, '-c', WRITE, str(path)], check=True, capture_output=True)
    proc = subprocess.run([sys.executable, '-c', READ, str(path)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith('1.5')
