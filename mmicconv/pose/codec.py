"""The associative-embedding codec, trainable: targets packed, centres consistent.

mmpose 1.3.2's :class:`~mmpose.codecs.AssociativeEmbedding` was written for
testing converted checkpoints; two things break or bias training with it:

* **Packing.** ``encode`` returns ``keypoint_indices`` (N, K, 2) for the tag
  loss, but the codec declares no ``label_mapping_table``, so
  :class:`~mmpose.datasets.PackPoseInputs` (whose default table lists only
  ``keypoint_labels``, ``keypoint_weights`` and ``keypoints_visible_weights``)
  drops them and ``AssociativeEmbeddingHead.loss`` cannot reach them.
* **Pixel centres.** ``encode`` puts a keypoint at heatmap coordinate ``x``
  on pixel ``round(x)``, while ``decode`` returns a peak at pixel ``i`` as
  ``i + decode_center_shift`` (0.5 in mmpose's AE configs, the MMPose 0.x
  convention, where a keypoint lands on pixel ``floor(x)``). A model trained
  with the rounding encoder is therefore decoded half a heatmap pixel off on
  both axes (2 input pixels at 640x640 with 160x160 heatmaps).

:class:`TrainableAssociativeEmbedding` is the same codec (same decoding and
grouping) with a label table that also packs ``keypoint_indices``, and an
encoder that applies the inverse of the decoder's centre shift. It also
refuses a ``sigma`` whose 3-sigma radius is not a whole number of pixels:
mmpose's ``generate_gaussian_heatmaps`` then truncates the negative left/top
corner of the Gaussian window towards zero, which moves the peak of a
keypoint near the top or left border off its encoded pixel (e.g. sigma 1.5).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from mmpose.codecs import AssociativeEmbedding
from mmpose.registry import KEYPOINT_CODECS

__all__ = ['TrainableAssociativeEmbedding']


@KEYPOINT_CODECS.register_module()
class TrainableAssociativeEmbedding(AssociativeEmbedding):
    """:class:`~mmpose.codecs.AssociativeEmbedding` for training.

    ``GenerateTarget`` hands a codec's ``label_mapping_table`` to
    ``PackPoseInputs``, where it replaces the default table; this one repeats
    the default entries and adds ``keypoint_indices`` (packed into
    ``data_sample.gt_instance_labels``).

    Args:
        encode_center_shift: Heatmap pixels subtracted from the keypoint
            coordinates before encoding, so that ``decode`` (which adds
            ``decode_center_shift``) returns what was encoded. ``None`` (the
            default) takes ``decode_center_shift``; ``0`` reproduces mmpose's
            encoding exactly.
        **kwargs: The arguments of ``AssociativeEmbedding`` (``input_size``,
            ``heatmap_size``, ``sigma``, ``decode_*``, ...).
    """

    label_mapping_table = dict(
        keypoint_labels='keypoint_labels',
        keypoint_weights='keypoint_weights',
        keypoints_visible_weights='keypoints_visible_weights',
        keypoint_indices='keypoint_indices',
    )

    def __init__(self, *args, encode_center_shift: Optional[float] = None, decode_refine: bool = True,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.decode_refine = bool(decode_refine)
        radius = 3 * float(self.sigma)
        if not self.use_udp and abs(radius - round(radius)) > 1e-6:
            raise ValueError(f'sigma={self.sigma}: 3 * sigma must be a whole number of heatmap pixels '
                             '(e.g. 1, 2, 4/3), or mmpose places Gaussians near the top/left border '
                             'off their keypoints')
        self.encode_center_shift = (self.decode_center_shift if encode_center_shift is None
                                    else float(encode_center_shift))

    def encode(self, keypoints: np.ndarray, keypoints_visible: Optional[np.ndarray] = None) -> dict:
        """Encode as the parent does, from keypoints moved by
        ``-encode_center_shift`` heatmap pixels (so a keypoint at heatmap
        coordinate ``x`` lands on pixel ``round(x - shift)``: ``floor(x)`` for
        a shift of 0.5)."""
        if self.encode_center_shift:
            keypoints = keypoints - self.encode_center_shift * self.scale_factor
        return super().encode(keypoints, keypoints_visible)

    def _fill_missing_keypoints(self, keypoints, keypoint_scores, heatmaps, tags):
        """The parent's fill-in (0.x ``refine``) unless ``decode_refine=False``."""
        if not self.decode_refine:
            return keypoints, keypoint_scores
        return super()._fill_missing_keypoints(keypoints, keypoint_scores, heatmaps, tags)
