"""The bottom-up valid-region mask, crowd regions included.

mmpose 1.3.2's ``BottomupGetHeatmapMask`` masks out the regions of the
*invalid* instances of an image (crowds and people without keypoints) so
that the heatmap loss does not penalise unlabelled people. Its
``_segs_to_mask`` only rasterises polygon segmentations (lists) and skips
run-length-encoded ones (dicts), which is how COCO stores every crowd
(``iscrowd=1``) region; crowd regions are therefore never masked, unlike in
MMPose 0.x. :class:`TrainableBottomupGetHeatmapMask` rasterises both.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
from mmpose.datasets.transforms import BottomupGetHeatmapMask
from mmpose.registry import TRANSFORMS
from xtcocotools import mask as cocomask

__all__ = ['TrainableBottomupGetHeatmapMask', 'segmentations_to_mask']


def segmentations_to_mask(segs: Sequence, img_shape: Tuple[int, int]) -> np.ndarray:
    """Union of COCO segmentations as a (h, w) uint8 mask (1 inside).

    Args:
        segs: COCO ``segmentation`` values: polygon lists, uncompressed RLE
            dicts (``counts`` a list, as COCO crowds) or compressed RLE dicts
            (``counts`` a string); ``None`` entries are skipped.
        img_shape: (h, w) of the image the segmentations refer to.
    """
    height, width = int(img_shape[0]), int(img_shape[1])
    rles = []
    for seg in segs:
        if seg is None or (isinstance(seg, (list, tuple)) and len(seg) == 0):
            continue
        if isinstance(seg, dict):
            counts = seg.get('counts')
            size = [int(v) for v in seg.get('size', (height, width))]
            if size != [height, width]:
                raise ValueError(f'RLE segmentation of size {size} in an image of shape {(height, width)}')
            if isinstance(counts, (list, tuple)):
                if sum(counts) != height * width:  # xtcocotools does not check: it would hang or overrun
                    raise ValueError(f'uncompressed RLE counts sum to {sum(counts)}, not h*w = '
                                     f'{height * width}')
                rles.append(cocomask.frPyObjects(seg, height, width))
            elif isinstance(counts, (str, bytes)):
                rle = dict(seg)
                rle['counts'] = counts.encode() if isinstance(counts, str) else counts
                rles.append(rle)
            else:
                raise ValueError(f'unsupported RLE segmentation counts of type {type(counts).__name__}')
        elif isinstance(seg, (list, tuple)):
            polys = [seg] if np.isscalar(seg[0]) else seg  # one polygon or a list of them
            polys = [list(map(float, p)) for p in polys if len(p) >= 6]
            if polys:
                rles.extend(cocomask.frPyObjects(polys, height, width))
        else:
            raise ValueError(f'unsupported segmentation of type {type(seg).__name__}')
    if not rles:
        return np.zeros((height, width), dtype=np.uint8)
    return cocomask.decode(cocomask.merge(rles))


@TRANSFORMS.register_module()
class TrainableBottomupGetHeatmapMask(BottomupGetHeatmapMask):
    """``BottomupGetHeatmapMask`` that also masks RLE (crowd) segmentations.

    Same keys, arguments and output (``heatmap_mask``, a boolean map of the
    valid pixels at heatmap size) as the parent.
    """

    def _segs_to_mask(self, segs: list, img_shape: Tuple[int, int]) -> np.ndarray:
        return segmentations_to_mask(segs, img_shape)
