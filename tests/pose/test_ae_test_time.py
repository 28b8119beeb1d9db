"""Test-time pieces of AE: the head's predict without flip, with flip, over
scales; the aligned image pyramid, its packing and preprocessing; the _ms configs."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import build_model
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope
from pose_helpers import COCO_FLIP_INDICES, MS_CONFIGS, POSE_CONFIGS, TOY_CONFIG

from mmicconv.pose import BottomupMultiscaleResize, MultiscalePoseDataPreprocessor
from mmicconv.pose.multiscale import pyramid_sizes

K = 17


def _head(**decoder):
    cfg = Config.fromfile(TOY_CONFIG)
    head_cfg = copy.deepcopy(cfg.model.head)
    head_cfg.decoder.update(decoder)
    torch.manual_seed(0)
    return build_model('mmpose', head_cfg).eval()


def _samples(img_shape=(64, 96), num=1):
    from mmpose.structures import PoseDataSample
    return [PoseDataSample(metainfo=dict(img_shape=img_shape, flip_indices=COCO_FLIP_INDICES))
            for _ in range(num)]


def test_predict_without_flip_takes_a_tuple_and_restores_the_input_size():
    """mmpose 1.3.2 asserts here (a tuple of features is not a list) and would
    decode 16x24 heatmaps as if they were 64x96 (keypoints 4x too small)."""
    head = _head()
    feats = (torch.randn(2, head.in_channels, 2, 3),)  # stride 32 of a 64x96 input
    with torch.no_grad():
        preds, fields = head.predict(feats, _samples(num=2), test_cfg=dict(
            flip_test=False, restore_heatmap_size=True, output_heatmaps=True))
        heatmaps, tags = head.forward(feats)
    assert len(preds) == 2
    assert fields[0].heatmaps.shape == (K, 64, 96) and fields[0].tags.shape == (K, 64, 96)
    expected = F.interpolate(heatmaps, size=(64, 96), mode='bilinear', align_corners=False)
    assert torch.allclose(torch.stack([f.heatmaps for f in fields]), expected)
    # decoded in input pixels: a keypoint can lie anywhere in 64x96, not only in the 16x24 corner
    head.decoder.decode_keypoint_thr = -1.0
    with torch.no_grad():
        preds = head.predict(feats, _samples(num=2),
                             test_cfg=dict(flip_test=False, restore_heatmap_size=True))
    xy = np.concatenate([p.keypoints.reshape(-1, 2) for p in preds])
    assert xy[:, 0].max() > 24 and xy[:, 1].max() > 16 and xy[:, 0].max() <= 96


def test_predict_flip_averages_heatmaps_and_concatenates_tags():
    head = _head()
    feats = (torch.randn(1, head.in_channels, 2, 3),)
    flipped = (feats[0].flip(-1),)
    with torch.no_grad():
        _, fields = head.predict([feats, flipped], _samples(), test_cfg=dict(
            flip_test=True, restore_heatmap_size=False, output_heatmaps=True))
        h0, t0 = head.forward(feats)
        h1, t1 = head.forward(flipped)
    back = h1.flip(-1)[:, COCO_FLIP_INDICES]
    assert torch.allclose(fields[0].heatmaps, ((h0 + back) / 2)[0], atol=1e-6)
    assert fields[0].tags.shape[0] == 2 * K
    assert torch.allclose(fields[0].tags[:K], t0[0]) and torch.allclose(fields[0].tags[K:],
                                                                           t1.flip(-1)[0, COCO_FLIP_INDICES])


@pytest.mark.parametrize('tags_mode, flip', [('all', True), ('base', True), ('all', False)])
def test_predict_multiscale_resizes_to_base_averages_and_concatenates(tags_mode, flip):
    """Scales 1, 2, 0.5 (features at stride 32): every input's heatmaps resized to the
    base size and averaged; tags of all inputs ('all') or of the base scale only."""
    head = _head()
    base = (torch.randn(1, head.in_channels, 2, 3),)
    per_scale = [base, (torch.randn(1, head.in_channels, 4, 6),), (torch.randn(1, head.in_channels, 1, 2),)]
    feats = [[f, (f[0].flip(-1),)] for f in per_scale] if flip else per_scale
    cfg = dict(flip_test=flip, multiscale_test=True, restore_heatmap_size=True, output_heatmaps=True,
               multiscale_tags=tags_mode)
    with torch.no_grad():
        _, fields = head.predict(feats, _samples(), test_cfg=cfg)
        expected = []
        for f in per_scale:
            h = head.forward(f)[0]
            expected.append(F.interpolate(h, size=(64, 96), mode='bilinear', align_corners=False))
            if flip:
                hf = head.forward((f[0].flip(-1),))[0].flip(-1)[:, COCO_FLIP_INDICES]
                expected.append(F.interpolate(hf, size=(64, 96), mode='bilinear', align_corners=False))
    assert torch.allclose(fields[0].heatmaps, torch.stack(expected).mean(0)[0], atol=1e-6)
    inputs_per_scale = 2 if flip else 1
    tag_inputs = inputs_per_scale * (3 if tags_mode == 'all' else 1)
    assert fields[0].tags.shape == (K * tag_inputs, 64, 96)


def test_predict_explains_wrong_feature_structure():
    head = _head()
    feats = (torch.randn(1, head.in_channels, 2, 3),)
    with pytest.raises(ValueError, match='flip_test expects'):
        head.predict(feats, _samples(), test_cfg=dict(flip_test=True))
    with pytest.raises(ValueError, match='multiscale_test'):
        head.predict([feats, feats], _samples(), test_cfg=dict(flip_test=False))
    with pytest.raises(ValueError, match='multiscale_tags'):
        head.predict(feats, _samples(), test_cfg=dict(multiscale_tags='some'))


@pytest.mark.parametrize('img_wh', [(220, 200), (150, 260), (128, 128)])
def test_pyramid_covers_one_region(img_wh):
    sizes, region = pyramid_sizes(img_wh, (128, 128), [1.0, 2.0, 0.5], 32)
    (bw, bh), (w2, h2), (wh, hh) = sizes
    assert (w2, h2) == (2 * bw, 2 * bh) and (bw, bh) == (2 * wh, 2 * hh)
    assert wh % 32 == 0 and hh % 32 == 0 and min(bw, bh) >= 128
    # the region keeps the image's aspect and contains it (expand: short side fills the input)
    assert region[0] >= img_wh[0] - 1e-3 and region[1] >= img_wh[1] - 1e-3
    assert np.isclose(region[0] / region[1], bw / bh)
    with pytest.raises(ValueError, match='whole multiple'):
        pyramid_sizes(img_wh, (128, 128), [1.0, 0.75], 32)


def _resize_steps(aug_scales):
    return [dict(type='BottomupMultiscaleResize', input_size=(64, 64), aug_scales=aug_scales,
                 size_factor=32, resize_mode='expand'),
            dict(type='PackMultiscalePoseInputs', meta_keys=('img_id', 'img_shape', 'input_size',
                                                             'input_center', 'input_scale', 'aug_scales'))]


def test_single_scale_resize_equals_mmpose():
    """Without aug_scales the transform is mmpose's BottomupResize (same image and metadata)."""
    from mmpose.datasets.transforms import BottomupResize
    img = np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    ours = BottomupMultiscaleResize(input_size=(64, 64), size_factor=32, resize_mode='expand')
    theirs = BottomupResize(input_size=(64, 64), size_factor=32, resize_mode='expand')
    a = ours.transform(dict(img=img, ori_shape=(50, 70)))
    b = theirs.transform(dict(img=img, ori_shape=(50, 70)))
    assert np.array_equal(a['img'], b['img'])
    for key in ('img_shape', 'input_size', 'input_center', 'input_scale'):
        assert np.allclose(a[key], b[key]), key


