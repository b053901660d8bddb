"""Transport from a state model: attach the displacement to every transition.

A Koopman or Markov model of a few states (say, the Li in a tetrahedral or an
octahedral hole) forgets *where* the particle went: two states always obey detailed
balance, so such a model produces no entropy and carries no current, even when a force
drives the particle through the lattice. Counting, with every transition i → j over
the lag τ, the particle's net displacement Δx along the force turns the model into a
*Markov additive process* that does carry transport:

* the tilted matrix K(λ) = C₀₀⁻¹ Σₜ χ(t)ᵀ χ(t+τ) e^{λΔx(t)} has a largest eigenvalue
  e^{τΛ(λ)}; Λ is the scaled cumulant generating function of the displacement, so the
  drift velocity is v = Λ′(0) and the effective diffusion coefficient 2D = Λ″(0);
* the flux of transitions i → j with displacement Δx against the reverse move
  (j → i with −Δx) gives the entropy production rate
  σ = ½ Σ (J₊ − J₋) ln(J₊/J₋), which equals f·v/kT for a force f under local detailed
  balance (Seifert, Rep. Prog. Phys. 75, 126001 (2012)) — provided the data hold the
  reverse of every move that carries current;
* without that proviso, the fluctuation symmetry Λ(λ) = Λ(−λ − f/kT) gives σ = −λ*·v
  from the second zero λ* of Λ (:func:`tilted_entropy_production`).

Units: Å, ps; entropy production in k_B per ps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gdynbook.koopman import koopman_from_pairs


def lagged_displacements(
    memberships: Sequence[np.ndarray], positions: Sequence[np.ndarray], lag_frames: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(χ(t), χ(t+τ), Δx) over all runs, where Δx = x(t+τ) − x(t).

    Parameters
    ----------
    memberships : list of numpy.ndarray, shape (frames, n_states)
    positions : list of numpy.ndarray, shape (frames,)
        Continuous (unwrapped) coordinate along the force, Å, per run.
    lag_frames : int
    """
    if len(memberships) != len(positions):
        raise ValueError("give one position series per membership series.")
    chi_0, chi_t, moved = [], [], []
    for chi, x in zip(memberships, positions, strict=True):
        chi = np.asarray(chi, dtype=np.float64).reshape(len(x), -1)
        if len(x) <= lag_frames:
            continue
        chi_0.append(chi[:-lag_frames])
        chi_t.append(chi[lag_frames:])
        moved.append(np.asarray(x[lag_frames:], float) - np.asarray(x[:-lag_frames], float))
    if not chi_0:
        raise ValueError(f"no run is longer than the lag of {lag_frames} frames.")
    return np.concatenate(chi_0), np.concatenate(chi_t), np.concatenate(moved)


def scaled_cgf(
    chi_0: np.ndarray, chi_t: np.ndarray, displacement: np.ndarray, lam: float, lag_ps: float
) -> float:
    """Λ(λ) = ln ρ(K(λ)) / τ, ps⁻¹, with ρ the largest eigenvalue (real part)."""
    weighted = chi_t * np.exp(lam * displacement)[:, None]
    tilted = koopman_from_pairs(chi_0, weighted)
    return float(np.log(np.max(np.real(np.linalg.eigvals(tilted)))) / lag_ps)


def tilted_transport(
    memberships: Sequence[np.ndarray],
    positions: Sequence[np.ndarray],
    lag_frames: int,
    time_step_ps: float,
    step_per_a: float | None = None,
) -> tuple[float, float]:
    """Drift velocity v = Λ′(0) (Å/ps) and effective diffusion D = Λ″(0)/2 (Å²/ps).

    Central finite differences in λ with step ``step_per_a`` (Å⁻¹; default 0.05 over
    the root-mean-square displacement per lag, where Λ is smooth and the exponentials
    stay well inside float64).
    """
    chi_0, chi_t, moved = lagged_displacements(memberships, positions, lag_frames)
    lag_ps = lag_frames * time_step_ps
    h = step_per_a or 0.05 / max(float(np.sqrt(np.mean(moved**2))), 1e-12)
    values = {k: scaled_cgf(chi_0, chi_t, moved, k * h, lag_ps) for k in (-2, -1, 0, 1, 2)}
    # fourth-order differences: the O(h²) error of the plain ones is not negligible here
    first = (values[-2] - 8 * values[-1] + 8 * values[1] - values[2]) / (12 * h)
    second = (-values[-2] + 16 * values[-1] - 30 * values[0] + 16 * values[1] - values[2]) / (
        12 * h**2
    )
    return float(first), float(second / 2)


