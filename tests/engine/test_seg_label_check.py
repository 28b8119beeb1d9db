"""SegLabelCheckHook: a label map with classes outside the config stops the run naming the file."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from mmicconv.engine.hooks import SegLabelCheckHook, SegLabelError
from mmicconv.engine.hooks.seg_label_check_hook import out_of_range_labels

structures = pytest.importorskip('mmseg.structures')
PixelData = pytest.importorskip('mmengine.structures').PixelData


def test_out_of_range_labels_lists_each_bad_value_once():
    labels = torch.tensor([[0, 4, 255, 5], [7, 7, -1, 3]])
    assert out_of_range_labels(labels, num_classes=5, ignore_index=255) == [-1, 5, 7]
    assert out_of_range_labels(labels.clamp(0, 4), num_classes=5, ignore_index=255) == []
    # the ignore index is only exempt when it is the configured one
    assert out_of_range_labels(torch.tensor([255]), num_classes=5, ignore_index=0) == [255]


def _sample(values, path):
    sample = structures.SegDataSample(metainfo=dict(seg_map_path=path))
    sample.gt_sem_seg = PixelData(data=torch.tensor(values, dtype=torch.uint8)[None])
    return sample


def _runner(num_classes=5, ignore_index=255):
    model = nn.Module()
    model.decode_head = SimpleNamespace(num_classes=num_classes, ignore_index=ignore_index)
    return SimpleNamespace(model=model)


def test_hook_takes_the_classes_from_the_model_and_names_the_bad_file():
    hook = SegLabelCheckHook()
    runner = _runner()
    hook.before_run(runner)
    assert (hook.num_classes, hook.ignore_index) == (5, 255)
    good = _sample([[0, 1], [4, 255]], 'ann/good.png')
    bad = _sample([[0, 9], [6, 255]], 'ann/bad.png')
    hook.before_train_iter(runner, 0, dict(data_samples=[good]))
    for check in (hook.before_train_iter, hook.before_val_iter, hook.before_test_iter):
        with pytest.raises(SegLabelError) as info:
            check(runner, 0, dict(data_samples=[good, bad]))
        assert str(info.value).startswith('ann/bad.png: label map has class value(s) 6, 9 ')
        assert "5 classes (0..4; 255 is ignored)" in str(info.value)


def test_hook_arguments_beat_the_model_and_a_cascade_uses_its_last_head():
    hook = SegLabelCheckHook(num_classes=10, ignore_index=0)
    hook.before_run(_runner())
    hook.before_val_iter(None, 0, dict(data_samples=[_sample([[9, 0]], 'a.png')]))
    with pytest.raises(SegLabelError, match='value'):
        hook.before_val_iter(None, 0, dict(data_samples=[_sample([[10]], 'a.png')]))
    cascade = nn.Module()
    cascade.decode_head = nn.ModuleList([nn.Module(), nn.Module()])
    cascade.decode_head[-1].num_classes, cascade.decode_head[-1].ignore_index = 3, 7
    hook = SegLabelCheckHook()
    hook.before_run(SimpleNamespace(model=cascade))
    assert (hook.num_classes, hook.ignore_index) == (3, 7)


def test_a_model_without_classes_is_not_checked_and_says_so(monkeypatch):
    from mmicconv.engine.hooks import seg_label_check_hook
    said = []
    monkeypatch.setattr(seg_label_check_hook, 'print_log', lambda msg, **kwargs: said.append(msg))
    hook = SegLabelCheckHook()
    hook.before_run(SimpleNamespace(model=nn.Module()))
    assert len(said) == 1 and 'label maps are not checked' in said[0]
    hook.before_train_iter(None, 0, dict(data_samples=[_sample([[99]], 'a.png')]))  # no error
