"""2 gloo processes x batch 2 train the same weights as 1 process x batch 4;
2-process testing gathers the same predictions as 1 process.

Through ``tools/dist_train.sh`` (torch.distributed.run, gloo, the CPU DDP
wrapper of ``tools/launch_utils.py``) and ``tools/train.py``, 3 SGD steps
over the same 12 toy images in the same order (``shuffle=False``, no random
flip; mmengine's ``DefaultSampler`` gives rank ``r`` the samples
``r, r+2, ...``, so each distributed step sees exactly the 4 images of the
single-process step).

The model: a narrow IC-R50 FCOS with GroupNorm everywhere (no batch
statistics, so how the batch is split does not matter) and fixed 64x64
inputs (no padding difference between the batches). FCOS is chosen because
its loss is batch-split invariant: its normalisers (positive count,
centerness sum) are averaged over the processes before dividing, so the
mean of the processes' gradients is the single-process gradient. (Faster
R-CNN's random RoI sampling draws other samples in each process, so it is
not equivalent step for step.)

Tolerance: gloo sums the gradients in another order than one backward over
4 images, so the weights agree to float32 rounding, not bit for bit, and
training amplifies rounding: a pre-activation within rounding of 0 takes the
other side of a ReLU, and the two runs drift apart from then on. Measured (2
CPU cores, ||w_2proc - w_1proc|| / ||one step||, step 2 / step 3): 1.4e-6 /
1.7e-6 with seed 0 and 1.9e-6 / 4.4e-4 with seed 2 (both with the band kernel
of 2026-11-25), 4.2e-5 / 3.5e-3 with seed 0 after the kernel's summation order
and the weight's memory layout changed (2026-11-26): the jump at step 3 is such
a flip, not a bug (the band conv's output and gradients change only by float
rounding with the batch split and the thread count:
tests/ops/test_band_determinism.py). With `MMICCONV_STRATEGY=loop`
(oneDNN convs only) the same run drifts the same way (1.055e-3 vs 1.065e-3 at step
3), so the drift comes from the trajectory, not from the IC kernel. The test asserts
a ratio below 1e-3 after step 2 (for the model and for one IC conv weight alone) and
2e-2 after step 3 (the model; `TOLERANCE`): above the drift, and far below what a different
batch split, unsynchronised normaliser or wrong sample would give (a change of the
order of a whole step, ratio about 1).
"""

from __future__ import annotations

import math
import pickle
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO
from tool_helpers import free_port, make_toy_workspace, run, tool, write_narrow_pattern

import mmicconv  # noqa: F401  (allow-lists mmengine's checkpoint contents for weights_only)

pytestmark = pytest.mark.e2e

TOY_FASTER = REPO / 'configs' / 'toy' / 'faster-rcnn_ic-r50_fpn_toy.py'
STEPS, SAMPLES = 3, 12

FCOS_GN = f"""
_base_ = {str(TOY_FASTER)!r}
gn = dict(type='GN', num_groups=8, requires_grad=True)
model = dict(
    _delete_=True,
    type='FCOS',
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(type='ICResNet', pattern='pattern_quarter.json', depth=50, base_channels=16,
                  out_indices=(0, 1, 2, 3), frozen_stages=-1, norm_cfg=gn, norm_eval=False,
                  zero_init_residual=False, init_cfg=None),
    neck=dict(type='FPN', in_channels=[64, 128, 256, 512], out_channels=32, start_level=1,
              add_extra_convs='on_output', num_outs=5, relu_before_extra_convs=True),
    bbox_head=dict(type='FCOSHead', num_classes=4, in_channels=32, feat_channels=32, stacked_convs=2,
                   strides=[8, 16, 32, 64, 128], norm_cfg=gn,
                   loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
                   loss_bbox=dict(type='IoULoss', loss_weight=1.0),
                   loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    test_cfg=dict(nms_pre=200, min_bbox_size=0, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5),
                  max_per_img=50))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=4, batch_sampler=None, sampler=dict(type='DefaultSampler', shuffle=False),
                        dataset=dict(indices={SAMPLES}, pipeline=train_pipeline))
val_cfg = None
val_dataloader = None
val_evaluator = None
train_cfg = dict(max_epochs=1, val_interval=1)
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
param_scheduler = [dict(type='LinearLR', start_factor=0.5, by_epoch=False, begin=0, end=2)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(by_epoch=False, interval=1, max_keep_ckpts=-1))
randomness = dict(seed=0)
"""


