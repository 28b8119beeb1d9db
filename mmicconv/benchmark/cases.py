"""What the benchmark times: the pattern files, the ResNet-50 ``conv2`` shapes and the backbones."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import torch
import torch.nn as nn

from ..models.arch import ARCHS
from ..ops import ICConv2d
from ..ops.strategies import STRATEGIES
from ..pattern import ConvPattern

__all__ = ['PATTERN_FILES', 'ORACLE_CASE', 'REPO', 'ConvShape', 'default_pattern_dir', 'conv2_shapes',
           'plain_resnet50', 'backbone_source', 'build_backbone', 'ic_conv_or_none']

#: The checkout holding this package (its ``pattern_zoo`` and the ``shared`` folder beside it).
REPO = Path(__file__).resolve().parents[2]
#: ``--patterns`` key -> published pattern file, relative to the pattern folder.
PATTERN_FILES = {'k9': 'detection/ic_resnet50_k9.json', 'k13': 'human_pose/ic_resnet50_k13.json'}
#: The case (result column) of IC-R50 running the GEMM-only strategy (:mod:`.oracle`).
ORACLE_CASE = 'oracle:gemm'


def default_pattern_dir(repo: Path = REPO) -> Path:
    """The published zoo beside the checkout if present, else the repo's ``pattern_zoo``."""
    shared = repo.parent / 'shared' / 'reference' / 'official_pattern_zoo'
    return shared if shared.is_dir() else repo / 'pattern_zoo'


@dataclass(frozen=True)
class ConvShape:
    """One distinct 3x3 conv of a bottleneck ResNet.

    Attributes:
        index: Its first IC conv (pattern entry) of this shape, in network order.
        channels: Input = output channels.
        stride: 2 for the first block of stages 2-4, else 1.
        side: Input height = width.
    """

    index: int
    channels: int
    stride: int
    side: int


def conv2_shapes(size: int = 224, depth: int = 50) -> List[ConvShape]:
    """The distinct ``conv2`` shapes of a bottleneck ResNet at input ``size`` (first of each).

    Stage ``s`` runs at ``size / (4 * 2**s)`` (stem and max pool: 4x down); its
    first block (``s > 0``) has stride 2 on the 3x3 conv, so reads the previous
    stage's resolution. ResNet-50: 7 shapes (4 stages x stride 1 / stride 2).
    """
    arch = ARCHS[depth]
    if arch.block != 'bottleneck':
        raise ValueError(f'ResNet-{depth} has basic blocks; conv2 shapes are defined for bottlenecks')
    stages, channels = arch.ic_conv_stages(), arch.ic_conv_channels()
    shapes: List[ConvShape] = []
    seen = set()
    for index, (stage, width) in enumerate(zip(stages, channels)):
        stride = 2 if stage > 0 and stages[index - 1] != stage else 1
        level = stage - 1 if stride == 2 else stage
        if (width, stride, level) not in seen:
            seen.add((width, stride, level))
            shapes.append(ConvShape(index, width, stride, size // (4 << level)))
    return shapes


def plain_resnet50() -> nn.Module:
    """mmdet's ResNet-50 (all stages trainable, four outputs), else torchvision's.

    The torchvision fallback (same conv layout: stride on the 3x3 conv, a
    classifier head added) lets the benchmark run where only torch and
    torchvision are installed, e.g. a GPU machine without mmcv's CUDA ops.
    """
    try:
        from mmdet.models.backbones import ResNet
    except ImportError:
        from torchvision.models import resnet50
        return resnet50()
    return ResNet(depth=50, frozen_stages=-1, norm_eval=False, out_indices=(0, 1, 2, 3))


def backbone_source() -> str:
    """Which ResNet-50 :func:`plain_resnet50` builds here (without building it)."""
    return 'mmdet' if importlib.util.find_spec('mmdet') is not None else 'torchvision'


def build_backbone(pattern: Optional[Path], strategy: str, device: torch.device) -> nn.Module:
    """Plain ResNet-50 (:func:`plain_resnet50`), converted to IC-R50 when ``pattern`` is given."""
    from ..models.ic_resnet import convert_to_ic
    torch.manual_seed(0)
    model = plain_resnet50()
    if pattern is not None:
        convert_to_ic(model, str(pattern), strategy=strategy)
    return model.to(device)


def ic_conv_or_none(plain: nn.Conv2d, pattern: ConvPattern, strategy: str) -> Optional[ICConv2d]:
    """``plain`` as an ICConv2d running ``strategy``, or None where that strategy cannot run it."""
    cls = STRATEGIES.get(strategy)
    if cls is not None and (cls.unavailable_reason() is not None
                            or not cls.supports(ICConv2d.from_conv(plain, pattern, 'loop').spec,
                                                plain.weight.device, plain.weight.dtype, True)):
        return None
    return ICConv2d.from_conv(plain, pattern, strategy=strategy)