def test_pyramid_is_aligned_packed_and_preprocessed():
    """A bright dot lands on the same relative position at every scale; a batch of two
    pyramids becomes three normalised (B, 3, H, W) tensors, base first."""
    img = np.zeros((50, 70, 3), np.uint8)
    img[20:22, 41:43] = 255
    with DefaultScope.overwrite_default_scope('mmpose'):
        pipeline = Compose(_resize_steps([2.0, 0.5]))
        batch = pseudo_collate([pipeline(dict(img=img, ori_shape=(50, 70), img_id=i)) for i in range(2)])
    inputs = [scale[0] for scale in batch['inputs']]  # pseudo_collate: per-scale lists of samples
    # the smallest scale (0.5) is padded to 32: 50x70 -> 32x44.8 -> 32x64; base 64x128 (mmpose: 64x96)
    assert [tuple(x.shape[1:]) for x in inputs] == [(64, 128), (128, 256), (32, 64)]
    centroids = []
    for x in inputs:
        weight = x[0].float()
        ys, xs = torch.meshgrid(torch.arange(x.shape[1]), torch.arange(x.shape[2]), indexing='ij')
        centroids.append(((xs * weight).sum() / weight.sum() / x.shape[2],
                          (ys * weight).sum() / weight.sum() / x.shape[1]))
    for cx, cy in centroids[1:]:
        # relative position equal within half a pixel of the smallest input (64 x 32)
        assert abs(cx - centroids[0][0]) < 0.5 / 64 and abs(cy - centroids[0][1]) < 0.5 / 32
    assert batch['data_samples'][0].metainfo['aug_scales'] == [2.0, 0.5]
    assert batch['data_samples'][0].metainfo['img_shape'] == (64, 128)

    preprocessor = MultiscalePoseDataPreprocessor(mean=[10.0, 10.0, 10.0], std=[2.0, 2.0, 2.0])
    out = preprocessor(batch)
    assert [tuple(x.shape) for x in out['inputs']] == [(2, 3, 64, 128), (2, 3, 128, 256), (2, 3, 32, 64)]
    assert torch.allclose(out['inputs'][1][0], (inputs[1].float() - 10) / 2)
    assert out['data_samples'][0].metainfo['batch_input_shape'] == (64, 128)
    single = preprocessor(dict(inputs=[inputs[0]], data_samples=batch['data_samples'][:1]))
    assert torch.allclose(single['inputs'], out['inputs'][0][:1])


