"""Koopman estimates against a Markov chain whose answer is known exactly."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gdynbook.koopman import (
    KoopmanWarning,
    ck_test,
    estimate_koopman,
    implied_timescales,
)
from gdynbook.markov import (
    exact_timescales,
    lump_states,
    one_hot,
    simulate_markov_chain,
    stationary_distribution,
)

# A four-state chain on a line, 0 - 1 - 2 - 3: a slow barrier between 1 and 2, and
# different (faster) exchanges 0 <-> 1 and 2 <-> 3.
A, B, C = 0.05, 0.02, 0.002
T = np.array(
    [
        [1 - A, A, 0, 0],
        [A, 1 - A - C, C, 0],
        [0, C, 1 - C - B, B],
        [0, 0, B, 1 - B],
    ]
)


@pytest.fixture(scope="module")
def chain_states() -> list[np.ndarray]:
    return simulate_markov_chain(T, n_steps=20_000, n_trajectories=20, seed=1)


def lump(states: list[np.ndarray], groups: list[list[int]]) -> list[np.ndarray]:
    return [one_hot(lump_states(s, groups), len(groups)) for s in states]


def test_lump_states() -> None:
    np.testing.assert_array_equal(
        lump_states(np.array([0, 1, 2, 3, 1]), [[0, 3], [1, 2]]), [0, 1, 1, 0, 1]
    )
    with pytest.raises(ValueError, match="partition"):
        lump_states(np.array([0, 1]), [[0], [0, 1]])


def test_recovers_transition_matrix_within_binomial_errors(chain_states) -> None:
    probs = [one_hot(s, 4) for s in chain_states]
    model = estimate_koopman(probs, lag_frames=1)
    visits = np.bincount(np.concatenate([s[:-1] for s in chain_states]), minlength=4)
    sigma = np.sqrt(T * (1 - T) / visits[:, None])
    assert np.all(np.abs(model.koopman_matrix - T) <= 5 * sigma + 1e-12)
    np.testing.assert_allclose(model.koopman_matrix.sum(axis=1), 1.0)


def test_count_matrix_brute_force(chain_states) -> None:
    counts = np.zeros((4, 4))
    for s in chain_states:
        for i, j in zip(s[:-3], s[3:], strict=True):
            counts[i, j] += 1
    model = estimate_koopman([one_hot(s, 4) for s in chain_states], lag_frames=3)
    np.testing.assert_allclose(
        model.koopman_matrix, counts / counts.sum(1, keepdims=True), atol=1e-12
    )


def test_populations_and_eigenvectors(chain_states) -> None:
    model = estimate_koopman([one_hot(s, 4) for s in chain_states], lag_frames=2, time_step_ps=0.5)
    np.testing.assert_allclose(model.populations, model.mean_probabilities, atol=0.01)
    np.testing.assert_allclose(model.populations, stationary_distribution(T), atol=0.03)
    k = model.koopman_matrix
    for i in range(4):
        lam = model.eigenvalues[i]
        np.testing.assert_allclose(
            k @ model.right_eigenvectors[:, i], lam * model.right_eigenvectors[:, i], atol=1e-10
        )
        np.testing.assert_allclose(
            model.left_eigenvectors[:, i] @ k, lam * model.left_eigenvectors[:, i], atol=1e-10
        )
    assert model.eigenvalues[0] == pytest.approx(1.0)
    assert model.lag_ps == 1.0
    assert model.flags == ["", "", "", ""]


def test_implied_timescales_recover_exact_values(chain_states) -> None:
    probs = [one_hot(s, 4) for s in chain_states]
    its = implied_timescales(probs, [1, 5, 20], time_step_ps=0.1, n_bootstrap=50)
    exact = exact_timescales(T) * 0.1
    assert its.n_units == 20
    for row, low, high in zip(its.timescales_ps, its.lower_ps, its.upper_ps, strict=True):
        np.testing.assert_allclose(row, exact, rtol=0.15)
        assert np.all(low <= row) and np.all(row <= high)
    # the slowest timescale lies inside its 95 % interval at every lag
    assert np.all((its.lower_ps[:, 0] <= exact[0]) & (exact[0] <= its.upper_ps[:, 0]))


def test_single_trajectory_bootstraps_time_blocks(chain_states) -> None:
    its = implied_timescales(
        one_hot(chain_states[0], 4), [1, 2], time_step_ps=1.0, n_bootstrap=20, n_blocks=8
    )
    assert its.n_units == 8
    assert np.isfinite(its.lower_ps).all() and np.isfinite(its.upper_ps).all()


def test_ck_passes_for_markov_states_and_fails_for_a_bad_lumping(chain_states) -> None:
    good = ck_test([one_hot(s, 4) for s in chain_states], lag_frames=10, n_steps=4, n_bootstrap=30)
    assert good.passes
    # Lumping {0} | {1, 2, 3} splits the slowest process ({0, 1} against {2, 3}) across
    # the lumps: state 1 leaves lump {1, 2, 3} fast, states 2 and 3 only slowly.
    bad = ck_test(lump(chain_states, [[0], [1, 2, 3]]), lag_frames=10, n_steps=4, n_bootstrap=30)
    assert not bad.passes
    assert bad.max_deviation > 0.1 > 3 * good.max_deviation
    # while the lumping that follows the slowest process is nearly Markovian
    assert ck_test(lump(chain_states, [[0, 1], [2, 3]]), 10, 4, n_bootstrap=30).passes


def test_pairs_never_cross_trajectories() -> None:
    first = one_hot(np.zeros(100, dtype=int), 2)
    second = one_hot(np.ones(100, dtype=int), 2)
    model = estimate_koopman([first, second], lag_frames=1)
    np.testing.assert_allclose(model.koopman_matrix, np.eye(2), atol=1e-12)
    joined = estimate_koopman(np.concatenate([first, second]), lag_frames=1)
    assert joined.koopman_matrix[0, 1] > 0  # the crossing pair would be counted


def test_targets_are_samples_of_one_operator(chain_states) -> None:
    stacked = np.stack([one_hot(s, 4) for s in chain_states[:5]], axis=1)  # (frames, 5, 4)
    a = estimate_koopman(stacked, lag_frames=2).koopman_matrix
    b = estimate_koopman([one_hot(s, 4) for s in chain_states[:5]], lag_frames=2).koopman_matrix
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_negative_eigenvalue_is_flagged_not_a_timescale() -> None:
    flip = np.array([[0.02, 0.98], [0.98, 0.02]])
    states = simulate_markov_chain(flip, 2_000, seed=3)
    with pytest.warns(KoopmanWarning, match="negative"):
        model = estimate_koopman(one_hot(states[0], 2), lag_frames=1, time_step_ps=1.0)
    assert model.flags[1] == "negative"
    assert np.isnan(model.timescales()[0])


def test_soft_probabilities_give_row_stochastic_matrix() -> None:
    rng = np.random.default_rng(0)
    logits = np.cumsum(rng.normal(size=(500, 3)), axis=0) * 0.1
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    model = estimate_koopman(probs, 5)
    np.testing.assert_allclose(model.koopman_matrix.sum(1), 1.0, atol=1e-10)


def test_reversible_estimate_is_detailed_balance(chain_states) -> None:
    model = estimate_koopman([one_hot(s, 4) for s in chain_states], 5, reversible=True)
    flux = model.populations[:, None] * model.koopman_matrix
    np.testing.assert_allclose(flux, flux.T, atol=1e-10)


@pytest.mark.parametrize(
    ("probs", "lag", "message"),
    [
        (np.full((50, 2), np.nan), 1, "NaN"),
        (np.full((10, 2), 0.5), 10, "longer than that"),
        (np.full((10, 2), 0.5), 0, "at least 1"),
        ([np.full((10, 2), 0.5), np.full((10, 3), 1 / 3)], 1, "disagree"),
        (np.full((10, 2), 0.7), 1, "not probabilities"),
        (np.zeros((4, 3, 2, 2)), 1, "shape"),
    ],
)
def test_bad_input(probs, lag: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        estimate_koopman(probs, lag)


def test_short_trajectory_in_list_warns() -> None:
    sticky = np.array([[0.9, 0.1], [0.1, 0.9]])
    long = one_hot(simulate_markov_chain(sticky, 400, seed=2)[0], 2)
    short = long[:3]
    with pytest.warns(KoopmanWarning, match="contribute no pairs"):
        estimate_koopman([long, short], 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        estimate_koopman([long], 5)


def test_split_targets_gives_one_series_per_target() -> None:
    from gdynbook.koopman import split_targets

    rng = np.random.default_rng(0)
    runs = [rng.dirichlet(np.ones(3), size=(20, 4)), rng.dirichlet(np.ones(3), size=(10, 4))]
    series = split_targets(runs)
    assert len(series) == 8 and series[0].shape == (20, 1, 3) and series[5].shape == (10, 1, 3)
    np.testing.assert_array_equal(series[6][:, 0], runs[1][:, 2])


def test_group_bootstrap_draws_whole_groups() -> None:
    from gdynbook.koopman import _bootstrap_samples

    runs = [np.full((50, 2), float(k)) for k in range(6)]
    groups = [0, 0, 1, 1, 2, 2]  # three 'builds' of two series each
    samples = _bootstrap_samples(runs, 30, 4, 10, seed=0, resample="groups", groups=groups)
    assert len(samples) == 30
    for sample in samples:
        values = [int(run[0, 0]) for run in sample]
        assert len(values) == 6  # three groups drawn, each with both its series
        pairs = [tuple(values[i : i + 2]) for i in range(0, 6, 2)]
        assert all(pair in ((0, 1), (2, 3), (4, 5)) for pair in pairs)
    with pytest.raises(ValueError, match="resample must be one of"):
        _bootstrap_samples(runs, 2, 4, 20, 0, resample="ions")
    with pytest.raises(ValueError, match="one group label per trajectory"):
        _bootstrap_samples(runs, 2, 4, 20, 0, resample="groups", groups=[0, 1])


def _hopping_builds(seed: int, rate_spread: float) -> tuple[list[np.ndarray], list[int]]:
    """Four 'builds' of six series; each build has its own rate (builds differ), its
    series share it."""
    from gdynbook.markov import one_hot, simulate_markov_chain

    rng = np.random.default_rng(seed)
    runs, groups = [], []
    for b, rate in enumerate(0.03 * (1 + rate_spread * rng.uniform(-1, 1, size=4))):
        matrix = np.array([[1 - rate, rate], [rate, 1 - rate]])
        for states in simulate_markov_chain(matrix, 1000, 6, seed=97 * seed + b):
            runs.append(one_hot(states, 2))
            groups.append(b)
    return runs, groups


def test_group_bootstrap_error_matches_the_spread_over_new_builds() -> None:
    """Builds that differ: resampling whole builds gives, averaged over ten data sets,
    a standard deviation of the slowest timescale within 40 % of its spread over 30
    independent data sets; resampling the series as if independent gives less."""
    estimates = [
        implied_timescales(_hopping_builds(s, 0.5)[0], [5], 1.0, n_bootstrap=0).timescales_ps[0, 0]
        for s in range(30)
    ]
    spread = np.std(estimates, ddof=1)
    by_group, by_run = [], []
    for s in range(10):
        runs, groups = _hopping_builds(s, 0.5)
        by_group.append(
            implied_timescales(
                runs, [5], 1.0, n_bootstrap=200, resample="groups", groups=groups, seed=s
            ).std_ps[0, 0]
        )
        by_run.append(implied_timescales(runs, [5], 1.0, n_bootstrap=200, seed=s).std_ps[0, 0])
    assert 0.6 < np.mean(by_group) / spread < 1.4
    assert np.mean(by_run) < 0.8 * np.mean(by_group)
