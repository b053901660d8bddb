"""Figures of the toy system (Li in the fcc S lattice): the cell, timescales, states.

They draw from the system's own objects (:class:`~gdynbook.systems.toy_reference.ToyReference`)
and from any result that has memberships, a state mapping and recalls
(:class:`StateAssignment`), such as the toy job's state reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gdynbook.koopman import ImpliedTimescales
from gdynbook.systems.toy_reference import ToyReference
from gdynbook.trajectory import Trajectory


def _axis(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    return ax if ax is not None else plt.subplots(figsize=figsize)[1]


class StateAssignment(Protocol):
    """What :func:`plot_toy_states` reads of a model's states on held-out replicas."""

    memberships: list[np.ndarray]  # (frames, 1, n_states) per replica
    mapping: np.ndarray  # mapping[k]: reference state (0 tet, 1 oct) of network state k
    recall: np.ndarray  # (tet, oct) recall


def plot_toy_timescales(
    gdynet_its: ImpliedTimescales,
    baseline_its: ImpliedTimescales,
    reference: ToyReference,
    ax: Axes | None = None,
) -> Figure:
    """Slowest implied timescale of GDyNet and the baseline against the reference modes.

    Horizontal lines: the two-state (tet ⇄ oct) relaxation time and the slowest
    site-identity mode of the 12-hole model — where each model's timescale should sit.
    """
    ax = _axis(ax, (5.5, 4.0))
    for its, name, color in (
        (gdynet_its, "GDyNet", "C0"),
        (baseline_its, "coordinate baseline", "C1"),
    ):
        ax.plot(its.lags_ps, its.timescales_ps[:, 0], "o-", ms=4, color=color, label=name)
        if np.isfinite(its.lower_ps[:, 0]).any():
            ax.fill_between(
                its.lags_ps, its.lower_ps[:, 0], its.upper_ps[:, 0], color=color, alpha=0.25, lw=0
            )
    ax.axhline(reference.timescale_ps, color="C0", ls="--", lw=1, label="reference tet ⇄ oct")
    ax.axhline(
        reference.identity_timescale_ps,
        color="C1",
        ls="--",
        lw=1,
        label="reference slowest site identity",
    )
    lags = gdynet_its.lags_ps
    ax.plot(lags, lags, color="0.3", lw=1)
    ax.fill_between(lags, np.full(lags.shape, 1e-3), lags, color="0.85", lw=0)
    ax.set_yscale("log")
    ax.set_ylim(0.5 * min(lags.min(), reference.timescale_ps), 3 * reference.identity_timescale_ps)
    ax.set_xlabel("lag time τ (ps)")
    ax.set_ylabel("slowest implied timescale (ps)")
    ax.legend(frameon=False, fontsize=8)
    return ax.figure


def plot_toy_states(
    trajectories: Sequence[Trajectory],
    reference: ToyReference,
    reports: Mapping[str, StateAssignment],
    n_points: int = 4000,
    seed: int = 0,
) -> Figure:
    """Where each model puts its states: Li positions in the cell, coloured by membership.

    One 3D panel per model. Colour: membership of the network state matched to the
    octahedral hole; yellow spheres: the S sites. A model that found tet/oct colours
    the octahedral holes (cell centre and edge centres) alone; one that learned site
    identity splits equivalent holes.
    """
    from gdynbook.systems.fcc_sites import FCC_SITES

    a = float(trajectories[0].lattices[0][0, 0])
    li = (
        np.concatenate(reference.trim([t.coords[:, t.target_index[0]] for t in trajectories])) % a
    )  # (frames, 3) wrapped into the cell
    rng = np.random.default_rng(seed)
    pick = rng.choice(li.shape[0], size=min(n_points, li.shape[0]), replace=False)
    shifts = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=float)
    sulfur = (FCC_SITES[None] + shifts[:, None]).reshape(-1, 3)
    sulfur = np.unique(sulfur[(sulfur <= 1 + 1e-9).all(axis=1)], axis=0) * a
    fig = plt.figure(figsize=(5.0 * len(reports), 4.6))
    for panel, (name, report) in enumerate(reports.items(), start=1):
        ax = fig.add_subplot(1, len(reports), panel, projection="3d")
        oct_state = int(np.flatnonzero(report.mapping == 1)[0])
        colour = np.concatenate([m[:, 0, oct_state] for m in report.memberships])[pick]
        points = ax.scatter(*li[pick].T, c=colour, cmap="coolwarm", vmin=0, vmax=1, s=3, alpha=0.6)
        ax.scatter(*sulfur.T, s=120, color="gold", edgecolor="0.3", depthshade=False)
        ax.set_title(
            f"{name}: tet recall {report.recall[0]:.2f}, oct recall {report.recall[1]:.2f}",
            fontsize=9,
        )
        ax.set_xlabel("x (Å)")
        ax.set_ylabel("y (Å)")
        ax.set_zlabel("z (Å)")
        ax.set_box_aspect((1, 1, 1))
        fig.colorbar(points, ax=ax, shrink=0.6, label="membership of the 'octahedral' state")
    fig.tight_layout()
    return fig


