"""Transition matrices from lagged counts: non-reversible and reversible maximum likelihood.

Out of equilibrium the frames at time t are not distributed like the stationary
distribution, so the correlations C₀₀ = ⟨χ(t)χ(t)ᵀ⟩ and C_ττ = ⟨χ(t+τ)χ(t+τ)ᵀ⟩ differ. The
non-reversible estimate T = diag(c)⁻¹ C (c: row sums of the count matrix C = Σ χ(t)ᵀχ(t+τ))
needs no stationarity: each row is the conditional distribution of where a state goes,
whatever brought the samples there. So does the *reversible maximum-likelihood* estimate,
which maximises the likelihood Σ Cᵢⱼ ln Tᵢⱼ under detailed balance πᵢTᵢⱼ = πⱼTⱼᵢ as a
constraint. Symmetrising the counts first, (C + Cᵀ)/2, does *not*: its stationary vector
is the row sums of C + Cᵀ, i.e. the mean of the start and end distributions of the data —
the data's history, not the dynamics' equilibrium.

The reversible estimate uses the fixed-point iteration for the symmetric matrix X with
Xᵢⱼ = πᵢTᵢⱼ (Prinz et al., J. Chem. Phys. 134, 174105 (2011); Bowman et al.,
J. Chem. Phys. 131, 124101 (2009)): Xᵢⱼ ← (Cᵢⱼ + Cⱼᵢ) / (cᵢ/xᵢ + cⱼ/xⱼ), xᵢ = Σⱼ Xᵢⱼ.
"""

from __future__ import annotations

import numpy as np


class EstimationError(ValueError):
    """The counts cannot give the asked-for estimate (names the problem and the fix)."""


def _check_counts(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise EstimationError(f"counts must be a square matrix, got shape {counts.shape}.")
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise EstimationError("counts must be finite and non-negative.")
    if (counts.sum(axis=1) <= 0).any():
        empty = np.flatnonzero(counts.sum(axis=1) <= 0).tolist()
        raise EstimationError(
            f"states {empty} are never left in the data (no counts in their rows): drop "
            "them, use fewer states or more data."
        )
    return counts


def nonreversible_transition_matrix(counts: np.ndarray) -> np.ndarray:
    """Row-normalised counts, Tᵢⱼ = Cᵢⱼ / Σₖ Cᵢₖ: the maximum-likelihood estimate
    without constraints.

    Parameters
    ----------
    counts : numpy.ndarray, shape (n, n)
        Transition counts at one lag (soft counts allowed).
    """
    counts = _check_counts(counts)
    return counts / counts.sum(axis=1, keepdims=True)


def symmetrized_transition_matrix(counts: np.ndarray) -> np.ndarray:
    """Row-normalised (C + Cᵀ)/2: reversible by construction, but biased when the data
    are not in equilibrium (its stationary vector is the row sums of C + Cᵀ)."""
    counts = _check_counts(counts)
    return nonreversible_transition_matrix(0.5 * (counts + counts.T))


def reversible_transition_matrix(
    counts: np.ndarray, tolerance: float = 1e-12, max_iterations: int = 100_000
) -> tuple[np.ndarray, np.ndarray]:
    """The maximum-likelihood transition matrix with detailed balance as a constraint.

    Parameters
    ----------
    counts : numpy.ndarray, shape (n, n)
        Transition counts at one lag (soft counts allowed); the states must form one
        strongly connected set (every state reachable from every other along counted
        moves).
    tolerance : float
        Stop when the stationary vector changes by less than this (max norm).
    max_iterations : int

    Returns
    -------
    transition_matrix : numpy.ndarray, shape (n, n)
        Rows sum to one; πᵢTᵢⱼ = πⱼTⱼᵢ.
    stationary : numpy.ndarray, shape (n,)
        π, summing to one.

    Raises
    ------
    EstimationError
        For invalid counts, states not connected, or no convergence.
    """
    counts = _check_counts(counts)
    _check_connected(counts)
    symmetric = counts + counts.T
    row_counts = counts.sum(axis=1)
    x = symmetric / symmetric.sum()
    stationary = x.sum(axis=1)
    for _ in range(max_iterations):
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = row_counts / stationary
            x = np.where(symmetric > 0, symmetric / (ratio[:, None] + ratio[None, :]), 0.0)
        x /= x.sum()
        updated = x.sum(axis=1)
        if np.max(np.abs(updated - stationary)) < tolerance:
            stationary = updated
            break
        stationary = updated
    else:
        raise EstimationError(
            f"the reversible estimate did not converge in {max_iterations} iterations: "
            "check that the counts connect all states."
        )
    return x / stationary[:, None], stationary / stationary.sum()


def _check_connected(counts: np.ndarray) -> None:
    """The counted moves must lead from every state to every other (one strongly
    connected set); otherwise the maximum lies on the boundary (a state that is entered
    but never left along counted moves takes all the weight) and is no estimate."""
    from scipy.sparse.csgraph import connected_components

    n_sets, labels = connected_components(counts > 0, directed=True, connection="strong")
    if n_sets > 1:
        raise EstimationError(
            f"the counted moves do not lead from every state to every other (strongly "
            f"connected sets {labels.tolist()}): a reversible model needs transitions both "
            "ways — use more or longer trajectories, or model the sets separately."
        )
