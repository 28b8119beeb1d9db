"""tools/fetch_pattern_zoo.py: verification, copying, URLs, errors."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REFERENCE_ZOO, REPO

TOOL = REPO / 'tools' / 'fetch_pattern_zoo.py'
MANIFEST = REPO / 'pattern_zoo' / 'manifest.json'


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, check=False)


def make_manifest(tmp_path: Path, content: bytes, sha: str) -> Path:
    manifest = json.loads(MANIFEST.read_text())
    manifest['files'] = [{'name': 'detection/x.json', 'sha256': sha,
                          'upstream_path': 'pattern_zoo/detection/x.json'}]
    path = tmp_path / 'manifest.json'
    path.write_text(json.dumps(manifest))
    src = tmp_path / 'src' / 'detection'
    src.mkdir(parents=True)
    (src / 'x.json').write_bytes(content)
    return path


def test_manifest_lists_the_seven_published_files():
    manifest = json.loads(MANIFEST.read_text())
    names = [f['name'] for f in manifest['files']]
    assert len(names) == len(set(names)) == 7
    assert all(len(f['sha256']) == 64 and int(f['sha256'], 16) >= 0 for f in manifest['files'])
    assert {'detection/ic_resnet50_k9.json', 'segmentation/ic_resnet101_k9.json',
            'human_pose/ic_resnet50_k13.json', 'ic_resnext101_32x4d_k9.json'} <= set(names)


def test_manifest_matches_reference_checksums():
    sums = REFERENCE_ZOO.parent / 'SHA256SUMS'
    if not sums.is_file():
        pytest.skip(f'{sums} is absent (../shared/reference not beside the checkout)')
    expected = {line.split()[1].removeprefix('./'): line.split()[0] for line in sums.read_text().splitlines()}
    manifest = {f['name']: f['sha256'] for f in json.loads(MANIFEST.read_text())['files']}
    assert manifest == expected


def test_wrong_sha256_is_rejected_and_nothing_written(tmp_path):
    good = b'[{"(0, 0)": 64}]'
    manifest = make_manifest(tmp_path, b'[{"(0, 0)": 63, "(1, 1)": 1}]', hashlib.sha256(good).hexdigest())
    dest = tmp_path / 'zoo'
    proc = run_tool('--manifest', str(manifest), '--source', str(tmp_path / 'src'), '--dest', str(dest))
    assert proc.returncode == 1
    assert 'detection/x.json: sha256 mismatch' in proc.stderr
    assert hashlib.sha256(good).hexdigest() in proc.stderr       # expected hash named
    assert not (dest / 'detection' / 'x.json').exists()
    assert not list(dest.rglob('*')) or all(p.is_dir() for p in dest.rglob('*'))  # no temp file left


def test_matching_file_is_copied_then_up_to_date(tmp_path):
    content = b'[{"(0, 0)": 64}]'
    manifest = make_manifest(tmp_path, content, hashlib.sha256(content).hexdigest())
    dest = tmp_path / 'zoo'
    args = ('--manifest', str(manifest), '--source', str(tmp_path / 'src'), '--dest', str(dest))
    first = run_tool(*args)
    assert first.returncode == 0, first.stderr
    assert (dest / 'detection' / 'x.json').read_bytes() == content
    assert 'sha256 verified' in first.stdout
    second = run_tool(*args)
    assert second.returncode == 0 and 'up to date' in second.stdout


def test_missing_source_file_and_unknown_name(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    proc = run_tool('--source', str(empty), '--dest', str(tmp_path / 'zoo'),
                    '--only', 'detection/ic_resnet50_k9.json')
    assert proc.returncode == 1 and 'not found in' in proc.stderr
    proc = run_tool('--source', str(empty), '--dest', str(tmp_path / 'zoo'), '--only', 'nope.json')
    assert proc.returncode == 2 and 'not in the manifest' in proc.stderr


def load_manifest_class():
    sys.path.insert(0, str(REPO / 'tools'))
    try:
        from fetch_pattern_zoo import Manifest
    finally:
        sys.path.pop(0)
    return Manifest


def test_every_file_is_pinned_to_a_commit():
    """Branches move (upstream ``main`` is an empty initial commit): each file names a commit."""
    manifest = json.loads(MANIFEST.read_text())
    for entry in manifest['files']:
        ref = entry.get('upstream_ref', manifest['ref'])
        assert len(ref) == 40 and int(ref, 16) >= 0, (entry['name'], ref)
    published = [f for f in manifest['files'] if not f['name'].startswith('ic_resnext')]
    assert {f['upstream_ref'] for f in published} == {'0a92284559f6ddfc9d0e6ad94bcfed3e982d875f'}


def test_download_urls():
    manifest = load_manifest_class().load(MANIFEST)
    by_name = {e.name: e for e in manifest.files}
    det = by_name['detection/ic_resnet50_k9.json']
    assert manifest.url(det) == ('https://raw.githubusercontent.com/yifan123/IC-Conv/'
                                 '0a92284559f6ddfc9d0e6ad94bcfed3e982d875f/'
                                 'pattern_zoo/detection/ic_resnet50_k9.json')
    assert '/v2/pattern_zoo/' in manifest.url(det, ref='v2')     # --ref overrides the pin
    resnext = by_name['ic_resnext101_32x4d_k9.json']          # only in the first upstream commit
    assert manifest.url(resnext).endswith('/acd22f8bb4e5b76a56dabc7e72b888b5b2be67d3/'
                                          'pattern_zoo/ic_resnext_32x4d_k9.json')
    assert (manifest.url(det, base_url='file:///m/IC-Conv/')
            == 'file:///m/IC-Conv/pattern_zoo/detection/ic_resnet50_k9.json')


def make_repository_tree(tmp_path: Path, files: dict) -> str:
    """A folder laid out like the upstream repository; returns its file:// URL."""
    root = tmp_path / 'IC-Conv'
    for upstream_path, content in files.items():
        (root / upstream_path).parent.mkdir(parents=True, exist_ok=True)
        (root / upstream_path).write_bytes(content)
    return root.as_uri()