def test_ms_configs_differ_from_their_base_only_in_the_test():
    assert len(MS_CONFIGS) == 4
    bases = {p.stem: p for p in POSE_CONFIGS}
    for path in MS_CONFIGS:
        ms, base = Config.fromfile(path), Config.fromfile(bases[path.stem[:-3]])
        assert ms.model.test_cfg.multiscale_test and not base.model.test_cfg.multiscale_test
        assert ms.model.test_cfg.flip_test and ms.model.backbone == base.model.backbone
        for loader in (ms.val_dataloader, ms.test_dataloader):
            resize = loader.dataset.pipeline[1]
            assert resize.type == 'BottomupMultiscaleResize' and resize.aug_scales == [2.0, 0.5]
            assert 'aug_scales' in loader.dataset.pipeline[-1].meta_keys
        assert ms.train_pipeline == base.train_pipeline and ms.train_dataloader == base.train_dataloader
        assert ms.model.data_preprocessor.type == 'MultiscalePoseDataPreprocessor'


def test_decode_refine_fills_a_missing_keypoint_from_its_heatmap():
    """Two people (tags 1 and 4) on a 16x16 grid, keypoint 0 and 1 found for both; person
    A's keypoint 2 only responds 0.05 (under the 0.1 threshold) at (5, 9), with A's tag
    there and a stronger response (0.08) carrying B's tag at (12, 3). refine (MMPose 0.x,
    the default) fills it in at (5, 9) with score 0.05; decode_refine=False leaves it out."""
    from mmicconv.pose import TrainableAssociativeEmbedding
    heatmaps = torch.zeros(1, 3, 16, 16)
    tags = torch.zeros(1, 3, 16, 16)
    people = {1.0: [(2, 2), (2, 6)], 4.0: [(11, 2), (11, 6)]}  # tag: (x, y) of keypoints 0 and 1
    for tag, points in people.items():
        for k, (x, y) in enumerate(points):
            heatmaps[0, k, y, x] = 1.0
            tags[0, k, y, x] = tag
    heatmaps[0, 2, 9, 5], tags[0, 2, 9, 5] = 0.05, 1.0
    heatmaps[0, 2, 3, 12], tags[0, 2, 3, 12] = 0.08, 4.0
    results = {}
    for refine in (True, False):
        codec = TrainableAssociativeEmbedding(input_size=(16, 16), heatmap_size=(16, 16), sigma=1,
                                              decode_keypoint_order=[0, 1, 2], decode_keypoint_thr=0.1,
                                              decode_topk=4, decode_refine=refine)
        keypoints, scores, _ = codec.batch_decode(heatmaps, tags)
        person_a = int(np.argmin(keypoints[0][:, 0, 0]))
        results[refine] = keypoints[0][person_a, 2], scores[0][person_a, 2]
    assert np.allclose(results[True][0], (5, 9)) and np.isclose(results[True][1], 0.05)
    assert results[False][1] == 0
