"""The AE evaluation path is right, independent of training: ground-truth
heatmaps and tags (tests/pose/pose_oracle.py) through the toy config's real
resize (pyramid), flip, head ``predict``, decoder, ``add_pred_to_datasample``
and ``CocoMetric`` score at least what a perfect stride-4 heatmap can, with
flip testing on and off, at one scale and at scales 1, 2, 0.5."""

from __future__ import annotations

import pytest
from mmengine.config import Config
from pose_helpers import TOY_CONFIG
from pose_oracle import evaluate_oracle, quantisation_bound
from tool_helpers import run, tool

NUM_VAL = 16
TOL = 0.02  # AP; the bound assumes every keypoint found (the decoder's NMS can merge touching ones)


@pytest.fixture(scope='module')
def toy_val(tmp_path_factory):
    out = tmp_path_factory.mktemp('oracle') / 'toy_coco'
    run(tool('make_toy_coco.py') + ['--out', out, '--train-images', '1', '--val-images', str(NUM_VAL),
                                    '--quiet'], cwd=out.parent)
    return out


@pytest.fixture(scope='module')
def cfg():
    return Config.fromfile(TOY_CONFIG)


@pytest.fixture(scope='module')
def bound(cfg, toy_val):
    return quantisation_bound(cfg, toy_val)


@pytest.fixture(scope='module')
def single_scale(cfg, toy_val):
    return {flip: evaluate_oracle(cfg, toy_val, flip_test=flip) for flip in (True, False)}


@pytest.mark.parametrize('flip', [True, False], ids=['flip', 'noflip'])
def test_oracle_single_scale_reaches_the_quantisation_bound(single_scale, bound, flip):
    metrics = single_scale[flip]
    print(f'oracle single-scale flip={flip}: AP {metrics["coco/AP"]:.3f} (bound {bound:.3f})')
    assert bound > 0.5  # the bound itself is meaningful on this data
    assert metrics['coco/AP'] >= bound - TOL
    assert len(metrics['shapes']) == NUM_VAL * (2 if flip else 1)


def test_oracle_without_tags_fails(cfg, toy_val, single_scale):
    """Sanity of the oracle: the same heatmaps with one tag for everybody cannot be grouped."""
    metrics = evaluate_oracle(cfg, toy_val, flip_test=False, constant_tags=True)
    assert metrics['coco/AP'] < 0.5 * single_scale[False]['coco/AP']


@pytest.mark.parametrize('flip', [True, False], ids=['flip', 'noflip'])
def test_oracle_multiscale_uses_every_scale(cfg, toy_val, single_scale, flip):
    metrics = evaluate_oracle(cfg, toy_val, flip_test=flip, aug_scales=[2.0, 0.5])
    print(f'oracle multi-scale flip={flip}: AP {metrics["coco/AP"]:.3f}')
    shapes = metrics['shapes']
    per_image = 3 * (2 if flip else 1)
    assert len(shapes) == NUM_VAL * per_image
    for first in range(0, len(shapes), per_image):
        (bh, bw), (h2, w2), (hh, wh) = shapes[first:first + per_image:per_image // 3]
        assert (h2, w2) == (2 * bh, 2 * bw) and (bh, bw) == (2 * hh, 2 * wh)
    assert metrics['coco/AP'] >= single_scale[flip]['coco/AP'] - TOL
