"""Transition-matrix estimators out of equilibrium: checked against deeptime and against
a Markov chain whose equilibrium is known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from gdynbook.estimators import (
    EstimationError,
    nonreversible_transition_matrix,
    reversible_transition_matrix,
    symmetrized_transition_matrix,
)
from gdynbook.markov import stationary_distribution

#: A reversible three-state chain (detailed balance with π = (0.5, 0.3, 0.2)).
PI = np.array([0.5, 0.3, 0.2])
T_TRUE = np.array([[0.94, 0.04, 0.02], [0.0666666667, 0.90, 0.0333333333], [0.05, 0.05, 0.90]])
T_TRUE = T_TRUE / T_TRUE.sum(axis=1, keepdims=True)


def relaxation_counts(n_runs: int, n_steps: int, start: int, seed: int) -> np.ndarray:
    """Counts at lag 1 of many short runs all started in ``start``: far from equilibrium."""
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(T_TRUE, axis=1)
    state = np.full(n_runs, start)
    counts = np.zeros((3, 3))
    for _ in range(n_steps):
        following = (rng.random(n_runs)[:, None] > cumulative[state]).sum(axis=1)
        np.add.at(counts, (state, following), 1)
        state = following
    return counts


def test_the_chain_is_reversible_with_the_stated_equilibrium() -> None:
    flux = PI[:, None] * T_TRUE
    np.testing.assert_allclose(flux, flux.T, atol=1e-9)
    np.testing.assert_allclose(stationary_distribution(T_TRUE), PI, atol=1e-8)


def test_reversible_mle_equals_deeptime() -> None:
    from deeptime.markov.msm import MaximumLikelihoodMSM

    counts = relaxation_counts(400, 30, start=2, seed=0)
    ours, pi = reversible_transition_matrix(counts)
    theirs = (
        MaximumLikelihoodMSM(reversible=True, maxerr=1e-14, maxiter=1_000_000)
        .fit_from_counts(counts)
        .fetch_model()
    )
    np.testing.assert_allclose(ours, theirs.transition_matrix, atol=1e-8)
    np.testing.assert_allclose(pi, theirs.stationary_distribution, atol=1e-8)
    flux = pi[:, None] * ours
    np.testing.assert_allclose(flux, flux.T, atol=1e-12)  # detailed balance holds exactly
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, atol=1e-12)


def test_out_of_equilibrium_only_the_symmetrised_estimate_is_biased() -> None:
    """Runs that all start in state 2 (π₂ = 0.2) and last ~3 relaxation times."""
    counts = relaxation_counts(4000, 30, start=2, seed=1)
    non_reversible = stationary_distribution(nonreversible_transition_matrix(counts))
    _, reversible = reversible_transition_matrix(counts)
    symmetrised = stationary_distribution(symmetrized_transition_matrix(counts))
    visited = counts.sum(axis=1) / counts.sum()  # the data's own distribution
    for estimate in (non_reversible, reversible):
        np.testing.assert_allclose(estimate, PI, atol=0.02)
    # the start state is over-represented in the data and in the symmetrised estimate
    assert visited[2] > PI[2] + 0.1
    assert symmetrised[2] > PI[2] + 0.1
    np.testing.assert_allclose(
        symmetrised, (counts.sum(0) + counts.sum(1)) / (2 * counts.sum()), atol=1e-12
    )


def test_bad_counts_are_refused() -> None:
    with pytest.raises(EstimationError, match="square"):
        reversible_transition_matrix(np.ones((2, 3)))
    with pytest.raises(EstimationError, match="non-negative"):
        nonreversible_transition_matrix(np.array([[1.0, -1.0], [1.0, 1.0]]))
    with pytest.raises(EstimationError, match=r"states \[1\] are never left"):
        nonreversible_transition_matrix(np.array([[1.0, 1.0], [0.0, 0.0]]))
    with pytest.raises(EstimationError, match="transitions both"):
        reversible_transition_matrix(np.array([[5.0, 0.0], [0.0, 5.0]]))
    # state 0 is entered but never left: the likelihood's maximum is π = (1, 0)
    with pytest.raises(EstimationError, match="transitions both"):
        reversible_transition_matrix(np.array([[143.0, 0.0], [38.0, 131.0]]))
