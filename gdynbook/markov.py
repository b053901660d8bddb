"""Small Markov chains with a known answer: simulation and exact spectra.

Used by the chapter on Koopman operators and by the tests, as the analytically
solvable reference that estimates must recover.
"""

from __future__ import annotations

import numpy as np


def check_transition_matrix(transition_matrix: np.ndarray) -> np.ndarray:
    """Return T as float64 after checking it is square, non-negative and row-stochastic."""
    matrix = np.asarray(transition_matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"a transition matrix must be square, got shape {matrix.shape}.")
    if (matrix < 0).any() or not np.allclose(matrix.sum(axis=1), 1.0, atol=1e-12):
        raise ValueError("a transition matrix must be non-negative with rows summing to 1.")
    return matrix


def simulate_markov_chain(
    transition_matrix: np.ndarray,
    n_steps: int,
    n_trajectories: int = 1,
    start: np.ndarray | None = None,
    seed: int = 0,
) -> list[np.ndarray]:
    """Simulate independent trajectories of a discrete Markov chain.

    Parameters
    ----------
    transition_matrix : numpy.ndarray, shape (n, n)
        Row-stochastic T, T[i, j] = P(i → j) in one step.
    n_steps : int
        Frames per trajectory.
    n_trajectories : int
        Number of independent trajectories (advanced together).
    start : numpy.ndarray of int, optional
        Start states; default drawn from the stationary distribution.
    seed : int
        Seed of the random number generator.

    Returns
    -------
    list of numpy.ndarray of int, each of shape (n_steps,)
    """
    matrix = check_transition_matrix(transition_matrix)
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(matrix, axis=1)
    cumulative[:, -1] = 1.0
    if start is None:
        start = rng.choice(matrix.shape[0], size=n_trajectories, p=stationary_distribution(matrix))
    states = np.empty((n_steps, n_trajectories), dtype=np.int64)
    states[0] = start
    draws = rng.random((n_steps - 1, n_trajectories))
    for t in range(1, n_steps):
        rows = cumulative[states[t - 1]]
        states[t] = (draws[t - 1][:, None] > rows).sum(axis=1)
    return [states[:, i].copy() for i in range(n_trajectories)]


def one_hot(states: np.ndarray, n_states: int) -> np.ndarray:
    """One-hot state probabilities, shape (frames, n_states)."""
    return np.eye(n_states)[np.asarray(states)]


def stationary_distribution(transition_matrix: np.ndarray) -> np.ndarray:
    """The stationary distribution π of T (πT = π, Σπ = 1)."""
    matrix = check_transition_matrix(transition_matrix)
    values, vectors = np.linalg.eig(matrix.T)
    pi = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    return pi / pi.sum()


def exact_timescales(transition_matrix: np.ndarray, lag_frames: int = 1) -> np.ndarray:
    """Exact implied timescales −τ/ln λᵢ of T (frames), slowest first, λ₁ = 1 excluded."""
    matrix = check_transition_matrix(transition_matrix)
    values = np.sort(np.real(np.linalg.eigvals(matrix)))[::-1][1:]
    return -lag_frames / np.log(np.abs(values) ** lag_frames)


def lump_states(states: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """Relabel microstates by the group that contains them (a coarse, lumped description).

    Parameters
    ----------
    states : numpy.ndarray of int
        Microstate trajectory.
    groups : list of list of int
        A partition of the microstates; group k becomes lumped state k.
    """
    members = sorted(i for group in groups for i in group)
    if members != list(range(len(members))):
        raise ValueError(f"groups must partition the states 0 … n−1 exactly, got {groups}.")
    mapping = np.empty(len(members), dtype=np.int64)
    for label, group in enumerate(groups):
        mapping[group] = label
    return mapping[np.asarray(states)]


def milestone(core_labels: np.ndarray) -> np.ndarray:
    """Core-set (milestoning) labels: outside a core, keep the last core visited.

    Parameters
    ----------
    core_labels : numpy.ndarray of int, shape (n_frames,) or (n_frames, n_series)
        The core a frame lies in, or −1 outside every core.

    Returns
    -------
    numpy.ndarray of int, same shape
        The last core visited up to each frame (−1 before the first core), so that
        excursions that return without reaching another core are not transitions.
    """
    labels = np.asarray(core_labels)
    frames = np.arange(labels.shape[0]).reshape((-1,) + (1,) * (labels.ndim - 1))
    last = np.where(labels >= 0, frames, -1)
    last = np.maximum.accumulate(last, axis=0)
    taken = np.take_along_axis(labels, np.maximum(last, 0), axis=0)
    return np.where(last >= 0, taken, -1)
