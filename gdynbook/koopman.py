"""Koopman analysis of state probabilities: transition matrix, timescales, CK test.

Input is one trajectory or a list of independent trajectories of state probabilities
χ, each of shape (frames, n_targets, n_states) or (frames, n_states). Every target atom
in every frame is one sample of one shared operator, and time-lagged pairs (t, t + τ)
never cross from one trajectory to the next.

The Koopman (transition) matrix at lag τ is the least-squares propagator of the
original GDyNets analysis,

    K(τ) = (χ₀ᵀχ₀)⁺ χ₀ᵀχ_τ,

which for one-hot (crisp) states is the row-normalised transition count matrix. Its
eigenvalues λᵢ give implied timescales tᵢ = −τ / ln|λᵢ|. Eigenvalues that are
negative, complex or larger than one in modulus have no timescale: they are flagged
(a warning and a field in the result), never turned silently into numbers.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

ProbabilityInput = np.ndarray | Sequence[np.ndarray]

_TOLERANCE = 1e-9


class KoopmanWarning(UserWarning):
    """An eigenvalue without a physical timescale, or a trajectory too short for the lag."""


# ---------------------------------------------------------------------- input handling
def as_trajectory_list(probs: ProbabilityInput) -> list[np.ndarray]:
    """Validate state probabilities and return them as a list of (frames, n, n_states) arrays.

    Raises
    ------
    ValueError
        On wrong ranks, mismatched numbers of states or targets, NaN/inf, negative
        values or rows that do not sum to one.
    """
    if isinstance(probs, np.ndarray) or (
        isinstance(probs, Sequence) and probs and np.ndim(probs[0]) == 1
    ):
        runs = [np.asarray(probs)]
    else:
        runs = [np.asarray(p) for p in probs]
    if not runs:
        raise ValueError("no trajectories of state probabilities were given.")
    checked = []
    for i, run in enumerate(runs):
        if run.ndim == 2:
            run = run[:, None, :]
        if run.ndim != 3:
            raise ValueError(
                f"trajectory {i}: state probabilities must have shape (frames, n_states) or "
                f"(frames, n_targets, n_states), got {run.shape}."
            )
        run = run.astype(np.float64)
        if not np.isfinite(run).all():
            raise ValueError(f"trajectory {i}: state probabilities contain NaN or inf values.")
        if (run < -1e-9).any() or np.abs(run.sum(axis=-1) - 1.0).max() > 1e-4:
            raise ValueError(
                f"trajectory {i}: values are not probabilities (each row must be ≥ 0 and sum "
                "to 1). Pass the softmax outputs of the model, or one-hot states."
            )
        checked.append(run)
    shapes = {run.shape[1:] for run in checked}
    if len(shapes) > 1:
        raise ValueError(
            f"the trajectories disagree in (n_targets, n_states): {sorted(shapes)}. All must "
            "describe the same system and model."
        )
    return checked


def check_lag(runs: list[np.ndarray], lag_frames: int) -> None:
    """Refuse a lag below one frame or not shorter than the longest trajectory.

    Raises
    ------
    ValueError
        With the numbers to fix it.
    """
    if lag_frames < 1:
        raise ValueError(f"lag_frames must be at least 1, got {lag_frames}.")
    longest = max(run.shape[0] for run in runs)
    if lag_frames >= longest:
        raise ValueError(
            f"a lag of {lag_frames} frames needs trajectories longer than that; the longest "
            f"has {longest} frames. Use a shorter lag or longer trajectories."
        )


def lagged_pairs(runs: list[np.ndarray], lag_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """All (t, t + τ) sample pairs, flattened over frames and targets, per trajectory.

    Returns
    -------
    chi_0, chi_t : numpy.ndarray, shape (samples, n_states)

    Raises
    ------
    ValueError
        If the lag is not positive or no trajectory is longer than the lag.
    """
    lag_frames = int(lag_frames)
    check_lag(runs, lag_frames)
    short = [i for i, run in enumerate(runs) if run.shape[0] <= lag_frames]
    if short:
        warnings.warn(
            f"trajectories {short} are not longer than the lag ({lag_frames} frames) and "
            "contribute no pairs.",
            KoopmanWarning,
            stacklevel=3,
        )
    n_states = runs[0].shape[-1]
    chi_0 = [run[:-lag_frames].reshape(-1, n_states) for run in runs if run.shape[0] > lag_frames]
    chi_t = [run[lag_frames:].reshape(-1, n_states) for run in runs if run.shape[0] > lag_frames]
    return np.concatenate(chi_0), np.concatenate(chi_t)


# ---------------------------------------------------------------------- the model
@dataclass
class KoopmanModel:
    """A Koopman matrix estimated at one lag, with its spectral decomposition.

    Attributes
    ----------
    koopman_matrix : numpy.ndarray, shape (n_states, n_states)
        K(τ); rows sum to one.
    lag_frames : int
        Lag τ in frames.
    time_step_ps : float or None
        Time between frames, ps (for timescales in ps).
    eigenvalues : numpy.ndarray (complex), shape (n_states,)
        Sorted by decreasing real part; the first is the stationary eigenvalue 1.
    left_eigenvectors, right_eigenvectors : numpy.ndarray, shape (n_states, n_states)
        Column i belongs to eigenvalue i; left ones satisfy lᵢᵀK = λᵢlᵢᵀ, normalised so
        that lᵢᵀrⱼ = δᵢⱼ and the first left vector is the stationary distribution.
    populations : numpy.ndarray, shape (n_states,)
        Stationary distribution π (πK = π, Σπ = 1).
    mean_probabilities : numpy.ndarray, shape (n_states,)
        Mean χ over all samples at t, for comparison with ``populations``.
    flags : list of str
        Eigenvalues without a timescale: ``"complex"``, ``"negative"``, ``">1"`` (or ``""``).
    n_samples : int
        Number of (t, t + τ) pairs used.
    """

    koopman_matrix: np.ndarray
    lag_frames: int
    time_step_ps: float | None
    eigenvalues: np.ndarray
    left_eigenvectors: np.ndarray
    right_eigenvectors: np.ndarray
    populations: np.ndarray
    mean_probabilities: np.ndarray
    flags: list[str] = field(default_factory=list)
    n_samples: int = 0

    @property
    def n_states(self) -> int:
        return int(self.koopman_matrix.shape[0])

    @property
    def lag_ps(self) -> float:
        """The lag τ in ps."""
        if self.time_step_ps is None:
            raise ValueError("this model has no time_step_ps; pass it to estimate_koopman.")
        return self.lag_frames * self.time_step_ps

    def timescales(self, in_ps: bool = True) -> np.ndarray:
        """Implied timescales tᵢ = −τ/ln λᵢ of eigenvalues 2 … n (ps, or frames).

        Eigenvalues flagged as complex, negative or > 1 give NaN.
        """
        tau = self.lag_ps if in_ps else float(self.lag_frames)
        return timescales_from_eigenvalues(self.eigenvalues[1:], tau)

    def propagate(self, n_steps: int) -> np.ndarray:
        """K(τ)ⁿ: the model's prediction for lag n τ."""
        return np.linalg.matrix_power(self.koopman_matrix, int(n_steps))