def plot_toy_cell(traj: Trajectory, n_frames: int | None = 400, ax: Axes | None = None) -> Axes:
    """The toy cell in 3D: S sites, tetrahedral and octahedral hole centres, Li path.

    The path is drawn wrapped into the cell (jumps across the boundary are not joined).
    """
    from gdynbook.systems.fcc_sites import FCC_SITES, OCT_SITES, TET_SITES

    if ax is None:
        fig = plt.figure(figsize=(5.5, 5.0))
        ax = fig.add_subplot(projection="3d")
    a = float(traj.lattices[0][0, 0])
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], float)

    def in_cell(sites: np.ndarray) -> np.ndarray:
        images = (sites[None] + corners[:, None]).reshape(-1, 3)
        return np.unique(images[(images <= 1 + 1e-9).all(axis=1)], axis=0) * a

    sulfur, octahedral = in_cell(FCC_SITES), in_cell(OCT_SITES)
    ax.scatter(*sulfur.T, s=160, color="gold", edgecolor="0.3", depthshade=False, label="S")
    ax.scatter(*(TET_SITES * a).T, s=25, marker="^", color="C0", label="tetrahedral hole")
    ax.scatter(*octahedral.T, s=30, marker="s", color="C3", label="octahedral hole")
    path = traj.coords[:n_frames, traj.target_index[0]] % a
    jumps = np.flatnonzero(np.abs(np.diff(path, axis=0)).max(axis=1) > a / 2) + 1
    for piece in np.split(path, jumps):
        ax.plot(*piece.T, color="0.35", lw=0.6)
    for start, end in (
        (c0, c1)
        for c0 in corners
        for c1 in corners
        if np.abs(c0 - c1).sum() == 1 and (c0 <= c1).all()
    ):
        ax.plot(*np.stack([start, end]).T * a, color="0.6", lw=0.8)
    ax.set_xlabel("x (Å)")
    ax.set_ylabel("y (Å)")
    ax.set_zlabel("z (Å)")
    ax.set_box_aspect((1, 1, 1))
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    return ax


#: How the four equilibrium estimates are labelled in figures.
ESTIMATE_LABELS = {
    "nonreversible": "non-reversible K",
    "reversible_ml": "reversible ML",
    "symmetrised": "symmetrised (C + Cᵀ)/2",
    "mean_membership": "mean membership",
}


def plot_nonstationary_estimates(summary: Mapping[str, Mapping], ax: Axes | None = None) -> Axes:
    """Octahedral population estimated four ways per start group, against equilibrium.

    Parameters
    ----------
    summary : mapping
        Group (``oct``, ``tet``, ``pooled``) → entry with ``populations_<method>``,
        ``populations_err`` and ``reference_populations(_err)`` (tet, oct order), as
        written by :func:`gdynbook.jobs.driven.summarize_nonstationary`.
    """
    ax = _axis(ax, (6.4, 3.6))
    groups = list(summary)
    methods = list(ESTIMATE_LABELS)
    width = 0.8 / len(methods)
    for k, method in enumerate(methods):
        x = np.arange(len(groups)) + (k - (len(methods) - 1) / 2) * width
        values = [summary[g][f"populations_{method}"][1] for g in groups]
        errors = [2 * summary[g]["populations_err"][method][1] for g in groups]
        ax.errorbar(x, values, yerr=errors, fmt="o", capsize=3, label=ESTIMATE_LABELS[method])
    first = summary[groups[0]]
    reference, err = first["reference_populations"][1], first["reference_populations_err"][1]
    ax.axhspan(reference - 2 * err, reference + 2 * err, color="0.85", zorder=0)
    ax.axhline(reference, color="0.4", lw=1, label="equilibrium (core-set MSM)")
    ax.set_xticks(np.arange(len(groups)), [f"{g} starts" if g != "pooled" else g for g in groups])
    ax.set_ylabel("octahedral population")
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    ax.set_title("Equilibrium from relaxation data (bars: ±2σ over replicas)", fontsize=10)
    return ax


