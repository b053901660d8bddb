"""Intervals over independent units, against scipy and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from gdynbook.intervals import jackknife_interval, t_interval


def test_t_interval_equals_scipys() -> None:
    values = np.array([0.21, 0.35, 0.18, 0.29, 0.40, 0.26])
    result = t_interval(values, confidence=0.95)
    low, high = stats.t.interval(
        0.95, df=values.size - 1, loc=values.mean(), scale=stats.sem(values)
    )
    assert result.low == pytest.approx(low, rel=1e-12)
    assert result.high == pytest.approx(high, rel=1e-12)
    assert result.n_units == 6 and result.method == "t"
    # six units: the 95 % factor is t₅ = 2.571, not 1.96
    assert result.half_width / result.standard_error == pytest.approx(2.5706, abs=1e-4)


def test_jackknife_of_a_mean_is_the_standard_error_of_the_mean() -> None:
    """For a linear statistic the jackknife standard error is exactly s/√n."""
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(7, 3))
    result = jackknife_interval(samples, lambda m: m[1])
    assert result.value == pytest.approx(samples[:, 1].mean())
    assert result.standard_error == pytest.approx(stats.sem(samples[:, 1]), rel=1e-12)


def test_jackknife_matches_a_brute_force_leave_one_out() -> None:
    rng = np.random.default_rng(1)
    samples = rng.uniform(1.0, 2.0, size=(5, 2))

    def ratio(m: np.ndarray) -> float:
        return float(m[0] / (m[0] + m[1]))

    result = jackknife_interval(samples, ratio)
    replicates = [ratio(np.delete(samples, i, axis=0).mean(axis=0)) for i in range(5)]
    expected = np.sqrt(4 / 5 * np.sum((np.array(replicates) - np.mean(replicates)) ** 2))
    assert result.standard_error == pytest.approx(expected, rel=1e-12)
    assert result.value == pytest.approx(ratio(samples.mean(axis=0)))


def test_jackknife_ratio_interval_covers_the_truth() -> None:
    """Six units, a ratio of two noisy means: the 95 % interval holds the true ratio
    in about 95 % of 2,000 repetitions (binomial range 92–98 %)."""
    rng = np.random.default_rng(2)
    truth = 2.0 / (2.0 + 3.0)
    hits = 0
    for _ in range(2000):
        samples = np.column_stack([rng.normal(2.0, 0.4, 6), rng.normal(3.0, 0.6, 6)])
        result = jackknife_interval(samples, lambda m: m[0] / (m[0] + m[1]))
        hits += result.low <= truth <= result.high
    assert 0.92 <= hits / 2000 <= 0.98


@pytest.mark.parametrize(
    ("values", "message"),
    [(np.array([1.0]), "at least two"), (np.array([1.0, np.nan, 2.0]), "NaN")],
)
def test_bad_units_are_refused(values: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        t_interval(values)
    with pytest.raises(ValueError, match=message):
        jackknife_interval(values.reshape(-1, 1), lambda m: m[0])


def test_a_statistic_undefined_without_one_unit_is_refused() -> None:
    samples = np.array([[1.0, -1.0], [1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="not finite"):
        jackknife_interval(samples, lambda m: m[0] / (m[1] - 1.0) if m[1] != 1.0 else np.inf)


def test_units_needed_is_the_first_count_whose_t_interval_fits() -> None:
    from gdynbook.intervals import units_needed

    values = np.array([0.1, 0.3, -0.2, 0.25, 0.05, 0.4])
    interval = t_interval(values)
    s = values.std(ddof=1)
    target = 0.05
    m = units_needed(interval, target)
    # by brute force over m with scipy's t quantile
    fits = [k for k in range(2, 2000) if stats.t.ppf(0.975, k - 1) * s / np.sqrt(k) <= target]
    assert m == fits[0] and m > len(values)
    assert units_needed(interval, interval.half_width * 1.01) == len(values)
    with pytest.raises(ValueError, match="out of reach"):
        units_needed(interval, 1e-6, max_units=50)
    with pytest.raises(ValueError, match="positive"):
        units_needed(interval, 0.0)
