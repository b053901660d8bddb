"""Memberships from soft outputs, state matching, and bootstrap errors of the Koopman model."""

from __future__ import annotations

import numpy as np
import pytest

from gdynbook.koopman import bootstrap_populations, estimate_koopman, implied_timescales
from gdynbook.markov import (
    exact_timescales,
    one_hot,
    simulate_markov_chain,
    stationary_distribution,
)
from gdynbook.states import confusion_matrix, crisp_states, fit_simplex, match_states, state_recall

T2 = np.array([[0.97, 0.03], [0.12, 0.88]])
T3 = np.array([[0.96, 0.03, 0.01], [0.05, 0.93, 0.02], [0.02, 0.04, 0.94]])


def squashed(states: list[np.ndarray], mixing: np.ndarray) -> list[np.ndarray]:
    """One-hot states seen through an affine map onto the simplex: rows of ``mixing``."""
    return [one_hot(s, mixing.shape[0]) @ mixing for s in states]


def test_two_state_soft_outputs_become_one_hot_and_give_true_populations() -> None:
    states = simulate_markov_chain(T2, n_steps=4000, n_trajectories=10, seed=3)
    # what a trained softmax may output: p1 = 0.01 in state 0 and 0.56 in state 1
    soft = squashed(states, np.array([[0.99, 0.01], [0.44, 0.56]]))
    raw = estimate_koopman(soft, 1)
    simplex = fit_simplex(soft)
    memberships = simplex.transform(soft)
    for m, s in zip(memberships, states, strict=True):
        np.testing.assert_allclose(m[:, 0, :], one_hot(s, 2), atol=1e-9)
    model = estimate_koopman(memberships, 1)
    # timescales are unchanged by the affine map; populations become the true ones
    np.testing.assert_allclose(model.timescales(in_ps=False), raw.timescales(in_ps=False))
    counts = np.bincount(np.concatenate(states), minlength=2) / sum(s.size for s in states)
    np.testing.assert_allclose(model.populations, counts, atol=0.01)
    assert np.abs(model.populations - stationary_distribution(T2)).max() < 0.03
    # the soft basis' stationary vector is not the population of either state
    assert np.abs(raw.populations - stationary_distribution(T2)).max() > 0.05


def test_three_states_recovered_with_the_network_numbering() -> None:
    states = simulate_markov_chain(T3, n_steps=3000, n_trajectories=5, seed=4)
    mixing = np.array([[0.7, 0.2, 0.1], [0.15, 0.6, 0.25], [0.1, 0.1, 0.8]])
    memberships = fit_simplex(squashed(states, mixing)).transform(squashed(states, mixing))
    for m, s in zip(memberships, states, strict=True):
        np.testing.assert_allclose(m[:, 0, :], one_hot(s, 3), atol=1e-9)
    assert all(
        np.array_equal(c[:, 0], s) for c, s in zip(crisp_states(memberships), states, strict=True)
    )


def test_outputs_that_never_separate_states_are_refused() -> None:
    constant = np.full((100, 3), 1 / 3)
    constant[:, 0] += np.linspace(0, 0.1, 100)
    constant[:, 1] -= np.linspace(0, 0.1, 100)  # one direction only: 2 of 3 states
    with pytest.raises(ValueError, match="fewer states"):
        fit_simplex(constant)


def test_recall_by_hand_and_under_a_label_swap() -> None:
    reference = np.array([0, 0, 0, 0, 1, 1, -1])
    predicted = np.array([1, 1, 1, 0, 0, 0, 1])  # swapped labels, one tet wrong
    np.testing.assert_array_equal(confusion_matrix(predicted, reference, 2), [[1, 3], [2, 0]])
    recall, mapping = state_recall(predicted, reference, 2)
    np.testing.assert_array_equal(mapping, [1, 0])
    np.testing.assert_allclose(recall, [0.75, 1.0])
    np.testing.assert_array_equal(match_states(1 - predicted, reference, 2), [0, 1])
    with pytest.raises(ValueError, match="differ"):
        confusion_matrix(predicted[:3], reference, 2)


def test_bootstrap_errors_match_the_spread_over_independent_runs() -> None:
    """The bootstrap σ of t₂ and π must match the scatter of fresh simulations."""
    lag = 2
    timescales, populations, sigma_t, sigma_pi = [], [], [], []
    for repeat in range(12):
        states = simulate_markov_chain(T2, n_steps=300, n_trajectories=20, seed=100 + repeat)
        probs = [one_hot(s, 2) for s in states]
        its = implied_timescales(probs, [lag], 1.0, n_bootstrap=60, seed=repeat)
        timescales.append(its.timescales_ps[0, 0])
        sigma_t.append(its.std_ps[0, 0])
        populations.append(estimate_koopman(probs, lag).populations[0])
        sigma_pi.append(bootstrap_populations(probs, lag, n_bootstrap=60, seed=repeat)[:, 0].std())
    exact = exact_timescales(T2, lag)[0] * 1.0
    assert abs(np.mean(timescales) - exact) < 3 * np.std(timescales) / np.sqrt(12) + 0.05 * exact
    assert 0.5 < np.mean(sigma_t) / np.std(timescales, ddof=1) < 2.0
    assert 0.5 < np.mean(sigma_pi) / np.std(populations, ddof=1) < 2.0


def test_corners_resist_outliers() -> None:
    """A few stray outputs beyond a state's cloud must not dilute its typical frames."""
    rng = np.random.default_rng(6)
    states = simulate_markov_chain(T2, n_steps=5000, n_trajectories=4, seed=7)
    soft = []
    for s in squashed(states, np.array([[0.9, 0.1], [0.3, 0.7]])):
        p1 = s[:, 1] + rng.normal(0, 0.01, len(s))
        p1[rng.random(len(s)) < 0.0005] += 0.08  # rare overshoots of state 1
        p1 = np.clip(p1, 0, 1)
        soft.append(np.stack([1 - p1, p1], axis=-1))
    robust = fit_simplex(soft).transform(soft)
    plain = fit_simplex(soft, tail=0.0).transform(soft)
    labels = np.concatenate(states)

    def typical(m: list[np.ndarray]) -> float:
        return float(np.median(np.concatenate([x[:, 0, 1] for x in m])[labels == 1]))

    assert typical(robust) > 0.95
    assert typical(plain) < 0.9  # the plain inner simplex puts the corner at an outlier
    with pytest.raises(ValueError, match="tail"):
        fit_simplex(soft, tail=0.6)
