"""The pinned stack: imports, compiled mmcv ops on hand-checkable inputs, optional frameworks."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from mmicconv.models.frameworks import FRAMEWORKS


def test_nms_on_hand_checkable_boxes():
    from mmcv.ops import nms
    # Box 1 overlaps box 0 with IoU = 81/100 (> 0.5) and is suppressed;
    # box 2 is disjoint; box 3 overlaps box 0 with IoU = 50/150 (< 0.5) and stays.
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.],
                          [5., 0., 15., 10.]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2, 3]
    assert dets[:, 4].tolist() == pytest.approx([0.9, 0.7, 0.6])


def test_roi_align_averages_a_linear_ramp():
    from mmcv.ops import roi_align
    # feature[y, x] = x: bilinear sampling of a linear function is exact, so each
    # output bin equals the x coordinate of its centre (aligned=True: pixel centres at
    # integer + 0.5 become integer coordinates).
    feature = torch.arange(8.).repeat(8, 1)[None, None]
    rois = torch.tensor([[0., 2., 2., 6., 6.]])  # x1=2..x2=6 -> 2 bins of width 2
    out = roi_align(feature, rois, (2, 2), 1.0, 2, 'avg', True)  # apply() takes no keywords
    # bin centres at x = 3 and 5; shifted by -0.5 for aligned -> 2.5 and 4.5
    expected = torch.tensor([[2.5, 4.5], [2.5, 4.5]])
    torch.testing.assert_close(out[0, 0], expected)


def test_framework_stack_imports():
    import mmcv
    import mmdet
    import mmengine
    import mmpose
    assert mmcv.__version__ == '2.1.0'
    assert mmengine.__version__ == '0.10.7'
    assert mmdet.__version__ == '3.3.0' and mmpose.__version__ == '1.3.2'
    import mmpose.codecs  # noqa: F401
    import mmpose.datasets  # noqa: F401
    import xtcocotools.coco  # noqa: F401


BLOCK_IMPORT = textwrap.dedent('''
    import importlib.abc, sys
    BLOCKED = {blocked!r}
    class Block(importlib.abc.MetaPathFinder):
        # The frameworks import each other (mmpose's rtmo_head imports mmdet, mmdet imports
        # mmpretrain when present); those imports are let through, every other one (mmicconv's)
        # is blocked.
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in BLOCKED:
                frames = [f.f_code.co_filename for f in _frames()]
                if not any(f'/{{package}}/' in f for f in frames for package in {packages!r}):
                    raise ImportError('blocked ' + name)
    def _frames():
        frame = sys._getframe()
        while frame:
            yield frame
            frame = frame.f_back
    sys.meta_path.insert(0, Block())
    import importlib.util
    importlib.util.find_spec = (lambda f: lambda name, *a: None if name in BLOCKED else f(name, *a))(
        importlib.util.find_spec)
    import mmicconv
    print(','.join(mmicconv.REGISTERED_FRAMEWORKS))
    from {present}.registry import MODELS
    pattern = [{{'(1, 1)': 64 * 2 ** (i // 4)}} for i in range(16)]
    m = MODELS.build(dict(type='ICResNet', depth=18, pattern=pattern))
    print(type(m).__module__)
    assert not any(f'mmicconv.models.{{package}}_backbones' in sys.modules for package in BLOCKED)
''')


@pytest.mark.parametrize('present', list(FRAMEWORKS))
def test_import_with_one_framework_only(present):
    blocked = tuple(package for package in FRAMEWORKS if package != present)
    code = BLOCK_IMPORT.format(present=present, blocked=blocked, packages=tuple(FRAMEWORKS))
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split()
    assert lines[0] == present
    assert lines[1] == f'mmicconv.models.{present}_backbones'
