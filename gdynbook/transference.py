"""Charges around ions, ion clusters, Onsager coefficients and transference numbers.

The GDyNets paper explains negative cation transference numbers in PEO/LiTFSI by Li⁺
moving inside negatively charged Li–TFSI clusters. This module holds what that argument
needs, in numpy:

- :func:`formal_charges` — which molecules carry a formal charge (Li⁺ +1, each TFSI⁻
  −1 at its molecule centre); every charge count in the book goes through it;
- :func:`charge_integral`, :func:`coordination`, :func:`ion_clusters` and
  :func:`state_average` — the local picture, per frame and per learned state;
- :func:`onsager_coefficients` and :func:`transference_number` — the collective
  picture, from displacements of unwrapped ion centres, with intervals from
  independent trajectories or time blocks;
- :func:`cation_current_by_group` — the numerator of t₊ split by what each cation was
  while it moved (a learned state, a negative cluster).

Formulas (e.g. Fong et al., ACS Cent. Sci. 5, 1250 (2019)): for species i, j with
collective displacements ΔR_i(t) = Σ_a Δr_a(t),

    L_ij V k_B T = lim ⟨ΔR_i(t) · ΔR_j(t)⟩ / (6 t),

and for a monovalent 1:1 salt t₊ = (L₊₊ − L₊₋) / (L₊₊ + L₋₋ − 2 L₊₋). The ideal
(Nernst–Einstein) value keeps only self terms: t₊ = D₊ / (D₊ + D₋). Coefficients are
returned as L V k_B T in Å²/ps, which is all a ratio of them needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gdynbook.intervals import UnitInterval
from gdynbook.trajectory import Trajectory, TrajectoryError

#: Formal charges of the ions we recognise, by Hill formula of the whole molecule.
FORMAL_ION_CHARGES: dict[str, int] = {
    "Li": +1,
    "Na": +1,
    "K": +1,
    "Cl": -1,
    "Br": -1,
    "C2F6NO4S2": -1,  # TFSI⁻, bis(trifluoromethanesulfonyl)imide
    "F2NO4S2": -1,  # FSI⁻
    "F6P": -1,  # PF₆⁻
    "BF4": -1,  # BF₄⁻
}

ArrayOrList = np.ndarray | Sequence[np.ndarray]


@dataclass(frozen=True)
class FormalCharges:
    """The charged molecules of a system and their formal charges.

    Attributes
    ----------
    molecules : list of numpy.ndarray
        Atom indices of each ion (a single atom for Li⁺), in topology order.
    charges : numpy.ndarray of int, shape (n_ions,)
        Formal charge of each ion, e.
    masses : numpy.ndarray, shape (n_atoms,)
        Atomic masses of the whole system, g/mol (for molecule centres).
    names : list of str
        Hill formula of each ion.
    """

    molecules: list[np.ndarray]
    charges: np.ndarray
    masses: np.ndarray
    names: list[str]

    @property
    def cation(self) -> np.ndarray:
        """Positions in :attr:`molecules` of the cations."""
        return np.flatnonzero(self.charges > 0)

    @property
    def anion(self) -> np.ndarray:
        """Positions in :attr:`molecules` of the anions."""
        return np.flatnonzero(self.charges < 0)

    def centres(self, traj: Trajectory, ions: np.ndarray | None = None) -> np.ndarray:
        """Centre of mass of each ion in every frame, Å, shape (n_frames, n_ions, 3).

        A molecule split across the cell boundary (wrapped coordinates) is made whole
        first, relative to its first atom, so its centre is right either way. Centres
        follow the trajectory: continuous when it is unwrapped.
        """
        selected = np.arange(len(self.molecules)) if ions is None else np.asarray(ions)
        return molecule_centres(traj, [self.molecules[i] for i in selected], self.masses)


def _hill_formula(elements: list[str]) -> str:
    counts: dict[str, int] = {}
    for symbol in elements:
        counts[symbol] = counts.get(symbol, 0) + 1
    first = [s for s in ("C", "H") if "C" in counts and s in counts]
    order = first + sorted(s for s in counts if s not in first)
    return "".join(f"{s}{counts[s] if counts[s] > 1 else ''}" for s in order)


def formal_charges(topology: object, masses: np.ndarray | None = None) -> FormalCharges:
    """Find the ions of a topology and give each its formal charge.

    Molecules are the bonded components of the topology; a molecule whose Hill formula
    is in :data:`FORMAL_ION_CHARGES` (Li⁺, Na⁺, K⁺, Cl⁻, Br⁻, TFSI⁻, FSI⁻, PF₆⁻,
    BF₄⁻) is an ion, everything else (PEO, solvent) is neutral. Formal, not force-field,
    charges: partial charges make every Li⁺ shell look negative (an OPLS-AA ether O
    carries −0.40 e, so five of them −2.0 e; with the usual ×0.8 ion scaling the Li⁺
    brings only +0.8 e), so they cannot tell clusters apart.

    Parameters
    ----------
    topology : mdtraj.Topology
        With bonds (a PDB written by the MD engine has them as CONECT records).
    masses : numpy.ndarray, optional
        Mass of each atom, g/mol; default the elements' masses. Frames without hydrogens
        pass united-atom masses (``runs.united_atom_masses``) so centres of mass stay
        those of the full system.

    Returns
    -------
    FormalCharges

    Raises
    ------
    TrajectoryError
        If the topology holds no ion, or its ions do not add up to zero charge.
    """
    molecules = [np.array(sorted(atom.index for atom in mol)) for mol in topology.find_molecules()]
    molecules.sort(key=lambda atoms: int(atoms[0]))
    atoms = list(topology.atoms)
    ions, charges, names = [], [], []
    for mol in molecules:
        formula = _hill_formula([atoms[i].element.symbol for i in mol])
        if formula in FORMAL_ION_CHARGES:
            ions.append(mol)
            charges.append(FORMAL_ION_CHARGES[formula])
            names.append(formula)
    if not ions:
        raise TrajectoryError(
            "no ion found in the topology: formal_charges recognises "
            f"{', '.join(FORMAL_ION_CHARGES)} as whole molecules. Check that the topology "
            "has bonds (a PDB needs CONECT records), or add your ion to "
            "gdynbook.transference.FORMAL_ION_CHARGES."
        )
    if sum(charges) != 0:
        raise TrajectoryError(
            f"the ions found carry a net formal charge of {sum(charges):+d} e; an "
            "electrolyte must be neutral. Check the topology's bonds and residues."
        )
    if masses is None:
        masses = np.array([atom.element.mass for atom in atoms], dtype=np.float64)
    else:
        masses = np.asarray(masses, dtype=np.float64)
        if masses.shape != (len(atoms),):
            raise ValueError(
                f"masses has shape {masses.shape}, the topology {len(atoms)} atoms: one mass "
                "per atom, g/mol."
            )
    return FormalCharges(ions, np.array(charges, dtype=np.int64), masses, names)


def molecule_centres(
    traj: Trajectory, molecules: Sequence[np.ndarray], masses: np.ndarray
) -> np.ndarray:
    """Centres of mass of molecules, Å, shape (n_frames, n_molecules, 3).

    Each molecule is made whole by taking every atom's shortest periodic vector from
    the molecule's first atom (valid for molecules smaller than half the cell), so wrapped
    and unwrapped coordinates give the same centre modulo the cell.
    """
    inverse = np.linalg.inv(traj.lattices)
    centres = np.empty((traj.n_frames, len(molecules), 3))
    for m, atoms in enumerate(molecules):
        atoms = np.asarray(atoms)
        anchor = traj.coords[:, atoms[:1]].astype(np.float64)
        delta = traj.coords[:, atoms].astype(np.float64) - anchor
        frac = np.einsum("fnj,fjk->fnk", delta, inverse)
        delta = np.einsum("fnj,fjk->fnk", frac - np.round(frac), traj.lattices)
        weights = masses[atoms] / masses[atoms].sum()
        centres[:, m] = anchor[:, 0] + np.einsum("fnk,n->fk", delta, weights)
    return centres


def _minimum_image_vectors(
    origins: np.ndarray, points: np.ndarray, lattices: np.ndarray, max_radius_a: float
) -> np.ndarray:
    """Shortest periodic vectors from each origin to each point, Å.

    origins (F, A, 3), points (F, B, 3), lattices (F, 3, 3) → (F, A, B, 3). Exact for
    any cell up to ``max_radius_a``, which must stay below half the smallest distance
    between opposite cell faces.
    """
    widths = np.abs(np.linalg.det(lattices))[:, None] / np.linalg.norm(
        np.cross(lattices[:, [1, 2, 0]], lattices[:, [2, 0, 1]]), axis=-1
    )
    if max_radius_a >= 0.5 * widths.min():
        raise TrajectoryError(
            f"a radius of {max_radius_a:g} Å is not shorter than half the cell width "
            f"({0.5 * widths.min():.2f} Å): a neighbour could be counted twice. Use a "
            "smaller radius or a bigger box."
        )
    inverse = np.linalg.inv(lattices)
    delta = points[:, None, :, :] - origins[:, :, None, :]
    frac = np.einsum("fabj,fjk->fabk", delta, inverse)
    frac -= np.round(frac)
    delta = np.einsum("fabj,fjk->fabk", frac, lattices)
    orthogonal = np.abs(lattices - np.einsum("fii->fi", lattices)[:, :, None] * np.eye(3)).max()
    if orthogonal < 1e-9:
        return delta
    # triclinic: the rounded image is not always the nearest; try the 27 neighbours
    shifts = np.stack(np.meshgrid(*[[-1, 0, 1]] * 3, indexing="ij"), -1).reshape(-1, 3)
    best = delta.copy()
    best_sq = np.sum(delta**2, axis=-1)
    for shift in shifts:
        if not shift.any():
            continue
        trial = delta + np.einsum("j,fjk->fk", shift.astype(float), lattices)[:, None, None]
        trial_sq = np.sum(trial**2, axis=-1)
        closer = trial_sq < best_sq
        best[closer] = trial[closer]
        best_sq = np.minimum(best_sq, trial_sq)
    return best


def charge_integral(
    traj: Trajectory,
    charges: FormalCharges,
    center_index: np.ndarray,
    radii_a: Sequence[float] | np.ndarray,
) -> np.ndarray:
    """Net formal charge within each radius of each central ion, per frame.

    The central ion counts itself, so a Li⁺ surrounded by PEO alone gives +1 and a Li⁺
    with two TFSI⁻ in its shell gives −1. An ion counts when its centre of mass lies
    within the radius.

    Parameters
    ----------
    traj : Trajectory
    charges : FormalCharges
        From :func:`formal_charges` of the same system.
    center_index : numpy.ndarray of int
        Positions in ``charges.molecules`` of the central ions (e.g. ``charges.cation``).
    radii_a : sequence of float
        Radii, Å, each below half the cell width.

    Returns
    -------
    numpy.ndarray, shape (n_frames, len(center_index), len(radii_a))
        Net formal charge, e.
    """
    radii = np.asarray(radii_a, dtype=np.float64).reshape(-1)
    if radii.size == 0 or (radii <= 0).any():
        raise ValueError("radii_a must be positive distances in Å.")
    centre_ions = np.asarray(center_index, dtype=np.int64)
    positions = charges.centres(traj)
    vectors = _minimum_image_vectors(
        positions[:, centre_ions], positions, traj.lattices, float(radii.max())
    )
    distances = np.linalg.norm(vectors, axis=-1)  # (F, n_centres, n_ions), self at 0
    inside = distances[..., None] <= radii  # (F, n_centres, n_ions, n_radii)
    return np.einsum("fcir,i->fcr", inside, charges.charges.astype(np.float64))


@dataclass
class Coordination:
    """Atoms and distinct molecules around each central atom, per frame.

    Attributes
    ----------
    atoms : numpy.ndarray of int, shape (n_frames, n_centres)
        Neighbour atoms within the cutoff.
    molecules : numpy.ndarray of int, shape (n_frames, n_centres)
        Distinct molecules those atoms belong to.
    """

    atoms: np.ndarray
    molecules: np.ndarray

    @classmethod
    def from_contacts(cls, inside: np.ndarray, owner: np.ndarray) -> Coordination:
        """Counts from a contact table ``inside`` (frames, centres, neighbours) and the
        molecule number of each neighbour."""
        return cls(inside.sum(axis=-1), contacts_per_molecule(inside, owner).sum(axis=-1))


def contacts_per_molecule(inside: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Whether any atom of each molecule is in contact, (..., n_molecules) bool.

    Parameters
    ----------
    inside : numpy.ndarray of bool, shape (..., n_atoms)
        Contact of each neighbour atom.
    owner : numpy.ndarray of int, shape (n_atoms,)
        Molecule number of each atom; the result's last axis follows the sorted
        distinct numbers.
    """
    labels, owner_dense = np.unique(np.asarray(owner), return_inverse=True)
    per_molecule = np.zeros(inside.shape[:-1] + (labels.size,), dtype=bool)
    for column, molecule in enumerate(owner_dense):
        per_molecule[..., molecule] |= inside[..., column]
    return per_molecule


