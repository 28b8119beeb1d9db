"""The associative-embedding codec, with its training targets packed.

mmpose 1.3.2's :class:`~mmpose.codecs.AssociativeEmbedding` encodes
``keypoint_indices`` (N, K, 2) for the tag loss but declares no
``label_mapping_table``, so :class:`~mmpose.datasets.PackPoseInputs` (whose
default table lists only ``keypoint_labels``, ``keypoint_weights`` and
``keypoints_visible_weights``) silently drops them and
``AssociativeEmbeddingHead.loss`` fails with an ``AttributeError`` on
``gt_instance_labels.keypoint_indices``.

:class:`TrainableAssociativeEmbedding` is the same codec (same encoding, same
decoding and grouping) with a table that also packs ``keypoint_indices``.
"""

from __future__ import annotations

from mmpose.codecs import AssociativeEmbedding
from mmpose.registry import KEYPOINT_CODECS

__all__ = ['TrainableAssociativeEmbedding']


@KEYPOINT_CODECS.register_module()
class TrainableAssociativeEmbedding(AssociativeEmbedding):
    """:class:`~mmpose.codecs.AssociativeEmbedding` whose encoded
    ``keypoint_indices`` reach the model.

    ``GenerateTarget`` hands a codec's ``label_mapping_table`` to
    ``PackPoseInputs``, where it replaces the default table; it therefore
    repeats the default entries and adds ``keypoint_indices`` (packed into
    ``data_sample.gt_instance_labels``). Arguments are those of the parent.
    """

    label_mapping_table = dict(
        keypoint_labels='keypoint_labels',
        keypoint_weights='keypoint_weights',
        keypoints_visible_weights='keypoints_visible_weights',
        keypoint_indices='keypoint_indices',
    )
