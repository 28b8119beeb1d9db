"""Checkpoints: conversion of the paper's checkpoints (``convert``), the IC
pattern record in ``meta`` (``record``) and mmengine checkpoints under torch's
``weights_only`` loading (``safety``)."""

from .convert import (
                      CheckpointMismatchError,
                      ConversionReport,
                      classifier_state,
                      extract_backbone_state,
                      extract_fc_state,
                      load_state_dict_safely,
                      merge_conv_lists,
)
from .record import (
                      RECORD_KEY,
                      CheckpointFitError,
                      PatternMismatchError,
                      add_record,
                      build_record,
                      check_fits_model,
                      check_pretrained,
                      check_record,
                      state_dict_of,
)
from .safety import allow_mmengine_checkpoints

__all__ = ['CheckpointMismatchError', 'ConversionReport', 'classifier_state', 'extract_backbone_state',
           'extract_fc_state', 'load_state_dict_safely',
           'merge_conv_lists', 'RECORD_KEY', 'CheckpointFitError', 'PatternMismatchError', 'add_record',
           'build_record', 'check_fits_model', 'check_pretrained', 'check_record', 'state_dict_of',
           'allow_mmengine_checkpoints']
