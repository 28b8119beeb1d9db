"""MMDeploy rewriters for ONNX Runtime: mmdet's RPN proposals and box clipping as mmdet computes them.

MMDeploy 1.3.1's default rewrite of ``RPNHead.predict_by_feat`` runs one NMS over the
proposals of all FPN levels together and drops scores below its deploy config's
``score_threshold`` (0.05). mmdet runs the NMS within each level (``batched_nms`` with
the level as the class) and keeps every score. On the toy detector that moved the
exported model's bbox mAP by 0.010 (0.221 vs 0.231 in PyTorch; ``docs/deploy.md``).
This rewriter, registered for the ``onnxruntime`` backend (MMDeploy prefers a
backend-specific rewriter to its default one), puts each level's scores in a column of
their own, so that MMDeploy's multi-class NMS (ONNX ``NonMaxSuppression``) is mmdet's
per-level NMS; the ``max_per_img`` best proposals over all levels are kept, as in mmdet.
The second rewriter, :func:`two_stage_forward_padding_inside`, makes the graph clip boxes
to the unpadded image as mmdet does. Importing this module registers both
(``tools/deploy.py`` does).
"""

from __future__ import annotations

from typing import List, Optional

import torch
from mmdeploy.codebase.mmdet.deploy import gather_topk, pad_with_value_if_necessary
from mmdeploy.core import FUNCTION_REWRITER
from mmdeploy.mmcv.ops import multiclass_nms
from mmdeploy.utils import is_dynamic_shape
from torch import Tensor

__all__ = ['rpn_proposals_with_nms_per_level', 'two_stage_forward_padding_inside', 'pad_inside_graph',
           'PAD_KEY']


@FUNCTION_REWRITER.register_rewriter(
    func_name='mmdet.models.dense_heads.rpn_head.RPNHead.predict_by_feat', backend='onnxruntime')
def rpn_proposals_with_nms_per_level(self, cls_scores: List[Tensor], bbox_preds: List[Tensor],
                                     score_factors: Optional[List[Tensor]] = None,
                                     batch_img_metas: Optional[List[dict]] = None, cfg=None,
                                     rescale: bool = False, with_nms: bool = True, **kwargs):
    """Proposals of every level (its ``nms_pre`` best), NMS within each level, best ``max_per_img``."""
    if not self.use_sigmoid_cls:
        raise NotImplementedError('mmicconv.deploy: RPN heads with softmax scores are not supported')
    cfg = self.test_cfg if cfg is None else cfg
    levels = len(cls_scores)
    batch = cls_scores[0].shape[0]
    anchors = self.prior_generator.grid_priors([s.shape[-2:] for s in cls_scores],
                                               device=cls_scores[0].device)
    pre = cfg.get('nms_pre', -1)
    all_boxes, all_scores = [], []
    for level, (score, delta, anchor) in enumerate(zip(cls_scores, bbox_preds, anchors)):
        score = score.detach().permute(0, 2, 3, 1).reshape(batch, -1, 1).sigmoid()
        delta = delta.detach().permute(0, 2, 3, 1).reshape(batch, -1, self.bbox_coder.encode_size)
        anchor = anchor.unsqueeze(0)
        if pre > 0:
            # zero-score padding where a level has fewer than nms_pre anchors (NMS drops it)
            score = pad_with_value_if_necessary(score, 1, pre, 0.)
            delta = pad_with_value_if_necessary(delta, 1, pre)
            anchor = pad_with_value_if_necessary(anchor, 1, pre)
            _, keep = score.squeeze(2).topk(pre)
            delta, score = gather_topk(delta, score, inds=keep, batch_size=batch, is_batched=True)
            anchor = gather_topk(anchor, inds=keep, batch_size=batch, is_batched=False)
        all_boxes.append(self.bbox_coder.decode(anchor, delta, max_shape=batch_img_metas[0]['img_shape']))
        column = torch.zeros(levels, dtype=score.dtype, device=score.device)
        column[level] = 1
        all_scores.append(score * column)  # this level's scores in column ``level``, zeros elsewhere
    boxes, scores = torch.cat(all_boxes, dim=1), torch.cat(all_scores, dim=1)
    if not with_nms:
        return boxes, scores
    keep_top_k = cfg.get('max_per_img', 1000)
    # score_threshold 0: NonMaxSuppression keeps scores > 0, i.e. drops the other levels' zeros
    return multiclass_nms(boxes, scores, max_output_boxes_per_class=keep_top_k,
                          iou_threshold=cfg.nms.get('iou_threshold', 0.7), score_threshold=0.0,
                          pre_top_k=-1, keep_top_k=keep_top_k, nms_type=cfg.nms.get('type', 'nms'))


