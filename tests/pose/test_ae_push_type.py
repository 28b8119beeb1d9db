"""The hinge ('max') push of TrainableAssociativeEmbeddingLoss, against hand-computed values."""

from __future__ import annotations

import pytest
import torch

import mmicconv  # noqa: F401
from mmicconv.pose.loss import TrainableAssociativeEmbeddingLoss


def two_people(tag_a: float, tag_b: float):
    """1 tag channel per keypoint, K=1, a 1x4 map; person A at x=0, B at x=3."""
    tags = torch.tensor([[[[tag_a, 0.0, 0.0, tag_b]]]], requires_grad=True)
    indices = [torch.tensor([[[0, 1]], [[3, 1]]])]
    return tags, indices


@pytest.mark.parametrize('a,b,expected', [(0.0, 0.25, 0.75), (0.0, 2.0, 0.0), (1.0, 1.0, 1.0)])
def test_max_push_is_hinge_of_tag_distance(a, b, expected):
    tags, indices = two_people(a, b)
    loss = TrainableAssociativeEmbeddingLoss(loss_weight=1.0, push_loss_factor=1.0, push_type='max')
    pull, push = loss(tags, indices)
    assert pull.item() == pytest.approx(0.0)  # one keypoint per person: nothing to pull
    assert push.item() == pytest.approx(expected, abs=1e-5)
    push.backward()
    assert torch.isfinite(tags.grad).all()
    if 0 < expected < 1:
        # inside the margin, push = mean over the 2 ordered pairs of 1 - |a - b|, each
        # with slope +1 in a (a < b) and -1 in b: descending moves the tags apart
        assert tags.grad[0, 0, 0, 0].item() == pytest.approx(1.0)
        assert tags.grad[0, 0, 0, 3].item() == pytest.approx(-1.0)


def test_exp_push_unchanged_and_bad_type_refused():
    tags, indices = two_people(0.0, 0.5)
    _, push = TrainableAssociativeEmbeddingLoss(push_loss_factor=1.0)(tags, indices)
    assert push.item() == pytest.approx(torch.exp(torch.tensor(-0.25)).item())
    with pytest.raises(ValueError, match='push_type'):
        TrainableAssociativeEmbeddingLoss(push_type='hinge')
