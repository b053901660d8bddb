"""The lag rule on processes whose timescales are known: a Markov chain (level from the
first lag), a lumped chain with a hidden fast state (levels off later, nearer the true
value), and a pool of switchers with rates over three decades (never levels off)."""

from __future__ import annotations

import numpy as np
import pytest

from gdynbook.koopman import implied_timescales
from gdynbook.lag_choice import choose_lag, growth_exponent
from gdynbook.markov import exact_timescales, lump_states, one_hot, simulate_markov_chain

LAGS = [1, 2, 4, 8, 16, 32]


def test_a_markov_chain_levels_off_at_the_first_lag() -> None:
    matrix = np.array([[0.98, 0.02], [0.03, 0.97]])
    runs = simulate_markov_chain(matrix, 4000, n_trajectories=20, seed=0)
    its = implied_timescales([one_hot(r, 2) for r in runs], LAGS, 1.0, n_bootstrap=100)
    choice = choose_lag(its)
    assert choice.levels_off and choice.lag_frames == 1
    true = exact_timescales(matrix)[0]
    assert choice.timescale_ps == pytest.approx(true, rel=0.1)
    assert abs(choice.growth_exponent) < 3 * choice.growth_exponent_err + 0.05
    assert "levels off from τ = 1 ps" in choice.describe()


def test_a_lumped_chain_levels_off_later_and_closer_to_the_true_timescale() -> None:
    """States 0 and 1 are seen as one; 1 is a short-lived intermediate on the way to 2,
    and some visits from 2 return at once, so at τ = 1 the lumped model underestimates the
    slow timescale. The rule waits for a longer lag, where the estimate is closer (a
    projected model converges only as 1/τ: the chosen value is still a lower bound)."""
    matrix = np.array(
        [
            [0.995, 0.005, 0.000],
            [0.500, 0.200, 0.300],
            [0.000, 0.010, 0.990],
        ]
    )
    runs = simulate_markov_chain(matrix, 6000, n_trajectories=40, seed=2)
    lumped = [one_hot(lump_states(r, [[0, 1], [2]]), 2) for r in runs]
    its = implied_timescales(lumped, LAGS, 1.0, n_bootstrap=100)
    choice = choose_lag(its)
    true = exact_timescales(matrix)[0]
    first = its.timescales_ps[0, 0]
    assert first < 0.7 * true  # the projection's memory at τ = 1
    assert choice.levels_off and choice.lag_frames > 1
    assert abs(choice.timescale_ps - true) < 0.25 * abs(first - true)
    assert choice.timescale_ps < 1.05 * true


def test_a_continuum_of_rates_never_levels_off() -> None:
    """Independent two-state switchers, each with its own rate (10⁻³…1 per frame, log
    uniform), pooled: the slow ones take over as the lag grows, so t(τ) keeps rising."""
    rng = np.random.default_rng(2)
    runs = []
    for rate in 10.0 ** rng.uniform(-3, 0, size=60):
        k = min(rate, 0.45)
        matrix = np.array([[1 - k, k], [k, 1 - k]])
        runs += [one_hot(r, 2) for r in simulate_markov_chain(matrix, 3000, 1, seed=int(1e6 * k))]
    its = implied_timescales(runs, LAGS, 1.0, n_bootstrap=100)
    choice = choose_lag(its)
    assert not choice.levels_off and choice.lag_frames is None
    assert choice.growth_exponent > 0.3
    assert choice.growth_exponent > 3 * choice.growth_exponent_err
    assert "does not level off" in choice.describe()
    b, b_err = growth_exponent(its)
    assert (b, b_err) == (choice.growth_exponent, choice.growth_exponent_err)


def test_bad_requests_are_refused() -> None:
    matrix = np.array([[0.9, 0.1], [0.1, 0.9]])
    runs = [one_hot(r, 2) for r in simulate_markov_chain(matrix, 500, 4, seed=3)]
    its = implied_timescales(runs, [1, 2, 4], 1.0, n_bootstrap=20)
    with pytest.raises(ValueError, match="process 1 does not exist"):
        choose_lag(its, process=1)
    with pytest.raises(ValueError, match="at least 4"):
        choose_lag(its, min_level_lags=4)
    bare = implied_timescales(runs, [1, 2, 4], 1.0, n_bootstrap=0)
    with pytest.raises(ValueError, match="n_bootstrap > 0"):
        choose_lag(bare)


def test_a_process_faster_than_the_lags_is_not_resolved() -> None:
    """t ≈ 1.1 frames: its estimates agree tightly at lags 1, 2 and 4, but from lag 2 on
    the process decays within one lag, so no lag qualifies."""
    matrix = np.array([[0.7, 0.3], [0.3, 0.7]])
    runs = simulate_markov_chain(matrix, 4000, n_trajectories=20, seed=1)
    its = implied_timescales([one_hot(r, 2) for r in runs], [1, 2, 4, 8], 1.0, n_bootstrap=100)
    t, low, high = its.timescales_ps[:3, 0], its.lower_ps[:3, 0], its.upper_ps[:3, 0]
    assert np.max(low) <= np.min(high) and (high - low < 0.2 * t).all()  # they agree
    assert (t[1:] < its.lags_ps[1:3]).all()  # but lie below the lag from τ = 2 on
    assert not choose_lag(its).levels_off
