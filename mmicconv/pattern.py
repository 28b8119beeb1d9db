"""The IC-Conv dilation pattern: parse, validate and write the published format.

A pattern file (as published with the IC-Conv paper) is a JSON list with one
entry per IC convolution, in network order. Each entry maps a key ``"(a, b)"``
to a channel count; the dilation is ``(a + 1, b + 1)`` as (height, width).
Output channels are laid out in the key order of the entry, zero counts
skipped. See the README's "Pattern format" section.

This module uses only the standard library and holds no global state (importing
it still runs the package `__init__`, which registers the IC modules and so
imports torch, mmengine and the installed frameworks): a
:class:`Pattern` is an immutable value that is validated once, when built.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence, Tuple, Union

__all__ = ['DilationGroup', 'ConvPattern', 'Pattern', 'PatternError', 'PatternSource']

_KEY_RE = re.compile(r'^\(\s*(\d+)\s*,\s*(\d+)\s*\)$')


class PatternError(ValueError):
    """A pattern file or list does not fit the format or the network."""


@dataclass(frozen=True)
class DilationGroup:
    """Consecutive output channels that share one dilation.

    Attributes:
        dilation_h: Dilation along the height axis (>= 1).
        dilation_w: Dilation along the width axis (>= 1).
        channels: How many pattern units use it (> 0). A unit is one output
            channel, or one cardinality group of a grouped (ResNeXt) conv.
    """

    dilation_h: int
    dilation_w: int
    channels: int

    @property
    def dilation(self) -> Tuple[int, int]:
        """``(dilation_h, dilation_w)``."""
        return (self.dilation_h, self.dilation_w)


@dataclass(frozen=True)
class ConvPattern:
    """The pattern of one IC convolution.

    Attributes:
        groups: The non-zero dilation groups, in output-channel order.
        keys: Every ``(dilation_h, dilation_w)`` of the source entry in its
            order, zero counts included, so the entry writes back unchanged.
        zero_keys: The keys whose count was zero.
    """

    groups: Tuple[DilationGroup, ...]
    keys: Tuple[Tuple[int, int], ...] = ()
    zero_keys: Tuple[Tuple[int, int], ...] = ()

    @property
    def total(self) -> int:
        """Sum of the channel counts (output channels, or cardinality groups)."""
        return sum(g.channels for g in self.groups)

    @property
    def max_dilation(self) -> Tuple[int, int]:
        """The largest dilation along (height, width)."""
        return (max(g.dilation_h for g in self.groups), max(g.dilation_w for g in self.groups))

    @classmethod
    def uniform(cls, channels: int, dilation: Tuple[int, int] = (1, 1)) -> ConvPattern:
        """A pattern where every channel uses the same dilation."""
        return cls(groups=(DilationGroup(dilation[0], dilation[1], channels),), keys=(dilation,))

    def scaled(self, factor: Tuple[int, int]) -> ConvPattern:
        """This pattern inside a dilated stage: every dilation times ``factor`` (height, width).

        A ResNet stage dilated by ``d`` (MMSegmentation's ``dilations=(1, 1, 2, 4)``) gives its
        3x3 convs dilation ``d``; an IC pattern there means channel dilation ``d * (dh, dw)``,
        each channel zero-padded by its own dilation ("same" conv).
        """
        fh, fw = int(factor[0]), int(factor[1])
        if fh < 1 or fw < 1:
            raise PatternError(f'a dilation factor must be >= 1, got {factor}')
        return ConvPattern(groups=tuple(DilationGroup(g.dilation_h * fh, g.dilation_w * fw, g.channels)
                                        for g in self.groups),
                           keys=tuple((h * fh, w * fw) for h, w in self.keys),
                           zero_keys=tuple((h * fh, w * fw) for h, w in self.zero_keys))

    def channel_dilations(self, unit: int = 1) -> list[Tuple[int, int]]:
        """The dilation of every output channel, ``unit`` channels per count."""
        out: list[Tuple[int, int]] = []
        for g in self.groups:
            out.extend([g.dilation] * (g.channels * unit))
        return out

    def to_entry(self) -> dict[str, int]:
        """This conv's entry in the published JSON format."""
        counts = {g.dilation: g.channels for g in self.groups}
        keys = self.keys or tuple(counts)
        return {f'({dh - 1}, {dw - 1})': counts.get((dh, dw), 0) for dh, dw in keys}


PatternSource = Union[str, Path, Sequence[Mapping[str, int]], 'Pattern']


@dataclass(frozen=True)
class Pattern:
    """A validated IC-Conv pattern: one :class:`ConvPattern` per IC conv.

    Build it with :meth:`load` (a path, a JSON list, or a Pattern), then check
    it against a network with :meth:`check_fits`.

    Attributes:
        convs: One entry per IC convolution, in network order.
        source: Where it came from (a file path, or ``'<in-memory>'``), used
            in error messages.
    """

    convs: Tuple[ConvPattern, ...]
    source: str = '<in-memory>'

    def __len__(self) -> int:
        return len(self.convs)

    def __getitem__(self, index: int) -> ConvPattern:
        return self.convs[index]

    def __iter__(self):
        return iter(self.convs)

    # ------------------------------------------------------------------ parse
    @classmethod
    def load(cls, source: PatternSource, search_dirs: Iterable[Union[str, Path]] = ()) -> Pattern:
        """Build a pattern from a path, an in-memory list, or a Pattern.

        Args:
            source: A ``Pattern`` (returned as is), a list of entries in the
                published format, or a path. A relative path is looked up in
                the working directory first, then in each of ``search_dirs``.
            search_dirs: Extra folders for relative paths (the backbone
                passes the package's ``pattern_zoo/``).

        Raises:
            PatternError: the file is missing, not JSON, or malformed.
        """
        if isinstance(source, Pattern):
            return source
        if isinstance(source, (str, Path)):
            path = cls.resolve(source, search_dirs)
            try:
                data = json.loads(path.read_text())
            except json.JSONDecodeError as err:
                raise PatternError(f'{path}: not valid JSON ({err})') from err
            return cls.from_list(data, source=str(path))
        return cls.from_list(source)

    @staticmethod
    def resolve(path: Union[str, Path], search_dirs: Iterable[Union[str, Path]] = ()) -> Path:
        """Find a pattern file: as given, then under each search dir."""
        path = Path(path).expanduser()
        candidates = [path] + ([Path(d) / path for d in search_dirs] if not path.is_absolute() else [])
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        tried = ', '.join(str(c) for c in candidates)
        raise PatternError(
            f'pattern file {str(path)!r} not found (tried: {tried}). Published patterns are '
            'fetched with `python tools/fetch_pattern_zoo.py`.')

    @classmethod
    def from_list(cls, data: object, source: str = '<in-memory>') -> Pattern:
        """Parse and validate a list of entries in the published format."""
        if not isinstance(data, (list, tuple)):
            raise PatternError(f'{source}: expected a JSON list of entries, found {type(data).__name__}')
        convs = tuple(_parse_entry(entry, index, source) for index, entry in enumerate(data))
        return cls(convs=convs, source=source)

    # ------------------------------------------------------------------ write
    def to_list(self) -> list[dict[str, int]]:
        """The published JSON structure (a list of dicts)."""
        return [conv.to_entry() for conv in self.convs]

    def dump(self, path: Union[str, Path]) -> None:
        """Write the pattern in the published JSON format."""
        Path(path).write_text(json.dumps(self.to_list(), indent=2) + '\n')

    # --------------------------------------------------------------- validate
    def check_fits(self, layer_names: Sequence[str], out_channels: Sequence[int],
                   groups: Optional[Sequence[int]] = None) -> None:
        """Check the pattern against the convs it will replace.

        Args:
            layer_names: Name of each IC conv in network order
                (e.g. ``'layer3.4.conv2'``), used in error messages.
            out_channels: Output channels of each of those convs.
            groups: Cardinality of each conv (ResNeXt); an entry may then sum
                to the cardinality (one dilation per cardinality group)
                instead of the output channels.

        Raises:
            PatternError: naming the source, entry index, layer, expected and
                found values.
        """
        if len(self.convs) != len(layer_names):
            raise PatternError(
                f'{self.source}: expected {len(layer_names)} entries (one per IC conv: '
                f'{layer_names[0]} ... {layer_names[-1]}), found {len(self.convs)}')
        groups = groups or [1] * len(layer_names)
        for index, (conv, name, channels, cardinality) in enumerate(
                zip(self.convs, layer_names, out_channels, groups)):
            allowed = {channels} | ({cardinality} if cardinality > 1 else set())
            if conv.total not in allowed:
                expected = ' or '.join(str(a) for a in sorted(allowed, reverse=True))
                raise PatternError(
                    f'{self.source}: entry {index} ({name}): channel counts sum to {conv.total}, '
                    f'expected {expected} (the output channels'
                    f'{" or the cardinality" if cardinality > 1 else ""} of {name})')


def _parse_entry(entry: object, index: int, source: str) -> ConvPattern:
    where = f'{source}: entry {index}'
    if not isinstance(entry, Mapping):
        raise PatternError(f'{where}: expected a mapping "(a, b)" -> count, found {type(entry).__name__}')
    groups = []
    keys = []
    zero_keys = []
    for key, count in entry.items():
        match = _KEY_RE.match(str(key))
        if match is None:
            raise PatternError(
                f'{where}: malformed key {key!r}, expected "(a, b)" with non-negative integers a, b')
        dilation = (int(match.group(1)) + 1, int(match.group(2)) + 1)
        if dilation in keys:
            raise PatternError(f'{where}: key {key!r} appears twice (dilation {dilation})')
        if isinstance(count, bool) or not isinstance(count, int):
            raise PatternError(f'{where}: count of {key!r} must be an integer, found {count!r}')
        if count < 0:
            raise PatternError(f'{where}: count of {key!r} must be >= 0, found {count}')
        keys.append(dilation)
        if count == 0:
            zero_keys.append(dilation)
        else:
            groups.append(DilationGroup(dilation[0], dilation[1], count))
    if not groups:
        raise PatternError(f'{where}: expected at least one non-zero count, found none')
    return ConvPattern(groups=tuple(groups), keys=tuple(keys), zero_keys=tuple(zero_keys))
