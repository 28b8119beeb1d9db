"""MMPretrain: the shipped ImageNet configs, and the paper's ImageNet checkpoints as whole
classifiers (``tools/convert_checkpoint.py --classifier``) for mmpretrain's tools and inferencer."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import REFERENCE_ZOO, REPO, build_model, check_config_file, reference_file
from mmengine.config import Config
from tool_helpers import published_layout

import mmicconv  # noqa: F401
from mmicconv.checkpoint.record import PatternMismatchError
from mmicconv.ops import ICConv2d
from mmicconv.pattern import Pattern

pytest.importorskip('mmpretrain')

CONFIG_DIR = REPO / 'configs' / 'classification'
TOOL = REPO / 'tools' / 'convert_checkpoint.py'
# config stem -> (stock mmpretrain base, backbone type, pattern, depth)
CONFIGS = {
    'ic-resnet50-k9-det_8xb32_in1k': ('resnet/resnet50_8xb32_in1k.py', 'ICResNet',
                                      'detection/ic_resnet50_k9.json', 50),
    'ic-resnet101-k9-det_8xb32_in1k': ('resnet/resnet101_8xb32_in1k.py', 'ICResNet',
                                       'detection/ic_resnet101_k9.json', 101),
    'ic-resnet50-k9-seg_8xb32_in1k': ('resnet/resnet50_8xb32_in1k.py', 'ICResNet',
                                      'segmentation/ic_resnet50_k9.json', 50),
    'ic-resnet101-k9-seg_8xb32_in1k': ('resnet/resnet101_8xb32_in1k.py', 'ICResNet',
                                       'segmentation/ic_resnet101_k9.json', 101),
    'ic-resnet50-k13-pose_8xb32_in1k': ('resnet/resnet50_8xb32_in1k.py', 'ICResNet',
                                        'human_pose/ic_resnet50_k13.json', 50),
    'ic-resnet101-k13-pose_8xb32_in1k': ('resnet/resnet101_8xb32_in1k.py', 'ICResNet',
                                         'human_pose/ic_resnet101_k13.json', 101),
    'ic-resnext101-32x4d-k9_8xb32_in1k': ('resnext/resnext101-32x4d_8xb32_in1k.py', 'ICResNeXt',
                                          'ic_resnext101_32x4d_k9.json', 101),
}
DET_R50 = 'detection/ic_resnet50_k9.json'


@pytest.fixture
def zoo_env(monkeypatch):
    if not REFERENCE_ZOO.is_dir():
        pytest.skip(f'{REFERENCE_ZOO} is absent (../shared/reference not beside the checkout)')
    monkeypatch.setenv('MMICCONV_PATTERN_ZOO', str(REFERENCE_ZOO))


def test_every_config_is_tested():
    assert sorted(p.stem for p in CONFIG_DIR.glob('*.py')) == sorted(CONFIGS)


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_config_only_changes_the_backbone(name):
    base, backbone_type, pattern, depth = CONFIGS[name]
    cfg = check_config_file(CONFIG_DIR / f'{name}.py', f'mmpretrain::{base}', ['backbone'])
    assert cfg.model.type == 'ImageClassifier' and cfg.model.head.num_classes == 1000
    assert cfg.train_dataloader.dataset.type == 'ImageNet'              # the rest is the stock config
    backbone = cfg.model.backbone
    assert (backbone.type, backbone.depth, backbone.pattern) == (backbone_type, depth, pattern)


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_config_builds_and_trains_a_step(name, zoo_env):
    cfg = Config.fromfile(str(CONFIG_DIR / f'{name}.py'))
    model = build_model('mmpretrain', cfg.model)
    ic_convs = [m for m in model.backbone.modules() if isinstance(m, ICConv2d)]
    assert len(ic_convs) == {50: 16, 101: 33}[CONFIGS[name][3]] == len(model.backbone.ic_pattern)
    assert any(max(g.dilation) > 1 for conv in model.backbone.ic_pattern for g in conv.groups)
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    inputs = torch.randn(2, 3, 64, 64)
    samples = [DataSample().set_gt_label(3), DataSample().set_gt_label(7)]
    losses = model(inputs, samples, mode='loss')
    assert torch.isfinite(losses['loss']) and losses['loss'] > 0
    losses['loss'].backward()
    assert model.backbone.layer3[0].conv2.weight.grad.abs().sum() > 0


def published_classifier(pattern: Pattern, num_classes: int = 1000):
    """A checkpoint in the paper's ImageNet layout (torchvision names, ``conv_list`` pieces,
    ``module.`` prefix, ``fc``) and the mmdet IC-R50 it was made from."""
    torch.manual_seed(0)
    source = build_model('mmdet', dict(type='ICResNet', depth=50, out_indices=(3,), pattern=pattern)).eval()
    for module in source.modules():  # non-trivial statistics, so that eval-mode BN matters
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    state = published_layout(source, pattern, prefix='module.')
    fc = torch.nn.Linear(2048, num_classes)
    state.update({'module.fc.weight': fc.weight.detach(), 'module.fc.bias': fc.bias.detach()})
    return {'state_dict': state, 'epoch': 100}, source, fc


def run_tool(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    """(converted classifier checkpoint, the published source backbone, its fc, the pattern path)."""
    path = reference_file(DET_R50)
    root = tmp_path_factory.mktemp('classifier')
    blob, source, fc = published_classifier(Pattern.load(path))
    torch.save(blob, root / 'ckpt.pth.tar')
    proc = run_tool(root / 'ckpt.pth.tar', root / 'ic-r50-k9-det_in1k.pth', '--pattern', path, '--classifier')
    assert proc.returncode == 0, proc.stderr
    assert 'keeping the classifier: 1000 classes' in proc.stdout and 'no missing keys' in proc.stdout
    return root / 'ic-r50-k9-det_in1k.pth', source, fc, path


def test_classifier_logits_equal_an_independent_recomputation(converted, zoo_env):
    ckpt, source, fc, _ = converted
    checkpoint = torch.load(ckpt, weights_only=True)
    assert {k.split('.')[0] for k in checkpoint['state_dict']} == {'backbone', 'head'}
    assert next(iter(checkpoint['meta']['ic_pattern']['layers'])) == 'backbone.layer1.0.conv2'
    cfg = Config.fromfile(str(CONFIG_DIR / 'ic-resnet50-k9-det_8xb32_in1k.py'))
    model = build_model('mmpretrain', cfg.model).eval()
    model.load_state_dict(checkpoint['state_dict'], strict=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        logits = model(x, mode='tensor')
        # the paper's head: AvgPool2d(7) over the 7x7 last stage at 224, then fc
        expected = fc(F.avg_pool2d(source(x)[-1], 7).flatten(1))
    assert logits.shape == (2, 1000)
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)


def test_inferencer_classifies_an_image(converted, zoo_env, tmp_path):
    from mmengine.registry import DefaultScope
    from mmpretrain import ImageClassificationInferencer
    ckpt, source, fc, _ = converted
    config = str(CONFIG_DIR / 'ic-resnet50-k9-det_8xb32_in1k.py')
    # an mmengine Runner made by an earlier test (a module fixture) leaves the process-wide default
    # scope at 'mmengine', where the inferencer would look for mmpretrain's transforms; a fresh
    # process has no default scope (the README block, run in a subprocess, checks that case)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        inferencer = ImageClassificationInferencer(config, pretrained=str(ckpt), device='cpu')
        # 256x256: the stock test pipeline's ResizeEdge(256) keeps it, CenterCrop(224) takes [16:240]
        image = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
        [result] = inferencer(image)
    classes = inferencer.classes
    assert len(classes) == 1000 and result['pred_class'] == classes[result['pred_label']]
    # the same prediction from the published model on the same preprocessed pixels
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    crop = image[16:240, 16:240, ::-1].copy()  # BGR in (as cv2 reads), RGB into the network
    pixels = torch.from_numpy(crop).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        scores = F.softmax(fc(F.avg_pool2d(source((pixels - mean) / std)[-1], 7).flatten(1)), dim=1)[0]
    assert result['pred_label'] == int(scores.argmax())
    np.testing.assert_allclose(result['pred_score'], float(scores.max()), rtol=1e-4)


def test_detector_from_the_classifier_refuses_another_pattern(converted, zoo_env):
    """The record follows the protocol's chain: classifier (pretrained with one pattern) ->
    detector backbone with ``prefix='backbone.'``."""
    ckpt, _, _, path = converted
    init = dict(type='Pretrained', prefix='backbone.', checkpoint=str(ckpt))
    other = reference_file('human_pose/ic_resnet50_k13.json')
    detector_backbone = build_model('mmdet', dict(type='ICResNet', depth=50, pattern=str(other),
                                                  init_cfg=init))
    with pytest.raises(PatternMismatchError,
                       match=r'first difference at layer\d\.\d+\.conv2: checkpoint dil'):
        detector_backbone.init_weights()
    same = build_model('mmdet', dict(type='ICResNet', depth=50, pattern=str(path), init_cfg=init))
    same.init_weights()
    checkpoint = torch.load(ckpt, weights_only=True)['state_dict']
    assert torch.equal(same.layer2[1].conv2.weight, checkpoint['backbone.layer2.1.conv2.weight'])


@pytest.mark.parametrize('case, message', [
    ('no-fc', r'^ERROR: .*nofc\.pth: no ImageNet classifier \(fc\.weight\) in the checkpoint'),
    ('classes', r'^ERROR: .*ckpt\.pth: its classifier has 1000 classes, --num-classes asks for 10$'),
    ('pattern', r'^ERROR: .*layer1\.0\.conv2 \(pattern entry 0\).*right pattern file'),
])
def test_bad_classifier_input_is_one_error_line(case, message, tmp_path):
    path = reference_file(DET_R50)
    blob, _, _ = published_classifier(Pattern.load(path))
    src = tmp_path / ('nofc.pth' if case == 'no-fc' else 'ckpt.pth')
    if case == 'no-fc':
        blob['state_dict'] = {k: v for k, v in blob['state_dict'].items() if '.fc.' not in k}
    torch.save(blob, src)
    args = ['--pattern', reference_file('human_pose/ic_resnet50_k13.json') if case == 'pattern' else path,
            '--classifier'] + (['--num-classes', 10] if case == 'classes' else [])
    proc = run_tool(src, tmp_path / 'out.pth', *args)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(message, lines[0]), proc.stderr
    assert not (tmp_path / 'out.pth').exists()


def test_readme_easy_use_prints_the_top5(converted, zoo_env, tmp_path):
    """The README's "Easy Use" block, run as written with its three paths pointed at a converted
    paper-layout checkpoint and a generated picture: five ImageNet class names, scores falling."""
    import cv2
    from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
    ckpt, _, _, _ = converted
    readme = (REPO / 'README.md').read_text()
    block = readme.split('<!-- easy-use -->\n```python\n', 1)[1].split('```', 1)[0]
    image = tmp_path / 'demo.jpg'
    cv2.imwrite(str(image), np.random.default_rng(1).integers(0, 256, (240, 320, 3), dtype=np.uint8))
    paths = {'config': str(CONFIG_DIR / 'ic-resnet50-k9-det_8xb32_in1k.py'), 'checkpoint': str(ckpt),
             'image': str(image)}
    for name, value in paths.items():
        block, count = re.subn(rf"^{name} = '[^']+'$", f'{name} = {value!r}', block, flags=re.M)
        assert count == 1, name
    proc = subprocess.run([sys.executable, '-c', block], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = re.sub(r'Inference .*? 100% \d+:\d\d:\d\d', '', proc.stdout)  # mmpretrain's progress bar
    lines = printed.strip().splitlines()[-5:]
    names = [line.rsplit(': ', 1)[0] for line in lines]
    scores = [float(line.rsplit(': ', 1)[1]) for line in lines]
    assert len(lines) == 5 and all(n in IMAGENET_CATEGORIES for n in names)
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
