"""Equilibrium from data that are not in equilibrium: four estimates side by side.

Given state memberships χ(t) of many short runs that start from a prepared state, the
equilibrium populations can be estimated

* **non-reversibly**: the Koopman matrix K = C₀₀⁻¹C₀τ regresses χ(t+τ) on χ(t); it
  describes where probability goes from each state, whatever put it there, so its
  stationary vector (left eigenvector, eigenvalue one) is the equilibrium's;
* **reversibly, by maximum likelihood**: detailed balance imposed as a constraint on
  the transition matrix fitted to counts (:func:`gdynbook.estimators.reversible_transition_matrix`).
  With soft memberships the raw counts C = Σ χ(t)ᵀχ(t+τ) blur the states into each other
  (a frame half in each state counts as a half-transition to itself and half to the
  other); the counts used are those K implies, Ĉ = diag(Σₜ χ(t)) K, which equal C for
  crisp memberships;
* **by symmetrised correlations** (C₀₀ + C_ττ)/2, (C₀τ + Cτ₀)/2 — what
  ``estimate_koopman(..., reversible=True)`` does: right in equilibrium, but its
  stationary vector is the mean of the start and end distributions of the pairs;
* **as the mean membership** of all frames — the data's own distribution.

The last two remember the start; the first two do not. Intervals come from resampling
whole runs (the independent units).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gdynbook.estimators import EstimationError, reversible_transition_matrix
from gdynbook.koopman import ProbabilityInput, as_trajectory_list, koopman_from_pairs, lagged_pairs

#: The four estimates, in the order the book lists them.
METHODS = ("nonreversible", "reversible_ml", "symmetrised", "mean_membership")


@dataclass
class StationaryEstimates:
    """Equilibrium populations and the slowest timescale, estimated four ways.

    Attributes
    ----------
    populations : dict
        Method (see :data:`METHODS`) → populations, shape (n_states,).
    errors : dict
        Method → bootstrap standard error over runs, shape (n_states,).
    timescale_ps, timescale_err_ps : dict
        ``nonreversible`` and ``reversible_ml`` → slowest implied timescale, ps, and its
        bootstrap standard error.
    lag_frames : int
    time_step_ps : float
    n_runs : int
    """

    populations: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]
    timescale_ps: dict[str, float]
    timescale_err_ps: dict[str, float]
    lag_frames: int
    time_step_ps: float
    n_runs: int
    samples: dict[str, np.ndarray] = field(default_factory=dict, repr=False)


def _stationary(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eig(np.asarray(matrix, dtype=np.float64).T)
    vector = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    return vector / vector.sum()


def _timescale(matrix: np.ndarray, lag_ps: float) -> float:
    if not np.isfinite(matrix).all():
        return float("nan")
    values = np.sort(np.real(np.linalg.eigvals(matrix)))[::-1]
    second = values[1] if values.size > 1 else np.nan
    return float(-lag_ps / np.log(second)) if 0 < second < 1 else float("nan")


def _estimate(runs: list[np.ndarray], lag_frames: int, lag_ps: float) -> dict[str, np.ndarray]:
    chi_0, chi_t = lagged_pairs(runs, lag_frames)
    koopman = koopman_from_pairs(chi_0, chi_t, reversible=False)
    symmetrised = koopman_from_pairs(chi_0, chi_t, reversible=True)
    # the counts K implies (C itself for crisp memberships); K may hold tiny negative
    # entries from noise, which are no counts
    implied_counts = np.clip(chi_0.sum(axis=0)[:, None] * koopman, 0.0, None)
    try:
        reversible, pi_reversible = reversible_transition_matrix(implied_counts)
    except EstimationError:  # moves seen one way only (few data): no reversible estimate
        reversible = np.full_like(koopman, np.nan)
        pi_reversible = np.full(koopman.shape[0], np.nan)
    frames = np.concatenate([run.reshape(-1, run.shape[-1]) for run in runs])
    return {
        "nonreversible": _stationary(koopman),
        "reversible_ml": pi_reversible,
        "symmetrised": _stationary(symmetrised),
        "mean_membership": frames.mean(axis=0),
        "timescale_nonreversible": np.array(_timescale(koopman, lag_ps)),
        "timescale_reversible_ml": np.array(_timescale(reversible, lag_ps)),
    }


def stationary_estimates(
    memberships: ProbabilityInput,
    lag_frames: int,
    time_step_ps: float,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> StationaryEstimates:
    """The four equilibrium estimates of :data:`METHODS`, with errors over runs.

    Parameters
    ----------
    memberships : array or list of arrays
        State memberships per run, (frames, n_states) or (frames, n_targets, n_states);
        each run is one independent unit of the bootstrap.
    lag_frames : int
        Lag τ in frames.
    time_step_ps : float
        Time between frames, ps.
    n_bootstrap : int
        Resamples of whole runs (with replacement) for the standard errors.
    seed : int

    Returns
    -------
    StationaryEstimates
        The reversible entries are NaN when the counted moves do not connect the states
        both ways (too few data; resamples where that happens are left out of its error).
    """
    runs = as_trajectory_list(memberships)
    if len(runs) < 2:
        raise ValueError("stationary_estimates needs at least 2 independent runs for errors.")
    lag_ps = lag_frames * time_step_ps
    point = _estimate(runs, lag_frames, lag_ps)
    rng = np.random.default_rng(seed)
    draws = [
        _estimate([runs[i] for i in rng.integers(0, len(runs), len(runs))], lag_frames, lag_ps)
        for _ in range(n_bootstrap)
    ]
    samples = {key: np.stack([d[key] for d in draws]) for key in point}
    return StationaryEstimates(
        populations={m: point[m] for m in METHODS},
        errors={m: np.nanstd(samples[m], axis=0, ddof=1) for m in METHODS},
        timescale_ps={m: float(point[f"timescale_{m}"]) for m in METHODS[:2]},
        timescale_err_ps={
            m: float(np.nanstd(samples[f"timescale_{m}"], ddof=1)) for m in METHODS[:2]
        },
        lag_frames=int(lag_frames),
        time_step_ps=float(time_step_ps),
        n_runs=len(runs),
        samples=samples,
    )
