"""Figures used by the chapters. Each function draws on an axis and returns it."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gdynbook.koopman import CKTest, ImpliedTimescales, KoopmanModel
from gdynbook.trajectory import Trajectory


def _axis(ax: Axes | None, figsize: tuple[float, float] = (5.0, 4.0)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_path(
    traj: Trajectory,
    atom: int,
    ax: Axes | None = None,
    plane: tuple[int, int] = (0, 1),
    label: str | None = None,
    **line_kwargs: object,
) -> Axes:
    """Plot the path of one atom projected on a Cartesian plane, with the cell outline.

    Parameters
    ----------
    traj : Trajectory
        Wrapped paths jump across the cell; unwrapped paths are continuous.
    atom : int
        Atom index (0-based).
    ax : matplotlib.axes.Axes, optional
        Axis to draw on; a new figure is made if omitted.
    plane : tuple of int
        Cartesian axes to project on, e.g. (0, 1) for x–y (Å).
    label : str, optional
        Legend label of the path.
    """
    ax = _axis(ax)
    i, j = plane
    path = traj.coords[:, atom]
    ax.plot(path[:, i], path[:, j], lw=0.8, label=label, **line_kwargs)
    a, b = traj.lattices[0][0], traj.lattices[0][1]
    corners = np.array([np.zeros(3), a, a + b, b, np.zeros(3)])
    ax.plot(corners[:, i], corners[:, j], color="0.3", lw=1.2, ls="--")
    names = "xyz"
    ax.set_xlabel(f"{names[i]} (Å)")
    ax.set_ylabel(f"{names[j]} (Å)")
    ax.set_aspect("equal", adjustable="datalim")
    return ax


def plot_msd(
    lags_ps: np.ndarray,
    msd_a2: np.ndarray,
    diffusion_a2_per_ps: float | None = None,
    ax: Axes | None = None,
    label: str = "simulation",
) -> Axes:
    """Plot a mean-squared displacement curve, optionally beside the line 6 D t.

    Parameters
    ----------
    lags_ps : numpy.ndarray
        Lag times, ps.
    msd_a2 : numpy.ndarray
        Mean-squared displacement, Å².
    diffusion_a2_per_ps : float, optional
        If given, the exact Brownian result 6 D t is drawn for comparison.
    """
    ax = _axis(ax)
    ax.plot(lags_ps, msd_a2, "o-", ms=3, label=label)
    if diffusion_a2_per_ps is not None:
        ax.plot(
            lags_ps,
            6 * diffusion_a2_per_ps * np.asarray(lags_ps),
            "k--",
            label=f"6 D t, D = {diffusion_a2_per_ps:g} Å²/ps",
        )
    ax.set_xlabel("lag time (ps)")
    ax.set_ylabel("mean-squared displacement (Å²)")
    ax.legend(frameon=False)
    return ax


# ---------------------------------------------------------------------- Koopman analysis
def plot_implied_timescales(
    its: ImpliedTimescales,
    ax: Axes | None = None,
    n_timescales: int | None = None,
    log: bool = True,
    time_unit: str = "ps",
) -> Axes:
    """Implied timescales against lag time, with intervals and the lag line t = τ.

    Timescales below the grey region's edge (t < τ) decay within one lag and cannot be
    resolved at that lag.
    """
    return _draw_timescales(
        _axis(ax),
        its.lags_ps,
        its.timescales_ps,
        its.lower_ps,
        its.upper_ps,
        n_timescales,
        log,
        time_unit,
    )


def _draw_timescales(
    ax: Axes,
    lags: np.ndarray,
    timescales: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    n_timescales: int | None = None,
    log: bool = True,
    time_unit: str = "ps",
) -> Axes:
    """Timescales (lags, processes) with bands, the line t = τ and its shaded region."""
    n = timescales.shape[1] if n_timescales is None else n_timescales
    colors = sns.color_palette("deep", max(n, 1))
    for i in range(n):
        ax.plot(lags, timescales[:, i], "o-", ms=4, color=colors[i], label=f"$t_{i + 2}$")
        if np.isfinite(lower[:, i]).any():
            ax.fill_between(lags, lower[:, i], upper[:, i], color=colors[i], alpha=0.25, lw=0)
    ax.plot(lags, lags, color="0.3", lw=1)
    ax.fill_between(lags, np.full(lags.shape, 1e-300), lags, color="0.85", lw=0)
    if log:
        ax.set_yscale("log")
        finite = timescales[np.isfinite(timescales) & (timescales > 0)]
        if finite.size:
            ax.set_ylim(max(min(finite.min(), lags.min()) / 2, 1e-6), finite.max() * 3)
    ax.set_xlabel(f"lag time τ ({time_unit})")
    ax.set_ylabel(f"implied timescale ({time_unit})")
    ax.legend(frameon=False)
    return ax


def plot_lag_ladder(summary: dict) -> Figure:
    """How the lag was chosen: implied timescales over the lag ladder of each model the
    plan trained for it (one panel per number of states), with their intervals, and the
    chosen lag as a dotted line.

    Parameters
    ----------
    summary : dict
        ``lag`` (per number of states: ``lags_ps``, ``timescales_ps``, ``lower_ps``,
        ``upper_ps``, ``description``) and ``lag_ps``, as
        :func:`gdynbook.jobs.peo_builds.learn_from_builds` writes them.
    """
    entries = summary["lag"]
    fig, axes = plt.subplots(1, len(entries), figsize=(4.4 * len(entries), 3.6), squeeze=False)
    for ax, (n_states, entry) in zip(axes[0], sorted(entries.items()), strict=True):

        def table(key: str, entry: dict = entry) -> np.ndarray:
            return np.array(
                [[np.nan if v is None else v for v in row] for row in entry[key]], dtype=float
            )

        _draw_timescales(
            ax,
            np.asarray(entry["lags_ps"], dtype=float),
            table("timescales_ps"),
            table("lower_ps"),
            table("upper_ps"),
        )
        ax.axvline(summary["lag_ps"], color="0.4", ls=":", lw=1.2)
        ax.set_title(f"{n_states} states", fontsize=10)
    fig.tight_layout()
    return fig


def plot_ck_test(ck: CKTest, labels: Sequence[str] | None = None, time_unit: str = "ps") -> Figure:
    """The Chapman–Kolmogorov grid: entry (i, j) of K(τ)ⁿ (line, band) and K(nτ) (points)."""
    n_states = ck.predicted.shape[1]
    labels = list(labels) if labels is not None else [str(i + 1) for i in range(n_states)]
    fig, axes = plt.subplots(
        n_states,
        n_states,
        figsize=(2.3 * n_states, 2.0 * n_states),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    lags = np.concatenate([[0.0], ck.lags_ps])
    identity = np.eye(n_states)
    for i in range(n_states):
        for j in range(n_states):
            ax = axes[i, j]
            predicted = np.concatenate([[identity[i, j]], ck.predicted[:, i, j]])
            estimated = np.concatenate([[identity[i, j]], ck.estimated[:, i, j]])
            ax.plot(lags, predicted, color="C0", label="model $K(\\tau)^n$")
            if np.isfinite(ck.predicted_lower).all():
                ax.fill_between(
                    ck.lags_ps,
                    ck.predicted_lower[:, i, j],
                    ck.predicted_upper[:, i, j],
                    color="C0",
                    alpha=0.25,
                    lw=0,
                )
            ax.plot(lags, estimated, "o", ms=3, color="C3", label="estimate $K(n\\tau)$")
            if np.isfinite(ck.estimated_lower).all():
                ax.vlines(
                    ck.lags_ps,
                    ck.estimated_lower[:, i, j],
                    ck.estimated_upper[:, i, j],
                    color="C3",
                    lw=1,
                )
            ax.set_title(f"{labels[i]} → {labels[j]}", fontsize=9)
            ax.set_ylim(-0.05, 1.05)
    for ax in axes[-1]:
        ax.set_xlabel(f"lag ({time_unit})")
    for ax in axes[:, 0]:
        ax.set_ylabel("probability")
    axes[0, 0].legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def plot_populations(
    model: KoopmanModel, labels: Sequence[str] | None = None, ax: Axes | None = None
) -> Axes:
    """Stationary populations π of a Koopman model as bars, with the mean χ as markers."""
    ax = _axis(ax, (4.0, 3.0))
    n = model.n_states
    labels = list(labels) if labels is not None else [f"state {i + 1}" for i in range(n)]
    x = np.arange(n)
    ax.bar(x, model.populations, color=sns.color_palette("deep", n))
    ax.plot(x, model.mean_probabilities, "k_", ms=20, mew=2, label="mean χ")
    ax.set_xticks(x, labels)
    ax.set_ylabel("population")
    ax.legend(frameon=False)
    return ax


def plot_eigenvectors(
    model: KoopmanModel,
    n_vectors: int | None = None,
    labels: Sequence[str] | None = None,
    left: bool = False,
    time_unit: str = "ps",
) -> Figure:
    """Bars of the (right by default) eigenvectors 2 … n, one panel each, with timescales."""
    n = model.n_states
    count = n - 1 if n_vectors is None else n_vectors
    vectors = model.left_eigenvectors if left else model.right_eigenvectors
    labels = list(labels) if labels is not None else [str(i + 1) for i in range(n)]
    fig, axes = plt.subplots(1, count, figsize=(2.6 * count, 2.6), sharey=True, squeeze=False)
    timescales = model.timescales(in_ps=model.time_step_ps is not None)
    unit = time_unit if model.time_step_ps is not None else "frames"
    for k, ax in enumerate(axes[0], start=1):
        values = np.real(vectors[:, k])
        values = values / np.abs(values).max()
        ax.bar(np.arange(n), values, color=["C3" if v < 0 else "C0" for v in values])
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_xticks(np.arange(n), labels)
        ax.set_title(
            f"λ{k + 1} = {np.real(model.eigenvalues[k]):.3f}\nt = {timescales[k - 1]:.3g} {unit}",
            fontsize=9,
        )
    axes[0, 0].set_ylabel("eigenvector (scaled)")
    fig.tight_layout()
    return fig


def plot_charge_integral(
    radii_a: np.ndarray,
    curves: dict[str, np.ndarray],
    ax: Axes | None = None,
    half_widths: dict[str, np.ndarray] | None = None,
) -> Axes:
    """Net formal charge within r of a Li⁺ against r, one line per group of samples.

    Parameters
    ----------
    radii_a : numpy.ndarray
        Radii, Å.
    curves : dict of str to numpy.ndarray
        Charge (e) per radius, one curve per group (a state, a shell type).
    half_widths : dict of str to numpy.ndarray, optional
        Half-widths of each curve's interval (e.g. over builds), drawn as a band.
    """
    ax = _axis(ax, (5.0, 3.4))
    for k, (name, values) in enumerate(curves.items()):
        ax.plot(radii_a, values, lw=1.5, label=name, color=f"C{k}")
        band = (half_widths or {}).get(name)
        if band is not None:
            values, band = np.asarray(values), np.asarray(band)
            ax.fill_between(radii_a, values - band, values + band, color=f"C{k}", alpha=0.2)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.axhline(1, color="0.8", lw=0.8, ls=":")
    ax.set_xlabel("r (Å)")
    ax.set_ylabel("net formal charge within r (e)")
    ax.legend(frameon=False)
    return ax


def plot_displacement_correlations(
    lags_ps: np.ndarray, per_trajectory: Sequence[np.ndarray], fit_window_ps: tuple[float, float]
) -> Figure:
    """Self MSDs (left, log–log with a slope-1 guide) and collective correlations (right).

    ``per_trajectory`` holds the (5, n_lags) arrays of
    :func:`gdynbook.transference.displacement_correlations`, one per trajectory; thin lines
    are trajectories, thick lines their mean. The shaded band is the fit window.
    """
    stacked = np.stack(per_trajectory)
    mean = stacked.mean(axis=0)
    fig, (ax_self, ax_coll) = plt.subplots(1, 2, figsize=(10, 3.6))
    for row, name, colour in ((3, "Li⁺", "C0"), (4, "TFSI⁻", "C1")):
        ax_self.loglog(lags_ps, mean[row], color=colour, lw=2, label=f"self MSD {name}")
    guide = mean[3, 0] * lags_ps / lags_ps[0]
    ax_self.loglog(lags_ps, guide, color="0.5", ls=":", label="∝ t (diffusive)")
    ax_self.set_xlabel("lag (ps)")
    ax_self.set_ylabel("MSD (Å²)")
    ax_self.legend(frameon=False, fontsize=8)
    names = ("⟨ΔR₊·ΔR₊⟩", "⟨ΔR₋·ΔR₋⟩", "⟨ΔR₊·ΔR₋⟩")
    for row, name in enumerate(names):
        colour = f"C{row + 2}"
        for series in stacked:
            ax_coll.plot(lags_ps, series[row], color=colour, lw=0.5, alpha=0.5)
        ax_coll.plot(lags_ps, mean[row], color=colour, lw=2, label=name)
    for ax in (ax_self, ax_coll):
        ax.axvspan(*fit_window_ps, color="0.9", zorder=0)
    ax_coll.axhline(0, color="0.5", lw=0.8)
    ax_coll.set_xlabel("lag (ps)")
    ax_coll.set_ylabel("collective correlation (Å²)")
    ax_coll.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def plot_cross_validation(rows: Sequence[dict], chosen: int | None = None) -> Axes:
    """Held-out VAMP-2 against the number of states: one thin line per held-out run,
    the mean with its standard error on top, the chosen number marked."""
    from gdynbook.selection import CrossValidation

    cross_validation = CrossValidation(list(rows))
    n_values, _, values = cross_validation.table()
    scores = cross_validation.scores()
    ax = _axis(None, (4.8, 3.4))
    for per_run in values.T:  # one held-out run across the candidates
        ax.plot(n_values, per_run, color="0.7", lw=0.8, marker=".")
    mean, sem = np.array([scores[n] for n in n_values]).T
    ax.errorbar(
        n_values,
        mean,
        yerr=None if not np.isfinite(sem).all() else sem,
        color="C0",
        lw=2,
        capsize=4,
        label="mean ± s.e. over held-out runs",
    )
    if chosen is not None:
        ax.axvline(chosen, color="C3", ls=":", label=f"chosen: {chosen}")
    ax.set_xticks(n_values)
    ax.set_xlabel("number of states")
    ax.set_ylabel("held-out VAMP-2")
    ax.legend(frameon=False, fontsize=8)
    return ax


def plot_training_history(history: dict, ax: Axes | None = None) -> Axes:
    """Training and validation VAMP-2 per epoch, with the epoch whose weights were kept.

    Parameters
    ----------
    history : dict
        :class:`gdynbook.train.History` as a dict (``train_score``, ``validation_score``,
        ``best_epoch``).
    """
    ax = _axis(ax, (5.0, 3.2))
    ax.plot(history["train_score"], label="training")
    ax.plot(history["validation_score"], label="validation")
    if history.get("best_epoch", -1) >= 0:
        ax.axvline(history["best_epoch"], color="0.6", ls=":", label="kept")
    ax.set_xlabel("epoch")
    ax.set_ylabel("VAMP-2")
    ax.legend(frameon=False)
    return ax


def plot_training_histories(histories: Sequence[dict], labels: Sequence[str]) -> Axes:
    """Training (dashed) and validation (solid) VAMP-2 per epoch, one colour per model."""
    ax = _axis(None, (5.0, 3.2))
    for k, (history, label) in enumerate(zip(histories, labels, strict=True)):
        ax.plot(history["train_score"], color=f"C{k}", ls="--", lw=1)
        ax.plot(history["validation_score"], color=f"C{k}", lw=1.5, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("VAMP-2 (dashed: training)")
    ax.legend(frameon=False, fontsize=8)
    return ax


def plot_held_out_builds(summary: dict) -> Axes:
    """Held-out VAMP-2 of each build from a model whose weights were trained without
    it: GDyNet (the fold's model, or the final one for the lockbox) beside the hand-made
    reference model; the lockbox is marked.

    Two cautions belong next to the figure. The lag and the number of states were chosen
    on the same folds, so the fold scores lean optimistic; only the lockbox's is clean.
    And VAMP-2 grows with the number of states: GDyNet's n states stand beside up to six
    descriptor sets.

    Parameters
    ----------
    summary : dict
        What :func:`gdynbook.jobs.peo_builds.run_build_job` writes (``summary.json``):
        ``builds``, ``lockbox``, ``held_out`` and ``reference``.
    """
    names = [name for name in summary["builds"] if name in summary["held_out"]]
    x = np.arange(len(names))
    learned = [summary["held_out"][name]["vamp2"] for name in names]
    ax = _axis(None, (1.0 + 0.8 * len(names), 3.4))
    width = 0.38
    ax.bar(x - width / 2, learned, width, color="C0", label="GDyNet")
    reference = summary.get("reference")
    if reference is not None:
        values = [reference["held_out"][name]["vamp2"] for name in names]
        ax.bar(x + width / 2, values, width, color="C1", label="descriptor sets")
    if summary["lockbox"] in names:  # a shut lockbox has no bar
        lock = names.index(summary["lockbox"])
        ax.axvspan(lock - 0.5, lock + 0.5, color="0.92", zorder=0, label="lockbox")
    ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_ylabel("held-out VAMP-2")
    ax.legend(frameon=False, fontsize=8)
    return ax


def plot_label_fractions(summary: dict) -> Axes:
    """How much of the learned states is a fixed label per Li⁺, build by build: the
    between-ion share of the membership variance, the share a label switching with the
    model's slowest timescale would leave by chance, and the share of a non-learned
    descriptor (the distance from a chain end).

    Parameters
    ----------
    summary : dict
        ``builds`` and ``between_ion_variance_fraction`` (per build: ``learned``,
        ``baseline``, ``descriptor``), as :func:`gdynbook.jobs.peo_builds.run_build_job`
        writes them.
    """
    fractions = summary["between_ion_variance_fraction"]
    names = [name for name in summary["builds"] if name in fractions]
    x = np.arange(len(names))
    ax = _axis(None, (1.0 + 0.8 * len(names), 3.4))
    for k, (key, label) in enumerate(
        (
            ("learned", "learned states"),
            ("baseline", "a switching label (baseline)"),
            ("descriptor", "chain-end distance"),
        )
    ):
        values = [fractions[name][key] for name in names]
        values = [np.nan if v is None else v for v in values]
        ax.bar(x + (k - 1) * 0.27, values, 0.27, color=f"C{k}", label=label)
    ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("between-ion share of the variance")
    ax.legend(frameon=False, fontsize=8)
    return ax
