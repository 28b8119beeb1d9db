"""mmicconv.deploy: MMDeploy's gaps with torch 2.13 are closed only within the block, and the
deploy config is what tools/deploy.py promises (standard ONNX ops, dynamic height and width)."""

from __future__ import annotations

import io

import pytest
import torch

from mmicconv.deploy import mmdeploy_compat, onnxruntime_detection_config


def test_compat_only_within_the_block():
    import torch.onnx.symbolic_opset9 as opset9
    export = torch.onnx.export
    had_cast = hasattr(opset9, '_cast_Long')
    with mmdeploy_compat():
        assert torch.onnx.export is not export
        assert hasattr(opset9, '_cast_Long')
    assert torch.onnx.export is export
    assert hasattr(opset9, '_cast_Long') == had_cast


def test_compat_export_defaults_to_torchscript_and_casts_to_int64():
    """Within the block an export without ``dynamo`` runs the TorchScript exporter (torch 2.13's
    default, dynamo, needs onnxscript, which is not installed), and the restored ``_cast_Long``
    writes a Cast to int64 (ONNX type 7) when a symbolic calls it."""
    onnx = pytest.importorskip('onnx')
    import torch.onnx.symbolic_opset9 as opset9

    class CastLong(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.long()

        @staticmethod
        def symbolic(g, x):
            return opset9._cast_Long(g, x, False)

    class Model(torch.nn.Module):
        def forward(self, x):
            return CastLong.apply(x * 2)

    buffer = io.BytesIO()
    with mmdeploy_compat():
        torch.onnx.export(Model(), (torch.ones(3),), buffer)
    casts = [n for n in onnx.load_from_string(buffer.getvalue()).graph.node if n.op_type == 'Cast']
    assert [a.i for n in casts for a in n.attribute if a.name == 'to'] == [7]


def test_deploy_config_dynamic_shapes_and_thresholds():
    cfg = onnxruntime_detection_config(max_per_img=50, score_thr=0.1, iou_thr=0.6)
    assert cfg.onnx_config.dynamic_axes['input'] == {0: 'batch', 2: 'height', 3: 'width'}
    assert cfg.codebase_config.post_processing.keep_top_k == 50
    assert cfg.codebase_config.post_processing.score_threshold == 0.1
    assert cfg.codebase_config.post_processing.iou_threshold == 0.6
    assert cfg.backend_config.type == 'onnxruntime'
    assert 'dynamic_axes' not in onnxruntime_detection_config(dynamic=False).onnx_config
