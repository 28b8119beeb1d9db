"""Bottom-up associative-embedding (AE) training on MMPose 1.x.

mmpose 1.3.2 ships the AE pieces but cannot train them; this package
supplies the missing or broken ones under new names in mmpose's registries
(mmpose itself is never modified):

========================================  =================================================
``TrainableAssociativeEmbedding``          codec (``KEYPOINT_CODECS``): packs ``keypoint_indices``
``TrainableAssociativeEmbeddingHead``      head (``MODELS``): masked heatmap loss, tag loss
``TrainableAssociativeEmbeddingLoss``      loss (``MODELS``): 0.x batch mean, no self-pairs
``TrainableBottomupGetHeatmapMask``        transform (``TRANSFORMS``): crowd RLE masked too
``BottomupMultiscaleResize``               transform: aligned image pyramid (multi-scale test)
``PackMultiscalePoseInputs``               transform: packs the pyramid as a list of tensors
``MultiscalePoseDataPreprocessor``         data preprocessor (``MODELS``): one batch per scale
``MultiscaleBottomupPoseEstimator``        model (``MODELS``): predicts from the pyramid
========================================  =================================================

The head's ``predict`` also works without flip testing and aggregates
multi-scale inputs as MMPose 0.x did (:mod:`mmicconv.pose.multiscale`).

Imported by :mod:`mmicconv.registry` when mmpose is installed (together with
the IC backbones of :mod:`mmicconv.models.mmpose_backbones`). It also imports
``mmpose.visualization`` so that runners of MMPose configs work without
torchvision (:mod:`mmicconv.pose.compat`).
"""

from ..models import mmpose_backbones  # noqa: F401  (registers ICResNet & co. in mmpose)
from .codec import TrainableAssociativeEmbedding
from .compat import import_pose_visualization
from .head import TrainableAssociativeEmbeddingHead
from .loss import TrainableAssociativeEmbeddingLoss, ae_loss_per_image
from .multiscale import (
    BottomupMultiscaleResize,
    MultiscaleBottomupPoseEstimator,
    MultiscalePoseDataPreprocessor,
    PackMultiscalePoseInputs,
)
from .transforms import TrainableBottomupGetHeatmapMask, segmentations_to_mask

import_pose_visualization()

__all__ = ['TrainableAssociativeEmbedding', 'TrainableAssociativeEmbeddingHead',
           'TrainableAssociativeEmbeddingLoss', 'TrainableBottomupGetHeatmapMask',
           'ae_loss_per_image', 'segmentations_to_mask', 'BottomupMultiscaleResize',
           'MultiscaleBottomupPoseEstimator', 'MultiscalePoseDataPreprocessor', 'PackMultiscalePoseInputs']
