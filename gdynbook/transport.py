"""Mean-squared displacement and self-diffusion from continuous (unwrapped) coordinates."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gdynbook.trajectory import Trajectory, TrajectoryError


def mean_squared_displacement(
    traj: Trajectory,
    lags_frames: Sequence[int] | np.ndarray,
    atom_index: Sequence[int] | np.ndarray | None = None,
) -> np.ndarray:
    """Mean-squared displacement averaged over atoms and time origins.

    Parameters
    ----------
    traj : Trajectory
        Must hold continuous coordinates (``traj.wrapped`` is ``False``); call
        :meth:`gdynbook.trajectory.Trajectory.unwrap` first on a wrapped trajectory.
    lags_frames : sequence of int
        Lag times in frames, each in 1 ... n_frames - 1.
    atom_index : sequence of int, optional
        Atoms to average over; default the target atoms.

    Returns
    -------
    numpy.ndarray, shape (len(lags_frames),)
        MSD at each lag, Å².

    Raises
    ------
    TrajectoryError
        If the coordinates are wrapped, or a lag is not shorter than the trajectory.
    """
    if traj.wrapped:
        raise TrajectoryError(
            "the mean-squared displacement needs continuous coordinates, but this "
            "trajectory is wrapped into the cell: use traj.unwrap() first."
        )
    lags = np.asarray(lags_frames, dtype=np.int64).reshape(-1)
    if lags.size == 0 or (lags < 1).any() or (lags >= traj.n_frames).any():
        raise TrajectoryError(
            f"lags must lie in 1 ... {traj.n_frames - 1} frames (the trajectory has "
            f"{traj.n_frames} frames); got {lags.min() if lags.size else 'none'} ... "
            f"{lags.max() if lags.size else 'none'}."
        )
    atoms = traj.target_index if atom_index is None else np.asarray(atom_index, dtype=np.int64)
    positions = traj.coords[:, atoms].astype(np.float64)
    msd = np.empty(lags.size)
    for i, lag in enumerate(lags):
        displacement = positions[lag:] - positions[:-lag]
        msd[i] = np.mean(np.sum(displacement**2, axis=-1))
    return msd


def diffusion_coefficient(lags_ps: np.ndarray, msd_a2: np.ndarray, dimensions: int = 3) -> float:
    """Self-diffusion coefficient from a straight-line fit MSD = 2 d D t + c.

    Parameters
    ----------
    lags_ps : numpy.ndarray
        Lag times, ps.
    msd_a2 : numpy.ndarray
        Mean-squared displacement at those lags, Å².
    dimensions : int
        Number of spatial dimensions d.

    Returns
    -------
    float
        D in Å²/ps (multiply by 1e-4 for cm²/s).
    """
    slope = np.polyfit(np.asarray(lags_ps, float), np.asarray(msd_a2, float), 1)[0]
    return float(slope / (2 * dimensions))