def _within(
    traj: Trajectory, centres: np.ndarray, neighbours: np.ndarray, cutoff_a: float
) -> np.ndarray:
    """Contact table: neighbour atoms within ``cutoff_a`` of each centre atom, (F, C, N)."""
    coords = traj.coords.astype(np.float64)
    vectors = _minimum_image_vectors(
        coords[:, centres], coords[:, neighbours], traj.lattices, cutoff_a
    )
    return np.sum(vectors**2, axis=-1) < cutoff_a**2


def coordination(
    traj: Trajectory,
    center_index: np.ndarray,
    neighbor_index: np.ndarray,
    molecule_of_neighbor: np.ndarray | None = None,
    cutoff_a: float = 2.8,
) -> Coordination:
    """Count neighbour atoms (e.g. ether O) and their molecules within a cutoff.

    Parameters
    ----------
    traj : Trajectory
    center_index : numpy.ndarray of int
        Atom indices of the centres (Li⁺).
    neighbor_index : numpy.ndarray of int
        Atom indices that may coordinate (ether O, or TFSI O).
    molecule_of_neighbor : numpy.ndarray of int, optional
        Molecule number of each neighbour atom (PEO chain, TFSI ion); default: each
        atom its own molecule.
    cutoff_a : float
        First-shell radius, Å (2.8 Å is the first minimum of the Li–O RDF).

    Returns
    -------
    Coordination
    """
    centres = np.asarray(center_index, dtype=np.int64)
    neighbours = np.asarray(neighbor_index, dtype=np.int64)
    owner = (
        np.arange(neighbours.size)
        if molecule_of_neighbor is None
        else np.asarray(molecule_of_neighbor)
    )
    if owner.shape != neighbours.shape:
        raise ValueError(
            f"molecule_of_neighbor has shape {owner.shape}; it needs one molecule number "
            f"per neighbour atom, shape {neighbours.shape}."
        )
    return Coordination.from_contacts(_within(traj, centres, neighbours, cutoff_a), owner)


