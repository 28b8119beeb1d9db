#!/usr/bin/env bash
# The README's main command: set up .venv if needed, then train and evaluate a
# Faster R-CNN with an IC-R50 backbone on the bundled toy COCO, on the CPU.
#
#   1. tools/install.sh                       (idempotent; seconds once .venv exists)
#   2. tools/make_toy_coco.py                 -> data/toy_coco (deterministic, no download)
#   3. tools/train.py  configs/toy/faster-rcnn_ic-r50_fpn_toy.py   (from scratch)
#   4. tools/test.py   the final checkpoint on the toy val split -> COCO bbox AP
#
# Outputs go to work_dirs/demo_faster-rcnn_ic-r50_toy/ (logs, checkpoint, metrics.json).
# Extra arguments go to tools/train.py (e.g. --cfg-options train_cfg.max_epochs=2).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
py=.venv/bin/python
config=configs/toy/faster-rcnn_ic-r50_fpn_toy.py
work_dir=work_dirs/demo_faster-rcnn_ic-r50_toy
start=$(date +%s)
step() { echo; echo "[demo] ($(( $(date +%s) - start ))s) $*"; }

step "1/4 environment (tools/install.sh)"
bash tools/install.sh

step "2/4 toy COCO -> data/toy_coco"
$py tools/make_toy_coco.py --out data/toy_coco

step "3/4 training $config from scratch (about 5 min on 2 CPU cores)"
rm -rf "$work_dir"
$py tools/train.py "$config" --work-dir "$work_dir" "$@"
checkpoint=$(cat "$work_dir/last_checkpoint")

step "4/4 evaluating $checkpoint on the toy val split"
$py tools/test.py "$config" "$checkpoint" --work-dir "$work_dir/test" --metrics-out "$work_dir/metrics.json"

$py - "$work_dir/metrics.json" "$(( $(date +%s) - start ))" <<'PY'
import json
import sys

m = json.loads(open(sys.argv[1]).read())
print()
print('=' * 64)
print('Faster R-CNN IC-R50 (toy pattern), trained from scratch on toy COCO')
print(f"  COCO bbox AP    = {m['coco/bbox_mAP']:.3f}")
print(f"  COCO bbox AP50  = {m['coco/bbox_mAP_50']:.3f}")
print(f"  COCO bbox AP75  = {m['coco/bbox_mAP_75']:.3f}")
print(f'  (metrics: {sys.argv[1]}; whole demo {sys.argv[2]} s)')
print('=' * 64)
PY
