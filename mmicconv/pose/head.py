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
the tag loss gets the encoded ``keypoint_indices``. Forward, predict and
decode are the parent's.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
from mmpose.models.heads import AssociativeEmbeddingHead
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptSampleList
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