def counted_entropy_production(
    memberships: Sequence[np.ndarray],
    positions: Sequence[np.ndarray],
    lag_frames: int,
    time_step_ps: float,
    bin_width_a: float,
) -> float:
    """σ = ½ Σ (J₊ − J₋) ln(J₊/J₋) over transitions resolved by displacement, k_B/ps.

    A transition is (state at t, state at t+τ, displacement bin); its reverse is (state
    at t+τ, state at t, the mirrored bin). Bins of ``bin_width_a`` Å are centred on 0 so
    that each has a mirror. Pairs of cells with a count on one side only carry no
    finite estimate and are left out (a lower bound; choose bins the data fill).
    """
    chi_0, chi_t, moved = lagged_displacements(memberships, positions, lag_frames)
    n_states = chi_0.shape[1]
    bins = np.round(moved / bin_width_a).astype(np.int64)
    offset = int(np.abs(bins).max())
    n_bins = 2 * offset + 1
    flux = np.zeros((n_states, n_states, n_bins))
    joint = chi_0[:, :, None] * chi_t[:, None, :]  # (pairs, i, j)
    for b in np.unique(bins):
        flux[:, :, b + offset] = joint[bins == b].sum(axis=0)
    flux /= chi_0.shape[0] * lag_frames * time_step_ps  # per ps and per pair
    reverse = np.transpose(flux, (1, 0, 2))[:, :, ::-1]
    both = (flux > 0) & (reverse > 0)
    ratio = np.divide(flux, reverse, out=np.ones_like(flux), where=both)
    terms = np.where(both, (flux - reverse) * np.log(ratio), 0.0)
    return float(0.5 * terms.sum())


def move_counts(
    positions: Sequence[np.ndarray], lag_frames: int, bin_width_a: float
) -> tuple[np.ndarray, np.ndarray]:
    """How often the particle moved by n bins over the lag, for every n seen or mirrored.

    Parameters
    ----------
    positions : list of numpy.ndarray, shape (frames,)
        Unwrapped coordinate along the force per run, Å.
    lag_frames : int
    bin_width_a : float
        Bin width, Å (the spacing of the planes of holes for the toy system).

    Returns
    -------
    steps : numpy.ndarray of int
        n from −max|n| to max|n|.
    counts : numpy.ndarray of int
        Number of lagged pairs with displacement n·``bin_width_a`` (rounded).
    """
    moved = np.concatenate(
        [
            np.asarray(x[lag_frames:], float) - np.asarray(x[:-lag_frames], float)
            for x in positions
            if len(x) > lag_frames
        ]
    )
    bins = np.round(moved / bin_width_a).astype(np.int64)
    reach = int(np.abs(bins).max())
    steps = np.arange(-reach, reach + 1)
    return steps, np.bincount(bins + reach, minlength=steps.size)


def two_state_entropy_production(koopman_matrix: np.ndarray, lag_ps: float) -> float:
    """σ of a Markov model without displacements, k_B/ps: Σᵢ<ⱼ (Jᵢⱼ − Jⱼᵢ) ln(Jᵢⱼ/Jⱼᵢ) with
    Jᵢⱼ = πᵢKᵢⱼ/τ. Zero for any two-state model (its stationary fluxes balance)."""
    matrix = np.asarray(koopman_matrix, dtype=np.float64)
    values, vectors = np.linalg.eig(matrix.T)
    pi = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    pi = pi / pi.sum()
    flux = pi[:, None] * matrix / lag_ps
    total = 0.0
    for i in range(len(pi)):
        for j in range(i + 1, len(pi)):
            if flux[i, j] > 0 and flux[j, i] > 0:
                total += (flux[i, j] - flux[j, i]) * np.log(flux[i, j] / flux[j, i])
    return float(total)


def tilted_entropy_production(
    memberships: Sequence[np.ndarray],
    positions: Sequence[np.ndarray],
    lag_frames: int,
    time_step_ps: float,
    n_grid: int = 120,
) -> tuple[float, float]:
    """Entropy production from the fluctuation symmetry of the tilted matrix, k_B/ps.

    With local detailed balance the scaled cumulant generating function obeys
    Λ(λ) = Λ(−λ − A) (Lebowitz and Spohn, J. Stat. Phys. 95, 333 (1999)), A being the
    affinity per unit displacement (f/kT for a force f). Besides λ = 0, Λ therefore
    vanishes at λ* = −A, and the entropy production is σ = A·v = −λ*·Λ′(0). Unlike the
    counted form (:func:`counted_entropy_production`), which needs every move and its
    reverse in the data, this uses the whole displacement distribution through Λ.

    Returns
    -------
    sigma : float
        −λ*·v, k_B per ps (NaN when no second root is found: no significant drift).
    root : float
        λ*, per Å (an estimate of −f/kT).
    """
    from scipy.optimize import brentq

    chi_0, chi_t, moved = lagged_displacements(memberships, positions, lag_frames)
    lag_ps = lag_frames * time_step_ps
    v, _ = tilted_transport(memberships, positions, lag_frames, time_step_ps)
    scale = max(float(np.sqrt(np.mean(moved**2))), 1e-12)
    grid = -np.linspace(0.02, 12.0, n_grid) / scale  # from near 0 to the left

    def cgf(lam: float) -> float:
        return scaled_cgf(chi_0, chi_t, moved, lam, lag_ps)

    values = [cgf(lam) for lam in grid]
    for a, b, fa, fb in zip(grid[:-1], grid[1:], values[:-1], values[1:], strict=True):
        if fa < 0 <= fb:  # Λ is convex: negative just left of 0, back to zero at λ*
            root = float(brentq(cgf, a, b, xtol=1e-10 / scale))
            return -root * v, root
    return float("nan"), float("nan")
