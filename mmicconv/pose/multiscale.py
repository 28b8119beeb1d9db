"""Multi-scale testing of bottom-up models (image pyramids), MMPose 0.x style.

mmpose 1.3.2 has the scaffolding (``BottomupResize(aug_scales=...)``,
``test_cfg.multiscale_test`` in ``BottomupPoseEstimator``) but the pyramid
never reaches the model, and would be misaligned if it did:

* ``PackPoseInputs`` stacks the pyramid's images into one tensor, which fails
  for images of different sizes;
* ``PoseDataPreprocessor`` normalises one tensor per sample, not a pyramid;
* ``BasePoseEstimator.forward`` stacks a list of inputs into one tensor
  before ``predict`` sees it, which fails for the scales of a pyramid;
* ``BottomupResize`` pads every scale to a multiple of ``size_factor`` on its
  own, so the scales cover different image regions (e.g. a 200x220 image at
  128: the base input covers 160/140.8 of the image width, the 2x input
  288/281.6), and heatmaps resized to the base size do not line up.

The three pieces here close these gaps:

=====================================  ==============================================================
``BottomupMultiscaleResize``           transform: a pyramid whose scales all cover the same region
``PackMultiscalePoseInputs``           transform: packs the pyramid as a list of tensors
``MultiscalePoseDataPreprocessor``     model data preprocessor: normalises each scale of the batch
``MultiscaleBottomupPoseEstimator``    model: hands the per-scale inputs to ``predict`` unstacked
=====================================  ==============================================================

With ``aug_scales=None`` all four behave as their mmpose parents, so the
same config tests single-scale. The heads' aggregation of the scales is in
:meth:`mmicconv.pose.TrainableAssociativeEmbeddingHead.predict`.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmpose.datasets.transforms import BottomupResize, PackPoseInputs
from mmpose.datasets.transforms.formatting import image_to_tensor
from mmpose.models.data_preprocessors import PoseDataPreprocessor
from mmpose.models.pose_estimators import BottomupPoseEstimator
from mmpose.registry import MODELS, TRANSFORMS
from mmpose.structures.bbox import get_warp_matrix

__all__ = ['BottomupMultiscaleResize', 'PackMultiscalePoseInputs', 'MultiscalePoseDataPreprocessor',
           'MultiscaleBottomupPoseEstimator', 'pyramid_sizes']


def pyramid_sizes(img_size: Tuple[int, int], input_size: Tuple[int, int], scales: Sequence[float],
                  size_factor: int, resize_mode: str = 'expand') -> Tuple[List[Tuple[int, int]], np.ndarray]:
    """Padded input sizes (w, h) of every scale and the image region they all cover.

    As in MMPose 0.x, the smallest scale is padded up to a multiple of
    ``size_factor`` and every other scale is that size times
    ``scale / min(scales)``, so each input shows exactly the same image
    region (returned as its (w, h) in image pixels, centred on the image).

    Args:
        img_size: (w, h) of the original image.
        input_size: (w, h) of the base input (scale 1).
        scales: The scales, the base first (usually 1); every
            ``scale / min(scales)`` must be a whole number.
        size_factor: Every input side is a multiple of it at the smallest scale.
        resize_mode: ``'expand'`` (short image side to the input size) or
            ``'fit'`` (long side), as in ``BottomupResize``.
    """
    min_scale = min(scales)
    if min_scale <= 0:
        raise ValueError(f'scales must be positive, got {list(scales)}')
    ratios = [s / min_scale for s in scales]
    if any(abs(r - round(r)) > 1e-6 for r in ratios):
        raise ValueError(f'every scale must be a whole multiple of the smallest one ({min_scale}) so that '
                         f'the pyramid lines up; got {list(scales)}')
    img_w, img_h = img_size
    base_w, base_h = input_size[0] * min_scale, input_size[1] * min_scale
    if resize_mode == 'expand':
        ratio = max(base_w / img_w, base_h / img_h)
    elif resize_mode == 'fit':
        ratio = min(base_w / img_w, base_h / img_h)
    else:
        raise ValueError(f"resize_mode must be 'expand' or 'fit', got {resize_mode!r}")
    if resize_mode == 'fit':
        pad_w, pad_h = (_ceil_to(v, size_factor) for v in (base_w, base_h))
    else:
        pad_w, pad_h = (_ceil_to(v, size_factor) for v in (img_w * ratio, img_h * ratio))
    region = np.array([pad_w / ratio, pad_h / ratio], dtype=np.float32)
    sizes = [(int(round(pad_w * r)), int(round(pad_h * r))) for r in ratios]
    return sizes, region


def _ceil_to(value: float, base: int) -> int:
    return int(math.ceil(value / base - 1e-9) * base)


def _warp(img: np.ndarray, warp_mat: np.ndarray, size: Tuple[int, int], pad_val) -> np.ndarray:
    """``cv2.warpAffine`` for images of any channel count (OpenCV takes at most 4 at once)."""
    channels = 1 if img.ndim == 2 else img.shape[2]
    if channels <= 4:
        return cv2.warpAffine(img, warp_mat, size, flags=cv2.INTER_LINEAR, borderValue=pad_val)
    chunks = [cv2.warpAffine(np.ascontiguousarray(img[..., i:i + 4]), warp_mat, size, flags=cv2.INTER_LINEAR,
                             borderValue=0) for i in range(0, channels, 4)]
    return np.concatenate([c if c.ndim == 3 else c[..., None] for c in chunks], axis=2)


@TRANSFORMS.register_module()
class BottomupMultiscaleResize(BottomupResize):
    """``BottomupResize`` whose multi-scale pyramid is aligned.

    Same arguments, keys and single-scale output as the parent
    (``aug_scales=None``; the input size a multiple of ``size_factor``), also
    for images of more than 4 channels. With ``aug_scales`` (the extra scales, e.g.
    ``[2.0, 0.5]`` for the paper's scales 2, 1, 0.5), ``img`` becomes the list
    [base, *aug_scales] of images built by :func:`pyramid_sizes`: all show
    the same image region, so a heatmap of any scale resized to the base size
    lines up with the base heatmap. ``img_shape``, ``input_size``,
    ``input_center`` and ``input_scale`` describe the base input. The base may
    be larger than the single-scale input (the smallest scale is the one
    padded to ``size_factor``, as in MMPose 0.x). UDP is not supported here.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.aug_scales and self.use_udp:
            raise ValueError('BottomupMultiscaleResize: use_udp with aug_scales is not supported')

    def transform(self, results: Dict) -> Optional[dict]:
        if self.use_udp:
            return super().transform(results)
        img = results['img']
        img_h, img_w = results['ori_shape']
        scales = [1.0] + [float(s) for s in self.aug_scales or []]
        sizes, region = pyramid_sizes((img_w, img_h), self.input_size, scales, self.size_factor,
                                      self.resize_mode)
        center = np.array([img_w / 2, img_h / 2], dtype=np.float32)
        imgs = []
        for size in sizes:
            warp_mat = get_warp_matrix(center=center, scale=region, rot=0, output_size=size)
            imgs.append(_warp(img, warp_mat, size, self.pad_val))
        results.update(img_shape=sizes[0][::-1], input_size=sizes[0], input_center=center,
                       input_scale=region)
        if self.aug_scales:
            results.update(img=imgs, aug_scales=list(self.aug_scales))
        else:
            results.update(img=imgs[0], aug_scale=None)
        return results


@TRANSFORMS.register_module()
class PackMultiscalePoseInputs(PackPoseInputs):
    """``PackPoseInputs`` that packs an image pyramid (a list of images of
    different sizes) as a list of (C, H, W) tensors instead of failing to
    stack it. Single images are packed as by the parent."""

    def transform(self, results: dict) -> dict:
        img = results.get('img')
        if not isinstance(img, (list, tuple)):
            return super().transform(results)
        packed = super().transform(dict(results, img=img[0]))
        packed['inputs'] = [image_to_tensor(i) for i in img]
        return packed


@MODELS.register_module()
class MultiscalePoseDataPreprocessor(PoseDataPreprocessor):
    """``PoseDataPreprocessor`` for batches of image pyramids.

    When every sample's ``inputs`` is a list (one tensor per scale, from
    :class:`PackMultiscalePoseInputs`), which ``pseudo_collate`` batches into
    a list of per-scale lists of (C, H, W) tensors, each scale is
    preprocessed as a batch of its own (normalised, colour-converted, padded)
    and ``inputs`` becomes the list of per-scale (B, C, H, W) tensors, base
    scale first: what ``BottomupPoseEstimator.predict`` expects with
    ``test_cfg.multiscale_test=True``. The data samples' ``batch_input_shape``
    and ``pad_shape`` describe the base scale. Other batches are preprocessed
    as by the parent.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = data['inputs']
        if not (isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], (list, tuple))):
            return super().forward(data, training)
        batch_sizes = {len(x) for x in inputs}
        if len(batch_sizes) != 1:
            raise ValueError(f'the scales of a batch of image pyramids hold different numbers of images '
                             f'({sorted(batch_sizes)}): every sample needs the same scales')
        per_scale = []
        for scale_inputs in reversed(inputs):  # base scale last: its shapes stay in the metainfo
            out = super().forward(dict(data, inputs=list(scale_inputs)), training)
            per_scale.append(out['inputs'])
        return dict(inputs=per_scale[::-1], data_samples=out['data_samples'])


@MODELS.register_module()
class MultiscaleBottomupPoseEstimator(BottomupPoseEstimator):
    """``BottomupPoseEstimator`` that can predict from an image pyramid.

    mmpose 1.3.2's ``BottomupPoseEstimator.predict`` accepts the list of
    per-scale inputs under ``test_cfg.multiscale_test``, but its ``forward``
    stacks any list of inputs into one tensor first, which fails for inputs
    of different sizes. This class passes such a list to ``predict`` as it
    is; everything else (arguments, training, single-scale testing, the
    state dict) is the parent's.
    """

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'predict' and isinstance(inputs, list) and self.test_cfg.get('multiscale_test', False):
            if self.metainfo is not None:
                for data_sample in data_samples:
                    data_sample.set_metainfo(self.metainfo)
            return self.predict(inputs, data_samples)
        return super().forward(inputs, data_samples, mode)
