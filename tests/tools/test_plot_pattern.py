"""tools/plot_pattern.py: the receptive-field arithmetic and the PNG it writes."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO
from PIL import Image

from mmicconv.pattern import Pattern

TOOL = REPO / 'tools' / 'plot_pattern.py'
TOY_PATTERN = REPO / 'pattern_zoo' / 'toy' / 'ic_resnet50_toy.json'


def load_tool():
    spec = importlib.util.spec_from_file_location('plot_pattern', TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault('plot_pattern', module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_receptive_field_of_the_plain_resnets():
    """Plain ResNet-50/101 (stride on the 3x3 conv of the first block of a stage, as in torchvision
    and mmdet): 427 and 971 px, the values published for torchvision's resnet50 / resnet101."""
    tool = load_tool()
    assert tool.receptive_fields([(1, 1)] * 16, 50)[-1] == (427, 427)
    assert tool.receptive_fields([(1, 1)] * 33, 101)[-1] == (971, 971)


def test_receptive_field_grows_with_the_dilation_along_its_axis():
    """Every 3x3 conv adds 2 * dilation * stride-so-far; the stem and pool give 11 px. With
    dilation 2 along the height everywhere, the height's 3x3 share (427 - 11) doubles."""
    tool = load_tool()
    fields = tool.receptive_fields([(2, 1)] * 16, 50)
    assert fields[-1] == (11 + 2 * (427 - 11), 427)
    # layer1.0.conv2 (before any stage stride): 11 + 2 * 2 * 4
    assert fields[0] == (27, 19)


def test_layer_stats_shares_and_dilations():
    tool = load_tool()
    pattern = Pattern.from_list([{'(0, 0)': 6, '(1, 3)': 2}])
    [stat] = tool.layer_stats(pattern, ['layer1.0.conv2'])
    assert stat.shares == {(1, 1): 0.75, (2, 4): 0.25}
    assert stat.max_dilation == (2, 4) and stat.mean_dilation == (1.25, 1.75)


def run_tool(*args):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_png_has_the_asked_size_and_shows_the_pattern(tmp_path):
    """Two patterns that differ in one layer give two non-blank PNGs of the asked size that differ."""
    entries = json.loads(TOY_PATTERN.read_text())
    other = [dict(e) for e in entries]
    other[5] = {'(0, 0)': 0, '(3, 3)': sum(entries[5].values())}
    (tmp_path / 'other.json').write_text(json.dumps(other))
    images = []
    for name, source in (('toy', TOY_PATTERN), ('other', tmp_path / 'other.json')):
        out = tmp_path / f'{name}.png'
        proc = run_tool(source, '--out', out, '--size', 900, 700, '--title', 'same title')
        assert proc.returncode == 0, proc.stderr
        assert f'wrote {out} (900x700 px, 16 IC convs, ResNet-50 layout)' in proc.stdout
        with Image.open(out) as image:
            assert image.format == 'PNG' and image.size == (900, 700)
            pixels = np.asarray(image.convert('RGB'), dtype=np.float64)
        assert pixels.std() > 20, 'blank picture'
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50
        images.append(pixels)
    assert np.abs(images[0] - images[1]).mean() > 0.5


def test_default_size_and_a_checkpoint_record(tmp_path):
    """A checkpoint's pattern record is drawn like its pattern file; the default size is reported."""
    import torch
    pattern = Pattern.load(TOY_PATTERN)
    from mmicconv.checkpoint.record import RECORD_KEY
    record = {'version': 1, 'layers': {}, 'patterns': [{'module': 'backbone', 'source': 'toy',
                                                          'sha256': '', 'pattern': pattern.to_list()}]}
    path = tmp_path / 'ckpt.pth'
    torch.save({'state_dict': {'x': torch.zeros(1)}, 'meta': {RECORD_KEY: record}}, path)
    out = tmp_path / 'from_ckpt.png'
    proc = run_tool(path, '--out', out)
    assert proc.returncode == 0, proc.stderr
    with Image.open(out) as image:
        width, height = image.size
        pixels = np.asarray(image.convert('RGB'), dtype=np.float64)
    assert f'({width}x{height} px, 16 IC convs' in proc.stdout
    assert width >= 640 and height >= 400 and pixels.std() > 20


@pytest.mark.parametrize('depth', [101])
def test_depth_that_does_not_fit_is_refused(tmp_path, depth):
    proc = run_tool(TOY_PATTERN, '--out', tmp_path / 'x.png', '--depth', depth)
    assert proc.returncode == 1
    # the last line (mmengine's import may warn about pkg_resources before it)
    assert proc.stderr.strip().splitlines()[-1] == (f'ERROR: {TOY_PATTERN}: ResNet-101 has 33 IC convs, '
                                                    'the pattern has 16 entries')
    assert 'Traceback' not in proc.stderr