def classify_eigenvalue(value: complex) -> str:
    """``""`` for a real eigenvalue in (0, 1], else why it has no timescale."""
    if abs(np.imag(value)) > 1e-8:
        return "complex"
    if np.real(value) <= 0:
        return "negative"
    if np.real(value) > 1 + 1e-8:
        return ">1"
    return ""


def timescales_from_eigenvalues(eigenvalues: np.ndarray, tau: float) -> np.ndarray:
    """t = −τ/ln λ for real λ in (0, 1); NaN where λ is complex, ≤ 0 or ≥ 1 (∞ for λ = 1)."""
    values = np.asarray(eigenvalues)
    out = np.full(values.shape, np.nan)
    for index, value in np.ndenumerate(values):
        if classify_eigenvalue(value) == "":
            real = min(float(np.real(value)), 1.0)
            out[index] = np.inf if real >= 1.0 else -tau / np.log(real)
    return out


def koopman_from_pairs(
    chi_0: np.ndarray, chi_t: np.ndarray, reversible: bool = False
) -> np.ndarray:
    """K = (χ₀ᵀχ₀)⁺ χ₀ᵀχ_τ, or its symmetrised form, in float64."""
    c00 = chi_0.T @ chi_0
    c0t = chi_0.T @ chi_t
    if reversible:
        c00 = 0.5 * (c00 + chi_t.T @ chi_t)
        c0t = 0.5 * (c0t + c0t.T)
    return np.linalg.pinv(c00, rcond=1e-12, hermitian=True) @ c0t


