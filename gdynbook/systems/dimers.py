"""Dimers whose bond switches between a short and a long form, in a periodic box.

A small system that is neither the toy crystal nor the polymer electrolyte, for the
"bring your own trajectory" chapter and for testing the ``train``/``analyze`` commands:
``n_dimers`` non-interacting A–B molecules in a cubic box. Each molecule's centre
diffuses quickly (a random walk, D = 1 Å²/ps, like a small molecule in a liquid), so
its surroundings change within a few ps; its bond vector moves by overdamped Langevin
(Brownian) dynamics with a much smaller diffusion coefficient, in a double-well
potential

    U(r) = h [((r − r_mid)/half)² − 1]²,

with minima at r_mid ± half (Å) and a barrier h (in kT) at r_mid, so the bond length
hops between a short and a long state: one slow two-state process per dimer (≈ 28 ps
with the defaults, long bonds ~69 %), whose answer comes from the bond length itself.
The other molecules' positions around an atom decorrelate within a few ps: fast noise.
The box is dilute (8 molecules in 24 Å), so another molecule rarely comes closer than
a bonded partner and the neighbour graph can tell them apart.

Units: Å, ps; diffusion coefficients in Å²/ps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdynbook.trajectory import Trajectory


@dataclass
class DimerSimulation:
    """Settings of a dimer simulation (Å, ps, energies in kT)."""

    n_dimers: int = 8
    box_a: float = 24.0
    r_mid_a: float = 3.0
    half_a: float = 0.6
    barrier_kt: float = 4.0
    diffusion_a2_per_ps: float = 1.0  # of the molecule's centre
    bond_diffusion_a2_per_ps: float = 0.05  # of each atom along the bond
    time_step_ps: float = 0.01
    frame_interval_ps: float = 1.0
    n_frames: int = 2000
    n_replicas: int = 4
    seed: int = 0


def bond_force(r: np.ndarray, s: DimerSimulation) -> np.ndarray:
    """−dU/dr of the double-well bond, in kT/Å."""
    x = (r - s.r_mid_a) / s.half_a
    return -4.0 * s.barrier_kt * x * (x**2 - 1.0) / s.half_a


def simulate_dimers(settings: DimerSimulation | None = None) -> list[Trajectory]:
    """Brownian dynamics of independent replicas; A atoms are the targets.

    Returns
    -------
    list of Trajectory
        One per replica: atoms A₀, B₀, A₁, B₁, … (A: atomic number 11, B: 17),
        unwrapped coordinates, targets the A atoms.
    """
    s = settings or DimerSimulation()
    rng = np.random.default_rng(s.seed)
    steps = int(round(s.frame_interval_ps / s.time_step_ps))
    if abs(steps * s.time_step_ps - s.frame_interval_ps) > 1e-9:
        raise ValueError("frame_interval_ps must be a whole number of time steps.")
    shape = (s.n_replicas, s.n_dimers)
    centre = rng.random((*shape, 3)) * s.box_a
    direction = rng.normal(size=(*shape, 3))
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    bond = direction * (s.r_mid_a + s.half_a * rng.choice([-1.0, 1.0], size=shape))[..., None]
    # the bond vector b − a diffuses with 2 D_bond; forces act on it with mobility 2 D_bond
    mobility = 2.0 * s.bond_diffusion_a2_per_ps * s.time_step_ps  # per kT/Å
    noise = np.sqrt(2.0 * 2.0 * s.bond_diffusion_a2_per_ps * s.time_step_ps)
    hop = np.sqrt(2.0 * s.diffusion_a2_per_ps * s.frame_interval_ps)
    frames = np.empty((s.n_frames, s.n_replicas, 2 * s.n_dimers, 3))
    for f in range(s.n_frames):
        for _ in range(steps):
            r = np.linalg.norm(bond, axis=-1, keepdims=True)
            bond = bond + mobility * bond_force(r, s) * bond / r
            bond = bond + noise * rng.normal(size=bond.shape)
        centre = centre + hop * rng.normal(size=centre.shape)  # exact for a random walk
        frames[f, :, 0::2] = centre - 0.5 * bond
        frames[f, :, 1::2] = centre + 0.5 * bond
    lattice = np.eye(3) * s.box_a
    types = np.tile([11, 17], s.n_dimers)
    targets = np.arange(0, 2 * s.n_dimers, 2)
    return [
        Trajectory(frames[:, i], lattice, types, targets, s.frame_interval_ps, wrapped=False)
        for i in range(s.n_replicas)
    ]


def bond_states(traj: Trajectory, settings: DimerSimulation | None = None) -> np.ndarray:
    """Core-set labels of every dimer: 0 short, 1 long, (frames, n_dimers).

    A label changes only when the bond enters the inner half of a well (within half/2
    of its minimum), so recrossings of the barrier do not count; frames before the
    first core visit take the first label seen.
    """
    s = settings or DimerSimulation()
    coords = traj.coords
    r = np.linalg.norm(coords[:, 1::2] - coords[:, 0::2], axis=-1)  # (F, n_dimers)
    short = r < s.r_mid_a - s.half_a / 2
    long = r > s.r_mid_a + s.half_a / 2
    labels = np.where(short, 0, np.where(long, 1, -1))
    out = np.empty_like(labels)
    for d in range(labels.shape[1]):
        column = labels[:, d]
        known = np.flatnonzero(column >= 0)
        index = np.maximum.accumulate(np.where(column >= 0, np.arange(column.size), -1))
        filled = np.where(index >= 0, column[np.maximum(index, 0)], column[known[0]])
        out[:, d] = filled
    return out
