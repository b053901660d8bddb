"""The one analysis step against a Markov chain with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from gdynbook.analysis import analyze
from gdynbook.markov import (
    exact_timescales,
    one_hot,
    simulate_markov_chain,
    stationary_distribution,
)

TRANSITIONS = np.array(
    [
        [0.97, 0.02, 0.01],
        [0.03, 0.95, 0.02],
        [0.01, 0.04, 0.95],
    ]
)
DT_PS = 0.5


@pytest.fixture(scope="module")
def chains() -> list[np.ndarray]:
    """Twelve independent runs, two 'targets' each (two independent chains side by side)."""
    runs = simulate_markov_chain(TRANSITIONS, 4000, n_trajectories=24, seed=3)
    hot = [one_hot(r, 3) for r in runs]
    return [np.stack([hot[2 * i], hot[2 * i + 1]], axis=1) for i in range(12)]


def smeared(runs: list[np.ndarray]) -> list[np.ndarray]:
    """Network-like outputs: an invertible affine map of one-hot states (rows sum to 1)."""
    mix = np.array([[0.7, 0.2, 0.1], [0.15, 0.6, 0.25], [0.1, 0.1, 0.8]])
    return [r @ mix for r in runs]


def test_recovers_the_chain_populations_and_timescales(chains: list[np.ndarray]) -> None:
    lag = 5
    analysis = analyze(
        smeared(chains),
        lag,
        DT_PS,
        lags_frames=[1, 2, 5, 10],
        ck_steps=3,
        by_target=True,
        n_bootstrap=40,
    )
    assert len(analysis.series) == 24  # one per target and run
    # the simplex map undoes the mixing: memberships are one-hot again
    np.testing.assert_allclose(analysis.memberships[0], chains[0], atol=1e-8)
    # states come back in some order: compare sorted values
    exact_pi = stationary_distribution(TRANSITIONS)
    order = np.argsort(analysis.populations)
    np.testing.assert_allclose(analysis.populations[order], np.sort(exact_pi), atol=0.03)
    assert np.all(analysis.populations_err > 0) and np.all(analysis.populations_err < 0.03)
    exact = exact_timescales(TRANSITIONS, lag) * DT_PS
    np.testing.assert_allclose(analysis.timescales_ps, exact, rtol=0.15)
    # the implied timescales at every lag, and the model lag is among them
    assert 5 in analysis.its.lags_frames
    row = int(np.flatnonzero(analysis.its.lags_frames == 10)[0])
    np.testing.assert_allclose(analysis.its.timescales_ps[row], exact, rtol=0.15)
    assert analysis.ck.passes
    assert analysis.lag_ps == pytest.approx(2.5)


def test_same_seed_same_numbers_and_order_does_not_matter(chains: list[np.ndarray]) -> None:
    first = analyze(chains[:4], 3, DT_PS, lags_frames=[1, 3], ck_steps=2, n_bootstrap=10)
    again = analyze(chains[:4], 3, DT_PS, n_bootstrap=10)
    its = again.implied_timescales(first.its.lags_frames, n_bootstrap=10)
    np.testing.assert_array_equal(first.population_samples, again.population_samples)
    np.testing.assert_array_equal(first.its.timescales_ps, its.timescales_ps)
    np.testing.assert_array_equal(first.ck.estimated, again.ck_test(2, n_bootstrap=10).estimated)


def test_short_runs_are_left_out_of_the_estimate_but_get_memberships(
    chains: list[np.ndarray],
) -> None:
    runs = [chains[0], chains[1][:3]]
    analysis = analyze(runs, 5, DT_PS, n_bootstrap=0)
    assert len(analysis.memberships) == 2 and len(analysis.series) == 1
    assert analysis.population_samples.shape == (0, 3)
    assert np.isnan(analysis.populations_err).all()


def test_bad_lags_are_refused(chains: list[np.ndarray]) -> None:
    with pytest.raises(ValueError, match="needs trajectories longer than that; the longest has 10"):
        analyze([chains[0][:10]], 20, DT_PS)
    with pytest.raises(ValueError, match="lag_frames must be at least 1"):
        analyze(chains[:1], 0, DT_PS)
    analysis = analyze([chains[0][:100]], 30, DT_PS, n_bootstrap=0)
    with pytest.raises(ValueError, match="use fewer steps"):
        analysis.ck_test(n_steps=4)
