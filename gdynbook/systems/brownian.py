"""Free Brownian particles in a periodic (possibly triclinic) cell.

Overdamped Brownian motion without forces has an exact solution: every Cartesian
displacement over a time t is Gaussian with variance 2 D t, so the mean-squared
displacement is MSD(t) = 6 D t. That makes it a small, honest data set for the
first chapter: a real trajectory, made in seconds, with a known answer.
"""

from __future__ import annotations

import numpy as np

from gdynbook.trajectory import Trajectory


def simulate_brownian(
    lattice: np.ndarray,
    atom_types: np.ndarray,
    n_frames: int,
    time_step_ps: float,
    diffusion_a2_per_ps: float | np.ndarray,
    target_index: np.ndarray | None = None,
    seed: int = 0,
    wrapped: bool = True,
) -> Trajectory:
    """Simulate independent Brownian atoms in a fixed periodic cell.

    Parameters
    ----------
    lattice : numpy.ndarray, shape (3, 3)
        Cell, Å; rows are lattice vectors.
    atom_types : numpy.ndarray of int, shape (n_atoms,)
        Atomic numbers.
    n_frames : int
        Number of frames to save (the first is the random start).
    time_step_ps : float
        Time between frames, ps. The motion is sampled exactly at these times.
    diffusion_a2_per_ps : float or numpy.ndarray of shape (n_atoms,)
        Diffusion coefficient of each atom, Å²/ps (1 Å²/ps = 1e-4 cm²/s). Zero
        keeps an atom fixed.
    target_index : numpy.ndarray of int, optional
        Target atoms; default all atoms.
    seed : int
        Seed of the random number generator; the same seed gives the same frames.
    wrapped : bool
        Return coordinates wrapped into the cell (as most MD codes write them) or
        continuous.

    Returns
    -------
    Trajectory
    """
    rng = np.random.default_rng(seed)
    lattice = np.asarray(lattice, dtype=np.float64)
    types = np.asarray(atom_types, dtype=np.int64)
    n_atoms = types.size
    diffusion = np.broadcast_to(np.asarray(diffusion_a2_per_ps, float), (n_atoms,))
    if (diffusion < 0).any():
        raise ValueError("diffusion_a2_per_ps must be non-negative.")
    if n_frames < 1:
        raise ValueError("n_frames must be at least 1.")
    start = rng.random((n_atoms, 3)) @ lattice
    sigma = np.sqrt(2.0 * diffusion * time_step_ps)[None, :, None]
    steps = rng.normal(size=(n_frames - 1, n_atoms, 3)) * sigma
    coords = np.concatenate([start[None], start[None] + np.cumsum(steps, axis=0)], axis=0)
    traj = Trajectory(
        coords=coords,
        lattices=lattice,
        atom_types=types,
        target_index=np.arange(n_atoms) if target_index is None else target_index,
        time_step_ps=time_step_ps,
        wrapped=False,
    )
    return traj.wrap() if wrapped else traj
