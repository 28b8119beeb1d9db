"""Bad input to the command-line tools: exit status 1 and ONE line naming the file and the problem.

Every case runs the tool as a user would (a subprocess) and checks that
stderr ends with exactly one ``ERROR:`` line, that it names the offending
file and says what is wrong, and that no traceback is printed; ``--debug``
brings the traceback back. The cases that need a built model use the toy
Faster R-CNN config on a 2-image toy COCO and checkpoints of a few tensors.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import torch
from conftest import REPO
from tool_helpers import run, tool

from mmicconv.models.arch import ARCHS

TOY_FASTER = REPO / 'configs' / 'toy' / 'faster-rcnn_ic-r50_fpn_toy.py'
TOY_PATTERN = REPO / 'pattern_zoo' / 'toy' / 'ic_resnet50_toy.json'


def run_failing(cmd, cwd: Path) -> str:
    """Run a tool expected to fail; return its single ERROR line (asserting the contract)."""
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, f'{cmd} exited {proc.returncode}:\n{output[-3000:]}'
    assert 'Traceback' not in output, output[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith('ERROR')]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert proc.stderr.rstrip().splitlines()[-1] == errors[0]
    return errors[0]


@pytest.fixture(scope='module')
def ws(tmp_path_factory) -> Path:
    """A workspace with a 2+2 image toy COCO and a few bad input files."""
    root = tmp_path_factory.mktemp('cli_errors')
    run(tool('make_toy_coco.py') + ['--out', root / 'data' / 'toy_coco', '--train-images', '2',
                                    '--val-images', '2', '--quiet'], cwd=root)
    (root / 'bad_json.json').write_text('[{"(0, 0)": 64,')
    (root / 'bad_key.json').write_text('[{"(0, x)": 64}]')
    (root / 'bad_syntax.py').write_text("_base_ = 'x.py'\nmodel = dict(type=\n")
    (root / 'bad_type.py').write_text(f"_base_ = '{TOY_FASTER}'\n"
                                      "model = dict(neck=dict(type='NoSuchNeck'))\n")
    (root / 'garbage.pth').write_bytes(b'this is not a checkpoint\n')
    torch.save({'meta': {'epoch': 3}, 'state_dict': {}}, root / 'no_tensors.pth')
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(8, 3, 3, 3)}}, root / 'misfit.pth')
    return root


#: evaluate one image only (a checkpoint that gets past the checks is not evaluated anyway)
ONE_IMAGE = ['--cfg-options', 'test_dataloader.dataset.indices=1']


# ------------------------------------------------------------------ train.py / test.py: before any build
def test_missing_config(ws):
    line = run_failing(tool('train.py') + [ws / 'nope.py'], ws)
    assert line == f'ERROR: {ws / "nope.py"}: config file not found'


def test_config_with_a_syntax_error(ws):
    line = run_failing(tool('train.py') + [ws / 'bad_syntax.py'], ws)
    assert line.startswith(f'ERROR: {ws / "bad_syntax.py"}: cannot read the config:')


@pytest.mark.parametrize('bad, problem', [
    ('missing.json', "pattern file 'missing.json' not found"),
    ('bad_key.json', "malformed key '(0, x)'"),
])
def test_train_with_a_bad_pattern(ws, bad, problem):
    line = run_failing(tool('train.py') + [TOY_FASTER, '--cfg-options', f'model.backbone.pattern={bad}'], ws)
    assert line.startswith(f'ERROR: {TOY_FASTER}: model.backbone.pattern: ')
    assert problem in line and bad in line


def test_train_with_a_missing_load_from(ws):
    line = run_failing(tool('train.py') + [TOY_FASTER, '--cfg-options', 'load_from=gone.pth'], ws)
    assert line == 'ERROR: gone.pth: checkpoint (load_from / --resume) file not found'


def test_test_with_a_missing_checkpoint(ws):
    line = run_failing(tool('test.py') + [TOY_FASTER, ws / 'gone.pth'], ws)
    assert line == f'ERROR: {ws / "gone.pth"}: checkpoint file not found'


def test_debug_shows_the_traceback(ws):
    proc = subprocess.run([str(c) for c in tool('train.py') + [ws / 'nope.py', '--debug']], cwd=ws,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and 'Traceback' in proc.stderr and 'config file not found' in proc.stderr


# ------------------------------------------------------------------ test.py: the model is built
def test_config_naming_an_unknown_type(ws):
    line = run_failing(tool('test.py') + [ws / 'bad_type.py', ws / 'misfit.pth'], ws)
    assert line.startswith(f'ERROR: {ws / "bad_type.py"}: KeyError: ') and 'NoSuchNeck' in line


@pytest.mark.parametrize('checkpoint, problem', [
    ('no_tensors.pth', 'holds no tensors'),
    ('misfit.pth', 'does not fit the model: '),
])
def test_test_with_a_checkpoint_that_does_not_fit(ws, checkpoint, problem):
    line = run_failing(tool('test.py') + [TOY_FASTER, ws / checkpoint] + ONE_IMAGE, ws)
    assert line.startswith(f'ERROR: {ws / checkpoint}') and problem in line
    if checkpoint == 'misfit.pth':
        assert 'shape mismatches (first: backbone.conv1.weight [8, 3, 3, 3] in the checkpoint, ' \
               '[64, 3, 7, 7] in the model)' in line


@pytest.mark.parametrize('tool_name', ['test.py', 'train.py'])
def test_checkpoint_of_another_pattern(ws, tool_name):
    """The checkpoint's record says layer1.0.conv2 used dilation (1, 1) only; the toy pattern mixes four.
    test.py loads it as its CHECKPOINT, train.py as ``load_from`` (refused before the first iteration)."""
    import json
    entries = json.loads(TOY_PATTERN.read_text())
    other = [dict(e) for e in entries]
    other[0] = {'(0, 0)': sum(entries[0].values())}
    layers = {}
    for name, entry in zip(ARCHS[50].ic_conv_names('backbone.'), other):
        layers[name] = [[int(k.strip('()').split(',')[0]) + 1, int(k.strip('()').split(',')[1]) + 1, n]
                        for k, n in entry.items() if n]
    path = ws / 'other_pattern.pth'
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(64, 3, 7, 7)},
                'meta': {'ic_pattern': {'version': 1, 'layers': layers, 'patterns': []}}}, path)
    if tool_name == 'test.py':
        line = run_failing(tool('test.py') + [TOY_FASTER, path] + ONE_IMAGE, ws)
    else:
        line = run_failing(tool('train.py') + [TOY_FASTER, '--work-dir', ws / 'train_other', '--cfg-options',
                                               f'load_from={path}', 'train_dataloader.dataset.indices=2'], ws)
    assert line.startswith(f'ERROR: {path} was trained with another IC pattern than the model: '
                           'first difference at backbone.layer1.0.conv2: checkpoint dilations (1,1)x64, '
                           'model dilations (1,1)x32 (1,2)x8 (2,1)x8 (2,2)x16'), line


# ------------------------------------------------------------------ convert_checkpoint.py
@pytest.mark.parametrize('src, pattern, expected', [
    ('gone.pth', TOY_PATTERN, '{src}: checkpoint file not found'),
    ('no_tensors.pth', TOY_PATTERN, '{src}: found no tensors'),
    ('garbage.pth', TOY_PATTERN, '{src}: not a PyTorch checkpoint'),
    ('misfit.pth', 'bad_json.json', '{pattern}: not valid JSON'),
])
def test_convert_checkpoint_errors(ws, src, pattern, expected):
    line = run_failing(tool('convert_checkpoint.py') + [ws / src, ws / 'out.pth', '--pattern', pattern], ws)
    assert expected.format(src=ws / src, pattern=pattern) in line, line
    assert not (ws / 'out.pth').exists()


def test_convert_checkpoint_that_does_not_fit(ws):
    line = run_failing(tool('convert_checkpoint.py') + [ws / 'misfit.pth', ws / 'out.pth', '--pattern',
                                                         TOY_PATTERN], ws)
    assert line.startswith(f'ERROR: {ws / "misfit.pth"} does not fit IC-ResNet-50') and 'conv1.weight' in line


# ------------------------------------------------------------------ plot_pattern.py
@pytest.mark.parametrize('pattern, expected', [
    ('bad_key.json', "bad_key.json: entry 0: malformed key '(0, x)'"),
    ('no_tensors.pth', 'no_tensors.pth: the checkpoint carries no IC pattern record'),
])
def test_plot_pattern_errors(ws, pattern, expected):
    line = run_failing(tool('plot_pattern.py') + [pattern, '--out', ws / 'x.png'], ws)
    assert expected in line, line
    assert not (ws / 'x.png').exists()


# ------------------------------------------------------------------ the generators and the zoo fetcher
@pytest.mark.parametrize('tool_name, out_arg', [
    ('make_toy_pattern.py', 'x.json'),
    ('make_toy_coco.py', 'toy_coco'),
])
def test_generator_with_an_unwritable_output(ws, tool_name, out_arg):
    """``--out`` below a file: the folder cannot be made; the line names the path and the OS error."""
    out = ws / 'bad_json.json' / out_arg
    line = run_failing(tool(tool_name) + ['--out', out], ws)
    assert str(ws / 'bad_json.json') in line and ('Not a directory' in line or 'File exists' in line), line


@pytest.mark.parametrize('tool_name', ['make_toy_segmentation.py', 'make_toy_classification.py'])
def test_toy_derivers_without_the_toy_coco(ws, tool_name):
    line = run_failing(tool(tool_name) + ['--coco', ws / 'no_coco', '--out', ws / 'derived'], ws)
    assert line == (f'ERROR: {ws / "no_coco" / "annotations" / "instances_train.json"}: not found (write the '
                    f'toy COCO first: python tools/make_toy_coco.py --out {ws / "no_coco"})'), line


def test_fetch_pattern_zoo_with_a_missing_manifest(ws):
    line = run_failing(tool('fetch_pattern_zoo.py') + ['--manifest', ws / 'gone.json', '--dest', ws / 'zoo'],
                       ws)
    assert line == f'ERROR: {ws / "gone.json"}: manifest file not found'


# ------------------------------------------------------------------ deploy.py
MASK_TOY = REPO / 'configs' / 'toy' / 'mask-rcnn_ic-r50_fpn_toy.py'
POSE_TOY = REPO / 'configs' / 'toy' / 'ae_ic-r50_toy-coco-128x128.py'


@pytest.mark.parametrize('config,checkpoint,expected', [
    (TOY_FASTER, 'missing.pth', r'^ERROR: missing\.pth: checkpoint file not found$'),
    (MASK_TOY, 'misfit.pth', r'^ERROR: .*mask-rcnn_ic-r50_fpn_toy\.py: has a mask head; '
                             r'tools/deploy\.py deploys box detectors \(ObjectDetection\) only'),
    (POSE_TOY, 'misfit.pth', r'^ERROR: .*ae_ic-r50_toy-coco-128x128\.py: not an mmdet detector config'),
])
def test_deploy_errors(ws, config, checkpoint, expected):
    line = run_failing(tool('deploy.py') + [config, checkpoint, '--work-dir', ws / 'deploy'], cwd=ws)
    assert re.match(expected, line), line


def test_deploy_without_mmdeploy_is_an_install_hint(ws):
    """An mmdeploy that does not import (shadowed by a package raising ImportError) gives the
    install command, not a traceback."""
    blocked = ws / 'blocked_mmdeploy' / 'mmdeploy'
    blocked.mkdir(parents=True, exist_ok=True)
    (blocked / '__init__.py').write_text("raise ImportError('blocked for this test')\n")
    proc_env = {'PYTHONPATH': str(blocked.parent)}
    cmd = tool('deploy.py') + [TOY_FASTER, 'misfit.pth', '--work-dir', ws / 'deploy']
    proc = subprocess.run([str(c) for c in cmd], cwd=ws, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, **proc_env))
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.rstrip().splitlines()[-1] == (
        'ERROR: mmdeploy is not installed (blocked for this test): pip install --no-deps mmdeploy==1.3.1 '
        'aenum==3.1.17 multiprocess==0.70.19 dill==0.4.1 prettytable==3.19.0 wcwidth==0.9.5 '
        '(tools/install.sh installs them)')
