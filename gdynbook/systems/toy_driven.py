"""The toy system in a driven steady state: a constant force on the Li along +x.

The S lattice stays tethered and the Langevin thermostat removes the work the force
does, so after a short transient the Li drifts at a constant mean velocity v(f). For
weak forces linear response holds: the mobility v/f equals D/kT, with D the Li's
equilibrium diffusion coefficient along the force axis (the Einstein relation); with f
in kT/Å the mobility is in Å²/ps and equals D itself. Measured here directly from the
continuous coordinates, with intervals over independent replicas.

Units: Å, ps, K; forces in kT/Å.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from gdynbook.systems.toy import ToySimulation, langevin_replicas
from gdynbook.trajectory import Trajectory


@dataclass
class DrivenRun:
    """Replicas at one force.

    Attributes
    ----------
    force_kt_per_a : float
    trajectories : list of Trajectory
        One per replica, continuous coordinates, saved after a transient.
    li_temperature_k : numpy.ndarray, shape (n_replicas,)
        Kinetic temperature of the Li per replica (drift included), K.
    """

    force_kt_per_a: float
    trajectories: list[Trajectory]
    li_temperature_k: np.ndarray


def simulate_driven(
    force_kt_per_a: float,
    n_replicas: int,
    duration_ps: float,
    settings: ToySimulation | None = None,
    seed: int = 0,
    progress: bool = True,
) -> DrivenRun:
    """Replicas with a constant force on the Li along +x (0: equilibrium).

    The force acts during the equilibration too (``settings.equilibration_ps``, 20 ps by
    default, several relaxation times), so the saved frames are in the steady state.
    """
    return simulate_driven_many(
        [force_kt_per_a], n_replicas, duration_ps, settings, seed, progress
    )[0]


def simulate_driven_many(
    forces_kt_per_a: list[float] | tuple[float, ...],
    n_replicas: int,
    duration_ps: float,
    settings: ToySimulation | None = None,
    seed: int = 0,
    progress: bool = True,
) -> list[DrivenRun]:
    """:func:`simulate_driven` at several forces in one vectorised run (one seed; the
    replicas are independent all the same), ``n_replicas`` per force."""
    forces = np.asarray(forces_kt_per_a, dtype=np.float64)
    if forces.ndim != 1 or forces.size == 0 or not np.isfinite(forces).all():
        raise ValueError(f"forces must be finite numbers (kT/Å), got {forces_kt_per_a}.")
    base = settings or ToySimulation()
    run = replace(
        base,
        n_replicas=n_replicas * forces.size,
        n_frames=int(round(duration_ps / base.frame_interval_ps)),
        seed=seed,
        li_force_kt_per_a=0.0,
    )
    per_replica = np.repeat(forces, n_replicas)
    frames, temperature = langevin_replicas(run, progress, li_forces_kt_per_a=per_replica)
    lattice = np.eye(3) * run.potential.lattice_constant
    types = np.array([3, 16, 16, 16, 16])
    out = []
    for k, force in enumerate(forces):
        replicas = range(k * n_replicas, (k + 1) * n_replicas)
        out.append(
            DrivenRun(
                float(force),
                [
                    Trajectory(
                        frames[:, r], lattice, types, [0], run.frame_interval_ps, wrapped=False
                    )
                    for r in replicas
                ],
                temperature[k * n_replicas : (k + 1) * n_replicas],
            )
        )
    return out


def li_positions(trajectories: list[Trajectory], axis: int = 0) -> list[np.ndarray]:
    """The Li's continuous coordinate along ``axis`` per replica, Å."""
    return [traj.coords[:, traj.target_index[0], axis].astype(np.float64) for traj in trajectories]


def drift_velocity(trajectories: list[Trajectory], axis: int = 0) -> tuple[float, float]:
    """Mean drift velocity along ``axis`` (Å/ps) and its standard error over replicas.

    Each replica's velocity is its net displacement over its duration.
    """
    positions = li_positions(trajectories, axis)
    dt = trajectories[0].time_step_ps
    per_replica = np.array([(x[-1] - x[0]) / ((len(x) - 1) * dt) for x in positions])
    if per_replica.size < 2:
        raise ValueError("an interval needs at least 2 independent replicas.")
    return float(per_replica.mean()), float(per_replica.std(ddof=1) / np.sqrt(per_replica.size))


def axis_diffusion(
    trajectories: list[Trajectory], window_ps: float, axis: int = 0
) -> tuple[float, float]:
    """D along ``axis`` (Å²/ps) from the variance of displacements over ``window_ps``,
    and its standard error over replicas.

    D = Var[x(t + w) − x(t)] / 2w, pooled over time origins within a replica; the
    variance (not the mean square) removes a drift. ``window_ps`` must be long against
    the time between hops, where the displacement has become diffusive.
    """
    dt = trajectories[0].time_step_ps
    lag = int(round(window_ps / dt))
    positions = li_positions(trajectories, axis)
    if lag < 1 or any(len(x) <= lag for x in positions):
        raise ValueError(
            f"a window of {window_ps} ps needs replicas longer than {lag} frames "
            f"(the shortest has {min(len(x) for x in positions)})."
        )
    moved = [x[lag:] - x[:-lag] for x in positions]
    mean = np.mean(np.concatenate(moved))
    per_replica = np.array([np.mean((m - mean) ** 2) / (2 * lag * dt) for m in moved])
    return float(per_replica.mean()), float(per_replica.std(ddof=1) / np.sqrt(per_replica.size))


def mobility(
    forces_kt_per_a: np.ndarray, velocities: np.ndarray, errors: np.ndarray
) -> tuple[float, float]:
    """Slope of v against f through the origin (weighted least squares) and its error:
    the mobility in Å²/ps when f is in kT/Å (= D/kT × kT)."""
    f = np.asarray(forces_kt_per_a, float)
    v = np.asarray(velocities, float)
    w = 1.0 / np.asarray(errors, float) ** 2
    slope = float(np.sum(w * f * v) / np.sum(w * f * f))
    return slope, float(1.0 / np.sqrt(np.sum(w * f * f)))
