"""Intervals from independent units (builds, replicas): Student's t and the jackknife.

A number measured once per independent simulation — a transport coefficient, a
held-out score — varies from unit to unit. With n units its mean has the interval
mean ± t_{n−1} · s/√n (Student's t with n − 1 degrees of freedom: with six builds the
95 % factor is 2.57, not 1.96). A *ratio* of pooled means, such as a transference
number (L₊₊ − L₊₋)/(L₊₊ + L₋₋ − 2L₊₋), is not a mean of per-unit values (per-unit ratios
of noisy terms are biased and can divide by ~0); its standard error comes from the
jackknife: recompute the ratio of the pooled means with each unit left out in turn,
SE² = (n − 1)/n · Σ (θ₋ᵢ − θ̄₋)² (Efron and Tibshirani, *An Introduction to the
Bootstrap*, ch. 11), and the interval is θ ± t_{n−1} · SE.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class UnitInterval:
    """An estimate with a two-sided interval from independent units.

    Attributes
    ----------
    value : float
        The estimate (mean over units, or the statistic of the pooled means).
    standard_error : float
    half_width : float
        t_{n−1} quantile × standard error; the interval is value ± half_width.
    confidence : float
    n_units : int
    method : str
        ``"t"`` (mean of units) or ``"jackknife"`` (statistic of pooled means).
    """

    value: float
    standard_error: float
    half_width: float
    confidence: float
    n_units: int
    method: str

    @property
    def low(self) -> float:
        return self.value - self.half_width

    @property
    def high(self) -> float:
        return self.value + self.half_width

    def as_dict(self) -> dict[str, float | int | str]:
        """For JSON: value, standard_error, low, high, confidence, n_units, method."""
        return {
            "value": self.value,
            "standard_error": self.standard_error,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "n_units": self.n_units,
            "method": self.method,
        }


def _t_factor(n_units: int, confidence: float) -> float:
    from scipy.stats import t

    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}.")
    return float(t.ppf(0.5 + confidence / 2.0, n_units - 1))


def _as_units(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0 or array.shape[0] < 2:
        raise ValueError(
            f"{name} needs at least two independent units (one value per build or "
            f"replica along the first axis), got shape {array.shape}."
        )
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or inf: drop or repair those units first.")
    return array


def t_interval(values: np.ndarray, confidence: float = 0.95) -> UnitInterval:
    """Mean of per-unit values with a Student-t interval (n − 1 degrees of freedom).

    Parameters
    ----------
    values : numpy.ndarray, shape (n_units,)
        One value per independent unit.
    confidence : float
        Two-sided coverage, e.g. 0.95.
    """
    units = _as_units(values, "values").reshape(-1)
    n = units.size
    standard_error = float(units.std(ddof=1) / np.sqrt(n))
    return UnitInterval(
        value=float(units.mean()),
        standard_error=standard_error,
        half_width=_t_factor(n, confidence) * standard_error,
        confidence=confidence,
        n_units=n,
        method="t",
    )


def jackknife_interval(
    samples: np.ndarray,
    statistic: Callable[[np.ndarray], float],
    confidence: float = 0.95,
) -> UnitInterval:
    """A statistic of the pooled per-unit means, with a leave-one-unit-out jackknife
    standard error and a Student-t interval.

    Parameters
    ----------
    samples : numpy.ndarray, shape (n_units, k)
        k quantities per unit (e.g. L₊₊, L₋₋, L₊₋, D₊, D₋ of each build).
    statistic : callable
        Maps a length-k vector of pooled means to a number (e.g. a transference number).
    confidence : float
        Two-sided coverage.
    """
    units = _as_units(samples, "samples")
    units = units.reshape(units.shape[0], -1)
    n = units.shape[0]
    value = float(statistic(units.mean(axis=0)))
    total = units.sum(axis=0)
    left_out = np.array([statistic((total - units[i]) / (n - 1)) for i in range(n)], float)
    if not np.isfinite(left_out).all():
        raise ValueError(
            "the statistic is not finite with some unit left out (a denominator near 0?): "
            "a jackknife interval needs it defined on every n − 1 units."
        )
    standard_error = float(np.sqrt((n - 1) / n * np.sum((left_out - left_out.mean()) ** 2)))
    return UnitInterval(
        value=value,
        standard_error=standard_error,
        half_width=_t_factor(n, confidence) * standard_error,
        confidence=confidence,
        n_units=n,
        method="jackknife",
    )


def units_needed(interval: UnitInterval, target_half_width: float, max_units: int = 100_000) -> int:
    """How many independent units of the same kind would shrink an interval to a target.

    The spread between units stays what was measured (s = SE·√n); with m units the
    half-width is t_{m−1} · s/√m. Returns the smallest such m ≥ 2 (the current n if it
    already suffices).

    Parameters
    ----------
    interval : UnitInterval
        From :func:`t_interval` or :func:`jackknife_interval` over n units.
    target_half_width : float
        Wanted half-width, in the units of the estimate.
    max_units : int
        Give up beyond this many (raises).

    Raises
    ------
    ValueError
        If the target is not positive or needs more than ``max_units`` units.
    """
    if not target_half_width > 0:
        raise ValueError(f"target_half_width must be positive, got {target_half_width}.")
    spread = interval.standard_error * np.sqrt(interval.n_units)
    if interval.half_width <= target_half_width:
        return int(interval.n_units)

    def half_width(m: int) -> float:
        return _t_factor(m, interval.confidence) * spread / np.sqrt(m)

    if half_width(max_units) > target_half_width:
        raise ValueError(
            f"even {max_units} units would leave ±{half_width(max_units):.3g}: the target "
            f"±{target_half_width:g} is out of reach at this spread."
        )
    low, high = 2, max_units  # half_width falls with m: bisect for the first m that fits
    while low < high:
        middle = (low + high) // 2
        if half_width(middle) <= target_half_width:
            high = middle
        else:
            low = middle + 1
    return int(low)