@dataclass
class IonClusters:
    """Clusters of ions in contact, per frame.

    Attributes
    ----------
    label : numpy.ndarray of int, shape (n_frames, n_ions)
        Cluster number of each ion within its frame.
    net_charge : numpy.ndarray of int, shape (n_frames, n_ions)
        Net formal charge of the cluster each ion belongs to, e.
    size : numpy.ndarray of int, shape (n_frames, n_ions)
        Number of ions in that cluster.
    n_cations, n_anions : numpy.ndarray of int, shape (n_frames, n_ions)
        Its cations and anions.
    """

    label: np.ndarray
    net_charge: np.ndarray
    size: np.ndarray
    n_cations: np.ndarray
    n_anions: np.ndarray

    def composition_counts(self, ions: np.ndarray) -> dict[tuple[int, int], float]:
        """Fraction of (frame, ion) samples of ``ions`` in each (cations, anions) cluster."""
        pairs = np.stack([self.n_cations[:, ions], self.n_anions[:, ions]], -1).reshape(-1, 2)
        keys, counts = np.unique(pairs, axis=0, return_counts=True)
        return {
            (int(k[0]), int(k[1])): float(c / pairs.shape[0])
            for k, c in zip(keys, counts, strict=True)
        }


def ion_clusters(traj: Trajectory, charges: FormalCharges, cutoff_a: float = 2.8) -> IonClusters:
    """Group ions into clusters: a cation and an anion are in contact when any atom of the
    anion lies within ``cutoff_a`` of the cation's atoms; clusters are the connected
    components of that contact graph (same-sign ions join only through a partner).

    Parameters
    ----------
    traj : Trajectory
    charges : FormalCharges
    cutoff_a : float
        Contact distance, Å (2.8 Å: the first shell of Li–O(TFSI)).

    Returns
    -------
    IonClusters
    """
    cations, anions = charges.cation, charges.anion
    cation_atoms = np.array([charges.molecules[i][0] for i in cations])
    if any(len(charges.molecules[i]) != 1 for i in cations):
        raise ValueError("ion_clusters expects single-atom cations (Li⁺, Na⁺, K⁺).")
    anion_atoms = np.concatenate([charges.molecules[i] for i in anions])
    anion_of_atom = np.repeat(np.arange(anions.size), [len(charges.molecules[i]) for i in anions])
    pair_contact = contacts_per_molecule(  # (F, n_cations, n_anions)
        _within(traj, cation_atoms, anion_atoms, cutoff_a), anion_of_atom
    )

    n_ions = len(charges.molecules)
    shape = (traj.n_frames, n_ions)
    label = np.empty(shape, dtype=np.int64)
    net = np.empty(shape, dtype=np.int64)
    size = np.empty(shape, dtype=np.int64)
    n_cat = np.empty(shape, dtype=np.int64)
    n_an = np.empty(shape, dtype=np.int64)
    is_cation = (charges.charges > 0).astype(np.int64)
    for frame in range(traj.n_frames):
        rows, cols = np.nonzero(pair_contact[frame])
        graph = coo_matrix(
            (np.ones(rows.size), (cations[rows], anions[cols])), shape=(n_ions, n_ions)
        )
        _, labels = connected_components(graph, directed=False)
        label[frame] = labels
        net[frame] = np.bincount(labels, weights=charges.charges)[labels].astype(np.int64)
        size[frame] = np.bincount(labels)[labels]
        n_cat[frame] = np.bincount(labels, weights=is_cation)[labels].astype(np.int64)
        n_an[frame] = size[frame] - n_cat[frame]
    return IonClusters(label, net, size, n_cat, n_an)


