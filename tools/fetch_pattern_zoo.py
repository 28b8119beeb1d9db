#!/usr/bin/env python
"""Fetch the IC-Conv paper's published dilation patterns into ``pattern_zoo/``.

The files are listed, with their sha256, in ``pattern_zoo/manifest.json``.
Each is downloaded from the paper's public repository (raw files of
``yifan123/IC-Conv``, folder ``pattern_zoo/``) or, with ``--source DIR``,
copied from a local folder laid out like the published ``pattern_zoo/``;
every file is verified against the manifest before it is written, so a
corrupt or altered file never lands in the zoo.

Examples::

    python tools/fetch_pattern_zoo.py                       # download all 7 (pinned commits)
    python tools/fetch_pattern_zoo.py --source ../shared/reference/official_pattern_zoo
    python tools/fetch_pattern_zoo.py --only detection/ic_resnet50_k9.json --dest /tmp/zoo
    python tools/fetch_pattern_zoo.py --base-url file:///path/to/IC-Conv   # a local clone
    python tools/fetch_pattern_zoo.py --ref <commit>        # every file from another commit

Every file is pinned in the manifest to an immutable upstream commit
(``upstream_ref``): the upstream ``main`` branch is an empty initial commit and
the patterns live on ``master`` (last commit ``0a92284``); the ResNeXt file only
exists in the first commit ``acd22f8``.

Exit status: 0 when every requested file is in place and verified, 1 when a
file is missing, unreachable or fails its sha256 check (nothing is written
for that file; a message names it, the expected and the actual hash), 2 for
bad arguments. A failure ends with one ``ERROR: <problem>`` line on stderr
(the per-file problems are logged above it); an unreadable manifest is one
``ERROR: <manifest>: <problem>`` line; ``--debug`` shows a traceback instead.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from mmicconv.utils.cli import add_debug_arg, require_file, run_cli

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MANIFEST = REPO / 'pattern_zoo' / 'manifest.json'


class FetchError(RuntimeError):
    """A file could not be obtained or failed verification."""


@dataclass(frozen=True)
class ManifestEntry:
    """One published pattern file."""

    name: str                      # path relative to pattern_zoo/, e.g. detection/ic_resnet50_k9.json
    sha256: str
    upstream_path: str             # path inside the upstream repository
    upstream_ref: Optional[str] = None  # the immutable upstream commit the file is pinned to


@dataclass(frozen=True)
class Manifest:
    repository: str
    ref: str
    url_template: str
    files: List[ManifestEntry]

    @classmethod
    def load(cls, path: Path) -> Manifest:
        data = json.loads(path.read_text())
        files = [ManifestEntry(f['name'], f['sha256'].lower(),
                               f.get('upstream_path', f'pattern_zoo/{f["name"]}'), f.get('upstream_ref'))
                 for f in data['files']]
        return cls(data['repository'], data['ref'], data['url_template'], files)

    def url(self, entry: ManifestEntry, ref: Optional[str] = None, base_url: Optional[str] = None) -> str:
        """Download URL of ``entry``.

        By default the file's pinned commit (``upstream_ref``, else the manifest's ``ref``);
        ``ref`` overrides the pin. ``base_url`` is the root of a tree laid out like the
        upstream repository (a mirror, or ``file:///path/to/IC-Conv`` for an offline copy):
        the file is read from ``base_url/upstream_path``.
        """
        if base_url:
            return f'{base_url.rstrip("/")}/{entry.upstream_path}'
        return self.url_template.format(repository=self.repository,
                                        ref=ref or entry.upstream_ref or self.ref, path=entry.upstream_path)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_source(entry: ManifestEntry, source: Optional[Path], url: str, timeout: float) -> bytes:
    """The file's bytes from ``source`` (a folder) or from ``url``."""
    if source is not None:
        path = source / entry.name
        if not path.is_file():
            raise FetchError(f'{entry.name}: not found in {source}')
        return path.read_bytes()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (https, or file:// for a local copy)
            return response.read()
    except (urllib.error.URLError, OSError) as err:
        raise FetchError(f'{entry.name}: download of {url} failed: {err}') from err


def verify(entry: ManifestEntry, data: bytes, origin: str) -> None:
    actual = sha256_of(data)
    if actual != entry.sha256:
        raise FetchError(f'{entry.name}: sha256 mismatch for {origin}\n'
                         f'  expected {entry.sha256}\n  actual   {actual}\n'
                         'the file differs from the published one; it was not written')


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fetch(manifest: Manifest, dest: Path, source: Optional[Path] = None, only: Sequence[str] = (),
          ref: Optional[str] = None, base_url: Optional[str] = None, force: bool = False,
          timeout: float = 30.0, log=print) -> List[str]:
    """Fetch (or copy) and verify the manifest's files into ``dest``.

    Returns the names of files that failed (their errors were logged).
    """
    entries = manifest.files
    if only:
        unknown = sorted(set(only) - {e.name for e in entries})
        if unknown:
            raise FetchError(f'not in the manifest: {", ".join(unknown)} '
                             f'(known: {", ".join(e.name for e in entries)})')
        entries = [e for e in entries if e.name in set(only)]
    failed = []
    for i, entry in enumerate(entries, 1):
        target = dest / entry.name
        prefix = f'[{i}/{len(entries)}] {entry.name}'
        if not force and target.is_file() and sha256_of(target.read_bytes()) == entry.sha256:
            log(f'{prefix}: up to date')
            continue
        origin = str(source / entry.name) if source is not None else manifest.url(entry, ref, base_url)
        log(f'{prefix}: {"copying" if source is not None else "downloading"} {origin}')
        try:
            data = read_source(entry, source, origin, timeout)
            verify(entry, data, origin)
        except FetchError as err:
            print(f'[{i}/{len(entries)}] {err}', file=sys.stderr, flush=True)
            failed.append(entry.name)
            continue
        write_atomically(target, data)
        log(f'{prefix}: ok ({len(data)} bytes, sha256 verified) -> {target}')
    return failed


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Fetch and verify the published IC-Conv pattern files.')
    parser.add_argument('--dest', default=str(REPO / 'pattern_zoo'),
                        help='output folder (default: the repository\'s pattern_zoo/)')
    parser.add_argument('--source', help='copy from this local folder instead of downloading')
    parser.add_argument('--manifest', default=str(DEFAULT_MANIFEST),
                        help='manifest with names and sha256 (default: pattern_zoo/manifest.json)')
    parser.add_argument('--only', nargs='+', default=(), metavar='NAME',
                        help='fetch only these files (names as in the manifest)')
    parser.add_argument('--ref', help='download every file from this upstream branch, tag or commit '
                                      'instead of the commit it is pinned to in the manifest')
    parser.add_argument('--base-url', help='root of a tree laid out like the upstream repository '
                                           '(https://mirror/IC-Conv or file:///path/to/IC-Conv); each '
                                           'file is read from BASE_URL/<upstream_path>')
    parser.add_argument('--force', action='store_true', help='re-fetch files that are already verified')
    parser.add_argument('--timeout', type=float, default=30.0, help='download timeout in seconds')
    add_debug_arg(parser)
    return parser.parse_args(argv)


def _error(message: str, status: int) -> int:
    """Print the one ``ERROR:`` line of a failure the tool saw coming; return ``status``."""
    print(f'ERROR: {message}', file=sys.stderr, flush=True)
    return status


def run(args: argparse.Namespace) -> int:
    """Fetch and verify; 0 all in place, 1 some file failed, 2 bad arguments."""
    source = Path(args.source) if args.source else None
    if source is not None and not source.is_dir():
        return _error(f'{source}: --source is not a folder', 2)
    require_file(args.manifest, 'manifest')
    manifest = Manifest.load(Path(args.manifest))
    try:
        failed = fetch(manifest, Path(args.dest), source, args.only, args.ref, args.base_url,
                       args.force, args.timeout)
    except FetchError as err:  # --only names a file the manifest lacks
        return _error(str(err), 2)
    if failed:
        return _error(f'{len(failed)} file(s) failed: {", ".join(failed)}', 1)
    print(f'pattern zoo ready in {args.dest}')
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: run(args), args.debug, files=[args.manifest])


if __name__ == '__main__':
    sys.exit(main())
