"""Learned states within strata of a slow per-Li⁺ variable: what is dynamics, what a label.

When a per-ion variable hardly changes over the data (which chain holds a Li⁺, how far
it sits from a chain end), a network can learn it as a fixed label: each Li⁺ then keeps
its "state" for the whole run and the Koopman model describes sorting, not motion.
:func:`states_within_strata` sorts the Li⁺ by their time-mean value of such a variable
into strata fixed by quantiles, and reports, within each stratum, the state populations,
how much of the membership variance is still *within* ions (switching) and the slowest
implied timescale of that stratum's Li⁺ alone. States whose populations differ between
strata but barely move within them are the label; what remains within a stratum is the
dynamics.

Units: ps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StateStrata:
    """The learned states within strata of a per-Li⁺ variable.

    Attributes
    ----------
    edges : numpy.ndarray, shape (n_strata - 1,)
        Stratum boundaries on the per-Li⁺ time means of the variable.
    n_li : numpy.ndarray of int, shape (n_strata,)
        Li⁺ (over all builds) in each stratum.
    populations : numpy.ndarray, shape (n_strata, n_states)
        Mean membership of each state over the stratum's samples.
    within_ion_share : numpy.ndarray, shape (n_strata,)
        Share of the stratum's membership variance (summed over states) that lies within
        ions, over time; 0 when every Li⁺ keeps its memberships for the whole run.
    slowest_timescale_ps : numpy.ndarray, shape (n_strata,)
        The slowest implied timescale of a Koopman model of the stratum's Li⁺ alone at
        ``lag_frames``; NaN where it does not exist.
    n_li_without_value : int
        Li⁺ left out because the variable has no finite value in their whole build
        (e.g. a Li⁺ that never has an ether O in its shell has no chain-end distance).
    """

    edges: np.ndarray
    n_li: np.ndarray
    populations: np.ndarray
    within_ion_share: np.ndarray
    slowest_timescale_ps: np.ndarray
    n_li_without_value: int = 0


def states_within_strata(
    probabilities: Sequence[np.ndarray],
    variable: Sequence[np.ndarray],
    lag_frames: int,
    time_step_ps: float,
    n_strata: int = 3,
) -> StateStrata:
    """Sort Li⁺ into strata of a slow variable and describe the states within each.

    Parameters
    ----------
    probabilities : list of numpy.ndarray, each (frames, n_li, n_states)
        Memberships per build.
    variable : list of numpy.ndarray, each (frames, n_li)
        The per-frame variable of the same Li⁺ (NaN frames are ignored; a Li⁺ without
        any finite value is left out and counted), e.g. the chain-end distance
        (:func:`~gdynbook.systems.peo_litfsi.shells.li_descriptors`).
    lag_frames : int
        Lag of the per-stratum Koopman models, frames.
    time_step_ps : float
    n_strata : int
        Strata cut at the quantiles of the per-Li⁺ means, pooled over builds.

    Raises
    ------
    ValueError
        If the lists or shapes disagree, or fewer Li⁺ with a value than strata remain.
    """
    from gdynbook.koopman import estimate_koopman

    if len(probabilities) != len(variable) or not probabilities:
        raise ValueError(
            f"{len(probabilities)} membership arrays and {len(variable)} variable arrays: "
            "give one of each per build."
        )
    series, means = [], []
    without = 0
    for chi, values in zip(probabilities, variable, strict=True):
        chi = np.asarray(chi, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
        if chi.ndim != 3 or values.shape != chi.shape[:2]:
            raise ValueError(
                f"memberships {chi.shape} must be (frames, n_li, n_states) and the variable "
                f"{values.shape} (frames, n_li) of the same build."
            )
        seen = np.isfinite(values).any(axis=0)
        without += int((~seen).sum())
        means.append(np.nanmean(values[:, seen], axis=0))
        series += [chi[:, k, :] for k in np.flatnonzero(seen)]
    per_li = np.concatenate(means)
    if per_li.size < n_strata or n_strata < 1:
        raise ValueError(
            f"{per_li.size} Li⁺ with a value of the variable cannot fill {n_strata} strata."
        )
    edges = np.quantile(per_li, np.arange(1, n_strata) / n_strata)
    stratum = np.searchsorted(edges, per_li, side="right")
    n_states = series[0].shape[-1]
    populations = np.full((n_strata, n_states), np.nan)
    within = np.full(n_strata, np.nan)
    slowest = np.full(n_strata, np.nan)
    for s in range(n_strata):
        members = [series[i] for i in np.flatnonzero(stratum == s)]
        if not members:
            continue
        stacked = np.concatenate(members)  # every sample of the stratum
        populations[s] = stacked.mean(axis=0)
        total = stacked.var(axis=0).sum()
        within_ion = sum(m.shape[0] * m.var(axis=0).sum() for m in members) / stacked.shape[0]
        within[s] = within_ion / total if total > 0 else np.nan
        usable = [m[:, None, :] for m in members if m.shape[0] > lag_frames]
        if usable and n_states > 1:
            model = estimate_koopman(usable, lag_frames, time_step_ps=time_step_ps, warn=False)
            timescales = model.timescales()
            slowest[s] = timescales[0] if timescales.size else np.nan
    return StateStrata(
        edges, np.bincount(stratum, minlength=n_strata), populations, within, slowest, without
    )
