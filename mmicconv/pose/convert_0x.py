"""MMPose 0.x bottom-up AE head weights -> the MMPose 1.x AE head.

The paper's pose checkpoints are MMPose 0.x ``AssociativeEmbedding``
models with an ``AESimpleHead`` (``keypoint_head.*``). Its layers are those
of mmpose 1.x's ``AssociativeEmbeddingHead`` (here
``TrainableAssociativeEmbeddingHead``, ``head.*``) one for one:

=======================================  =======================================  ==========================
MMPose 0.x (``AESimpleHead``)            MMPose 1.x (``AssociativeEmbeddingHead``)  content
=======================================  =======================================  ==========================
``keypoint_head.deconv_layers.{3i}.*``   ``head.deconv_layers.{3i}.*``             ``ConvTranspose2d`` i
                                                                                   (4x4, stride 2, no bias)
``keypoint_head.deconv_layers.{3i+1}.*`` ``head.deconv_layers.{3i+1}.*``           its ``BatchNorm2d``
                                                                                   (``weight``, ``bias``,
                                                                                   ``running_mean/var``,
                                                                                   ``num_batches_tracked``)
``keypoint_head.final_layer.weight``     ``head.final_layer.weight``               1x1 conv (K + K*L, C, 1, 1)
``keypoint_head.final_layer.bias``       ``head.final_layer.bias``                 (K + K*L,)
=======================================  =======================================  ==========================

The final layer's output channels are in the same order in both versions:
the K heatmaps first, then the tags (0.x ``split_ae_outputs``; 1.x
``AssociativeEmbeddingHead.forward`` splits at ``num_keypoints``), tag
channel ``l*K + k`` for keypoint k with ``tag_per_joint`` (one tag channel
with ``tag_per_joint=False``), so no channel is reordered. A 0.x head with
extra convolutions before the final one (``extra.num_conv_layers > 0``,
``final_layer.{i}.*``) is refused: the paper's configs have none.

Whole model, for ``tools/test.py``::

    python -m mmicconv.pose.convert_0x configs/pose/ae_ic-r50-k13_8xb16-300e_coco-640x640.py \
        ckpt/human_pose/ic_res50_k13_coco_640x640_lr0.001/ckpt.pth checkpoints/ae_ic-r50-k13_coco.pth

builds the config's model, fills its backbone from the checkpoint's
``backbone.*`` (IC convs' ``conv_list`` pieces merged, as
``tools/convert_checkpoint.py`` does) and its head by the table above, loads
both strictly (every parameter and buffer of the model must be found) and
writes ``state_dict`` + ``meta`` (with the IC pattern record). A failure ends
with one ``ERROR: <file>: <problem>`` line on stderr and exit status 1;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Dict, List, Optional, Sequence, Tuple

from ..utils.cli import ToolError, add_debug_arg, require_file, run_cli

__all__ = ['convert_ae_head', 'convert_bottomup_model', 'convert_file', 'is_bottomup_0x',
           'AE_HEAD_PREFIX_0X', 'AE_HEAD_PREFIX']

AE_HEAD_PREFIX_0X = 'keypoint_head.'
AE_HEAD_PREFIX = 'head.'
_DECONV = re.compile(r'deconv_layers\.(\d+)\.(weight|bias|running_mean|running_var|num_batches_tracked)$')
_FINAL = re.compile(r'final_layer\.(weight|bias)$')


def is_bottomup_0x(state: Dict) -> bool:
    """Whether a state dict holds an MMPose 0.x keypoint head (``keypoint_head.*``)."""
    return any(key.startswith(AE_HEAD_PREFIX_0X) for key in state)


def convert_ae_head(state: Dict, num_keypoints: Optional[int] = 17,
                    tag_per_keypoint: bool = True) -> Tuple[Dict, List[str]]:
    """Map the ``keypoint_head.*`` entries of an MMPose 0.x state dict to ``head.*``.

    Args:
        state: A 0.x state dict (other entries are ignored).
        num_keypoints: K, to check the final layer's output channels
            (``K + K*L`` with ``tag_per_keypoint``, ``K + L`` without, for a
            whole L); ``None`` skips the check.
        tag_per_keypoint: The head's ``tag_per_keypoint`` (0.x ``tag_per_joint``).

    Returns:
        ``(head_state, converted_keys)``: the 1.x entries (tensors unchanged)
        and the 0.x keys they came from.

    Raises:
        ValueError: on a 0.x head entry this mapping does not know (the
            message lists them), a missing final layer, or a channel count
            that does not fit ``num_keypoints``.
    """
    out, done, unknown = {}, [], []
    for key, value in state.items():
        if not key.startswith(AE_HEAD_PREFIX_0X):
            continue
        rest = key[len(AE_HEAD_PREFIX_0X):]
        if _DECONV.match(rest) or _FINAL.match(rest):
            out[AE_HEAD_PREFIX + rest] = value
            done.append(key)
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f'MMPose 0.x AE head entries without a 1.x counterpart: {sorted(unknown)[:8]} '
                         f'({len(unknown)} in all); only deconv_layers.* and a single 1x1 final_layer '
                         '(AESimpleHead without extra conv layers) are mapped')
    if 'head.final_layer.weight' not in out:
        raise ValueError('no keypoint_head.final_layer.weight: not an MMPose 0.x AESimpleHead checkpoint')
    channels = int(out['head.final_layer.weight'].shape[0])
    if num_keypoints is not None:
        tags = channels - num_keypoints
        per = num_keypoints if tag_per_keypoint else 1
        if tags <= 0 or tags % per:
            raise ValueError(f'the 0.x final layer has {channels} output channels, which is not '
                             f'{num_keypoints} heatmaps plus whole tags '
                             f'({"K*L" if tag_per_keypoint else "L"}) for K={num_keypoints}')
    return out, done


def convert_bottomup_model(state: Dict, model) -> Dict:
    """The state dict of ``model`` (a 1.x bottom-up AE model built from one of
    the pose configs) from a whole MMPose 0.x checkpoint's ``state``.

    The backbone entries (``backbone.*``) are merged as
    ``tools/convert_checkpoint.py`` does (an IC conv's ``conv_list.{k}``
    pieces into one weight); the head by :func:`convert_ae_head`. Raises
    ``RuntimeError`` (from ``load_state_dict(strict=True)``) when anything is
    missing or does not fit.
    """
    from mmicconv.checkpoint.convert import extract_backbone_state, merge_conv_lists
    from mmicconv.models import ic_conv_sites

    head = model.head
    head_state, _ = convert_ae_head(state, head.num_keypoints, head.tag_per_keypoint)
    backbone_state, _ = extract_backbone_state({k: v for k, v in state.items()
                                                if not k.startswith(AE_HEAD_PREFIX_0X)})
    pattern = getattr(model.backbone, 'ic_pattern', None)
    if pattern is not None:
        conv_names = [name for name, _, _ in ic_conv_sites(model.backbone)]
        backbone_state, _ = merge_conv_lists(backbone_state, pattern, conv_names)
    whole = {f'backbone.{k}': v for k, v in backbone_state.items()}
    whole.update(head_state)
    model.load_state_dict(whole, strict=True)
    return model.state_dict()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: CONFIG SRC DST (see the module docstring)."""
    parser = argparse.ArgumentParser(description='MMPose 0.x bottom-up AE checkpoint -> a whole '
                                     'mmicconv/mmpose 1.x model checkpoint for a pose config')
    parser.add_argument('config', help='the pose config the model is evaluated with (configs/pose/...)')
    parser.add_argument('src', help='the MMPose 0.x checkpoint (backbone.* and keypoint_head.* entries)')
    parser.add_argument('dst', help='where to write the converted checkpoint')
    add_debug_arg(parser)
    args = parser.parse_args(argv)
    return run_cli(lambda: convert_file(args.config, args.src, args.dst), args.debug,
                   files=[args.config, args.src])