#: The key of the deploy config's ``codebase_config`` holding the model's ``pad_size_divisor``
#: when the exported graph pads its input itself (:func:`two_stage_forward_padding_inside`).
PAD_KEY = 'pad_size_divisor_in_graph'


@FUNCTION_REWRITER.register_rewriter(
    func_name='mmdet.models.detectors.two_stage.TwoStageDetector.forward', backend='onnxruntime')
def two_stage_forward_padding_inside(self, batch_inputs: Tensor, data_samples=None, mode: str = 'tensor',
                                     **kwargs):
    """The graph takes the unpadded image and pads it itself, so that boxes are clipped to the image.

    mmdet clips the RPN's proposals and the final boxes to each image's ``img_shape`` (the
    resized image, before the data preprocessor pads it to ``pad_size_divisor``). MMDeploy's
    dynamic-shape graph has no ``img_shape`` input and clips to the shape of its input, the
    padded image: boxes at the right and bottom edges of an image smaller than its padded
    shape came out up to ``divisor - 1`` pixels wider (and, through the proposals, with other
    scores). Here the graph's input is the unpadded image (``tools/deploy.py`` sets the data
    preprocessor's ``pad_size_divisor`` to 1 and puts the model's in the deploy config under
    ``codebase_config[PAD_KEY]``): its shape is ``img_shape``, and the graph pads the image at
    the right and bottom with the preprocessor's ``pad_value`` to the divisor, as the
    preprocessor would, before the backbone. Without ``PAD_KEY`` (static exports) it is
    MMDeploy's own rewrite.
    """
    ctx = FUNCTION_REWRITER.get_context()
    divisor = int(ctx.cfg.get('codebase_config', {}).get(PAD_KEY, 1))
    img_shape = torch._shape_as_tensor(batch_inputs)[2:]
    if not is_dynamic_shape(ctx.cfg):  # as MMDeploy's own rewrite: a static graph's shape is constant
        img_shape = [int(v) for v in img_shape]
    for data_sample in data_samples:  # set_field, not set_metainfo: deepcopy breaks the trace
        data_sample.set_field(name='img_shape', value=img_shape, field_type='metainfo')
    if divisor > 1:
        height, width = batch_inputs.shape[-2:]
        pad_h = (height + divisor - 1) // divisor * divisor - height
        pad_w = (width + divisor - 1) // divisor * divisor - width
        batch_inputs = torch.nn.functional.pad(batch_inputs, [0, pad_w, 0, pad_h],
                                               value=float(self.data_preprocessor.pad_value))
    x = self.extract_feat(batch_inputs)
    if data_samples[0].get('proposals', None) is None:
        rpn_results_list = self.rpn_head.predict(x, data_samples, rescale=False)
    else:
        rpn_results_list = [data_sample.proposals for data_sample in data_samples]
    return self.roi_head.predict(x, rpn_results_list, data_samples, rescale=False)


def pad_inside_graph(model_cfg, deploy_cfg) -> None:
    """Make ``model_cfg``/``deploy_cfg`` (dynamic exports) use
    :func:`two_stage_forward_padding_inside`: for a two-stage detector whose data preprocessor
    pads, its ``pad_size_divisor`` moves into ``deploy_cfg.codebase_config[PAD_KEY]`` and the
    preprocessor pads no more (the graph does)."""
    import mmdet.models  # noqa: F401  (fills mmdet's MODELS)
    from mmdet.models.detectors.two_stage import TwoStageDetector
    from mmdet.registry import MODELS

    detector = MODELS.get(model_cfg.model.type)
    preprocessor = model_cfg.model.get('data_preprocessor', None)
    divisor = (preprocessor or {}).get('pad_size_divisor', 1)
    if detector is not None and issubclass(detector, TwoStageDetector) and divisor > 1:
        preprocessor.pad_size_divisor = 1
        deploy_cfg.codebase_config[PAD_KEY] = divisor
