"""MMPose 0.x bottom-up AE checkpoints -> the 1.x AE head and whole model
(mmicconv/pose/convert_0x.py), against an independent re-computation of the
0.x ``AESimpleHead`` (deconv 4x4 stride 2 + BN + ReLU, x3; 1x1 conv; the
first K channels heatmaps, the rest tags)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import build_model
from mmengine.config import Config
from pose_helpers import POSE_CONFIGS

from mmicconv.pose.convert_0x import convert_ae_head, main

K = 17
R50 = next(p for p in POSE_CONFIGS if p.name.startswith('ae_r50'))


def synthetic_0x_head(in_channels: int = 2048, filters=(256, 256, 256), seed: int = 0) -> dict:
    """``keypoint_head.*`` of a 0.x AESimpleHead (tag_per_joint, 1x1 final conv), random values."""
    gen = torch.Generator().manual_seed(seed)
    state, cin = {}, in_channels
    for i, cout in enumerate(filters):
        state[f'keypoint_head.deconv_layers.{3 * i}.weight'] = 0.02 * torch.randn(cin, cout, 4, 4,
                                                                                generator=gen)
        bn = f'keypoint_head.deconv_layers.{3 * i + 1}.'
        state[bn + 'weight'] = 1 + 0.1 * torch.randn(cout, generator=gen)
        state[bn + 'bias'] = 0.1 * torch.randn(cout, generator=gen)
        state[bn + 'running_mean'] = 0.1 * torch.randn(cout, generator=gen)
        state[bn + 'running_var'] = 0.5 + torch.rand(cout, generator=gen)
        state[bn + 'num_batches_tracked'] = torch.tensor(1000)
        cin = cout
    state['keypoint_head.final_layer.weight'] = torch.randn(2 * K, cin, 1, 1, generator=gen) * 0.05
    state['keypoint_head.final_layer.bias'] = 0.1 * torch.randn(2 * K, generator=gen)
    return state


def recompute_0x(state: dict, feats: torch.Tensor):
    """The 0.x head's forward, written out with torch.nn.functional."""
    x, i = feats, 0
    while f'keypoint_head.deconv_layers.{3 * i}.weight' in state:
        x = F.conv_transpose2d(x, state[f'keypoint_head.deconv_layers.{3 * i}.weight'], stride=2, padding=1)
        bn = f'keypoint_head.deconv_layers.{3 * i + 1}.'
        x = F.batch_norm(x, state[bn + 'running_mean'], state[bn + 'running_var'], state[bn + 'weight'],
                         state[bn + 'bias'], training=False, eps=1e-5)
        x, i = F.relu(x), i + 1
    out = F.conv2d(x, state['keypoint_head.final_layer.weight'], state['keypoint_head.final_layer.bias'])
    return out[:, :K], out[:, K:]


def test_converted_head_computes_the_0x_head():
    cfg = Config.fromfile(R50)
    head_cfg = copy.deepcopy(cfg.model.head)
    head = build_model('mmpose', head_cfg).eval()
    state = synthetic_0x_head()
    mapped, used = convert_ae_head(state)
    assert sorted(used) == sorted(state)
    assert all(k.startswith('head.') for k in mapped)
    head.load_state_dict({k[len('head.'):]: v for k, v in mapped.items()}, strict=True)
    feats = torch.randn(2, 2048, 3, 4)
    with torch.no_grad():
        heatmaps, tags = head.forward((feats,))
        ref_heatmaps, ref_tags = recompute_0x(state, feats)
    assert heatmaps.shape == (2, K, 24, 32) and tags.shape == (2, K, 24, 32)
    assert torch.allclose(heatmaps, ref_heatmaps, atol=1e-5) and torch.allclose(tags, ref_tags, atol=1e-5)


def test_convert_refuses_unknown_or_misfitting_heads():
    state = synthetic_0x_head(in_channels=8, filters=(4,))
    with pytest.raises(ValueError, match='without a 1.x counterpart'):
        convert_ae_head(dict(state, **{'keypoint_head.final_layer.0.weight': torch.zeros(1)}))
    with pytest.raises(ValueError, match='output channels'):
        convert_ae_head(state, num_keypoints=14)
    with pytest.raises(ValueError, match='final_layer'):
        convert_ae_head({k: v for k, v in state.items() if 'final' not in k})


def test_whole_r50_model_from_a_0x_checkpoint(tmp_path, capsys):
    """The command line: backbone.* and keypoint_head.* of a 0.x R50 model ->
    a checkpoint whose state loads strictly into the config's model and
    carries the 0.x tensors unchanged."""
    cfg = Config.fromfile(R50)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg = None
    torch.manual_seed(1)
    donor = build_model('mmpose', model_cfg)  # 0.x ResNet names are mmpose 1.x's
    state = {k: v for k, v in donor.state_dict().items() if k.startswith('backbone.')}
    state.update(synthetic_0x_head(seed=3))
    src, dst = tmp_path / 'ae_0x.pth', tmp_path / 'ae_1x.pth'
    torch.save({'state_dict': state, 'meta': {'mmpose_version': '0.x'}}, src)
    assert main([str(R50), str(src), str(dst)]) == 0
    converted = torch.load(dst, map_location='cpu', weights_only=True)['state_dict']
    model = build_model('mmpose', model_cfg)
    model.load_state_dict(converted, strict=True)
    assert torch.equal(converted['backbone.layer4.2.conv2.weight'], state['backbone.layer4.2.conv2.weight'])
    assert torch.equal(converted['head.final_layer.weight'], state['keypoint_head.final_layer.weight'])
    assert torch.equal(converted['head.deconv_layers.4.running_var'],
                       state['keypoint_head.deconv_layers.4.running_var'])
    # a checkpoint without the head is refused with a message, not half converted
    torch.save({'state_dict': {k: v for k, v in state.items() if k.startswith('backbone.')}}, src)
    capsys.readouterr()
    assert main([str(R50), str(src), str(dst)]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f'ERROR: {src}: no keypoint_head.* entries (not an MMPose 0.x bottom-up checkpoint)')
    # a missing checkpoint: one line, before the model is built
    assert main([str(R50), str(tmp_path / 'gone.pth'), str(dst)]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f'ERROR: {tmp_path / "gone.pth"}: checkpoint file not found')