def plot_driven_transport(
    entries: Sequence[Mapping], mobility_check: Mapping | None = None
) -> Axes:
    """Drift velocity and entropy production against the force, directly and through
    the learned two-state model with displacements (:mod:`gdynbook.markov_additive`).

    Parameters
    ----------
    entries : sequence of mapping
        One per force, as written by :func:`gdynbook.jobs.driven.driven_entry`.
    mobility_check : mapping, optional
        With ``d_over_kT``: draws the linear response v = (D/kT) f.

    Returns
    -------
    Axes
        The left panel; ``.figure`` holds both.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.6))
    f = np.array([e["force_kt_per_a"] for e in entries])
    v = np.array([e["drift_velocity_A_per_ps"] for e in entries])
    v_err = np.array([e["drift_velocity_err"] for e in entries])
    left.errorbar(f, v, yerr=2 * v_err, fmt="o", capsize=3, label="direct (±2σ)")
    left.plot(
        f,
        [e["drift_velocity_tilted"] for e in entries],
        "x",
        ms=8,
        label="tilted two-state model, Λ′(0)",
    )
    if mobility_check is not None:
        grid = np.linspace(0, f.max(), 50)
        left.plot(
            grid,
            mobility_check["d_over_kT"] * grid,
            "--",
            color="0.5",
            label="linear response, D f/kT",
        )
    left.set_xlabel("force f (kT/Å)")
    left.set_ylabel("drift velocity (Å/ps)")
    left.legend(fontsize=8, frameon=False)
    right.plot(
        f,
        [e["entropy_production_expected"] for e in entries],
        "o-",
        label="f·v/kT (heat to the bath)",
    )
    right.errorbar(
        f,
        [e["entropy_production_counted"] for e in entries],
        yerr=[2 * e.get("entropy_production_counted_err", 0.0) for e in entries],
        fmt="s",
        capsize=3,
        label="counted, with displacements (±2σ)",
    )
    if all("entropy_production_tilted" in e for e in entries):
        right.errorbar(
            f,
            [e["entropy_production_tilted"] for e in entries],
            yerr=[2 * e.get("entropy_production_tilted_err", 0.0) for e in entries],
            fmt="D",
            capsize=3,
            mfc="none",
            label="fluctuation symmetry, −λ*·v (±2σ)",
        )
    right.plot(
        f, [e["entropy_production_two_state"] for e in entries], "^", label="two-state model alone"
    )
    right.set_xlabel("force f (kT/Å)")
    right.set_ylabel("entropy production (k_B/ps)")
    right.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return left


def plot_move_counts(
    steps: np.ndarray,
    counts: np.ndarray,
    force_kt_per_a: float,
    bin_width_a: float,
    ax: Axes | None = None,
) -> Axes:
    """Moves along the force against their reverses, on a log scale.

    For every n ≥ 1 planes: how often the Li moved +n planes over the lag, how often
    −n, and N(+n)·exp(−f·n·w/kT), the reverse count that local detailed balance gives
    for a single move (a guide only: a lag holds several hops, and the net displacement
    obeys the ratio only at long times). Where that count is far below one, the data
    hold no reverse and a counted entropy production must leave the move out.

    Parameters
    ----------
    steps, counts : numpy.ndarray
        From :func:`gdynbook.markov_additive.move_counts`.
    force_kt_per_a : float
        f, kT/Å.
    bin_width_a : float
        w, the plane spacing, Å.
    """
    ax = _axis(ax, (5.0, 3.4))
    by_step = dict(zip(steps.tolist(), counts.tolist(), strict=True))
    n = np.arange(1, int(steps.max()) + 1)
    forward = np.array([by_step.get(k, 0) for k in n], dtype=float)
    reverse = np.array([by_step.get(-k, 0) for k in n], dtype=float)
    expected = forward * np.exp(-force_kt_per_a * n * bin_width_a)
    width = 0.38
    ax.bar(n - width / 2, forward, width, label="+n planes (with the force)")
    ax.bar(n + width / 2, np.where(reverse > 0, reverse, np.nan), width, label="−n planes, seen")
    ax.plot(n + width / 2, expected, "k_", ms=14, mew=2, label=r"$-n$ at $N(+n)\,e^{-fnw/k_BT}$")
    ax.axhline(1.0, color="0.6", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set_xticks(n)
    ax.set_xlabel("planes of holes crossed over the lag, n")
    ax.set_ylabel("lagged pairs")
    ax.set_title(f"f = {force_kt_per_a:g} kT/Å", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    return ax