def state_average(values: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Average of per-sample values in each state, weighted by state membership.

    Parameters
    ----------
    values : numpy.ndarray, shape (n_frames, n_targets, ...)
        Any per-frame, per-target quantity (a count, a charge integral over radii).
    probabilities : numpy.ndarray, shape (n_frames, n_targets, n_states)
        State memberships of the same samples.

    Returns
    -------
    numpy.ndarray, shape (n_states, ...)
        Σ p_s v / Σ p_s for each state s.
    """
    values = np.asarray(values, dtype=np.float64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if values.shape[:2] != probabilities.shape[:2]:
        raise ValueError(
            f"values have (frames, targets) = {values.shape[:2]} but probabilities have "
            f"{probabilities.shape[:2]}: pass both for the same frames and targets."
        )
    flat_values = values.reshape(values.shape[0] * values.shape[1], -1)
    flat_p = probabilities.reshape(-1, probabilities.shape[-1])
    weights = flat_p.sum(axis=0)
    averages = flat_p.T @ flat_values / np.where(weights > 0, weights, np.nan)[:, None]
    return averages.reshape((probabilities.shape[-1],) + values.shape[2:])


# --------------------------------------------------------------------- Onsager transport


def _as_list(positions: ArrayOrList, name: str) -> list[np.ndarray]:
    items = [positions] if isinstance(positions, np.ndarray) else list(positions)
    result = []
    for item in items:
        array = np.asarray(item, dtype=np.float64)
        if array.ndim != 3 or array.shape[-1] != 3:
            raise ValueError(
                f"{name} must be unwrapped positions of shape (n_frames, n_ions, 3) in Å "
                f"(or a list of such arrays, one per trajectory), got {array.shape}."
            )
        if not np.isfinite(array).all():
            raise ValueError(f"{name} contains NaN or inf: repair those frames first.")
        result.append(array)
    return result


@dataclass
class OnsagerCoefficients:
    """Onsager transport coefficients of a 1:1 salt, as L V k_B T, Å²/ps.

    Attributes
    ----------
    l_pp, l_mm, l_pm : float
        Cation–cation, anion–anion and cation–anion coefficients (pooled over
        trajectories).
    d_plus, d_minus : float
        Self-diffusion coefficients of cations and anions, Å²/ps.
    l_pp_err, l_mm_err, l_pm_err, d_plus_err, d_minus_err : float
        Standard errors from a bootstrap over trajectories (or time blocks).
    fit_window_ps : tuple of float
        Lags over which the displacement slopes were fitted, ps.
    frame : str
        ``"barycentric"`` or ``"solvent"``.
    samples : numpy.ndarray, shape (n_samples, 5)
        L₊₊, L₋₋, L₊₋, D₊, D₋ of each trajectory or block (for bootstraps).
    """

    l_pp: float
    l_mm: float
    l_pm: float
    d_plus: float
    d_minus: float
    l_pp_err: float
    l_mm_err: float
    l_pm_err: float
    d_plus_err: float
    d_minus_err: float
    fit_window_ps: tuple[float, float]
    frame: str
    samples: np.ndarray


def _slope_over_window(series: np.ndarray, lags: np.ndarray, time_step_ps: float) -> float:
    """Least-squares slope (Å²/ps) of a displacement correlation against lag time."""
    return float(np.polyfit(lags * time_step_ps, series, 1)[0])


def displacement_correlations(
    cation: np.ndarray, anion: np.ndarray, lags: np.ndarray | Sequence[int]
) -> np.ndarray:
    """Collective and self displacement correlations of one trajectory, Å².

    Parameters
    ----------
    cation, anion : numpy.ndarray, shape (n_frames, n_ions, 3)
        Unwrapped ion centres, Å.
    lags : sequence of int
        Lags in frames.

    Returns
    -------
    numpy.ndarray, shape (5, len(lags))
        Rows: ⟨ΔR₊·ΔR₊⟩, ⟨ΔR₋·ΔR₋⟩, ⟨ΔR₊·ΔR₋⟩ (collective, ΔR = sum over the ions of a
        species), and the self mean-squared displacements of one cation and one anion;
        each averaged over time origins. Divided by 6 t, each gives L V k_B T or D.
    """
    lags = np.asarray(lags, dtype=np.int64)
    if (lags < 1).any() or (lags >= cation.shape[0]).any():
        raise ValueError(f"lags must lie in 1 … {cation.shape[0] - 1} frames for this trajectory.")
    total_cation = cation.sum(axis=1)
    total_anion = anion.sum(axis=1)
    rows = np.empty((5, lags.size))
    for k, lag in enumerate(lags):
        dp = total_cation[lag:] - total_cation[:-lag]
        dm = total_anion[lag:] - total_anion[:-lag]
        rows[0, k] = np.mean(np.sum(dp * dp, -1))
        rows[1, k] = np.mean(np.sum(dm * dm, -1))
        rows[2, k] = np.mean(np.sum(dp * dm, -1))
        rows[3, k] = np.mean(np.sum((cation[lag:] - cation[:-lag]) ** 2, -1))
        rows[4, k] = np.mean(np.sum((anion[lag:] - anion[:-lag]) ** 2, -1))
    return rows


def _window_lags(n_frames: int, time_step_ps: float, window_ps: tuple[float, float]) -> np.ndarray:
    first = max(1, int(round(window_ps[0] / time_step_ps)))
    last = int(round(window_ps[1] / time_step_ps))
    if last >= n_frames:
        raise ValueError(
            f"the fit window ends at {window_ps[1]:g} ps but a trajectory (or block) only "
            f"spans {(n_frames - 1) * time_step_ps:g} ps: shorten the window or use fewer blocks."
        )
    if last - first < 1:
        raise ValueError(
            f"the fit window {window_ps} ps holds fewer than two lags at "
            f"{time_step_ps:g} ps per frame: widen it."
        )
    return np.arange(first, last + 1)


def _bootstrap_error(samples: np.ndarray, statistic, n_bootstrap: int, seed: int) -> float:
    """Standard deviation of ``statistic(pooled mean)`` over resamples of the samples."""
    rng = np.random.default_rng(seed)
    n = samples.shape[0]
    values = [statistic(samples[rng.integers(0, n, n)].mean(axis=0)) for _ in range(n_bootstrap)]
    return float(np.nanstd(values, ddof=1))


def onsager_coefficients(
    cation_positions: ArrayOrList,
    anion_positions: ArrayOrList,
    time_step_ps: float,
    *,
    frame: Literal["barycentric", "solvent"] = "barycentric",
    solvent_positions: ArrayOrList | None = None,
    fit_window_ps: tuple[float, float] | None = None,
    n_blocks: int = 1,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> OnsagerCoefficients:
    """Onsager coefficients L₊₊, L₋₋, L₊₋ of a 1:1 salt from collective displacements.

    Parameters
    ----------
    cation_positions, anion_positions : numpy.ndarray or list of numpy.ndarray
        Unwrapped ion centres, shape (n_frames, n_ions, 3), Å; a list holds independent
        trajectories, pooled with equal weight. In the barycentric frame they must
        already be relative to the system's centre of mass (an MD run with a
        centre-of-mass motion remover gives that directly).
    time_step_ps : float
        Time between frames, ps.
    frame : {"barycentric", "solvent"}
        ``"solvent"`` subtracts the solvent's centre-of-mass displacement (give
        ``solvent_positions``), the frame in which experiments report t₊.
    solvent_positions : numpy.ndarray or list, optional
        Solvent centre of mass per frame, shape (n_frames, 3) or (n_frames, 1, 3), Å.
    fit_window_ps : (float, float), optional
        Lags between which the slopes are fitted, ps. Default: 10 % to 30 % of the
        shortest trajectory (or block) — past the sub-diffusive start, while many time
        origins remain.
    n_blocks : int
        Split each trajectory into this many contiguous blocks, each one sample.
    n_bootstrap, seed : int
        Bootstrap resamples of the samples (trajectories × blocks) for the errors.

    Returns
    -------
    OnsagerCoefficients
        Pooled coefficients (means over samples) with bootstrap standard errors.
    """
    cations = _as_list(cation_positions, "cation_positions")
    anions = _as_list(anion_positions, "anion_positions")
    if len(cations) != len(anions):
        raise ValueError("give the same number of cation and anion trajectories.")
    for c, a in zip(cations, anions, strict=True):
        if c.shape[0] != a.shape[0]:
            raise ValueError("cation and anion positions must have the same frames.")
        if c.shape[1] != a.shape[1]:
            raise ValueError(
                f"{c.shape[1]} cations but {a.shape[1]} anions: these formulas are for a "
                "1:1 salt with as many cations as anions."
            )
    if frame == "solvent":
        if solvent_positions is None:
            raise ValueError(
                "frame='solvent' needs solvent_positions: the solvent (e.g. PEO) centre of "
                "mass in every frame, shape (n_frames, 3), Å."
            )
        solvents = [
            np.asarray(s, dtype=np.float64).reshape(-1, 1, 3)
            for s in (
                [solvent_positions]
                if isinstance(solvent_positions, np.ndarray)
                else solvent_positions
            )
        ]
        if len(solvents) != len(cations) or any(
            s.shape[0] != c.shape[0] for s, c in zip(solvents, cations, strict=True)
        ):
            raise ValueError("solvent_positions needs one (n_frames, 3) array per trajectory.")
        cations = [c - s for c, s in zip(cations, solvents, strict=True)]
        anions = [a - s for a, s in zip(anions, solvents, strict=True)]
    elif frame != "barycentric":
        raise ValueError(f"frame must be 'barycentric' or 'solvent', got {frame!r}.")
    if n_blocks < 1:
        raise ValueError("n_blocks must be at least 1.")

    pieces = []
    for c, a in zip(cations, anions, strict=True):
        bounds = np.linspace(0, c.shape[0], n_blocks + 1).astype(int)
        pieces += [(c[s:e], a[s:e]) for s, e in zip(bounds[:-1], bounds[1:], strict=True)]
    shortest = min(c.shape[0] for c, _ in pieces)
    if fit_window_ps is None:
        span = (shortest - 1) * time_step_ps
        fit_window_ps = (0.1 * span, 0.3 * span)
    lags = _window_lags(shortest, time_step_ps, fit_window_ps)

    samples = np.empty((len(pieces), 5))
    for row, (c, a) in enumerate(pieces):
        correlations = displacement_correlations(c, a, lags)
        samples[row] = [
            _slope_over_window(series, lags, time_step_ps) / 6.0 for series in correlations
        ]
    pooled = samples.mean(axis=0)
    errors = (
        [_bootstrap_error(samples, lambda m, k=k: m[k], n_bootstrap, seed + k) for k in range(5)]
        if samples.shape[0] > 1
        else [np.nan] * 5
    )
    return OnsagerCoefficients(
        *[float(v) for v in pooled],
        *[float(e) for e in errors],
        fit_window_ps=(float(fit_window_ps[0]), float(fit_window_ps[1])),
        frame=frame,
        samples=samples,
    )


def _ideal(m: np.ndarray) -> float:
    return float(m[3] / (m[3] + m[4]))


def _full(m: np.ndarray) -> float:
    return float((m[0] - m[2]) / (m[0] + m[1] - 2.0 * m[2]))


@dataclass
class TransferenceNumber:
    """Cation transference numbers of a 1:1 salt.

    Attributes
    ----------
    ideal, ideal_err : float
        Nernst–Einstein value D₊/(D₊ + D₋) from self-diffusion, and its standard error.
    full, full_err : float
        (L₊₊ − L₊₋)/(L₊₊ + L₋₋ − 2L₊₋) with all ion–ion correlations, and its error.
    coefficients : OnsagerCoefficients
        What both came from.
    """

    ideal: float
    full: float
    ideal_err: float
    full_err: float
    coefficients: OnsagerCoefficients


def transference_from_coefficients(
    coefficients: OnsagerCoefficients, n_bootstrap: int = 1000, seed: int = 0
) -> TransferenceNumber:
    """Ideal and full t₊ from pooled coefficients; errors bootstrap the pooled L's.

    Ratios are taken of pooled (mean) coefficients, never averaged over samples: a
    ratio of noisy collective terms per block is biased and can divide by ~0.
    """
    samples = coefficients.samples
    pooled = samples.mean(axis=0)
    if samples.shape[0] > 1:
        ideal_err = _bootstrap_error(samples, _ideal, n_bootstrap, seed)
        full_err = _bootstrap_error(samples, _full, n_bootstrap, seed + 1)
    else:
        ideal_err = full_err = float("nan")
    return TransferenceNumber(_ideal(pooled), _full(pooled), ideal_err, full_err, coefficients)


def transference_number(
    cation_positions: ArrayOrList,
    anion_positions: ArrayOrList,
    time_step_ps: float,
    *,
    lag_ps: float | None = None,
    n_blocks: int = 5,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> TransferenceNumber:
    """Ideal and full cation transference numbers of a monovalent 1:1 salt.

    Parameters
    ----------
    cation_positions, anion_positions : numpy.ndarray or list of numpy.ndarray
        Unwrapped ion centres (n_frames, n_ions, 3), Å, already in the wanted reference
        frame: this function removes no drift. A list holds independent trajectories.
    time_step_ps : float
        Time between frames, ps.
    lag_ps : float, optional
        The slopes are fitted over lags from ``lag_ps / 2`` to ``lag_ps``. Default:
        30 % of a block.
    n_blocks : int
        Contiguous time blocks per trajectory; with several trajectories, blocks and
        trajectories together are the bootstrap samples.
    n_bootstrap, seed : int
        Bootstrap settings for the standard errors.

    Returns
    -------
    TransferenceNumber
        ``ideal``, ``full``, ``ideal_err``, ``full_err``.
    """
    window = None if lag_ps is None else (0.5 * lag_ps, float(lag_ps))
    coefficients = onsager_coefficients(
        cation_positions,
        anion_positions,
        time_step_ps,
        fit_window_ps=window,
        n_blocks=n_blocks,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )
    return transference_from_coefficients(coefficients, n_bootstrap, seed)


@dataclass
class FrameTransference:
    """Transference numbers of one system in both reference frames."""

    barycentric: TransferenceNumber
    solvent: TransferenceNumber


def ion_centre_positions(
    trajectories: Sequence[Trajectory],
    charges: FormalCharges,
    solvent_index: np.ndarray | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Unwrapped cation and anion centres, and solvent and system centres of mass, Å.

    Wrapped trajectories are unwrapped first (shortest step between frames), so an ion
    that crosses the cell boundary moves on without a jump.

    Returns
    -------
    cations, anions : list of numpy.ndarray, each (n_frames, n_pairs, 3)
    solvent, system : list of numpy.ndarray, each (n_frames, 3)
        Centres of mass of ``solvent_index`` atoms (default: all atoms that are not
        ions) and of the whole system.
    """
    ion_atoms = np.concatenate(charges.molecules)
    if solvent_index is None:
        solvent_index = np.setdiff1d(np.arange(charges.masses.size), ion_atoms)
    solvent_index = np.asarray(solvent_index, dtype=np.int64)
    if solvent_index.size == 0:
        raise ValueError("the system has no solvent atoms: the solvent frame is undefined.")
    cations, anions, solvents, systems = [], [], [], []
    masses = charges.masses
    for traj in trajectories:
        continuous = traj.unwrap() if traj.wrapped else traj
        centres = charges.centres(continuous)
        # molecule centres inherit the anchor atom's continuity
        cations.append(centres[:, charges.cation])
        anions.append(centres[:, charges.anion])
        coords = continuous.coords.astype(np.float64)
        solvent_mass = masses[solvent_index]
        solvents.append(
            np.einsum("fnk,n->fk", coords[:, solvent_index], solvent_mass) / solvent_mass.sum()
        )
        systems.append(np.einsum("fnk,n->fk", coords, masses) / masses.sum())
    return cations, anions, solvents, systems


