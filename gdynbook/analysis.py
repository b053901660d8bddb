"""One analysis step: state probabilities and a lag → a fitted Koopman analysis.

Every job and chapter that turns a trained network's outputs into physics runs the
same chain: the simplex map (outputs → memberships, :func:`~gdynbook.states.fit_simplex`),
the Koopman model at the lag, its populations with bootstrap intervals, and — when asked
— implied timescales over a range of lags and the Chapman–Kolmogorov test. As in
deeptime, an estimator call returns a fitted object::

    analysis = analyze(probabilities, lag_frames=20, time_step_ps=5.0, by_target=True)
    analysis.populations, analysis.populations_err, analysis.timescales_ps
    its = analysis.implied_timescales(lags_frames=[1, 2, 5, 10, 20, 40])
    ck = analysis.ck_test(n_steps=4)

Bootstrap units: whole trajectories, or with ``by_target=True`` each target atom of each
trajectory (independent ions in one box), or time blocks of a single series (see
:func:`~gdynbook.koopman.implied_timescales`). Every bootstrap has its own seed, so the
order of the calls does not change a number.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gdynbook.koopman import (
    CKTest,
    ImpliedTimescales,
    KoopmanModel,
    KoopmanWarning,
    ProbabilityInput,
    as_trajectory_list,
    bootstrap_populations,
    check_lag,
    ck_test,
    estimate_koopman,
    implied_timescales,
    split_targets,
)
from gdynbook.states import SimplexMap, fit_simplex


@dataclass
class KoopmanAnalysis:
    """A fitted analysis of state probabilities at one lag (made by :func:`analyze`).

    Attributes
    ----------
    lag_frames : int
        The model lag τ, frames.
    time_step_ps : float
        Time between frames, ps.
    simplex : SimplexMap
        The map from network outputs to memberships.
    memberships : list of numpy.ndarray
        Memberships per trajectory, (frames, n_targets, n_states), every trajectory.
    series : list of numpy.ndarray
        The bootstrap units the model is estimated from: trajectories longer than the
        lag, split per target when ``by_target``.
    model : KoopmanModel
        Koopman model of ``series`` at the lag.
    population_samples : numpy.ndarray, shape (n_bootstrap, n_states)
        Stationary populations of the bootstrap samples.
    its : ImpliedTimescales or None
        Implied timescales over the lags asked for in :func:`analyze`.
    ck : CKTest or None
        The Chapman–Kolmogorov test asked for in :func:`analyze`.
    """

    lag_frames: int
    time_step_ps: float
    simplex: SimplexMap
    memberships: list[np.ndarray]
    series: list[np.ndarray]
    model: KoopmanModel
    population_samples: np.ndarray
    its: ImpliedTimescales | None = None
    ck: CKTest | None = None

    @property
    def n_states(self) -> int:
        return int(self.model.koopman_matrix.shape[0])

    @property
    def lag_ps(self) -> float:
        return self.lag_frames * self.time_step_ps

    @property
    def populations(self) -> np.ndarray:
        """Stationary populations of the states."""
        return self.model.populations

    @property
    def populations_err(self) -> np.ndarray:
        """Bootstrap standard deviation of the populations (NaN with < 2 samples)."""
        if len(self.population_samples) < 2:
            return np.full(self.n_states, np.nan)
        return self.population_samples.std(axis=0, ddof=1)

    @property
    def timescales_ps(self) -> np.ndarray:
        """Implied timescales of the model at the lag, slowest first, ps."""
        return self.model.timescales()

    def implied_timescales(
        self, lags_frames: Sequence[int], n_bootstrap: int = 100, seed: int = 0
    ) -> ImpliedTimescales:
        """Implied timescales of the same series over ``lags_frames``, bootstrapped."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", KoopmanWarning)
            return implied_timescales(
                self.series,
                np.asarray(lags_frames, dtype=int),
                self.time_step_ps,
                n_bootstrap=n_bootstrap,
                seed=seed,
            )

    def ck_test(self, n_steps: int = 4, n_bootstrap: int = 100, seed: int = 0) -> CKTest:
        """Chapman–Kolmogorov test of the model over ``n_steps`` multiples of the lag.

        Raises
        ------
        ValueError
            If no series is longer than ``n_steps`` lags.
        """
        longest = max(s.shape[0] for s in self.series)
        if n_steps * self.lag_frames >= longest:
            raise ValueError(
                f"a CK test over {n_steps} × {self.lag_frames} frames needs a series longer "
                f"than {n_steps * self.lag_frames} frames (the longest has {longest}): "
                "use fewer steps or a shorter lag."
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", KoopmanWarning)
            return ck_test(
                self.series,
                self.lag_frames,
                n_steps,
                time_step_ps=self.time_step_ps,
                n_bootstrap=n_bootstrap,
                seed=seed,
            )


def analyze(
    probabilities: ProbabilityInput,
    lag_frames: int,
    time_step_ps: float,
    *,
    lags_frames: Sequence[int] | None = None,
    ck_steps: int | None = None,
    n_bootstrap: int = 100,
    by_target: bool = False,
    simplex: SimplexMap | None = None,
    seed: int = 0,
) -> KoopmanAnalysis:
    """Simplex map, Koopman model, populations (and optionally ITS and CK) at one lag.

    Parameters
    ----------
    probabilities : array or list of arrays
        Network outputs per trajectory, (frames, n_targets, n_states) or (frames, n_states).
    lag_frames : int
        Model lag τ, frames.
    time_step_ps : float
        Time between frames, ps.
    lags_frames : sequence of int, optional
        Lags for implied timescales (skipped when None); the model lag is added.
    ck_steps : int, optional
        Steps of the Chapman–Kolmogorov test (skipped when None); fewer when the
        series are too short for that many.
    n_bootstrap : int
        Bootstrap samples for the populations, timescales and CK intervals (0: no
        population intervals).
    by_target : bool
        Treat each target atom of each trajectory as its own series (bootstrap unit).
    simplex : SimplexMap, optional
        Use this map instead of fitting one (e.g. fitted on training runs).
    seed : int
        Seed of every bootstrap.

    Raises
    ------
    ValueError
        If the lag is not positive or no trajectory is longer than the lag.
    """
    lag_frames = int(lag_frames)
    runs = as_trajectory_list(probabilities)
    check_lag(runs, lag_frames)  # before the simplex is fitted
    usable = [run for run in runs if run.shape[0] > lag_frames]
    simplex = simplex if simplex is not None else fit_simplex(usable)
    memberships = simplex.transform(runs)
    kept = [m for m in memberships if m.shape[0] > lag_frames]
    series = split_targets(kept) if by_target else kept
    model = estimate_koopman(series, lag_frames, time_step_ps=time_step_ps, warn=False)
    samples = np.empty((0, model.koopman_matrix.shape[0]))
    if n_bootstrap > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", KoopmanWarning)
            samples = bootstrap_populations(series, lag_frames, n_bootstrap=n_bootstrap, seed=seed)
    analysis = KoopmanAnalysis(
        lag_frames=lag_frames,
        time_step_ps=float(time_step_ps),
        simplex=simplex,
        memberships=memberships,
        series=series,
        model=model,
        population_samples=np.asarray(samples),
    )
    if lags_frames is not None:
        lags = np.union1d(np.asarray(lags_frames, dtype=int), [lag_frames])
        analysis.its = analysis.implied_timescales(lags, n_bootstrap=n_bootstrap, seed=seed)
    if ck_steps is not None:
        shortest = min(s.shape[0] for s in series)
        steps = max(1, min(int(ck_steps), (shortest - 1) // lag_frames))
        analysis.ck = analysis.ck_test(steps, n_bootstrap=n_bootstrap, seed=seed)
    return analysis