def convert_file(config: str, src: str, dst: str) -> int:
    """Build ``config``'s model, convert the 0.x checkpoint ``src`` into it, write ``dst``.

    Raises:
        ToolError: a missing file, a checkpoint without an MMPose 0.x head, or
            one that does not fit the model (the one line the user sees).
    """
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpose.registry import MODELS

    import mmicconv.pose  # noqa: F401  (the AE head)
    from mmicconv.checkpoint.convert import load_state_dict_safely
    from mmicconv.checkpoint.record import add_record

    require_file(config, 'config')
    require_file(src, 'checkpoint')
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg.model)
    print(f'loading {src} (weights_only=True)')
    state = load_state_dict_safely(src)
    if not is_bottomup_0x(state):
        raise ToolError(f'{src}: no keypoint_head.* entries (not an MMPose 0.x bottom-up checkpoint)')
    try:
        converted = convert_bottomup_model(state, model)
    except (ValueError, RuntimeError) as err:  # the whole load_state_dict report, on one line
        raise ToolError(f'{src}: {" ".join(str(err).split())[:800]}') from err
    meta = dict(source=str(src), config=str(config), converted_from='mmpose 0.x bottom-up AE')
    torch.save(add_record(dict(state_dict=converted, meta=meta), model), dst)
    print(f'wrote {dst}: {len(converted)} tensors (backbone and head), loaded strictly')
    return 0


if __name__ == '__main__':
    sys.exit(main())
