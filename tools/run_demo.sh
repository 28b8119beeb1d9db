#!/usr/bin/env bash
# The README's main command: set up .venv if needed, then run the demo.
# (Until the toy-COCO demo lands: the environment report and an IC-R50 forward.)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash tools/install.sh
.venv/bin/python -m mmicconv.env
.venv/bin/python - <<'PY'
import torch
import mmicconv  # noqa: F401
from mmdet.registry import MODELS
pattern = [{'(0, 0)': c // 2, '(1, 2)': c // 2} for c, n in zip((64, 128, 256, 512), (3, 4, 6, 3)) for _ in range(n)]
model = MODELS.build(dict(type='ICResNet', depth=50, pattern=pattern, out_indices=(0, 1, 2, 3))).eval()
with torch.no_grad():
    feats = model(torch.randn(1, 3, 224, 224))
print('IC-R50 forward:', [tuple(f.shape) for f in feats])
PY
