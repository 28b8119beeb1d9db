"""tools/convert_checkpoint.py on checkpoints built from the documented published layout."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
import torch
from conftest import REPO, build_model, reference_file
from tool_helpers import published_layout

import mmicconv  # noqa: F401
from mmicconv.checkpoint.record import PatternMismatchError
from mmicconv.pattern import Pattern

TOOL = REPO / 'tools' / 'convert_checkpoint.py'


def ic_r50(pattern, **kwargs):
    return build_model('mmdet', dict(type='ICResNet', depth=50, out_indices=(0, 1, 2, 3),
                                     pattern=pattern, **kwargs)).eval()


def run_tool(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize('layout', ['imagenet', 'pose'])
def test_published_checkpoint_converts_and_gives_identical_outputs(layout, tmp_path):
    path = reference_file('detection/ic_resnet50_k9.json')
    pattern = Pattern.load(path)
    torch.manual_seed(0)
    source = ic_r50(pattern)
    if layout == 'imagenet':
        state = published_layout(source, pattern, prefix='module.')
        state['module.fc.weight'] = torch.randn(1000, 2048)
        blob = {'state_dict': state, 'epoch': 100}
    else:
        state = published_layout(source, pattern, prefix='backbone.')
        state['keypoint_head.final_layer.weight'] = torch.randn(34, 32, 1, 1)
        blob = {'state_dict': state, 'meta': {'epoch': 300}}
    src = tmp_path / 'ckpt.pth.tar'
    torch.save(blob, src)
    dst = tmp_path / 'out' / 'converted.pth'
    proc = run_tool(src, dst, '--pattern', path)
    assert proc.returncode == 0, proc.stderr
    assert 'no missing keys' in proc.stdout and 'merged the conv_list pieces of 16' in proc.stdout
    converted = torch.load(dst, weights_only=True)['state_dict']
    assert not any('conv_list' in k or k.startswith(('module.', 'backbone.', 'fc.')) for k in converted)

    target = ic_r50(pattern)
    result = target.load_state_dict(converted, strict=True)
    assert not result.missing_keys
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(source(x), target(x)):
            assert torch.equal(a, b)

    # the converted checkpoint carries the pattern record: content and sha256 of the file's entries
    record = torch.load(dst, weights_only=True)['meta']['ic_pattern']
    entries = json.loads(path.read_text())
    [recorded] = record['patterns']
    assert recorded['pattern'] == entries
    canonical = json.dumps(entries, separators=(',', ':')).encode()
    assert recorded['sha256'] == hashlib.sha256(canonical).hexdigest()
    assert len(record['layers']) == 16 and next(iter(record['layers'])) == 'layer1.0.conv2'


def test_converted_checkpoint_refuses_a_backbone_with_another_pattern(tmp_path):
    """init_cfg=Pretrained with a converted detection-pattern checkpoint into a pose-pattern model."""
    det_path = reference_file('detection/ic_resnet50_k9.json')
    pose_path = reference_file('human_pose/ic_resnet50_k13.json')
    det = Pattern.load(det_path)
    torch.manual_seed(0)
    src = tmp_path / 'det.pth.tar'
    torch.save({'state_dict': published_layout(ic_r50(det), det)}, src)
    dst = tmp_path / 'converted.pth'
    assert run_tool(src, dst, '--pattern', det_path).returncode == 0
    # first entry whose non-zero counts differ, in network order (Bottleneck conv2 of 3-4-6-3 blocks)
    names = [f'layer{s + 1}.{b}.conv2' for s, n in enumerate((3, 4, 6, 3)) for b in range(n)]
    nonzero = [[{k: v for k, v in e.items() if v} for e in json.loads(p.read_text())]
               for p in (det_path, pose_path)]
    first = next(i for i, (a, b) in enumerate(zip(*nonzero)) if a != b)
    model = ic_r50(pose_path, init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    with pytest.raises(PatternMismatchError, match=rf'first difference at {names[first]}: checkpoint dil'):
        model.init_weights()
    ic_r50(det_path, init_cfg=dict(type='Pretrained', checkpoint=str(dst))).init_weights()  # same: loads


def test_checkpoint_not_fitting_pattern_is_refused(tmp_path):
    det = Pattern.load(reference_file('detection/ic_resnet50_k9.json'))
    pose_path = reference_file('human_pose/ic_resnet50_k13.json')
    torch.manual_seed(0)
    src = tmp_path / 'det.pth.tar'
    torch.save({'state_dict': published_layout(ic_r50(det), det)}, src)
    proc = run_tool(src, tmp_path / 'x.pth', '--pattern', pose_path)
    assert proc.returncode == 1
    assert 'layer1.0.conv2 (pattern entry 0)' in proc.stderr and 'right pattern file' in proc.stderr
    assert not (tmp_path / 'x.pth').exists()


def test_missing_keys_are_reported_by_name(tmp_path):
    pattern = Pattern.load(reference_file('detection/ic_resnet50_k9.json'))
    state = published_layout(ic_r50(pattern), pattern)
    del state['layer4.2.bn3.weight']
    src = tmp_path / 'partial.pth'
    torch.save(state, src)
    proc = run_tool(src, tmp_path / 'y.pth', '--pattern', pattern.source)
    assert proc.returncode == 1 and 'missing keys: layer4.2.bn3.weight' in proc.stderr


def test_code_running_checkpoint_is_refused(tmp_path):
    import os
    marker = tmp_path / 'ran'

    class Evil:
        def __reduce__(self):
            return (os.system, (f'touch {marker}',))

    src = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'x': Evil()}}, src)
    pattern = reference_file('detection/ic_resnet50_k9.json')
    proc = run_tool(src, tmp_path / 'z.pth', '--pattern', pattern)
    assert proc.returncode != 0 and not marker.exists()
