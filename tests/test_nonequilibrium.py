"""Equilibrium from relaxation data: on an exactly solvable two-state chain started out
of equilibrium, the non-reversible and reversible-ML estimates find π and the slowest
timescale; the symmetrised estimate and the mean membership keep the start's bias."""

from __future__ import annotations

import numpy as np
import pytest

from gdynbook.markov import exact_timescales, one_hot, stationary_distribution
from gdynbook.nonequilibrium import METHODS, stationary_estimates

#: tet ↔ oct-like chain: π = (0.85, 0.15), slowest timescale ≈ 4.9 frames.
T_TRUE = np.array([[0.97, 0.03], [0.17, 0.83]])
PI = stationary_distribution(T_TRUE)


def relaxing_runs(start: int, n_runs: int, n_frames: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    states = np.empty((n_runs, n_frames), dtype=int)
    states[:, 0] = start
    for f in range(1, n_frames):
        leave = rng.random(n_runs) < T_TRUE[states[:, f - 1], 1 - states[:, f - 1]]
        states[:, f] = np.where(leave, 1 - states[:, f - 1], states[:, f - 1])
    return [one_hot(s, 2) for s in states]


# From the minority state (π = 0.15) the start's bias is large; from the majority state
# (π = 0.85, little room to relax) it is small and needs more runs to be seen.
@pytest.mark.parametrize(("start", "n_runs", "sigmas"), [(1, 512, 5), (0, 2048, 3)])
def test_relaxation_data_give_equilibrium_only_to_the_dynamical_estimates(
    start: int, n_runs: int, sigmas: float
) -> None:
    runs = relaxing_runs(start, n_runs=n_runs, n_frames=30, seed=start)
    result = stationary_estimates(runs, lag_frames=2, time_step_ps=0.5, n_bootstrap=100)
    assert set(result.populations) == set(METHODS)
    for method in ("nonreversible", "reversible_ml"):
        deviation = np.abs(result.populations[method] - PI)
        assert (deviation < 3 * result.errors[method] + 1e-3).all(), method
        assert (result.errors[method] < 0.02).all()
    for method in ("symmetrised", "mean_membership"):
        deviation = np.abs(result.populations[method] - PI)
        assert (deviation > sigmas * result.errors[method]).all(), method
        # biased towards the start state
        assert result.populations[method][start] > PI[start]
    exact_ps = exact_timescales(T_TRUE)[0] * 0.5
    for method in ("nonreversible", "reversible_ml"):
        assert (
            abs(result.timescale_ps[method] - exact_ps) < 3 * result.timescale_err_ps[method] + 0.05
        )


def test_equilibrium_data_make_all_four_agree() -> None:
    rng = np.random.default_rng(3)
    starts = (rng.random(512) < PI[1]).astype(int)
    runs = [relaxing_runs(int(s), 1, 30, seed=i)[0] for i, s in enumerate(starts)]
    result = stationary_estimates(runs, lag_frames=2, time_step_ps=0.5, n_bootstrap=50)
    for method in METHODS:
        assert np.abs(result.populations[method] - PI).max() < 0.03, method


def test_one_run_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        stationary_estimates([one_hot(np.zeros(20, int), 2)], 1, 1.0)
