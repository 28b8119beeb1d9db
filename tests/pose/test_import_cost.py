"""``import mmicconv`` (every detection config runs it) registers the IC
backbones in mmdet's and mmpose's registries without importing the pose
pieces or mmpose's visualisation; the pose configs import ``mmicconv.pose``
themselves. mmpose's visualisation imports torchvision: the real one (made
importable by :mod:`mmicconv.utils.torchvision_ops`) where it is installed, a
stand-in that is removed right after the import where it is not."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

from mmengine.config import Config
from pose_helpers import MS_CONFIGS, POSE_CONFIGS, TOY_CONFIG

PROBE = """
import json, sys
import mmicconv
from mmdet.registry import MODELS as DET
from mmpose.registry import MODELS as POSE, TRANSFORMS
state = dict(pose_pieces='mmicconv.pose' in sys.modules, vis='mmpose.visualization' in sys.modules,
             det='ICResNet' in DET.module_dict, pose='ICResNet' in POSE.module_dict,
             head='TrainableAssociativeEmbeddingHead' in POSE.module_dict)
import mmicconv.pose
state.update(head_after='TrainableAssociativeEmbeddingHead' in POSE.module_dict,
             resize_after='BottomupMultiscaleResize' in TRANSFORMS.module_dict,
             vis_after='mmpose.visualization' in sys.modules,
             torchvision_after=getattr(sys.modules.get('torchvision'), '__file__', None) is not None)
print(json.dumps(state))
"""


def test_import_mmicconv_leaves_the_pose_pieces_out():
    proc = subprocess.run([sys.executable, '-c', PROBE], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = json.loads(proc.stdout.strip().splitlines()[-1])
    real_torchvision = importlib.util.find_spec('torchvision') is not None
    assert state == dict(pose_pieces=False, vis=False, det=True, pose=True, head=False, head_after=True,
                         resize_after=True, vis_after=True, torchvision_after=real_torchvision)


def test_every_pose_config_imports_the_pose_pieces():
    for path in POSE_CONFIGS + MS_CONFIGS + [TOY_CONFIG]:
        assert 'mmicconv.pose' in Config.fromfile(path).custom_imports['imports'], path.name
