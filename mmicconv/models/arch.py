"""The ResNet stage table: one place for block counts, IC conv names, widths and counts.

Every tool and error message that needs a ResNet's layout reads it here
(``ARCHS[101].ic_conv_count == 33``; ``describe_entry_count(33)`` says
"33 entries = ResNet-101"). Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

__all__ = ['ResNetArch', 'ARCHS', 'archs_for_entries', 'describe_entry_count']


@dataclass(frozen=True)
class ResNetArch:
    """One ResNet depth.

    Attributes:
        depth: 18, 34, 50, 101 or 152.
        block: ``'basic'`` (two 3x3 convs per block, ``conv1`` and ``conv2``, both IC)
            or ``'bottleneck'`` (one 3x3 conv per block, ``conv2``).
        stage_blocks: blocks per stage (``layer1`` .. ``layer4``).
    """

    depth: int
    block: str
    stage_blocks: Tuple[int, int, int, int]

    @property
    def convs_per_block(self) -> int:
        return 2 if self.block == 'basic' else 1

    @property
    def ic_conv_count(self) -> int:
        """Number of IC convs, i.e. of entries of a whole-backbone pattern."""
        return sum(self.stage_blocks) * self.convs_per_block

    def ic_conv_names(self, prefix: str = '') -> List[str]:
        """Qualified names of the IC convs in network order (``layer1.0.conv2``, ...)."""
        convs = ('conv1', 'conv2') if self.block == 'basic' else ('conv2',)
        return [f'{prefix}layer{stage + 1}.{index}.{conv}'
                for stage, blocks in enumerate(self.stage_blocks)
                for index in range(blocks) for conv in convs]

    def ic_conv_stages(self) -> List[int]:
        """The stage (0-3) of each IC conv, in network order."""
        return [stage for stage, blocks in enumerate(self.stage_blocks)
                for _ in range(blocks * self.convs_per_block)]

    def ic_conv_channels(self, groups: int = 1, base_width: int = 64) -> List[int]:
        """Output channels of each IC conv: ``64 * 2**stage`` for ResNet; for ResNeXt
        (``groups`` > 1) ``groups * base_width * 2**stage``."""
        first = 64 if groups == 1 else groups * base_width
        return [first * 2 ** stage for stage in self.ic_conv_stages()]


ARCHS: Dict[int, ResNetArch] = {
    18: ResNetArch(18, 'basic', (2, 2, 2, 2)),
    34: ResNetArch(34, 'basic', (3, 4, 6, 3)),
    50: ResNetArch(50, 'bottleneck', (3, 4, 6, 3)),
    101: ResNetArch(101, 'bottleneck', (3, 4, 23, 3)),
    152: ResNetArch(152, 'bottleneck', (3, 8, 36, 3)),
}


def archs_for_entries(count: int, block: str = '') -> List[ResNetArch]:
    """The depths whose whole-backbone pattern has ``count`` entries (``block`` filters)."""
    return [a for a in ARCHS.values() if a.ic_conv_count == count and (not block or a.block == block)]


def describe_entry_count(count: int) -> str:
    """``'33 entries = ResNet-101'``, ``'16 entries = ResNet-50 or ResNet-18'``, or
    ``'20 entries = no ResNet (16 = ResNet-50/18, 32 = ResNet-34, 33 = ResNet-101, 50 = ResNet-152)'``."""
    archs = archs_for_entries(count)
    if archs:
        names = ' or '.join(f'ResNet-{a.depth}' for a in sorted(archs, key=lambda a: -a.depth))
        return f'{count} entries = {names}'
    by_count: Dict[int, List[int]] = {}
    for arch in ARCHS.values():
        by_count.setdefault(arch.ic_conv_count, []).append(arch.depth)
    known = ', '.join(f'{n} = ResNet-{"/".join(str(d) for d in sorted(ds, reverse=True))}'
                      for n, ds in sorted(by_count.items()))
    return f'{count} entries = no ResNet ({known})'
