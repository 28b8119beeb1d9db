#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv with the
# pinned OpenMMLab stack of requirements/stack.txt, then install mmicconv in
# editable mode. Idempotent: when nothing changed since the last successful
# run, it checks the stack and returns in seconds.
#
# Environment variables:
#   MMICCONV_VENV=DIR        where the venv lives (default: .venv in the repo)
#   MMICCONV_KEEP_TORCH=1    keep the torch already in the venv (bring your own
#                            GPU build: create the venv, install torch into it,
#                            then run this script). mmcv is then compiled
#                            against that torch (and CUDA, if present).
#   MAX_JOBS=N               parallel compile jobs for mmcv (default: nproc)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MMICCONV_VENV:-$repo/.venv}"
stack="$repo/requirements/stack.txt"
stamp="$venv/.mmicconv-stack"
log_dir="$venv/install-logs"

say() { printf '[install] %s\n' "$*"; }

# A fingerprint of everything that decides what is installed.
fingerprint() {
  cat "$stack" "$repo/setup.py" "$repo/tools/install.sh" "$repo"/mmicconv/ops/csrc/* | sha256sum | cut -d' ' -f1
}

check_stack() {
  "$venv/bin/python" - <<'PY'
import mmicconv  # first: it makes PyPI's torchvision importable (mmicconv/utils/torchvision_ops.py)
import torch
from mmcv.ops import nms
import mmdet, mmpose, mmpretrain, mmengine  # noqa: F401
import mmdeploy, mmseg, onnxruntime  # noqa: F401
from mmpretrain.registry import MODELS as CLS_MODELS
assert 'ICResNet' in CLS_MODELS.module_dict, 'mmicconv did not register ICResNet in mmpretrain'
from mmseg.registry import MODELS as SEG_MODELS
assert 'ICResNetV1c' in SEG_MODELS.module_dict, 'mmicconv did not register ICResNetV1c in mmseg'

boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
scores = torch.tensor([0.9, 0.8, 0.7])
_, keep = nms(boxes, scores, iou_threshold=0.5)
assert keep.tolist() == [0, 2], keep
from mmicconv.ops.extension import extension_error
error = extension_error()
print('[install] compiled IC conv kernels: ' + ('built' if error is None else f'MISSING: {error}'))
print(f'[install] stack OK: torch {torch.__version__}, mmcv ops compiled, '
      f'mmdet {mmdet.__version__}, mmpose {mmpose.__version__}, mmpretrain {mmpretrain.__version__}, '
      f'mmseg {mmseg.__version__}, mmdeploy {mmdeploy.__version__}, onnxruntime {onnxruntime.__version__}, mmicconv {mmicconv.__version__}')
PY
}

if [ ! -x "$venv/bin/python" ]; then
  say "creating virtual environment in $venv"
  python3 -m venv "$venv"
fi
mkdir -p "$log_dir"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(fingerprint)" ] && check_stack; then
  say "environment up to date ($venv)"
  exit 0
fi

pip() { "$venv/bin/python" -m pip --disable-pip-version-check "$@"; }
pipc() { pip install -c "$stack" "$@"; }

say "build tools (setuptools < 81 for mmcv's setup.py, ninja, Cython)"
pipc -q setuptools wheel ninja Cython numpy

if [ "${MMICCONV_KEEP_TORCH:-0}" = "1" ] && "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  say "keeping the venv's torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)') (MMICCONV_KEEP_TORCH=1)"
else
  say "torch 2.13.0 (CPU build)"
  pipc -q torch
fi

if "$venv/bin/python" -c 'import mmcv, mmcv.ops' 2>/dev/null; then
  say "mmcv with ops already installed"
else
  say "mmcv 2.1.0 with its ops: compiled from source. The FIRST time this takes"
  say "about 8 minutes with ninja on 2 cores (up to ~20 without); later installs"
  say "reuse pip's cached wheel. Compiler log: $log_dir/mmcv-build.log"
  start=$(date +%s)
  ( MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      pip install -v --no-build-isolation -c "$stack" mmcv \
      >"$log_dir/mmcv-build.log" 2>&1 ) &
  build_pid=$!
  while kill -0 "$build_pid" 2>/dev/null; do
    sleep 30
    last=$(grep -o -E '^ *\[[0-9]+/[0-9]+\]' "$log_dir/mmcv-build.log" 2>/dev/null | tail -1 | tr -d ' ' || true)
    say "  ... building mmcv, $(( $(date +%s) - start ))s elapsed ${last:+(ninja step $last)}"
  done
  if ! wait "$build_pid"; then
    say "mmcv build FAILED; last lines of $log_dir/mmcv-build.log:"
    tail -30 "$log_dir/mmcv-build.log"
    exit 1
  fi
  say "mmcv installed in $(( $(date +%s) - start ))s"
fi

say "mmengine, mmdet, COCO tools"
pipc -q mmengine mmdet pycocotools shapely terminaltables opencv-python pillow scipy matplotlib
say "xtcocotools rebuilt from source against this numpy"
pipc -q --no-binary xtcocotools --no-build-isolation xtcocotools
say "mmpose without its chumpy/torchvision requirements (pip then reports that mmpose"
say "  \"requires chumpy/torchvision, which is not installed\": expected, both are unused)"
pipc -q --no-deps mmpose
pipc -q json-tricks munkres
say "mmpretrain and torchvision without their torch requirement (PyPI's torchvision pulls a CUDA"
say "  torch; mmicconv makes this one import beside the CPU torch, its compiled ops unavailable)"
pipc -q --no-deps mmpretrain torchvision
pipc -q einops mat4py modelindex model-index rich importlib-metadata
say "mmsegmentation, and ftfy/regex which its models need but its install requirements omit"
pipc -q mmsegmentation ftfy regex wcwidth
say "mmicconv (editable, compiling its C++ kernels: about 1 min) and test tools (pytest, ruff, onnx, onnxruntime)"
rm -f "$repo"/mmicconv/_C*.so
pipc -q --no-deps --no-build-isolation -e "$repo" >"$log_dir/mmicconv-build.log" 2>&1 \
  || { cat "$log_dir/mmicconv-build.log"; exit 1; }
pipc -q pytest ruff onnx onnxruntime
say "mmdeploy without its protobuf<=3.20/grpcio requirements (unused by the ONNX export; onnx needs"
say "  a newer protobuf): tools/deploy.py"
pipc -q --no-deps mmdeploy
pipc -q aenum multiprocess dill prettytable wcwidth

check_stack
fingerprint >"$stamp"
say "done: activate with 'source $venv/bin/activate'"
