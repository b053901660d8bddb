"""Learned states within strata of a slow per-Li⁺ variable, on Markov chains with known
answers."""

from __future__ import annotations

import numpy as np
import pytest

from gdynbook.markov import simulate_markov_chain
from gdynbook.systems.peo_litfsi.strata import states_within_strata


def three_kinds_of_ions(n_frames: int = 3000, seed: int = 0):
    """Two builds of 15 Li⁺: a third frozen in state 0, a third switching (p = q = 0.05
    per frame), a third frozen in state 1; the variable is the kind plus noise."""
    rng = np.random.default_rng(seed)
    switching = np.array([[0.95, 0.05], [0.05, 0.95]])
    builds, variables = [], []
    for b in range(2):
        kinds = np.repeat([0, 1, 2], 5)
        labels = np.empty((n_frames, kinds.size), dtype=int)
        labels[:, kinds == 0] = 0
        labels[:, kinds == 2] = 1
        chains = simulate_markov_chain(switching, n_frames, n_trajectories=5, seed=seed + b)
        labels[:, kinds == 1] = np.stack(chains, axis=1)
        builds.append(np.eye(2)[labels])
        variables.append(kinds + rng.normal(scale=0.1, size=(n_frames, kinds.size)))
    return builds, variables


def test_frozen_strata_show_as_labels_and_the_switching_one_as_dynamics() -> None:
    builds, variables = three_kinds_of_ions()
    strata = states_within_strata(builds, variables, lag_frames=2, time_step_ps=5.0)
    np.testing.assert_array_equal(strata.n_li, [10, 10, 10])
    assert 0.0 < strata.edges[0] < 1.0 < strata.edges[1] < 2.0
    np.testing.assert_allclose(strata.populations[0], [1.0, 0.0])
    np.testing.assert_allclose(strata.populations[2], [0.0, 1.0])
    np.testing.assert_allclose(strata.populations[1], [0.5, 0.5], atol=0.05)
    # frozen strata have no variance at all; the switching one has it all within ions
    assert np.isnan(strata.within_ion_share[[0, 2]]).all()
    assert strata.within_ion_share[1] > 0.97
    # a two-state chain with p = q: t = −τ / ln(1 − 2p)^lag = −5 ps / ln 0.9
    assert strata.slowest_timescale_ps[1] == pytest.approx(-5.0 / np.log(0.9), rel=0.1)
    assert np.isnan(strata.slowest_timescale_ps[[0, 2]]).all()


def test_strata_refuse_bad_input() -> None:
    builds, variables = three_kinds_of_ions(n_frames=50)
    with pytest.raises(ValueError, match="one of each per build"):
        states_within_strata(builds, variables[:1], 2, 5.0)
    with pytest.raises(ValueError, match="same build"):
        states_within_strata(builds, [v[:, :3] for v in variables], 2, 5.0)
    with pytest.raises(ValueError, match="cannot fill"):
        states_within_strata([builds[0][:, :2]], [variables[1][:, :2]], 2, 5.0)


def test_a_stratum_of_frozen_ions_in_different_states_is_all_label() -> None:
    """Half the middle stratum frozen in state 0, half in state 1: populations 1/2 each
    and no variance within ions; a Li⁺ without any value of the variable is left out."""
    builds, variables = three_kinds_of_ions(n_frames=400)
    for chi in builds:
        chi[:, 5:10] = 0.0
        chi[:, 5:7, 0] = 1.0  # two frozen in 0 ...
        chi[:, 7:9, 1] = 1.0  # ... two frozen in 1
        chi[:, 9, :] = [0.5, 0.5]  # and one always undecided
    strata = states_within_strata(builds, variables, lag_frames=2, time_step_ps=5.0)
    np.testing.assert_array_equal(strata.n_li, [10, 10, 10])
    np.testing.assert_allclose(strata.populations[1], [0.5, 0.5])
    assert strata.within_ion_share[1] == pytest.approx(0.0, abs=1e-12)
    # between ions: two of five at 0, two at 1, one at 1/2 → variance 0.2 per state
    stacked = np.concatenate([chi[:, 5:10].reshape(-1, 2) for chi in builds])
    np.testing.assert_allclose(stacked.var(axis=0), 0.2)
    # a Li⁺ of build 1 that never has a value is left out, and counted
    variables[1][:, 3] = np.nan
    strata = states_within_strata(builds, variables, lag_frames=2, time_step_ps=5.0)
    assert strata.n_li_without_value == 1 and strata.n_li.sum() == 29
