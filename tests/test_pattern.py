"""The pattern type: parsing, validation messages, write-back."""

from __future__ import annotations

import json

import pytest
from conftest import RESNET_PATTERNS, load_json, reference_file

from mmicconv.pattern import DilationGroup, Pattern, PatternError

R50_NAMES = [f'layer{i + 1}.{j}.conv2' for i, n in enumerate((3, 4, 6, 3)) for j in range(n)]
R50_CHANNELS = [c for c, n in zip((64, 128, 256, 512), (3, 4, 6, 3)) for _ in range(n)]


def r50_entries(dilation_key: str = '(0, 0)') -> list:
    return [{dilation_key: c} for c in R50_CHANNELS]


def test_key_maps_to_height_width_dilation_plus_one():
    pattern = Pattern.from_list([{'(0, 0)': 3, '(3, 1)': 0, '(2, 5)': 4}])
    assert pattern[0].groups == (DilationGroup(1, 1, 3), DilationGroup(3, 6, 4))
    assert pattern[0].zero_keys == ((4, 2),)
    assert pattern[0].channel_dilations() == [(1, 1)] * 3 + [(3, 6)] * 4


@pytest.mark.parametrize('relative', RESNET_PATTERNS)
def test_published_files_round_trip(relative, tmp_path):
    path = reference_file(relative)
    pattern = Pattern.load(path)
    assert pattern.source == str(path)
    out = tmp_path / 'p.json'
    pattern.dump(out)
    assert load_json(out) == load_json(path)  # keys, their order and zero counts kept


def test_in_memory_list_and_pattern_passthrough():
    pattern = Pattern.load(r50_entries())
    assert Pattern.load(pattern) is pattern
    pattern.check_fits(R50_NAMES, R50_CHANNELS)


def test_wrong_number_of_entries():
    with pytest.raises(PatternError, match=r'expected 16 entries .* found 15'):
        Pattern.load(r50_entries()[:15]).check_fits(R50_NAMES, R50_CHANNELS)


def test_counts_not_summing_names_entry_layer_expected_found():
    entries = r50_entries()
    entries[8] = {'(0, 0)': 250, '(1, 1)': 5}
    with pytest.raises(PatternError) as err:
        Pattern.load(entries).check_fits(R50_NAMES, R50_CHANNELS)
    message = str(err.value)
    assert 'entry 8' in message and 'layer3.1.conv2' in message
    assert 'sum to 255' in message and 'expected 256' in message


@pytest.mark.parametrize('key', ['0, 0', '(0;0)', '(-1, 0)', '(a, b)', '(0, 0, 0)'])
def test_malformed_key(key):
    with pytest.raises(PatternError, match=r'entry 1: malformed key'):
        Pattern.from_list([{'(0, 0)': 1}, {key: 1}])


def test_negative_count():
    with pytest.raises(PatternError, match=r'entry 0: count of .* must be >= 0, found -3'):
        Pattern.from_list([{'(0, 0)': 5, '(1, 0)': -3}])


@pytest.mark.parametrize('count', [1.5, '4', True, None])
def test_non_integer_count(count):
    with pytest.raises(PatternError, match=r'entry 0: count .* must be an integer'):
        Pattern.from_list([{'(0, 0)': count}])


def test_all_zero_entry():
    with pytest.raises(PatternError, match=r'entry 0: expected at least one non-zero count'):
        Pattern.from_list([{'(0, 0)': 0}])


def test_non_json_file_names_the_file(tmp_path):
    path = tmp_path / 'broken.json'
    path.write_text('[{"(0, 0)": 64,')
    with pytest.raises(PatternError, match=r'broken\.json: not valid JSON'):
        Pattern.load(path)


def test_not_a_list(tmp_path):
    path = tmp_path / 'dict.json'
    path.write_text(json.dumps({'(0, 0)': 64}))
    with pytest.raises(PatternError, match=r'dict\.json: expected a JSON list .* found dict'):
        Pattern.load(path)


def test_relative_path_search_dirs(tmp_path, monkeypatch):
    zoo = tmp_path / 'zoo' / 'detection'
    zoo.mkdir(parents=True)
    Pattern.load(r50_entries('(1, 2)')).dump(zoo / 'x.json')
    monkeypatch.chdir(tmp_path)
    found = Pattern.load('detection/x.json', search_dirs=[tmp_path / 'zoo'])
    assert found[0].groups == (DilationGroup(2, 3, 64),)
    with pytest.raises(PatternError, match=r'not found .*fetch_pattern_zoo'):
        Pattern.load('detection/missing.json', search_dirs=[tmp_path / 'zoo'])


def test_resnext_entry_may_sum_to_cardinality():
    names, channels, groups = ['layer1.0.conv2'], [128], [32]
    Pattern.from_list([{'(0, 0)': 30, '(1, 1)': 2}]).check_fits(names, channels, groups)
    with pytest.raises(PatternError, match=r'sum to 31, expected 128 or 32'):
        Pattern.from_list([{'(0, 0)': 31}]).check_fits(names, channels, groups)
