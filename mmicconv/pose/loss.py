"""Associative-embedding tag loss (pull / push), averaged over the batch.

mmpose 1.3.2's ``AssociativeEmbeddingLoss`` runs and backpropagates, but
differs from the MMPose 0.x loss the published AE recipes (and their
``loss_weight=0.001``) were tuned with in two ways:

* it **sums** the per-image losses over the batch, so the effective tag-loss
  weight grows with the batch size (x16 at 16 images per GPU); the 0.x loss
  averages over the batch;
* its push term includes each instance paired with itself (``exp(0) = 1``),
  a constant ``1 / (N - 1)`` offset per image: no gradient, but the logged
  ``loss_push`` never approaches 0.

:class:`TrainableAssociativeEmbeddingLoss` is a vectorised implementation of
the 0.x definition (batch mean, self-pairs excluded). With
``batch_reduction='sum'`` it reproduces the 1.3.2 batch sum.
"""

from __future__ import annotations

from typing import Sequence, Tuple, Union

import torch
from mmpose.registry import MODELS
from torch import Tensor, nn

__all__ = ['TrainableAssociativeEmbeddingLoss', 'ae_loss_per_image']


def ae_loss_per_image(tags: Tensor, keypoint_indices: Tensor,
                      push_type: str = 'exp') -> Tuple[Tensor, Tensor]:
    """Pull and push loss of one image.

    Args:
        tags: Tag maps in shape (L*K, H, W), channel ``l*K + k`` holding tag
            dimension ``l`` of keypoint ``k`` (the layout the AE codec decodes).
        keypoint_indices: (N, K, 2) integers ``[y*W + x, visible]`` per
            instance and keypoint, as encoded by the AE codec.

    Returns:
        ``(pull, push)``: pull is the mean over instances of the mean squared
        distance of an instance's keypoint tags to their mean (the instance
        tag); push is the mean over ordered pairs of distinct instances of
        ``exp(-||tag_i - tag_j||^2)`` (``push_type='exp'``) or of the hinge
        ``max(0, 1 - ||tag_i - tag_j||)`` (``'max'``, MMPose 0.x's other
        type: its gradient does not vanish while tags are still close, and 1
        is the decoder's default grouping threshold). Both are 0 (still in the graph) when
        there is no instance with a visible keypoint, push also when there
        is only one.
    """
    if keypoint_indices.ndim != 3 or keypoint_indices.shape[-1] != 2:
        raise ValueError(f'keypoint_indices must be (N, K, 2), got {tuple(keypoint_indices.shape)}')
    num_kpts = keypoint_indices.shape[1]
    channels, height, width = tags.shape
    if num_kpts == 0 or channels % num_kpts:
        raise ValueError(f'{channels} tag channels do not hold a tag per keypoint for K={num_kpts}')
    zero = tags.sum() * 0  # keeps every parameter in the graph (DDP) when there is nothing to pull
    if keypoint_indices.shape[0] == 0:
        return zero, zero
    tag_dim = channels // num_kpts
    flat = tags.reshape(tag_dim, num_kpts, height * width)
    keypoint_indices = keypoint_indices.to(tags.device).long()
    visible = keypoint_indices[..., 1] > 0  # (N, K)
    index = keypoint_indices[..., 0].clamp(0, height * width - 1)
    kpt = torch.arange(num_kpts, device=tags.device)[None, :]
    kpt_tags = flat[:, kpt, index].permute(1, 2, 0)  # (N, K, L)

    counts = visible.sum(dim=1)
    keep = counts > 0
    kpt_tags, visible, counts = kpt_tags[keep], visible[keep], counts[keep]
    num_inst = kpt_tags.shape[0]
    if num_inst == 0:
        return zero, zero
    weight = visible.unsqueeze(-1).to(tags.dtype)  # (N, K, 1)
    inst_tags = (kpt_tags * weight).sum(dim=1) / counts[:, None]  # (N, L)
    sq_dist = ((kpt_tags - inst_tags[:, None]) ** 2 * weight).sum(dim=(1, 2))
    pull = (sq_dist / (counts * tag_dim)).mean()
    if num_inst == 1:
        return pull, zero
    pair_sq = ((inst_tags[None] - inst_tags[:, None]) ** 2).sum(dim=-1)  # (N, N)
    off_diag = ~torch.eye(num_inst, dtype=torch.bool, device=tags.device)
    pair_sq = pair_sq[off_diag]
    if push_type == 'exp':
        push = torch.exp(-pair_sq).mean()
    else:  # 'max'; eps keeps the gradient finite for identical tags
        push = torch.clamp(1 - torch.sqrt(pair_sq + 1e-12), min=0).mean()
    return pull, push


@MODELS.register_module()
class TrainableAssociativeEmbeddingLoss(nn.Module):
    """Associative-embedding loss with the MMPose 0.x reductions.

    Args:
        loss_weight: Weight of both terms (0.001 in the published AE recipes).
        push_loss_factor: Extra factor of the push term (0.5, as in 0.x's
            ``exp`` push loss and in mmpose 1.3.2).
        batch_reduction: ``'mean'`` (0.x) or ``'sum'`` (mmpose 1.3.2) over
            the images of the batch.
        push_type: ``'exp'`` (0.x default, mmpose 1.3.2) or ``'max'`` (0.x's
            hinge push; see :func:`ae_loss_per_image`).
    """

    def __init__(self, loss_weight: float = 1.0, push_loss_factor: float = 0.5,
                 batch_reduction: str = 'mean', push_type: str = 'exp') -> None:
        super().__init__()
        if push_type not in ('exp', 'max'):
            raise ValueError(f"push_type must be 'exp' or 'max', got {push_type!r}")
        self.push_type = push_type
        if batch_reduction not in ('mean', 'sum'):
            raise ValueError(f"batch_reduction must be 'mean' or 'sum', got {batch_reduction!r}")
        self.loss_weight = loss_weight
        self.push_loss_factor = push_loss_factor
        self.batch_reduction = batch_reduction

    def forward(self, tags: Tensor,
                keypoint_indices: Union[Sequence[Tensor], Tensor]) -> Tuple[Tensor, Tensor]:
        """Args: tags (B, L*K, H, W); keypoint_indices: B tensors (N_i, K, 2).

        Returns:
            ``(pull_loss, push_loss)``, weighted.
        """
        if tags.shape[0] != len(keypoint_indices):
            raise ValueError(f'{tags.shape[0]} tag maps but {len(keypoint_indices)} keypoint_indices')
        per_image = [ae_loss_per_image(t, idx, self.push_type) for t, idx in zip(tags, keypoint_indices)]
        pull = torch.stack([p for p, _ in per_image])
        push = torch.stack([q for _, q in per_image])
        reduce = torch.mean if self.batch_reduction == 'mean' else torch.sum
        return (reduce(pull) * self.loss_weight,
                reduce(push) * self.loss_weight * self.push_loss_factor)
