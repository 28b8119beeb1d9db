"""A tiny torchvision-layout Bottleneck ResNet for the search tests (plain torch, fast)."""

from __future__ import annotations

import random
from typing import List, Tuple

import torch
import torch.nn as nn

from mmicconv.search import candidate_dilations


class Bottleneck(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 2, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 2)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or inplanes != planes * 2:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 2, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes * 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ToyResNet(nn.Module):
    """Stem 3x3 (not searched), layer1: 2 blocks of 8 channels, layer2: 2 blocks of 12 (stride 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.layer1 = nn.Sequential(Bottleneck(16, 8), Bottleneck(16, 8))
        self.layer2 = nn.Sequential(Bottleneck(16, 12, stride=2), Bottleneck(24, 12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x)))))


def randomize_bn_(model: nn.Module, seed: int) -> None:
    """Non-trivial BN affine and running statistics (so permutation mistakes show)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = torch.rand(n, generator=g) + 0.5
            m.bias.data = torch.randn(n, generator=g) * 0.1
            m.running_mean = torch.randn(n, generator=g) * 0.1
            m.running_var = torch.rand(n, generator=g) + 0.5


def random_dilations(channels: List[int], d_max: int, seed: int) -> List[List[Tuple[int, int]]]:
    """A random dilation per output channel of each layer (all candidates equally likely)."""
    rng = random.Random(seed)
    cands = candidate_dilations(d_max)
    return [[rng.choice(cands) for _ in range(c)] for c in channels]