def test_download_path_offline_good_wrong_and_missing(tmp_path):
    """The real download code (urllib) over file:// URLs: one good file, one whose bytes
    differ from the manifest's hash, one absent from the tree."""
    good, altered = b'[{"(0, 0)": 64}]', b'[{"(1, 1)": 64}]'
    manifest = json.loads(MANIFEST.read_text())
    manifest['files'] = [
        {'name': 'detection/good.json', 'sha256': hashlib.sha256(good).hexdigest(),
         'upstream_path': 'pattern_zoo/detection/good.json'},
        {'name': 'detection/altered.json', 'sha256': hashlib.sha256(good).hexdigest(),
         'upstream_path': 'pattern_zoo/detection/altered.json'},
        {'name': 'detection/absent.json', 'sha256': hashlib.sha256(good).hexdigest(),
         'upstream_path': 'pattern_zoo/detection/absent.json'},
    ]
    manifest_path = tmp_path / 'manifest.json'
    manifest_path.write_text(json.dumps(manifest))
    base = make_repository_tree(tmp_path, {'pattern_zoo/detection/good.json': good,
                                           'pattern_zoo/detection/altered.json': altered})
    dest = tmp_path / 'zoo'
    proc = run_tool('--manifest', str(manifest_path), '--base-url', base, '--dest', str(dest))
    assert proc.returncode == 1
    assert (dest / 'detection' / 'good.json').read_bytes() == good
    assert 'detection/altered.json: sha256 mismatch' in proc.stderr
    assert hashlib.sha256(altered).hexdigest() in proc.stderr
    assert 'detection/absent.json: download of file://' in proc.stderr
    assert sorted(p.name for p in (dest / 'detection').iterdir()) == ['good.json']
    assert 'ERROR: 2 file(s) failed: detection/altered.json, detection/absent.json' in proc.stderr


def test_download_path_offline_published_files(tmp_path):
    """The six ResNet files, served from a tree laid out like the upstream repository's
    ``master``, pass the manifest's pinned hashes through the download code."""
    if not REFERENCE_ZOO.is_dir():
        pytest.skip(f'{REFERENCE_ZOO} is absent (../shared/reference not beside the checkout)')
    manifest = load_manifest_class().load(MANIFEST)
    files = {e.upstream_path: (REFERENCE_ZOO / e.name).read_bytes()
             for e in manifest.files if not e.name.startswith('ic_resnext')}
    base = make_repository_tree(tmp_path, files)
    names = [e.name for e in manifest.files if not e.name.startswith('ic_resnext')]
    proc = run_tool('--base-url', base, '--dest', str(tmp_path / 'zoo'), '--only', *names)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count('sha256 verified') == 6


def test_fetch_reference_zoo(tmp_path):
    if not REFERENCE_ZOO.is_dir():
        pytest.skip(f'{REFERENCE_ZOO} is absent (../shared/reference not beside the checkout)')
    proc = run_tool('--source', str(REFERENCE_ZOO), '--dest', str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert len(list(tmp_path.rglob('*.json'))) == 7
    assert proc.stdout.count('sha256 verified') == 7