def _spectral(koopman: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    eigenvalues, left, right = scipy.linalg.eig(koopman, left=True, right=True)
    order = np.lexsort((-np.abs(eigenvalues), -np.real(eigenvalues)))
    eigenvalues, left, right = eigenvalues[order], left[:, order], right[:, order]
    # normalise: first left vector sums to one; biorthonormal lᵢᵀrᵢ = 1
    if abs(left[:, 0].sum()) > _TOLERANCE:
        left[:, 0] = left[:, 0] / left[:, 0].sum()
    for i in range(len(eigenvalues)):
        overlap = left[:, i] @ right[:, i]
        if abs(overlap) > _TOLERANCE:
            right[:, i] = right[:, i] / overlap
    if np.allclose(np.imag(eigenvalues), 0, atol=1e-12):
        eigenvalues = np.real(eigenvalues).astype(complex)
    return eigenvalues, left, right


def estimate_koopman(
    probs: ProbabilityInput,
    lag_frames: int,
    reversible: bool = False,
    time_step_ps: float | None = None,
    warn: bool = True,
) -> KoopmanModel:
    """Estimate the Koopman matrix K(τ) from state probabilities.

    Parameters
    ----------
    probs : array or list of arrays
        State probabilities, (frames, n_targets, n_states) or (frames, n_states), one
        array per independent trajectory.
    lag_frames : int
        Lag τ in frames.
    reversible : bool
        Symmetrise the correlations before solving: C₀₀ → (C₀₀ + C_ττ)/2 and
        C₀τ → (C₀τ + Cτ₀)/2. This is the naive symmetrisation: right for equilibrium
        data, biased towards the data's start distribution when the frames are out of
        equilibrium (many short runs from a prepared start). There, use the
        non-reversible estimate or :func:`gdynbook.estimators.reversible_transition_matrix`
        (detailed balance as a constraint of the maximum likelihood).
    time_step_ps : float, optional
        Time between frames, ps, so that timescales come out in ps.
    warn : bool
        Warn about eigenvalues that have no timescale.

    Returns
    -------
    KoopmanModel
    """
    runs = as_trajectory_list(probs)
    chi_0, chi_t = lagged_pairs(runs, lag_frames)
    koopman = koopman_from_pairs(chi_0, chi_t, reversible)
    eigenvalues, left, right = _spectral(koopman)
    flags = [classify_eigenvalue(value) for value in eigenvalues]
    bad = [
        (i, value, flag)
        for i, (value, flag) in enumerate(zip(eigenvalues, flags, strict=True))
        if flag
    ]
    if bad and warn:
        listed = ", ".join(f"λ{i + 1} = {value:.4g} ({flag})" for i, value, flag in bad)
        warnings.warn(
            f"at a lag of {lag_frames} frames some eigenvalues have no timescale: {listed}. "
            "Their timescales are reported as NaN; a longer lag, more data or fewer states "
            "usually helps.",
            KoopmanWarning,
            stacklevel=2,
        )
    populations = np.real(left[:, 0])
    populations = populations / populations.sum()
    return KoopmanModel(
        koopman_matrix=koopman,
        lag_frames=int(lag_frames),
        time_step_ps=time_step_ps,
        eigenvalues=eigenvalues,
        left_eigenvectors=left,
        right_eigenvectors=right,
        populations=populations,
        mean_probabilities=chi_0.mean(axis=0),
        flags=flags,
        n_samples=int(chi_0.shape[0]),
    )


# ---------------------------------------------------------------------- bootstrap
def _bootstrap_units(runs: list[np.ndarray], n_blocks: int, min_frames: int) -> list[np.ndarray]:
    """Independent units to resample: the trajectories, or time blocks of a single one."""
    if len(runs) > 1:
        return runs
    run = runs[0]
    n_blocks = min(n_blocks, run.shape[0] // max(min_frames, 1))
    if n_blocks < 2:
        return runs
    return [block for block in np.array_split(run, n_blocks) if block.shape[0] > 0]


#: How a bootstrap resamples: whole runs (time blocks when there is one run), or whole
#: groups of runs (e.g. the Li⁺ series of each independent build), each drawn group
#: keeping all its runs. Resampling runs inside drawn groups again (or time blocks inside
#: drawn runs) would count the lower level's noise twice: on test data such nested
#: draws gave intervals 1.6–2.1 times too wide.
RESAMPLING = ("runs", "groups")


def _bootstrap_samples(
    runs: list[np.ndarray],
    n_bootstrap: int,
    n_blocks: int,
    min_frames: int,
    seed: int,
    resample: str = "runs",
    groups: Sequence[int] | None = None,
) -> list[list[np.ndarray]]:
    if resample not in RESAMPLING:
        raise ValueError(f"resample must be one of {RESAMPLING}, got {resample!r}.")
    rng = np.random.default_rng(seed)
    if resample == "groups":
        if groups is None or len(groups) != len(runs):
            raise ValueError(
                "resample='groups' needs groups: one group label per trajectory (e.g. the "
                "build each Li⁺ series comes from)."
            )
        labels = np.asarray(groups)
        members = [[runs[i] for i in np.flatnonzero(labels == g)] for g in np.unique(labels)]
        if len(members) < 2:
            return []
        return [
            [run for g in rng.integers(0, len(members), len(members)) for run in members[g]]
            for _ in range(n_bootstrap)
        ]
    units = _bootstrap_units(runs, n_blocks, min_frames)
    if len(units) < 2:
        return []
    return [[units[i] for i in rng.integers(0, len(units), len(units))] for _ in range(n_bootstrap)]


def _sorted_real_eigenvalues(koopman: np.ndarray) -> np.ndarray:
    values = np.linalg.eigvals(koopman)
    return np.sort(np.real(values))[::-1]


@dataclass
class ImpliedTimescales:
    """Implied timescales over lag times, with bootstrap intervals.

    Attributes
    ----------
    lags_frames : numpy.ndarray of int
    lags_ps : numpy.ndarray
    timescales_ps : numpy.ndarray, shape (n_lags, n_states − 1)
        From the eigenvalues of the full data; NaN where an eigenvalue has no timescale.
    lower_ps, upper_ps : numpy.ndarray, shape (n_lags, n_states − 1)
        Interval bounds, from quantiles of the bootstrapped eigenvalues mapped through
        t = −τ/ln λ (NaN without a bootstrap).
    std_ps : numpy.ndarray, shape (n_lags, n_states − 1)
        Standard deviation of the bootstrapped timescales (samples whose eigenvalue
        has no timescale are left out; NaN without a bootstrap).
    eigenvalues : numpy.ndarray, shape (n_lags, n_states)
    flags : list of list of str
    confidence : float
    n_units : int
        Number of independent units resampled (trajectories or time blocks).
    """

    lags_frames: np.ndarray
    lags_ps: np.ndarray
    timescales_ps: np.ndarray
    lower_ps: np.ndarray
    upper_ps: np.ndarray
    std_ps: np.ndarray
    eigenvalues: np.ndarray
    flags: list[list[str]]
    confidence: float
    n_units: int


def implied_timescales(
    probs: ProbabilityInput,
    lags_frames: Sequence[int] | np.ndarray,
    time_step_ps: float,
    reversible: bool = False,
    n_bootstrap: int = 100,
    n_blocks: int = 10,
    confidence: float = 0.95,
    seed: int = 0,
    resample: str = "runs",
    groups: Sequence[int] | None = None,
) -> ImpliedTimescales:
    """Implied timescales tᵢ(τ) = −τ/ln λᵢ(τ) in ps with bootstrap intervals.

    Intervals come from quantiles of the bootstrapped *eigenvalues* (i-th largest),
    resampling whole trajectories when there are several and contiguous time blocks
    when there is one, mapped through t = −τ/ln λ — not from averaged timescales.

    Parameters
    ----------
    probs : array or list of arrays
        State probabilities per trajectory.
    lags_frames : sequence of int
        Lags τ in frames.
    time_step_ps : float
        Time between frames, ps.
    reversible : bool
        Symmetrised estimate.
    n_bootstrap : int
        Bootstrap samples (0 for none).
    n_blocks : int
        Time blocks for a single trajectory.
    confidence : float
        Coverage of the interval, e.g. 0.95.
    seed : int
        Seed of the resampling.
    resample : {"runs", "groups"}
        ``"runs"``: whole trajectories (time blocks of a single one). ``"groups"``: whole
        groups of trajectories, labelled by ``groups`` — for the Li⁺ series of several
        independent builds, where the builds, not the Li⁺, are independent.
    groups : sequence of int, optional
        Group label of every trajectory (with ``resample="groups"``).
    """
    runs = as_trajectory_list(probs)
    lags = np.asarray(lags_frames, dtype=np.int64).reshape(-1)
    n_states = runs[0].shape[-1]
    eigenvalues = np.zeros((lags.size, n_states), dtype=complex)
    timescales = np.full((lags.size, n_states - 1), np.nan)
    lower = np.full_like(timescales, np.nan)
    upper = np.full_like(timescales, np.nan)
    spread = np.full_like(timescales, np.nan)
    flags = []
    samples = _bootstrap_samples(
        runs, n_bootstrap, n_blocks, int(lags.max()) + 1, seed, resample, groups
    )
    alpha = (1.0 - confidence) / 2.0
    for i, lag in enumerate(lags):
        model = estimate_koopman(runs, int(lag), reversible, time_step_ps, warn=False)
        eigenvalues[i] = model.eigenvalues
        timescales[i] = model.timescales()
        flags.append(model.flags)
        if not samples:
            continue
        boot = []
        for sample in samples:
            usable = [unit for unit in sample if unit.shape[0] > lag]
            if not usable:
                continue
            chi_0, chi_t = lagged_pairs(usable, int(lag))
            boot.append(_sorted_real_eigenvalues(koopman_from_pairs(chi_0, chi_t, reversible)))
        if len(boot) < 2:
            continue
        boot_values = np.array(boot)[:, 1:]
        tau = lag * time_step_ps
        low_lambda = np.quantile(boot_values, alpha, axis=0)
        high_lambda = np.quantile(boot_values, 1 - alpha, axis=0)
        lower[i] = timescales_from_eigenvalues(low_lambda, tau)
        upper[i] = timescales_from_eigenvalues(high_lambda, tau)
        boot_timescales = timescales_from_eigenvalues(boot_values, tau)
        for k in range(boot_timescales.shape[1]):
            finite = boot_timescales[:, k][np.isfinite(boot_timescales[:, k])]
            if finite.size >= 2:
                spread[i, k] = finite.std(ddof=1)
    if any(any(f for f in row) for row in flags):
        warnings.warn(
            "some eigenvalues have no timescale at some lags (complex, negative or > 1); "
            "they are NaN in the result (see .flags).",
            KoopmanWarning,
            stacklevel=2,
        )
    return ImpliedTimescales(
        lags_frames=lags,
        lags_ps=lags * time_step_ps,
        timescales_ps=timescales,
        lower_ps=lower,
        upper_ps=upper,
        std_ps=spread,
        eigenvalues=eigenvalues,
        flags=flags,
        confidence=confidence,
        n_units=len(_bootstrap_units(runs, n_blocks, int(lags.max()) + 1)),
    )


def bootstrap_populations(
    probs: ProbabilityInput,
    lag_frames: int,
    reversible: bool = False,
    n_bootstrap: int = 100,
    n_blocks: int = 10,
    seed: int = 0,
) -> np.ndarray:
    """Bootstrap samples of the stationary populations π of K(τ), (n_samples, n_states).

    Resamples whole trajectories (or time blocks of a single one) like
    :func:`implied_timescales`; ``samples.std(axis=0)`` is the error of
    :attr:`KoopmanModel.populations`.
    """
    runs = as_trajectory_list(probs)
    out = []
    for sample in _bootstrap_samples(runs, n_bootstrap, n_blocks, int(lag_frames) + 1, seed):
        try:
            koopman = koopman_from_pairs(*lagged_pairs_quiet(sample, lag_frames), reversible)
        except ValueError:
            continue
        _, left, _ = _spectral(koopman)
        populations = np.real(left[:, 0])
        out.append(populations / populations.sum())
    return np.array(out).reshape(-1, runs[0].shape[-1])


# ---------------------------------------------------------------------- CK test
@dataclass
class CKTest:
    """Chapman–Kolmogorov test: K(τ)ⁿ predicted against K(nτ) estimated.

    Attributes
    ----------
    steps : numpy.ndarray of int
        n = 1 … n_steps (n = 0 is the identity and omitted).
    lags_ps : numpy.ndarray
        n τ in ps.
    predicted, estimated : numpy.ndarray, shape (n_steps, n_states, n_states)
    predicted_lower, predicted_upper, estimated_lower, estimated_upper : numpy.ndarray
        Bootstrap interval bounds (NaN without a bootstrap).
    max_deviation : float
        Largest absolute difference of predicted and estimated entries over all entries and steps.
    passes : bool
        Whether every estimated entry lies within ``tolerance`` of the prediction,
        with ``tolerance`` = max(atol, z·σ) for the combined bootstrap σ of the entry.
    """

    steps: np.ndarray
    lags_ps: np.ndarray
    predicted: np.ndarray
    estimated: np.ndarray
    predicted_lower: np.ndarray
    predicted_upper: np.ndarray
    estimated_lower: np.ndarray
    estimated_upper: np.ndarray
    max_deviation: float
    passes: bool


def ck_test(
    probs: ProbabilityInput,
    lag_frames: int,
    n_steps: int,
    time_step_ps: float = 1.0,
    reversible: bool = False,
    n_bootstrap: int = 100,
    n_blocks: int = 10,
    confidence: float = 0.95,
    atol: float = 0.02,
    z: float = 3.0,
    seed: int = 0,
    resample: str = "runs",
    groups: Sequence[int] | None = None,
) -> CKTest:
    """Chapman–Kolmogorov test of the Koopman model at lag τ.

    Parameters
    ----------
    probs : array or list of arrays
        State probabilities per trajectory.
    lag_frames : int
        Model lag τ in frames.
    n_steps : int
        Compare up to n τ.
    time_step_ps : float
        Time between frames, ps.
    atol, z : float
        Pass criterion: every entry of K(τ)ⁿ and K(nτ) differs by at most
        max(atol, z σ), σ combining the bootstrap standard deviations of both.
    resample : {"runs", "groups"}
        Bootstrap units, as in :func:`implied_timescales`.
    groups : sequence of int, optional
        Group label of every trajectory (with ``resample="groups"``).
    """
    runs = as_trajectory_list(probs)
    steps = np.arange(1, int(n_steps) + 1)
    model = estimate_koopman(runs, lag_frames, reversible, time_step_ps, warn=False)
    predicted = np.array([model.propagate(n) for n in steps])
    estimated = np.array(
        [
            estimate_koopman(
                runs, n * lag_frames, reversible, time_step_ps, warn=False
            ).koopman_matrix
            for n in steps
        ]
    )
    shape = predicted.shape
    bounds = {key: np.full(shape, np.nan) for key in ("pl", "pu", "el", "eu")}
    sigma = np.zeros(shape)
    samples = _bootstrap_samples(
        runs, n_bootstrap, n_blocks, int(n_steps * lag_frames) + 1, seed, resample, groups
    )
    if samples:
        boot_pred, boot_est = [], []
        for sample in samples:
            try:
                base = koopman_from_pairs(*lagged_pairs_quiet(sample, lag_frames), reversible)
                boot_pred.append([np.linalg.matrix_power(base, n) for n in steps])
                boot_est.append(
                    [
                        koopman_from_pairs(*lagged_pairs_quiet(sample, n * lag_frames), reversible)
                        for n in steps
                    ]
                )
            except ValueError:
                continue
        if len(boot_pred) >= 2:
            boot_pred, boot_est = np.array(boot_pred), np.array(boot_est)
            alpha = (1 - confidence) / 2
            bounds["pl"], bounds["pu"] = np.quantile(boot_pred, [alpha, 1 - alpha], axis=0)
            bounds["el"], bounds["eu"] = np.quantile(boot_est, [alpha, 1 - alpha], axis=0)
            sigma = np.sqrt(boot_pred.var(axis=0) + boot_est.var(axis=0))
    deviation = np.abs(predicted - estimated)
    passes = bool(np.all(deviation <= np.maximum(atol, z * sigma)))
    return CKTest(
        steps=steps,
        lags_ps=steps * lag_frames * time_step_ps,
        predicted=predicted,
        estimated=estimated,
        predicted_lower=bounds["pl"],
        predicted_upper=bounds["pu"],
        estimated_lower=bounds["el"],
        estimated_upper=bounds["eu"],
        max_deviation=float(deviation.max()),
        passes=passes,
    )


def lagged_pairs_quiet(runs: list[np.ndarray], lag_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`lagged_pairs` without the warning about short trajectories."""
    usable = [run for run in runs if run.shape[0] > lag_frames]
    if not usable:
        raise ValueError("no trajectory is longer than the lag.")
    return lagged_pairs(usable, lag_frames)


def split_targets(probs: ProbabilityInput) -> list[np.ndarray]:
    """One (frames, 1, n_states) series per trajectory and target atom.

    Bootstrap intervals resample whole series; with few trajectories of many equivalent
    targets (16 Li⁺ per run), the targets' own series are the natural units. They are
    not strictly independent — they share a box — so intervals from them are a lower
    bound on the uncertainty.
    """
    return [run[:, [k], :] for run in as_trajectory_list(probs) for k in range(run.shape[1])]
