"""Choosing the lag time by implied timescales, not by score.

VAMP-2 always prefers a short lag (the correlations are strongest there), so it cannot
choose τ. A Markov model is valid from the lag at which the implied timescales stop
changing: for a Markov process tᵢ(τ) = −τ/ln λᵢ(τ) is the same at every lag, and for
projected (coarse) dynamics it rises towards the true value and levels off once the
memory of the projection has decayed (Swope, Pitera and Suits, J. Phys. Chem. B 108,
6571 (2004)). :func:`choose_lag` applies a rule fixed in advance:

* the chosen lag is the shortest τ from which the timescale's intervals at that lag and
  at every longer one share a common value (max lower bound ≤ min upper bound), over at
  least ``min_level_lags`` lags, each interval within ± ``max_relative_half_width`` of
  its timescale (wide intervals would otherwise agree with anything; the longest lags,
  if their intervals are that wide, are left out), and each timescale longer than its
  lag (a process that decays within one lag, t < τ, is not resolved at that lag);
* if no lag qualifies, the timescales do not level off on these data, and the result says
  how they grow instead: the exponent b of t ∝ τᵇ (weighted least squares of ln t on
  ln τ) — b ≈ 0 is a level timescale, b ≈ 1 a "timescale" set by the lag itself, as for
  a continuum of slow processes the data cannot resolve.

Projected dynamics approach their timescale only as 1/τ, and the intervals at
different lags come from the same data (they are correlated, so they overlap easily):
the timescale at the chosen lag is a lower bound, close to the limit within the data's
precision, not the limit itself.

Units: lags in frames and ps, timescales in ps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdynbook.koopman import ImpliedTimescales


@dataclass(frozen=True)
class LagChoice:
    """The lag chosen for one process, or how its timescale grows.

    Attributes
    ----------
    process : int
        Which timescale (0: the slowest).
    levels_off : bool
        Whether the rule found a lag.
    lag_frames, lag_ps : int or None, float or None
        The chosen lag (None when the timescale does not level off).
    timescale_ps : float
        The timescale at the chosen lag (NaN when none).
    growth_exponent, growth_exponent_err : float
        b of t ∝ τᵇ over all lags with finite timescales, and its standard error.
    """

    process: int
    levels_off: bool
    lag_frames: int | None
    lag_ps: float | None
    timescale_ps: float
    growth_exponent: float
    growth_exponent_err: float

    def describe(self) -> str:
        """One sentence for a reader."""
        growth = f"t ∝ τ^{self.growth_exponent:.2f} ± {self.growth_exponent_err:.2f}"
        if self.levels_off:
            return (
                f"timescale {self.process + 1} levels off from τ = {self.lag_ps:g} ps "
                f"(t = {self.timescale_ps:.4g} ps; over all lags {growth})"
            )
        return (
            f"timescale {self.process + 1} does not level off over these lags: it grows as "
            f"{growth}, so no lag gives a Markov model of it on these data"
        )


def growth_exponent(its: ImpliedTimescales, process: int = 0) -> tuple[float, float]:
    """b and its standard error in t ∝ τᵇ, by least squares of ln t on ln τ.

    Each lag is weighted by 1/σ² of ln t (σ ≈ std_ps / t from the bootstrap) when
    every lag has one, equally otherwise. The error is the usual least-squares one,
    scaled by the reduced χ² when that exceeds one (scatter beyond the bootstrap's).
    """
    t = its.timescales_ps[:, process]
    spread = its.std_ps[:, process]
    finite = np.isfinite(t) & (t > 0)
    if finite.sum() < 2:
        return float("nan"), float("nan")
    x = np.log(its.lags_ps[finite])
    y = np.log(t[finite])
    sigma = spread[finite] / t[finite]
    weighted = np.isfinite(sigma).all() and (sigma > 0).all()
    w = 1.0 / sigma**2 if weighted else np.ones_like(x)
    design = np.column_stack([np.ones_like(x), x])
    normal = design.T @ (w[:, None] * design)
    coef = np.linalg.solve(normal, design.T @ (w * y))
    covariance = np.linalg.inv(normal)
    if x.size > 2:
        residual = y - design @ coef
        reduced = float(np.sum(w * residual**2) / (x.size - 2))
        covariance = covariance * (max(reduced, 1.0) if weighted else reduced)
    elif not weighted:
        return float(coef[1]), float("nan")
    return float(coef[1]), float(np.sqrt(covariance[1, 1]))


def choose_lag(
    its: ImpliedTimescales,
    process: int = 0,
    min_level_lags: int = 3,
    max_relative_half_width: float = 0.5,
) -> LagChoice:
    """The shortest lag from which the implied timescale levels off (rule above).

    Parameters
    ----------
    its : ImpliedTimescales
        With bootstrap intervals (``n_bootstrap`` > 0 in
        :func:`~gdynbook.koopman.implied_timescales`).
    process : int
        0 for the slowest timescale.
    min_level_lags : int
        At least this many lags must agree (the chosen one included).
    max_relative_half_width : float
        Each agreeing lag's interval must lie within t·(1 ± this).

    Raises
    ------
    ValueError
        Without intervals, with too few lags, or for a process the model does not have.
    """
    n_lags, n_processes = its.timescales_ps.shape
    if not 0 <= process < n_processes:
        raise ValueError(
            f"process {process} does not exist: the model has {n_processes} timescale(s) "
            f"(0 is the slowest)."
        )
    if min_level_lags < 2:
        raise ValueError("min_level_lags must be at least 2: one lag cannot level off.")
    if n_lags < min_level_lags:
        raise ValueError(
            f"{n_lags} lag(s) given; the rule needs at least {min_level_lags}: compute the "
            "implied timescales at more lags."
        )
    low, high = its.lower_ps[:, process], its.upper_ps[:, process]
    if np.isnan(low).all():
        raise ValueError(
            "the implied timescales have no intervals: compute them with n_bootstrap > 0 "
            "(the rule compares intervals)."
        )
    t = its.timescales_ps[:, process]
    usable = (
        np.isfinite(t)
        & np.isfinite(low)
        & np.isfinite(high)
        & (low >= t * (1 - max_relative_half_width))
        & (high <= t * (1 + max_relative_half_width))
        & (t > its.lags_ps)  # resolved: the process outlives the lag
    )
    exponent, exponent_err = growth_exponent(its, process)
    # trailing lags with too wide (or no) intervals carry no information: leave them out
    end = int(np.flatnonzero(usable)[-1]) + 1 if usable.any() else 0
    for start in range(end - min_level_lags + 1):
        if not usable[start:end].all():
            continue
        if np.max(low[start:end]) <= np.min(high[start:end]):
            return LagChoice(
                process=process,
                levels_off=True,
                lag_frames=int(its.lags_frames[start]),
                lag_ps=float(its.lags_ps[start]),
                timescale_ps=float(t[start]),
                growth_exponent=exponent,
                growth_exponent_err=exponent_err,
            )
    return LagChoice(
        process=process,
        levels_off=False,
        lag_frames=None,
        lag_ps=None,
        timescale_ps=float("nan"),
        growth_exponent=exponent,
        growth_exponent_err=exponent_err,
    )
