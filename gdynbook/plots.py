"""Figures used by the chapters. Each function draws on an axis and returns it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

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
