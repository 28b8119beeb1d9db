"""Refuse a semantic-segmentation label map with classes the config does not have.

Without it, a label value at or above ``num_classes`` (and not the ignore
index) reaches the cross-entropy loss and fails there with an index error
that names no file (on CUDA: a device-side assert), or, in evaluation, is
silently dropped by the IoU metric.
"""

from __future__ import annotations

import logging
from typing import Optional, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from torch import nn

from ...utils.cli import ToolError
from ...utils.model import unwrap_model

__all__ = ['SegLabelCheckHook', 'SegLabelError', 'out_of_range_labels']


class SegLabelError(ToolError, ValueError):
    """A label map holds values outside ``0 .. num_classes - 1`` and the ignore index."""


def out_of_range_labels(labels: torch.Tensor, num_classes: int, ignore_index: int) -> list[int]:
    """The distinct values of ``labels`` that are neither a class index nor ``ignore_index``."""
    valid = ((labels >= 0) & (labels < num_classes)) | (labels == ignore_index)
    if bool(valid.all()):
        return []
    return [int(v) for v in torch.unique(labels[~valid])]


@HOOKS.register_module()
class SegLabelCheckHook(Hook):
    """Check every label map of a batch against the segmentor's classes.

    Runs before each train, val and test iteration on the samples' ``gt_sem_seg``
    (after the data pipeline, so ``reduce_zero_label`` is applied); a value
    that is neither a class index nor the ignore index stops the run with one
    :class:`SegLabelError` naming the label map file (``seg_map_path``), the
    values found and the classes the config has. Samples without
    ``gt_sem_seg`` are skipped. The configs of ``configs/segmentation/`` list it
    in ``custom_hooks``; ``tools/train.py`` and ``tools/test.py`` add it to
    MMSegmentation configs that lack it.

    Args:
        num_classes: The number of classes; None (default) takes the model's
            ``decode_head.num_classes`` (the last head's in a cascade). A model
            without one and no ``num_classes`` given: the hook logs a warning
            and checks nothing.
        ignore_index: The label value that is ignored; None (default) takes
            the model's ``decode_head.ignore_index`` (255 when it has none).
    """

    priority = 'VERY_HIGH'

    def __init__(self, num_classes: Optional[int] = None, ignore_index: Optional[int] = None) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def before_run(self, runner) -> None:
        head = getattr(unwrap_model(runner.model), 'decode_head', None)
        if isinstance(head, (nn.ModuleList, list, tuple)):  # CascadeEncoderDecoder: the last head decides
            head = head[-1] if len(head) else None
        if self.num_classes is None:
            self.num_classes = getattr(head, 'num_classes', None)
        if self.num_classes is None:
            print_log('SegLabelCheckHook: the model has no decode_head.num_classes and the hook was '
                      'given none; label maps are not checked', logger='current', level=logging.WARNING)
        if self.ignore_index is None:
            self.ignore_index = int(getattr(head, 'ignore_index', 255))

    def _check(self, data_batch) -> None:
        if self.num_classes is None:
            return
        samples: Sequence = (data_batch or {}).get('data_samples', None) or []
        for sample in samples:
            seg = getattr(sample, 'gt_sem_seg', None)
            if seg is None:
                continue
            bad = out_of_range_labels(seg.data, self.num_classes, self.ignore_index)
            if bad:
                path = sample.metainfo.get('seg_map_path', None) or 'a label map (no seg_map_path)'
                shown = ', '.join(str(v) for v in bad[:8]) + (', ...' if len(bad) > 8 else '')
                raise SegLabelError(
                    f'{path}: label map has class value(s) {shown} outside the config\'s '
                    f'{self.num_classes} classes (0..{self.num_classes - 1}; {self.ignore_index} is '
                    'ignored): fix the label map, or num_classes / reduce_zero_label in the config')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._check(data_batch)

    def before_val_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._check(data_batch)

    def before_test_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._check(data_batch)
