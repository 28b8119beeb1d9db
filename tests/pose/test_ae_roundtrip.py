"""AE targets round-trip: several overlapping people encoded by the codec the
configs train with decode back, through the same codec and tag grouping the
configs test with, to the same people within one heatmap pixel per axis."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import build_model
from mmengine.config import Config
from pose_helpers import POSE_CONFIGS, TOY_CONFIG, figure

from mmicconv.pose import TrainableAssociativeEmbedding


def _people(rng: np.random.Generator, size: int, num: int) -> tuple:
    """``num`` figures of 70 % of the image height, side by side 9 % of the width
    apart (bodies overlap heavily), at random sub-pixel offsets; ~10 % of the
    keypoints are invisible."""
    xs = size * (0.5 + 0.09 * (np.arange(num) - (num - 1) / 2))
    keypoints = np.stack([figure(np.array([x, 0.5 * size]) + rng.uniform(-2, 2, 2), 0.7 * size)
                          for x in xs])
    visible = (rng.uniform(size=keypoints.shape[:2]) > 0.1).astype(np.float32)
    visible[:, [5, 6]] = 1  # keep the torso anchors of every person
    return keypoints, visible


def _ideal_tags(encoded: dict, heatmap_size: tuple, person_tags: np.ndarray) -> np.ndarray:
    """Tag maps a perfect network would output: person n's tag at its keypoints."""
    w, h = heatmap_size
    indices = encoded['keypoint_indices']
    tags = np.zeros((indices.shape[1], h * w), np.float32)
    for n, person in enumerate(indices):
        for k, (index, vis) in enumerate(person):
            if vis:
                tags[k, index] = person_tags[n]
    return tags.reshape(-1, h, w)


def _match(decoded: np.ndarray, keypoints: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Per-axis errors (N, K, 2) after matching each person to its closest group."""
    errors = []
    used = set()
    for person, vis in zip(keypoints, visible > 0):
        dists = [np.abs(group[vis] - person[vis]).mean() for group in decoded]
        best = int(np.argmin(dists))
        assert best not in used, 'two people were decoded into one group'
        used.add(best)
        errors.append(np.where(vis[:, None], np.abs(decoded[best] - person), 0))
    return np.stack(errors)


CODEC_CONFIGS = [p for p in POSE_CONFIGS if p.name.startswith('ae_r50')] + [TOY_CONFIG]


@pytest.mark.parametrize('path', CODEC_CONFIGS, ids=lambda p: p.stem)
@pytest.mark.parametrize('num_people', [2, 5])
def test_encode_decode_roundtrip(path, num_people):
    cfg = Config.fromfile(path)
    codec_cfg = {k: v for k, v in cfg.codec.items() if k != 'type'}
    assert cfg.codec.type == 'TrainableAssociativeEmbedding'
    codec = TrainableAssociativeEmbedding(**codec_cfg)
    size = codec_cfg['input_size'][0]
    scale = size / codec_cfg['heatmap_size'][0]
    rng = np.random.default_rng(num_people)
    keypoints, visible = _people(rng, size, num_people)
    boxes = [(k[:, 0].min(), k[:, 0].max()) for k in keypoints]
    assert boxes[0][1] > boxes[1][0], 'the people must overlap'

    encoded = codec.encode(keypoints, visible)
    person_tags = 3.0 * np.arange(num_people) - 4.0
    tags = _ideal_tags(encoded, codec_cfg['heatmap_size'], person_tags)

    # the head of the config, decoding with the codec at heatmap resolution
    head_cfg = dict(cfg.model.head, decoder=dict(cfg.codec))
    head = build_model('mmpose', head_cfg)
    assert isinstance(head.decoder, TrainableAssociativeEmbedding)
    preds = head.decode((torch.from_numpy(encoded['heatmaps'])[None], torch.from_numpy(tags)[None]))
    decoded = np.asarray(preds[0].keypoints)
    scores = np.asarray(preds[0].keypoint_scores)

    assert decoded.shape == (num_people, 17, 2)
    errors = _match(decoded, keypoints, visible) / scale  # in heatmap pixels
    # a peak is decoded at pixel centre + 0.5 and encoded on floor(x): at most half a pixel off
    assert errors.max() <= 0.5 + 1e-3, f'max error {errors.max():.3f} heatmap px'
    assert 0.1 < errors[visible > 0].mean() < 0.4  # unbiased: ~0.25 for uniform sub-pixel offsets
    # each visible keypoint was found at its own peak (score 1), not filled in
    for person_scores, vis in zip(scores[np.argsort([d[5, 0] for d in decoded])],
                                  visible[np.argsort(keypoints[:, 5, 0])]):
        assert np.allclose(person_scores[vis > 0], 1.0, atol=1e-3)


def test_mmpose_rounding_encoder_is_decoded_half_a_pixel_off():
    """mmpose 1.3.2's encoder (``encode_center_shift=0``) against its own
    decoder (``decode_center_shift=0.5``): the decoded keypoints are biased by
    +0.5 heatmap px on both axes (errors up to 1 px, mean 0.5)."""
    cfg = Config.fromfile(CODEC_CONFIGS[0])
    codec_cfg = {k: v for k, v in cfg.codec.items() if k != 'type'}
    keypoints, visible = _people(np.random.default_rng(7), codec_cfg['input_size'][0], 4)
    visible[:] = 1
    errors = {}
    for shift in (0.0, None):
        codec = TrainableAssociativeEmbedding(encode_center_shift=shift, **codec_cfg)
        encoded = codec.encode(keypoints, visible)
        tags = _ideal_tags(encoded, codec_cfg['heatmap_size'], 3.0 * np.arange(4))
        decoded, _, _ = codec.batch_decode(torch.from_numpy(encoded['heatmaps'])[None],
                                           torch.from_numpy(tags)[None])
        signed = [decoded[0][np.argmin([np.abs(g - p).mean() for g in decoded[0]])] - p for p in keypoints]
        errors[shift] = np.stack(signed) / codec.scale_factor
    assert 0.4 < errors[0.0].mean() < 0.6 and errors[0.0].max() > 0.9  # biased
    assert abs(errors[None].mean()) < 0.1 and np.abs(errors[None]).max() <= 0.5 + 1e-3  # fixed


def test_roundtrip_fails_when_tags_do_not_separate_people():
    """Sanity of the test itself: with every person given the same tag, the
    grouping cannot recover the people."""
    cfg = Config.fromfile(TOY_CONFIG)
    codec_cfg = {k: v for k, v in cfg.codec.items() if k != 'type'}
    codec = TrainableAssociativeEmbedding(**codec_cfg)
    keypoints, visible = _people(np.random.default_rng(0), codec_cfg['input_size'][0], 3)
    encoded = codec.encode(keypoints, np.ones_like(visible))
    tags = _ideal_tags(encoded, codec_cfg['heatmap_size'], np.zeros(3))
    decoded, _, _ = codec.batch_decode(torch.from_numpy(encoded['heatmaps'])[None],
                                       torch.from_numpy(tags)[None])
    assert decoded[0].shape[0] != 3 or np.abs(np.diff(decoded[0][:, 5, 0])).min() < 1
