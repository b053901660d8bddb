"""The toy system: one Li hopping between the holes of an fcc S lattice (Langevin MD).

One Li and the 4 S of the conventional cubic fcc cell (a = 5.7 Å), periodic. The whole
system moves on one potential energy surface, so it obeys detailed balance:

* a Li–S pair term U(r) = D[(1 − e^{−α(r−r₀)})² − 1] + h·exp(−(r − μ)²/2w²), felt by
  Li and S alike, smoothly switched off between 4.5 and 5.5 Å;
* harmonic tethers that hold each S near its lattice site.

The Morse part binds Li to S; the broad Gaussian bump near 3.6 Å makes Li pay for
the long Li–S distances of the roomy octahedral hole, and shapes the path through the
shared S₃ face. With one Morse term alone, populations and barrier move together (a
tet-favoured population comes with a barrier too high to sample); the bump separates
them. Parameters were tuned (Nelder–Mead on a 28³ grid, S fixed on their sites, 600 K)
for a Boltzmann tetrahedral population of 0.85, a saddle — the lowest energy at which
the tetrahedral and octahedral basins connect — 7.1 kT above the tetrahedral and 5.1 kT
above the octahedral minimum, and both hole centres true minima (smallest Hessian
eigenvalues 72 and 30 kJ/mol/Å²). Measured in MD (128 replicas × 200 ps, vibrating S,
core-set labels): octahedral population 0.15, slowest implied timescale 6.0–6.3 ps,
flat for lags of 0.5–16 ps.

Langevin dynamics use the BAOAB splitting (Leimkuhler & Matthews, Appl. Math. Res.
Express 2013, 34), vectorised over many independent replicas.

Units: Å, ps, amu, kJ/mol (1 kJ/mol/amu = 100 Å²/ps²).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np

from gdynbook.systems.fcc_sites import FCC_SITES, OCT_SITES, TET_SITES
from gdynbook.trajectory import Trajectory

BOLTZMANN_KJ_MOL_K = 8.314462618e-3
_ACCELERATION = 100.0  # (kJ/mol/Å) / amu → Å/ps²
LI_MASS, S_MASS = 6.941, 32.06


@dataclass(frozen=True)
class ToyPotential:
    """Parameters of the toy potential (kJ/mol, Å)."""

    morse_depth: float = 17.373
    morse_alpha: float = 1.99
    morse_r0: float = 2.289
    bump_height: float = 7.353
    bump_center: float = 3.597
    bump_width: float = 0.301
    switch_on: float = 4.5
    cutoff: float = 5.5
    tether_k: float = 250.0  # kJ/mol/Å² on each S
    lattice_constant: float = 5.7

    def pair(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """U(r) (kJ/mol) and dU/dr (kJ/mol/Å) of one Li–S pair, switched to 0 at the cutoff."""
        e = np.exp(-self.morse_alpha * (r - self.morse_r0))
        morse = self.morse_depth * ((1 - e) ** 2 - 1)
        d_morse = 2 * self.morse_depth * self.morse_alpha * (1 - e) * e
        z = (r - self.bump_center) / self.bump_width
        bump = self.bump_height * np.exp(-0.5 * z**2)
        d_bump = -bump * z / self.bump_width
        u, du = morse + bump, d_morse + d_bump
        # smooth switch S(x) = 1 − 10x³ + 15x⁴ − 6x⁵ on [switch_on, cutoff]
        x = np.clip((r - self.switch_on) / (self.cutoff - self.switch_on), 0.0, 1.0)
        s = 1 - 10 * x**3 + 15 * x**4 - 6 * x**5
        ds = (-30 * x**2 + 60 * x**3 - 30 * x**4) / (self.cutoff - self.switch_on)
        return u * s, du * s + u * ds


def _shifts(lattice_constant: float) -> np.ndarray:
    return np.array(list(itertools.product((-1, 0, 1), repeat=3)), dtype=float) * lattice_constant


def energy_and_forces(
    positions: np.ndarray, potential: ToyPotential
) -> tuple[np.ndarray, np.ndarray]:
    """Potential energy (kJ/mol) and forces (kJ/mol/Å) of many replicas.

    Parameters
    ----------
    positions : numpy.ndarray, shape (n_replicas, 5, 3)
        Li first, then the 4 S; Å, wrapped or not.
    """
    a = potential.lattice_constant
    li, sulfur = positions[:, 0, :], positions[:, 1:, :]
    if potential.cutoff >= a:
        raise ValueError("the toy potential's cutoff must be shorter than the cell edge.")
    delta = li[:, None, :] - sulfur  # (R, 4, 3), Li − S
    delta -= a * np.round(delta / a)  # nearest image: every component in [−a/2, a/2]
    # Any other image within the cutoff (< a) lies one cell *towards* the Li on some
    # axes: the 8 corners {d + a·s, s_i ∈ {0, −sign(d_i)}} cover them all.
    corners = np.array(list(itertools.product((0.0, 1.0), repeat=3)))  # (8, 3)
    towards = np.where(delta >= 0, 1.0, -1.0)  # never 0: a zero would repeat an image
    delta = delta[:, :, None, :] - a * corners[None, None] * towards[:, :, None, :]
    r = np.linalg.norm(delta, axis=-1)  # (R, 4, 8)
    u, du = potential.pair(r)
    pair_force = -(du / np.maximum(r, 1e-12))[..., None] * delta  # force on Li from each
    forces = np.zeros_like(positions)
    forces[:, 0] = pair_force.sum(axis=(1, 2))
    forces[:, 1:] = -pair_force.sum(axis=2)
    sites = FCC_SITES * a
    tether = sulfur - sites
    tether -= a * np.round(tether / a)
    forces[:, 1:] -= potential.tether_k * tether
    energy = u.sum(axis=(1, 2)) + 0.5 * potential.tether_k * (tether**2).sum(axis=(1, 2))
    return energy, forces


def li_energy(li: np.ndarray, potential: ToyPotential) -> np.ndarray:
    """Energy (kJ/mol) of a Li at positions ``li`` (…, 3) Å with the S on their sites."""
    points = np.asarray(li, dtype=float).reshape(-1, 3)
    positions = np.concatenate(
        [
            points[:, None, :],
            np.broadcast_to(FCC_SITES * potential.lattice_constant, (points.shape[0], 4, 3)),
        ],
        axis=1,
    )
    return energy_and_forces(positions, potential)[0].reshape(np.shape(li)[:-1])


@dataclass
class ToySimulation:
    """Settings of a toy simulation (times in ps, temperature in K).

    ``li_force_kt_per_a`` is a constant force on the Li along +x, in kT/Å (0: none):
    it drives the Li through the lattice, which stays tethered, while the thermostat
    removes the work done (a driven steady state).
    """

    potential: ToyPotential = ToyPotential()
    temperature_k: float = 600.0
    friction_per_ps: float = 5.0
    time_step_fs: float = 5.0
    frame_interval_ps: float = 0.5
    n_replicas: int = 32
    n_frames: int = 1000
    equilibration_ps: float = 20.0
    seed: int = 0
    li_force_kt_per_a: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def simulate_toy(
    settings: ToySimulation | None = None,
    progress: bool = True,
    start_positions: np.ndarray | None = None,
) -> list[Trajectory]:
    """Run independent Langevin replicas of the toy system (vectorised BAOAB).

    Each replica starts with the Li in a random tetrahedral hole and the S on their
    sites (or at ``start_positions``), with velocities drawn afresh from the
    Maxwell–Boltzmann distribution, is equilibrated for ``equilibration_ps`` (not
    saved; 0 keeps the prepared start) and then saved every ``frame_interval_ps``. The
    same seed gives the same frames.

    Parameters
    ----------
    settings : ToySimulation
    progress : bool
        Show a progress bar.
    start_positions : numpy.ndarray, shape (n_replicas, 5, 3), optional
        Prepared starting positions, Å (Li first, then the 4 S), e.g. equilibrium frames
        with the Li in an octahedral core (:func:`gdynbook.systems.toy_relaxation.core_frames`).

    Returns
    -------
    list of Trajectory
        One per replica; Li is atom 0 (the target), S atoms 1–4; continuous coordinates.
    """
    s = settings or ToySimulation()
    frames, _ = langevin_replicas(s, progress, start_positions)
    lattice = np.eye(3) * s.potential.lattice_constant
    types = np.array([3, 16, 16, 16, 16])
    return [
        Trajectory(frames[:, r], lattice, types, [0], s.frame_interval_ps, wrapped=False)
        for r in range(s.n_replicas)
    ]


def langevin_replicas(
    settings: ToySimulation,
    progress: bool = True,
    start_positions: np.ndarray | None = None,
    li_forces_kt_per_a: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The Langevin (BAOAB) dynamics behind :func:`simulate_toy`, as arrays.

    ``li_forces_kt_per_a`` (shape (n_replicas,)) gives each replica its own force on the
    Li along +x instead of ``settings.li_force_kt_per_a``: many forces in one vectorised
    run cost little more than one (the time goes into the per-step overhead).

    Returns
    -------
    frames : numpy.ndarray, shape (n_frames, n_replicas, 5, 3)
        Saved positions, Å (continuous).
    li_temperature_k : numpy.ndarray, shape (n_replicas,)
        Kinetic temperature of the Li, 2⟨E_kin⟩/(3k_B), from its velocities at the
        saved frames (drift included), K.
    """
    s = settings
    pot = s.potential
    a = pot.lattice_constant
    rng = np.random.default_rng(s.seed)
    kt = BOLTZMANN_KJ_MOL_K * s.temperature_k
    masses = np.array([LI_MASS] + [S_MASS] * 4)[None, :, None]
    dt = s.time_step_fs / 1000.0
    steps_per_frame = int(round(s.frame_interval_ps / dt))
    if abs(steps_per_frame * dt - s.frame_interval_ps) > 1e-9:
        raise ValueError("frame_interval_ps must be a whole number of time steps.")
    if start_positions is None:
        positions = np.empty((s.n_replicas, 5, 3))
        positions[:, 0] = TET_SITES[rng.integers(0, 8, s.n_replicas)] * a
        positions[:, 1:] = FCC_SITES * a
    else:
        positions = np.array(start_positions, dtype=np.float64)
        if positions.shape != (s.n_replicas, 5, 3) or not np.isfinite(positions).all():
            raise ValueError(
                f"start_positions must be finite, shape (n_replicas, 5, 3) = "
                f"({s.n_replicas}, 5, 3), got {positions.shape}."
            )
    sigma_v = np.sqrt(kt * _ACCELERATION / masses)
    velocities = rng.normal(size=positions.shape) * sigma_v
    damping = np.exp(-s.friction_per_ps * dt)
    noise = np.sqrt(1 - damping**2) * sigma_v
    if li_forces_kt_per_a is None:
        drive = np.full(s.n_replicas, s.li_force_kt_per_a * kt)  # kJ/mol/Å on Li along +x
    else:
        drive = np.asarray(li_forces_kt_per_a, dtype=np.float64) * kt
        if drive.shape != (s.n_replicas,) or not np.isfinite(drive).all():
            raise ValueError(
                f"li_forces_kt_per_a must hold one finite force per replica ({s.n_replicas})."
            )

    def total_forces(where: np.ndarray) -> np.ndarray:
        _, acting = energy_and_forces(where, pot)
        acting[:, 0, 0] += drive
        return acting

    forces = total_forces(positions)

    def advance(n_steps: int) -> None:
        nonlocal positions, velocities, forces
        for _ in range(n_steps):
            velocities += 0.5 * dt * _ACCELERATION * forces / masses  # B
            positions += 0.5 * dt * velocities  # A
            velocities = damping * velocities + noise * rng.normal(size=velocities.shape)  # O
            positions += 0.5 * dt * velocities  # A
            forces = total_forces(positions)
            velocities += 0.5 * dt * _ACCELERATION * forces / masses  # B

    advance(int(round(s.equilibration_ps / dt)))
    frames = np.empty((s.n_frames, s.n_replicas, 5, 3))
    li_kinetic = np.zeros(s.n_replicas)  # Σ over frames of ½ m v², kJ/mol
    from tqdm.auto import tqdm

    for f in tqdm(range(s.n_frames), desc="toy MD", unit="frame", disable=not progress):
        advance(steps_per_frame)
        frames[f] = positions
        li_kinetic += 0.5 * LI_MASS * (velocities[:, 0] ** 2).sum(axis=1) / _ACCELERATION
    li_temperature = 2.0 * li_kinetic / s.n_frames / (3.0 * BOLTZMANN_KJ_MOL_K)
    return frames, li_temperature