@pytest.fixture(scope='module')
def runs(tmp_path_factory) -> dict:
    ws = make_toy_workspace(tmp_path_factory.mktemp('multiproc_ws'), '--train-images', str(SAMPLES),
                            '--val-images', '4')
    write_narrow_pattern(ws / 'pattern_quarter.json')
    (ws / 'fcos_gn.py').write_text(FCOS_GN)
    one, two = ws / 'one_process', ws / 'two_processes'
    run(tool('train.py') + [ws / 'fcos_gn.py', '--work-dir', one], cwd=ws)
    dist = run(['bash', REPO / 'tools' / 'dist_train.sh', ws / 'fcos_gn.py', '2', '--work-dir', two,
                '--cfg-options', 'train_dataloader.batch_size=2'],
               cwd=ws, env={'PORT': str(free_port()), 'PYTHON': sys.executable})
    return dict(ws=ws, one=one, two=two, dist=dist)


def predictions(proc_ws: Path, tool_cmd: list, name: str, env=None) -> list:
    """Predictions (``--out`` pickle) of the 2-process checkpoint on the 4 val images,
    one image per batch (no padding difference), every box kept (``score_thr=0``)."""
    out = proc_ws / f'{name}.pkl'
    run(tool_cmd + ['--work-dir', proc_ws / name, '--out', out,
                    '--cfg-options', 'test_dataloader.batch_size=1',
                    'model.test_cfg.score_thr=0.0'], cwd=proc_ws, env=env)
    with open(out, 'rb') as f:
        return pickle.load(f)


def weights(work_dir: Path, step: int) -> dict:
    return torch.load(work_dir / f'iter_{step}.pth', map_location='cpu')['state_dict']


def distance(a: dict, b: dict) -> float:
    return math.sqrt(sum(float((a[k].double() - b[k].double()).pow(2).sum()) for k in a))


def test_two_processes_really_ran_distributed(runs):
    log = runs['dist'].stdout + runs['dist'].stderr
    assert 'Distributed training: True' in log
    text = next(runs['two'].glob('*/*.log')).read_text()
    assert "backend='gloo'" in text or 'backend=gloo' in text
    assert 'GPU number: 2' in text       # mmengine's name for the world size
    assert 'CPUDistributedDataParallel' in text


#: ||w_2proc - w_1proc|| / ||one step|| allowed after steps 2 and 3 (see the module docstring:
#: rounding drift grows once a pre-activation has crossed a ReLU kink differently)
TOLERANCE = {2: 1e-3, 3: 2e-2}


def test_two_processes_equal_one_process_with_twice_the_batch(runs):
    """After steps 2 and 3, ||w_2proc - w_1proc|| < TOLERANCE x ||w_1proc(step) - w_1proc(step-1)||
    for the whole model, and after step 2 for one IC conv weight alone."""
    one = {s: weights(runs['one'], s) for s in range(1, STEPS + 1)}
    two = {s: weights(runs['two'], s) for s in range(1, STEPS + 1)}
    assert one[1].keys() == two[1].keys()
    assert not any(k.startswith('module.') for k in two[1])
    ic_conv = 'backbone.layer3.0.conv2.weight'
    assert not torch.equal(one[1][ic_conv], one[STEPS][ic_conv])       # the IC convs trained
    for step in range(2, STEPS + 1):
        # one IC conv alone after step 2 (before the drift of step 3; measured 2.8e-2 of its step there)
        for name, keys in (('model', list(one[step])),) + (((ic_conv, [ic_conv]),) if step == 2 else ()):
            update = distance(*({k: w[k] for k in keys} for w in (one[step], one[step - 1])))
            gap = distance(*({k: w[k] for k in keys} for w in (two[step], one[step])))
            print(f'step {step}, {name}: |w2 - w1| = {gap:.3e}, one SGD step = {update:.3e}')
            assert update > 0
            assert gap < TOLERANCE[step] * update, \
                f'step {step}, {name}: 2 processes differ by {gap:.3e}, one step is {update:.3e}'


def test_dist_test_two_processes_equal_one_process(runs):
    """tools/dist_test.sh with 2 processes gathers the same predictions, in dataset order,
    as tools/test.py in one process."""
    ws, checkpoint = runs['ws'], runs['two'] / f'iter_{STEPS}.pth'
    single = predictions(ws, tool('test.py') + [ws / 'fcos_gn.py', checkpoint], 'test_one')
    dist = predictions(ws, ['bash', REPO / 'tools' / 'dist_test.sh', ws / 'fcos_gn.py', checkpoint, '2'],
                       'test_two', env={'PORT': str(free_port()), 'PYTHON': sys.executable})
    assert len(single) == len(dist) == 4
    for a, b in zip(single, dist):
        assert a['img_id'] == b['img_id']
        pa, pb = a['pred_instances'], b['pred_instances']
        assert len(pa['scores']) > 0 and torch.equal(pa['labels'], pb['labels'])
        assert torch.allclose(pa['scores'], pb['scores'], atol=1e-5)
        assert torch.allclose(pa['bboxes'], pb['bboxes'], atol=1e-3)
