"""An ``AssociativeEmbeddingHead`` whose ``loss`` can train.

mmpose 1.3.2's ``AssociativeEmbeddingHead.loss`` passes the per-instance
``keypoint_weights`` (N, K), concatenated over the batch, as the heatmap
loss's *per-image* target weights, which must be (B, K) or (B, K, H, W); any
image with people fails with "target_weights and target have mismatched
shapes torch.Size([3, 17]) v.s. torch.Size([1, 17, 64, 64])". In AE a
heatmap channel holds every person's keypoint k, so a per-instance weight
has no per-image meaning; the 0.x AE loss weights the heatmap MSE only by
the per-pixel valid mask (crowd regions and people without keypoints
masked out).

:class:`TrainableAssociativeEmbeddingHead` computes the heatmap loss with
that mask (``gt_fields.heatmap_mask`` from ``BottomupGetHeatmapMask``) and,
where the pipeline provides them, per-pixel ``gt_fields.heatmap_weights``;
the tag loss gets the encoded ``keypoint_indices``. Forward and decode are
the parent's.

Its ``predict`` replaces the parent's, which in mmpose 1.3.2 fails without
flip testing (it asserts a list of tensors where ``extract_feat`` returns a
tuple) and, past that, never resizes the heatmaps to the input size (the
keypoints of a decoder with ``heatmap_size=input_size`` came out 4x too
small). It also implements multi-scale testing the MMPose 0.x way; see
:meth:`TrainableAssociativeEmbeddingHead.predict`.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmpose.models.heads import AssociativeEmbeddingHead
from mmpose.models.utils.tta import flip_heatmaps
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptSampleList, Predictions
from torch import Tensor

__all__ = ['TrainableAssociativeEmbeddingHead']


def _stack_field(batch_data_samples: Sequence, name: str, like: Tensor) -> Optional[Tensor]:
    """Stack ``gt_fields.<name>`` of every sample as float (B, C, H, W), or
    ``None`` when no sample has it; checks it fits ``like`` (B, K, H, W)."""
    present = [name in d.gt_fields for d in batch_data_samples]
    if not any(present):
        return None
    if not all(present):
        raise ValueError(f'gt_fields.{name} is set for some samples of the batch only')
    fields = []
    for d in batch_data_samples:
        value = d.gt_fields.get(name)
        value = value if value.ndim == 3 else value[None]  # (H, W) -> (1, H, W)
        fields.append(value.to(device=like.device, dtype=like.dtype))
    stacked = torch.stack(fields)
    if stacked.shape[2:] != like.shape[2:] or stacked.shape[1] not in (1, like.shape[1]):
        raise ValueError(f'gt_fields.{name} has shape {tuple(stacked.shape)}, which does not fit the '
                         f'predicted heatmaps {tuple(like.shape)}: the codec heatmap_size must match '
                         'the head output size')
    return stacked


@MODELS.register_module()
class TrainableAssociativeEmbeddingHead(AssociativeEmbeddingHead):
    """``AssociativeEmbeddingHead`` with a working ``loss``.

    Arguments are those of ``AssociativeEmbeddingHead``. Pair it with the
    ``TrainableAssociativeEmbedding`` codec (which packs
    ``keypoint_indices``) and ``BottomupGetHeatmapMask`` (or
    ``TrainableBottomupGetHeatmapMask``) in the training pipeline.
    """

    def loss(self, feats: Tuple[Tensor], batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> Dict[str, Tensor]:  # noqa: B006 (parent signature)
        """Heatmap loss (masked MSE) plus pull/push tag losses.

        Returns:
            ``dict(loss_kpt=..., loss_pull=..., loss_push=...)``.
        """
        pred_heatmaps, pred_tags = self.forward(feats)
        if not self.tag_per_keypoint:
            pred_tags = pred_tags.repeat((1, self.num_keypoints, 1, 1))

        gt_heatmaps = torch.stack([d.gt_fields.heatmaps for d in batch_data_samples]).to(pred_heatmaps)
        if gt_heatmaps.shape != pred_heatmaps.shape:
            raise ValueError(f'target heatmaps {tuple(gt_heatmaps.shape)} and predicted heatmaps '
                             f'{tuple(pred_heatmaps.shape)} differ: the codec heatmap_size must be the '
                             'head output size (for ResNet: input size / 32 * 2**num_deconv_layers)')
        masks = _stack_field(batch_data_samples, 'heatmap_mask', pred_heatmaps)
        weights = _stack_field(batch_data_samples, 'heatmap_weights', pred_heatmaps)
        if weights is not None and weights.shape[1] != pred_heatmaps.shape[1]:
            weights = weights.expand_as(pred_heatmaps)
        loss_kpt = self.loss_module.keypoint_loss(pred_heatmaps, gt_heatmaps, weights, masks)

        missing = [i for i, d in enumerate(batch_data_samples)
                   if 'keypoint_indices' not in d.gt_instance_labels]
        if missing:
            raise KeyError('gt_instance_labels.keypoint_indices is missing (samples '
                           f'{missing}): encode targets with the TrainableAssociativeEmbedding codec, '
                           "whose label_mapping_table makes PackPoseInputs keep them")
        keypoint_indices = [d.gt_instance_labels.keypoint_indices for d in batch_data_samples]
        loss_pull, loss_push = self.loss_module.tag_loss(pred_tags, keypoint_indices)
        return dict(loss_kpt=loss_kpt, loss_pull=loss_pull, loss_push=loss_push)

    def predict(self, feats, batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:  # noqa: B006 (parent signature)
        """Heatmaps and tags of one or more inputs (flips, scales), aggregated, decoded.

        ``feats`` is what ``BottomupPoseEstimator.predict`` hands over: the
        backbone features of one input (a tuple of tensors); with
        ``flip_test`` a list ``[feats, feats_of_the_flipped_input]``; with
        ``multiscale_test`` a list of those, one per input scale, the base
        scale first.

        For every input the heatmaps and tags are resized to the base size
        (the base input's ``img_shape`` when ``restore_heatmap_size``, else the
        base scale's heatmap size); the flipped ones are flipped back (left and
        right keypoints swapped). The heatmaps of all inputs are averaged; the
        tags are concatenated along the channel axis (each input adds a tag
        dimension, as in MMPose 0.x). ``test_cfg.multiscale_tags`` chooses
        which scales contribute tags: ``'all'`` (default; MMPose 0.x until
        v0.19, which the paper's results used) or ``'base'`` (later 0.x and
        mmpose 1.x: only the base scale's, original and flipped).

        Other ``test_cfg`` keys: ``shift_heatmap`` (move flipped maps one pixel
        right), ``align_corners`` (of the bilinear resizes), ``output_heatmaps``.
        """
        multiscale_test = test_cfg.get('multiscale_test', False)
        flip_test = test_cfg.get('flip_test', False)
        shift_heatmap = test_cfg.get('shift_heatmap', False)
        align_corners = test_cfg.get('align_corners', False)
        multiscale_tags = test_cfg.get('multiscale_tags', 'all')
        if multiscale_tags not in ('all', 'base'):
            raise ValueError(f"test_cfg.multiscale_tags must be 'all' or 'base', got {multiscale_tags!r}")

        per_scale = list(feats) if multiscale_test else [feats]
        if not per_scale:
            raise ValueError('multiscale_test: no features were given')
        inputs: List[List[Tuple[Tensor, bool]]] = []  # per scale: [(feats, flipped), ...]
        for scale_feats in per_scale:
            if flip_test:
                if not (isinstance(scale_feats, list) and len(scale_feats) == 2):
                    raise ValueError('flip_test expects [features, features of the flipped input] per '
                                     f'scale, got {type(scale_feats).__name__}')
                inputs.append([(scale_feats[0], False), (scale_feats[1], True)])
            else:
                if isinstance(scale_feats, list):
                    raise ValueError('got a list of features per scale without flip_test (multi-scale '
                                     'features without test_cfg.multiscale_test=True?)')
                inputs.append([(scale_feats, False)])

        if test_cfg.get('restore_heatmap_size', False):
            img_shapes = {tuple(d.metainfo['img_shape']) for d in batch_data_samples}
            if len(img_shapes) != 1:
                raise ValueError(f'restore_heatmap_size needs one input size per batch, got {img_shapes}')
            size = img_shapes.pop()
        else:
            size = None

        heatmaps, tags = [], []
        for scale_idx, scale_inputs in enumerate(inputs):
            for _feats, flipped in scale_inputs:
                _heatmaps, _tags = self.forward(_feats)
                if flipped:
                    flip_indices = batch_data_samples[0].metainfo['flip_indices']
                    _heatmaps = flip_heatmaps(_heatmaps, flip_mode='heatmap', flip_indices=flip_indices,
                                              shift_heatmap=shift_heatmap)
                    _tags = self._flip_tags(_tags, flip_indices=flip_indices, shift_heatmap=shift_heatmap)
                if size is None:
                    size = tuple(_heatmaps.shape[-2:])
                heatmaps.append(_resize(_heatmaps, size, align_corners))
                if scale_idx == 0 or multiscale_tags == 'all':
                    tags.append(_resize(_tags, size, align_corners))
        batch_heatmaps = torch.stack(heatmaps).mean(dim=0)
        batch_tags = torch.cat(tags, dim=1)

        preds = self.decode((batch_heatmaps, batch_tags))
        if test_cfg.get('output_heatmaps', False):
            fields = [PixelData(heatmaps=h, tags=t)
                      for h, t in zip(batch_heatmaps.detach(), batch_tags.detach())]
            return preds, fields
        return preds


def _resize(maps: Tensor, size: Tuple[int, int], align_corners: bool) -> Tensor:
    """Bilinear resize of (B, C, h, w) maps to ``size`` (h, w); unchanged when already that size."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps, size=size, mode='bilinear', align_corners=align_corners)