def transference_in_both_frames(
    trajectories: Sequence[Trajectory],
    charges: FormalCharges,
    *,
    solvent_index: np.ndarray | None = None,
    lag_ps: float | None = None,
    n_blocks: int = 1,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> FrameTransference:
    """t₊ (ideal and full) in the barycentric and in the solvent frame.

    The barycentric frame subtracts the displacement of the whole system's centre of
    mass (zero up to noise when the MD removed centre-of-mass motion); the solvent
    frame subtracts that of the solvent (PEO). Independent trajectories are the
    bootstrap samples (times ``n_blocks`` blocks each).
    """
    cations, anions, solvents, systems = ion_centre_positions(trajectories, charges, solvent_index)
    results = []
    for reference in (systems, solvents):
        shifted_c = [c - r[:, None] for c, r in zip(cations, reference, strict=True)]
        shifted_a = [a - r[:, None] for a, r in zip(anions, reference, strict=True)]
        results.append(
            transference_number(
                shifted_c,
                shifted_a,
                trajectories[0].time_step_ps,
                lag_ps=lag_ps,
                n_blocks=n_blocks,
                n_bootstrap=n_bootstrap,
                seed=seed,
            )
        )
    results[1].coefficients.frame = "solvent"  # shifted here, so onsager saw "barycentric"
    return FrameTransference(*results)


def transference_over_units(
    samples: np.ndarray, confidence: float = 0.95
) -> dict[str, UnitInterval]:
    """Onsager coefficients and t₊ with intervals over independent units (builds).

    Parameters
    ----------
    samples : numpy.ndarray, shape (n_units, 5)
        L₊₊, L₋₋, L₊₋, D₊, D₋ of each independent unit (Å²/ps), e.g.
        :attr:`OnsagerCoefficients.samples` of one trajectory per build with
        ``n_blocks=1``. Time blocks of one run are not independent units.
    confidence : float
        Two-sided coverage of the intervals.

    Returns
    -------
    dict of str to :class:`~gdynbook.intervals.UnitInterval`
        ``l_pp``, ``l_mm``, ``l_pm``, ``d_plus``, ``d_minus`` (mean over units, Student
        t with n − 1 degrees of freedom) and ``ideal``, ``full`` (the ratio of the pooled
        means, jackknife over units).
    """
    from gdynbook.intervals import jackknife_interval, t_interval

    units = np.asarray(samples, dtype=np.float64)
    if units.ndim != 2 or units.shape[1] != 5:
        raise ValueError(
            f"samples must have shape (n_units, 5) — L₊₊, L₋₋, L₊₋, D₊, D₋ per unit — "
            f"got {units.shape}."
        )
    names = ("l_pp", "l_mm", "l_pm", "d_plus", "d_minus")
    result = {name: t_interval(units[:, k], confidence) for k, name in enumerate(names)}
    result["ideal"] = jackknife_interval(units, _ideal, confidence)
    result["full"] = jackknife_interval(units, _full, confidence)
    return result


def cation_current_by_group(
    cation: np.ndarray,
    anion: np.ndarray,
    weights: np.ndarray,
    time_step_ps: float,
    fit_window_ps: tuple[float, float] | None = None,
) -> np.ndarray:
    """Split the numerator of t₊, L₊₊ − L₊₋, by what each cation was while it moved.

    With ΔQ(t) = ΔR₊(t) − ΔR₋(t) the charge displacement of a 1:1 salt and each cation's
    displacement cut into its frame-to-frame steps, each step credited to the groups by
    the cation's weights at the start of the step,

        ΔR_g(t) = Σ_i Σ_s w_ig(s) [r_i(s + 1) − r_i(s)],   Σ_g ΔR_g = ΔR₊,

        (L₊₊ − L₊₋) V k_B T = lim ⟨ΔR₊(t) · ΔQ(t)⟩ / (6 t) = Σ_g lim ⟨ΔR_g(t) · ΔQ(t)⟩ / (6 t)

    for any weights that sum to one over the groups g at every frame (state memberships,
    or an indicator such as "in a negatively charged cluster" and its complement). Group
    g's term is the current its cations carry *while in it*, however often they switch.
    (Weights frozen at the time origin would not do: once a cation has left its origin
    group, the slope only sees the group's population times the total.) Cations that move
    with anions — a negative cluster drifting as one — give a negative term: the mechanism
    the GDyNets paper proposed for negative t₊, here measured.

    Parameters
    ----------
    cation, anion : numpy.ndarray, shape (n_frames, n_ions, 3)
        Unwrapped ion centres in the chosen reference frame, Å (as for
        :func:`onsager_coefficients`; one trajectory).
    weights : numpy.ndarray, shape (n_frames, n_cations, n_groups)
        Each cation's weight in each group at every frame, summing to one over groups.
    time_step_ps : float
    fit_window_ps : (float, float), optional
        Default 10–30 % of the trajectory, as :func:`onsager_coefficients`.

    Returns
    -------
    numpy.ndarray, shape (n_groups,)
        Each group's term, Å²/ps; the sum is L₊₊ − L₊₋ over the same window.

    Raises
    ------
    ValueError
        If shapes disagree or the weights do not sum to one.
    """
    (cation,) = _as_list(cation, "cation")
    (anion,) = _as_list(anion, "anion")
    w = np.asarray(weights, dtype=np.float64)
    if cation.shape[0] != anion.shape[0] or w.ndim != 3 or w.shape[:2] != cation.shape[:2]:
        raise ValueError(
            f"weights {w.shape} must be (n_frames, n_cations, n_groups) for cations "
            f"{cation.shape} and anions {anion.shape} of the same frames."
        )
    if not np.allclose(w.sum(axis=-1), 1.0, atol=1e-6):
        raise ValueError(
            "weights must sum to one over groups for every cation and frame (memberships, "
            "or an indicator and its complement), or the terms do not add up to L₊₊ − L₊₋."
        )
    n_frames = cation.shape[0]
    if fit_window_ps is None:
        span = (n_frames - 1) * time_step_ps
        fit_window_ps = (0.1 * span, 0.3 * span)
    lags = _window_lags(n_frames, time_step_ps, fit_window_ps)
    charge = cation.sum(axis=1) - anion.sum(axis=1)  # (F, 3)
    # each group's collective position: the running sum of its credited steps, (F, G, 3)
    steps = np.einsum("sig,sik->sgk", w[:-1], np.diff(cation, axis=0))
    carried = np.concatenate([np.zeros((1, *steps.shape[1:])), np.cumsum(steps, axis=0)])
    series = np.empty((w.shape[-1], lags.size))
    for k, lag in enumerate(lags):
        dq = charge[lag:] - charge[:-lag]  # (T, 3)
        moved = carried[lag:] - carried[:-lag]  # (T, G, 3)
        series[:, k] = np.einsum("tgk,tk->g", moved, dq) / dq.shape[0]
    return np.array([_slope_over_window(row, lags, time_step_ps) / 6.0 for row in series])
