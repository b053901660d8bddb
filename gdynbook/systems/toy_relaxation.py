"""The toy system out of equilibrium: many short replicas from a prepared start.

Equilibrium frames in which the Li sits in an octahedral core (or a tetrahedral one)
are the starts; each replica gets new velocities and runs for a few relaxation times.
Most early frames are then far from equilibrium — the octahedral population starts at
one instead of ~0.15 — which is what a model trained on such data must see through.

Units: ps, Å, K.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gdynbook.systems.toy import ToySimulation, core_set_labels, nearest_hole, simulate_toy
from gdynbook.trajectory import Trajectory

#: Start kinds: the Li in a tetrahedral (0) or octahedral (1) core.
START_SITE = {"tet": 0, "oct": 1}


def core_frames(
    trajectories: list[Trajectory],
    start: str,
    n_frames: int,
    seed: int = 0,
    tet_core: float = 0.4,
    oct_core: float = 0.8,
) -> np.ndarray:
    """Positions of ``n_frames`` equilibrium frames with the Li inside a ``start`` core.

    Parameters
    ----------
    trajectories : list of Trajectory
        Equilibrium toy runs (:func:`~gdynbook.systems.toy.simulate_toy`).
    start : {"tet", "oct"}
        Which core the Li must be in: within ``tet_core`` Å of a tetrahedral hole centre
        or ``oct_core`` Å of an octahedral one (the core sets of the reference model).
    n_frames : int
        How many starts; drawn at random (with replacement when there are fewer frames).
    seed : int

    Returns
    -------
    numpy.ndarray, shape (n_frames, 5, 3)
        Li and S positions, Å.
    """
    if start not in START_SITE:
        raise ValueError(f"start must be 'tet' or 'oct', got {start!r}.")
    pool = []
    for traj in trajectories:
        hole, distance = nearest_hole(traj.coords[:, 0], traj.lattices[0, 0, 0])
        is_oct = hole >= 8
        inside = np.where(is_oct, distance <= oct_core, distance <= tet_core)
        wanted = inside & (is_oct == bool(START_SITE[start]))
        pool.append(traj.coords[wanted])
    frames = np.concatenate(pool) if pool else np.zeros((0, 5, 3))
    if frames.shape[0] == 0:
        raise ValueError(
            f"no frame of the equilibrium runs has the Li in a {start} core: run them longer."
        )
    rng = np.random.default_rng(seed)
    chosen = rng.choice(frames.shape[0], size=n_frames, replace=frames.shape[0] < n_frames)
    return frames[chosen].copy()


def simulate_relaxation(
    equilibrium: list[Trajectory],
    starts: str | tuple[str, ...],
    n_replicas: int,
    duration_ps: float,
    settings: ToySimulation | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, list[Trajectory]]:
    """Short replicas from equilibrium frames with the Li in the ``starts`` cores.

    Each replica starts from one such frame with new Maxwell–Boltzmann velocities and
    no equilibration; its first saved frame is one ``frame_interval_ps`` later. All
    starts run together (one vectorised simulation).

    Parameters
    ----------
    equilibrium : list of Trajectory
        Equilibrium runs to draw the starts from.
    starts : "tet", "oct" or a tuple of them
    n_replicas : int
        Replicas per start.
    duration_ps : float
        Length of each replica, ps.
    settings : ToySimulation, optional
        Temperature, friction, time step and frame interval (the defaults otherwise).
    seed : int
        Seeds the choice of starts and the dynamics.

    Returns
    -------
    dict
        Start → its replicas.
    """
    starts = (starts,) if isinstance(starts, str) else tuple(starts)
    base = settings or ToySimulation()
    n_frames = int(round(duration_ps / base.frame_interval_ps))
    if n_frames < 2:
        raise ValueError(f"duration_ps={duration_ps} leaves fewer than 2 frames.")
    positions = np.concatenate(
        [
            core_frames(equilibrium, start, n_replicas, seed=seed + k)
            for k, start in enumerate(starts)
        ]
    )
    run = replace(
        base,
        n_replicas=positions.shape[0],
        n_frames=n_frames,
        equilibration_ps=0.0,
        seed=seed + len(starts),
    )
    replicas = simulate_toy(run, progress=progress, start_positions=positions)
    return {
        start: replicas[k * n_replicas : (k + 1) * n_replicas] for k, start in enumerate(starts)
    }


def start_site_fraction(trajectories: list[Trajectory], start: str) -> np.ndarray:
    """Fraction of replicas whose core-set label is the start's, per frame (the decay
    of the initial condition).

    Every replica starts inside a ``start`` core, so frames before its first core visit
    in the saved trajectory keep the start's label (milestoning from the start)."""
    labels = np.stack(
        [core_set_labels(t.coords[:, 0], t.lattices[0, 0, 0])[0] for t in trajectories]
    )
    labels = np.where(labels < 0, START_SITE[start], labels)
    return (labels == START_SITE[start]).mean(axis=0)
