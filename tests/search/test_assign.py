"""Exporting at a given pattern: channels matched to the pattern's counts by least total error."""

from __future__ import annotations

import itertools

import pytest
import torch
from search_helpers import ToyResNet, random_dilations, randomize_bn_

from mmicconv.pattern import Pattern
from mmicconv.search import (
    assign_to_pattern,
    candidate_dilations,
    convert_to_supernet,
    dilations_to_pattern,
    export_ic_state_dict,
    supernet_sites,
)


def _total(errors: torch.Tensor, dilations, d_max: int) -> float:
    index = {d: i for i, d in enumerate(candidate_dilations(d_max))}
    return float(sum(errors[c, index[d]] for c, d in enumerate(dilations)))


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_assignment_is_the_brute_force_optimum(seed):
    """7 channels, d_max 2 (4 candidates), random counts: every distinct assignment tried."""
    d_max, channels = 2, 7
    g = torch.Generator().manual_seed(seed)
    errors = torch.rand(channels, d_max ** 2, generator=g)
    layer = random_dilations([channels], d_max, seed + 10)[0]
    conv = dilations_to_pattern([layer], d_max)[0]
    got = assign_to_pattern(errors, conv, d_max)
    assert sorted(got) == sorted(layer)  # the counts are the pattern's
    best = min(_total(errors, perm, d_max) for perm in set(itertools.permutations(layer)))
    assert _total(errors, got, d_max) == pytest.approx(best, abs=1e-9)


def test_argmin_counts_give_the_argmin():
    """With the counts of the per-channel argmin, the assignment is that argmin."""
    d_max = 4
    errors = torch.rand(48, d_max ** 2, generator=torch.Generator().manual_seed(3))
    cands = candidate_dilations(d_max)
    argmin = [cands[i] for i in errors.argmin(1).tolist()]
    conv = dilations_to_pattern([argmin], d_max)[0]
    assert assign_to_pattern(errors, conv, d_max) == argmin


def test_export_at_a_given_pattern_writes_that_pattern():
    """A toy supernet exported at a random pattern (not its argmin): the written pattern has
    the given counts and the inherited state loads into an IC-ResNet of that pattern."""
    d_max = 3
    torch.manual_seed(0)
    model = ToyResNet()
    convert_to_supernet(model, d_max, init='scratch')
    randomize_bn_(model, 0)
    convs = [getattr(b, a) for _, b, a in supernet_sites(model)]
    given = dilations_to_pattern(random_dilations([c.out_channels for c in convs], d_max, 5), d_max)
    g = torch.Generator().manual_seed(1)
    errors = [torch.rand(c.out_channels, d_max ** 2, generator=g) for c in convs]
    dilations = [assign_to_pattern(e, conv, d_max) for e, conv in zip(errors, given)]
    pattern, state = export_ic_state_dict(model, dilations)
    assert pattern.to_list() == given.to_list()
    assert Pattern.from_list(pattern.to_list()).to_list() == given.to_list()
    assert set(state) == set(model.state_dict())


def test_counts_that_do_not_fit_are_refused():
    conv = dilations_to_pattern([[(1, 1)] * 5], 2)[0]
    with pytest.raises(ValueError, match='5 channels'):
        assign_to_pattern(torch.rand(6, 4), conv, 2)
    wide = dilations_to_pattern([[(3, 1)] * 6], 3)[0]
    with pytest.raises(ValueError, match='outside'):
        assign_to_pattern(torch.rand(6, 4), wide, 2)