# ---------------------------------------------------------------------- ground truth
def _tetrahedra(a: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """(centre, 4 S vertices) of the 8 S tetrahedra around the tetrahedral holes."""
    shifts = _shifts(a)
    s_images = (FCC_SITES[None] * a + shifts[:, None]).reshape(-1, 3)
    out = []
    for centre in TET_SITES * a:
        nearest = s_images[np.argsort(np.linalg.norm(s_images - centre, axis=1))[:4]]
        out.append((centre, nearest))
    return out


def polyhedron_labels(li: np.ndarray, a: float = 5.7) -> np.ndarray:
    """0 where the Li lies inside an S tetrahedron, 1 inside an octahedron.

    S tetrahedra and octahedra tile fcc space exactly, so "not in a tetrahedron" means
    "in an octahedron". Uses the ideal S sites.

    Parameters
    ----------
    li : numpy.ndarray, shape (n, 3)
        Li positions, Å (any image).
    """
    points = np.asarray(li, dtype=float).reshape(-1, 3)
    inside = np.zeros(points.shape[0], dtype=bool)
    for centre, vertices in _tetrahedra(a):
        edges = np.stack(
            [vertices[1] - vertices[0], vertices[2] - vertices[0], vertices[3] - vertices[0]],
            axis=1,
        )
        delta = points - centre
        delta -= a * np.round(delta / a)
        bary = np.linalg.solve(edges, (centre + delta - vertices[0]).T).T
        inside |= (bary >= 0).all(axis=1) & (bary.sum(axis=1) <= 1)
    return np.where(inside, 0, 1)


def nearest_hole(li: np.ndarray, a: float = 5.7) -> tuple[np.ndarray, np.ndarray]:
    """Index (0–7 tetrahedral, 8–11 octahedral) and distance (Å) of the nearest hole centre."""
    points = np.asarray(li, dtype=float).reshape(-1, 3)
    centres = np.concatenate([TET_SITES, OCT_SITES]) * a
    delta = points[:, None, :] - centres[None]
    delta -= a * np.round(delta / a)
    distance = np.linalg.norm(delta, axis=-1)
    index = np.argmin(distance, axis=1)
    return index, distance[np.arange(points.shape[0]), index]


def core_set_labels(
    li: np.ndarray, a: float = 5.7, tet_core: float = 0.4, oct_core: float = 0.8
) -> tuple[np.ndarray, np.ndarray]:
    """Core-set (milestoning) labels along one trajectory.

    A frame inside a core (within ``tet_core`` Å of a tetrahedral centre or ``oct_core``
    Å of an octahedral one) takes that hole; other frames keep the last core visited,
    so recrossings of the dividing face do not count as transitions.

    Returns
    -------
    site_type : numpy.ndarray of int — 0 tetrahedral, 1 octahedral (−1 before any core)
    hole : numpy.ndarray of int — which of the 12 holes (−1 before any core)
    """
    index, distance = nearest_hole(li, a)
    in_core = np.where(index < 8, distance <= tet_core, distance <= oct_core)
    last = np.where(in_core, np.arange(index.size), -1)
    last = np.maximum.accumulate(last)
    hole = np.where(last >= 0, index[np.maximum(last, 0)], -1)
    site_type = np.where(hole < 0, -1, (hole >= 8).astype(int))
    return site_type, hole


# ---------------------------------------------------------------------- reference models
def hole_rate_matrix(k_tet_to_oct: float, k_oct_to_tet: float) -> np.ndarray:
    """Rate matrix (ps⁻¹) of Li hopping among the 12 holes of one periodic fcc cell.

    Holes 0–7 are tetrahedral, 8–11 octahedral. Each tetrahedral hole shares faces with
    all 4 octahedral holes and each octahedral hole with all 8 tetrahedral ones (a
    complete bipartite site graph), so a Li leaving a hole picks a neighbour uniformly.

    Parameters
    ----------
    k_tet_to_oct, k_oct_to_tet : float
        Total escape rates k_TO and k_OT, ps⁻¹.
    """
    rates = np.zeros((12, 12))
    rates[:8, 8:] = k_tet_to_oct / 4
    rates[8:, :8] = k_oct_to_tet / 8
    rates[np.diag_indices(12)] = -rates.sum(axis=1)
    return rates


def exact_hole_spectrum(k_tet_to_oct: float, k_oct_to_tet: float) -> dict[str, float]:
    """Decay rates (ps⁻¹) of the 12-hole model, from its complete bipartite structure.

    One occupancy mode (tet against oct) relaxes at k_TO + k_OT, seven tet-identity modes
    (which tetrahedral hole) at k_TO, and three oct-identity modes at k_OT.
    """
    return {
        "occupancy": k_tet_to_oct + k_oct_to_tet,
        "tet_identity": k_tet_to_oct,
        "oct_identity": k_oct_to_tet,
    }


def two_state_rates(koopman_matrix: np.ndarray, lag_ps: float) -> tuple[float, float]:
    """k_TO and k_OT (ps⁻¹) from a 2 × 2 tet/oct transition matrix at lag τ.

    For a two-state chain, T(τ) = π-mixing with one eigenvalue λ = 1 − T₀₁ − T₁₀ =
    exp(−(k_TO + k_OT) τ); the stationary split gives k_TO/k_OT = π_oct/π_tet.
    """
    t01, t10 = koopman_matrix[0, 1], koopman_matrix[1, 0]
    total = -np.log(1.0 - t01 - t10) / lag_ps
    pi_oct = t01 / (t01 + t10)
    return total * pi_oct, total * (1.0 - pi_oct)


def hop_path_energy(
    potential: ToyPotential | None = None, n_points: int = 121
) -> tuple[np.ndarray, np.ndarray, float]:
    """Energy of a Li on the straight hop from a tetrahedral to an octahedral centre.

    The line from the tetrahedral centre (¼, ¼, ¼)a to the octahedral centre (½, ½, ½)a
    crosses the centre of their shared S₃ face at (⅓, ⅓, ⅓)a. S atoms sit on their sites.

    Returns
    -------
    distance : numpy.ndarray
        Distance from the tetrahedral centre, Å.
    energy : numpy.ndarray
        Potential energy, kJ/mol, relative to the tetrahedral centre.
    face_distance : float
        Where the path crosses the face, Å.
    """
    pot = potential or ToyPotential()
    a = pot.lattice_constant
    start, end = np.full(3, 0.25 * a), np.full(3, 0.5 * a)
    fraction = np.linspace(0.0, 1.0, n_points)
    points = start + fraction[:, None] * (end - start)
    energy = li_energy(points, pot)
    length = float(np.linalg.norm(end - start))
    return fraction * length, energy - energy[0], length * (1 / 3 - 1 / 4) / (1 / 4)
