"""Load PEO/LiTFSI production runs and check them: density, Li⁺ solvation, stationarity.

A run directory (``run-NN``) holds ``topology.pdb``, ``chunk-NNNN.xtc`` (unwrapped
coordinates), ``thermo-NNNN.csv`` and ``provenance.json``. :func:`load_run` turns it
into a :class:`PeoLitfsiRun`: the :class:`~gdynbook.trajectory.Trajectory` with Li⁺
as targets plus the index groups the analyses need.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gdynbook.cache import atomic_write_bytes
from gdynbook.data import sha256_file
from gdynbook.trajectory import Trajectory, TrajectoryError, load_trajectory

#: First-shell cutoff for Li–O, Å (the first minimum of the Li–O RDF lies near 2.8 Å).
LI_O_SHELL_A = 2.8


@dataclass
class PeoLitfsiRun:
    """One production run with the atom groups used by the analyses.

    Attributes
    ----------
    traj : Trajectory
        All atoms, unwrapped, Li⁺ as targets; Å and ps.
    li_index, ether_o_index, tfsi_o_index, tfsi_n_index : numpy.ndarray
        Atom indices of Li⁺, PEO ether O, TFSI⁻ sulfonyl O and TFSI⁻ N.
    residue_index : numpy.ndarray, shape (n_atoms,)
        Molecule number of each atom.
    residue_names : list of str
        Residue name of each molecule (``PEO``, ``LI``, ``TFS``).
    bonds : numpy.ndarray, shape (n_bonds, 2)
        Bonded atom pairs.
    masses : numpy.ndarray
        Atomic masses, g/mol.
    provenance : dict
        The run's ``provenance.json``.
    """

    traj: Trajectory
    li_index: np.ndarray
    ether_o_index: np.ndarray
    tfsi_o_index: np.ndarray
    tfsi_n_index: np.ndarray
    residue_index: np.ndarray
    residue_names: list[str]
    bonds: np.ndarray
    masses: np.ndarray
    provenance: dict[str, Any]
    path: Path


def load_run(
    run_dir: str | os.PathLike[str],
    verify_checksums: bool = True,
    max_chunks: int | None = None,
) -> PeoLitfsiRun:
    """Load one production run as a trajectory with Li⁺ targets.

    Parameters
    ----------
    run_dir : path
        A ``run-NN`` or ``build-NN`` directory (one independent build: its chunks are
        one continuous trajectory).
    verify_checksums : bool
        Compare every chunk with the sha256 recorded in ``provenance.json``.
    max_chunks : int, optional
        Load only the first ``max_chunks`` chunks (the start of the run, in time order);
        default all. ``provenance`` keeps the record of every chunk.

    Raises
    ------
    TrajectoryError
        If files are missing, a checksum or a frame count does not match.
    """
    import mdtraj

    run = Path(run_dir)
    provenance_path = run / "provenance.json"
    if not provenance_path.is_file():
        raise TrajectoryError(
            f"{run} has no provenance.json: it is not a PEO/LiTFSI run directory."
        )
    provenance = json.loads(provenance_path.read_text())
    records = provenance["chunks"]
    if not records:
        raise TrajectoryError(f"{run} has no finished chunk yet.")
    if max_chunks is not None:
        if max_chunks < 1:
            raise ValueError(f"max_chunks={max_chunks}: load at least one chunk (or None: all).")
        records = records[:max_chunks]
    chunks = [run / record["file"] for record in records]
    if verify_checksums:
        for chunk, record in zip(chunks, records, strict=True):
            if not chunk.is_file() or sha256_file(chunk) != record["sha256"]:
                raise TrajectoryError(
                    f"{chunk} is missing or differs from its recorded sha256: the data are "
                    "damaged or were changed; restore them from git."
                )
    topology = mdtraj.load_topology(str(run / "topology.pdb"))
    traj = load_trajectory(chunks, topology=topology, target="element Li")
    traj.wrapped = False  # the MD wrote continuous coordinates
    expected = sum(record["frames"] for record in records)
    if traj.n_frames != expected:
        raise TrajectoryError(
            f"{run}: {traj.n_frames} frames loaded, provenance.json records {expected}."
        )
    residue_index = np.array([atom.residue.index for atom in topology.atoms])
    masses = np.array([atom.element.mass for atom in topology.atoms])
    if provenance.get("frame_atoms", "all") == "heavy":
        masses = united_atom_masses(topology, provenance, run)
    return PeoLitfsiRun(
        traj=traj,
        li_index=topology.select("element Li"),
        ether_o_index=topology.select("resname PEO and element O"),
        tfsi_o_index=topology.select("resname TFS and element O"),
        tfsi_n_index=topology.select("resname TFS and element N"),
        residue_index=residue_index,
        residue_names=[residue.name for residue in topology.residues],
        bonds=np.array([[b[0].index, b[1].index] for b in topology.bonds], dtype=np.int64),
        masses=masses,
        provenance=provenance,
        path=run,
    )


def run_directories(root: str | os.PathLike[str]) -> list[Path]:
    """The ``run-NN`` directories under ``root`` that hold finished chunks, in order."""
    return sorted(
        p
        for p in Path(root).glob("run-[0-9][0-9]")
        if (p / "provenance.json").is_file()
        and json.loads((p / "provenance.json").read_text())["chunks"]
    )


def load_runs(
    root: str | os.PathLike[str], verify_checksums: bool = True, max_chunks: int | None = None
) -> list[PeoLitfsiRun]:
    """Load every run under ``root`` (a list; ``max_chunks`` as in :func:`load_run`)."""
    return [load_run(p, verify_checksums, max_chunks) for p in run_directories(root)]


def build_directories(root: str | os.PathLike[str], min_chunks: int = 1) -> list[Path]:
    """The ``build-NN`` directories under ``root`` with at least ``min_chunks`` finished
    production chunks, in order (zero-padded names sort by number)."""
    return sorted(
        p
        for p in Path(root).glob("build-[0-9][0-9]")
        if (p / "provenance.json").is_file()
        and len(json.loads((p / "provenance.json").read_text())["chunks"]) >= max(1, min_chunks)
    )


def load_builds(
    root: str | os.PathLike[str],
    verify_checksums: bool = True,
    max_chunks: int | None = None,
    min_chunks: int = 1,
) -> list[PeoLitfsiRun]:
    """Load every independent build under ``root`` (one trajectory each), in order.

    A build whose production is still running loads with the chunks finished so far
    (``provenance["complete"]`` says which are done; :func:`production_status` tabulates
    them); one with fewer than ``min_chunks`` finished chunks is left out (an analysis
    that needs a nanosecond asks for that many). ``max_chunks`` loads only the first
    chunks of each, as in :func:`load_run`.

    Raises
    ------
    TrajectoryError
        If ``root`` holds no build with a finished chunk.
    """
    folders = build_directories(root, min_chunks)
    if not folders:
        raise TrajectoryError(
            f"{root} holds no build-NN directory with {max(1, min_chunks)} or more finished "
            "chunks: run the production campaign first (gdynbook simulate peo-litfsi "
            "--campaign …) or point at the folder that holds the builds."
        )
    return [load_run(p, verify_checksums, max_chunks) for p in folders]


def production_status(root: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """How far each ``build-NN`` under ``root`` has got, for a table.

    Returns
    -------
    list of dict
        Per build folder, in order: ``build``, ``seed`` (builder seed), ``stage`` (the
        equilibration stage reached, or ``"production"``), ``chunks`` (finished
        production chunks) of ``chunk_ps`` each, ``production_ns`` (finished),
        ``planned_ns`` (the protocol's production length) and ``complete``.
    """
    rows = []
    for folder in sorted(Path(root).glob("build-[0-9][0-9]")):
        protocol_path = folder / "protocol.json"
        if not protocol_path.is_file():
            continue
        protocol = json.loads(protocol_path.read_text())["protocol"]
        provenance_path = folder / "provenance.json"
        provenance = json.loads(provenance_path.read_text()) if provenance_path.is_file() else None
        chunks = len(provenance["chunks"]) if provenance is not None else 0
        if chunks:
            stage = "production"
            done_ps = float(sum(r["frames"] for r in provenance["chunks"]))
            done_ps *= float(provenance["frame_interval_ps"])
        else:
            stages = [
                name
                for name in ("compress", "anneal", "npt", "nvt")
                if any((folder / "equilibration").glob(f"thermo-{name}*.csv"))
            ]
            stage = stages[-1] if stages else "not started"
            done_ps = 0.0
        rows.append(
            {
                "build": folder.name,
                "seed": int(protocol["seed"]),
                "stage": stage,
                "chunks": chunks,
                "chunk_ps": float(protocol["chunk_ps"]),
                "production_ns": done_ps / 1000.0,
                "planned_ns": float(protocol["production_ps"]) / 1000.0,
                "complete": bool(provenance is not None and provenance.get("complete")),
            }
        )
    return rows


#: Valence of the heavy atoms that carry hydrogens in neutral molecules (PEO).
_VALENCE = {"C": 4, "O": 2, "N": 3}


def united_atom_masses(
    topology: Any, provenance: dict[str, Any], where: str | os.PathLike[str] = "the run"
) -> np.ndarray:
    """Masses of heavy-atom frames with each hydrogen's mass added to its heavy atom, g/mol.

    Frames written with ``frame_atoms="heavy"`` leave the hydrogens out. Adding each
    hydrogen's mass to the heavy atom it is bonded to keeps the total mass (the density)
    and, up to the hydrogens' vibrations, the centres of mass (the barycentric frame of
    transference numbers) of the full system. Hydrogens sit on the neutral molecules
    (PEO): a C carries 4, an O 2 and an N 3 minus its bonds to heavy atoms; ions carry
    none. (Hydrogen mass repartitioning moves mass between a hydrogen and its heavy atom
    in the MD; the total is the natural one, and that is what is used here.)

    Raises
    ------
    TrajectoryError
        If the hydrogens counted this way differ from those ``provenance.json`` says were
        left out (``n_atoms - n_frame_atoms``).
    """
    import mdtraj

    atoms = list(topology.atoms)
    masses = np.array([atom.element.mass for atom in atoms], dtype=np.float64)
    heavy_bonds = np.zeros(len(atoms), dtype=np.int64)
    for a, b in topology.bonds:
        heavy_bonds[a.index] += 1
        heavy_bonds[b.index] += 1
    n_hydrogens = np.zeros(len(atoms), dtype=np.int64)
    for atom in atoms:
        valence = _VALENCE.get(atom.element.symbol)
        if atom.residue.name == "PEO" and valence is not None:
            n_hydrogens[atom.index] = max(valence - heavy_bonds[atom.index], 0)
    left_out = int(provenance["n_atoms"]) - int(provenance["n_frame_atoms"])
    if int(provenance["n_frame_atoms"]) != len(atoms) or int(n_hydrogens.sum()) != left_out:
        raise TrajectoryError(
            f"{where}: the heavy-atom topology implies {int(n_hydrogens.sum())} hydrogens on "
            f"{len(atoms)} atoms, provenance.json records {left_out} left out of "
            f"{provenance['n_atoms']} ({provenance['n_frame_atoms']} written): the files do "
            "not belong together, or the molecules are not PEO/LiTFSI."
        )
    return masses + n_hydrogens * mdtraj.element.hydrogen.mass


# ---------------------------------------------------------------------- geometry
def _orthorhombic_lengths(traj: Trajectory) -> np.ndarray:
    lattices = traj.lattices
    off_diagonal = lattices - np.einsum("fii->fi", lattices)[:, :, None] * np.eye(3)
    if np.abs(off_diagonal).max() > 1e-6:
        raise TrajectoryError(
            "these checks assume an orthorhombic cell (the PEO/LiTFSI box is cubic)."
        )
    return np.einsum("fii->fi", lattices)


def pair_distances(traj: Trajectory, group_a: np.ndarray, group_b: np.ndarray) -> np.ndarray:
    """Minimum-image distances between two groups in every frame, Å.

    Returns
    -------
    numpy.ndarray, shape (n_frames, len(group_a), len(group_b))
    """
    lengths = _orthorhombic_lengths(traj)[:, None, None, :]
    delta = traj.coords[:, group_a, None, :] - traj.coords[:, None, group_b, :]
    delta = delta - lengths * np.round(delta / lengths)
    return np.linalg.norm(delta, axis=-1)


def density_g_cm3(run: PeoLitfsiRun) -> np.ndarray:
    """Density of every frame, g/cm³, of the whole system (hydrogens included, also when
    the frames leave them out)."""
    grams = run.masses.sum() / 6.02214076e23
    return grams / (run.traj.volumes * 1e-24)


def radial_distribution(
    traj: Trajectory,
    group_a: np.ndarray,
    group_b: np.ndarray,
    r_max_a: float = 8.0,
    bin_width_a: float = 0.05,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Radial distribution function g(r) and running coordination number n(r).

    Returns
    -------
    r_a : numpy.ndarray
        Bin centres, Å.
    g : numpy.ndarray
        g(r) of b around a (normalised by the mean number density of b).
    n : numpy.ndarray
        Mean number of b within r of an a atom (cumulative).
    """
    distances = pair_distances(traj, group_a, group_b)
    edges = np.arange(0.0, r_max_a + bin_width_a / 2, bin_width_a)
    counts, _ = np.histogram(distances, bins=edges)
    per_a_frame = counts / (traj.n_frames * len(group_a))
    density_b = len(group_b) / traj.volumes.mean()
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    centres = 0.5 * (edges[1:] + edges[:-1])
    return centres, per_a_frame / (shell * density_b), np.cumsum(per_a_frame)


def first_shell_counts(
    traj: Trajectory, group_a: np.ndarray, group_b: np.ndarray, cutoff_a: float = LI_O_SHELL_A
) -> np.ndarray:
    """Number of b atoms within ``cutoff_a`` of each a atom, shape (n_frames, len(group_a))."""
    return (pair_distances(traj, group_a, group_b) < cutoff_a).sum(axis=-1)


def tfsi_in_shell(run: PeoLitfsiRun, cutoff_a: float = LI_O_SHELL_A) -> np.ndarray:
    """Whether any TFSI⁻ oxygen lies within ``cutoff_a`` of each Li⁺: (n_frames, n_li) bool."""
    return first_shell_counts(run.traj, run.li_index, run.tfsi_o_index, cutoff_a) > 0


def durable_changes(labels: np.ndarray, min_frames: int) -> np.ndarray:
    """Changes of a label series between stretches that last at least ``min_frames``.

    A stretch is a run of one label (≥ 0); stretches shorter than ``min_frames`` and
    frames labelled −1 (unknown) are ignored, so rattling and brief excursions do not
    count. A change is counted when consecutive durable stretches carry different labels.

    Parameters
    ----------
    labels : numpy.ndarray of int, shape (n_frames, n_series)
    min_frames : int

    Returns
    -------
    numpy.ndarray of int, shape (n_series,)
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be (n_frames, n_series), got shape {labels.shape}.")
    if min_frames < 1:
        raise ValueError(f"min_frames must be at least 1, got {min_frames}.")
    counts = np.zeros(labels.shape[1], dtype=np.int64)
    for series in range(labels.shape[1]):
        values = labels[:, series]
        change = np.flatnonzero(np.diff(values)) + 1
        starts = np.concatenate([[0], change])
        lengths = np.diff(np.concatenate([starts, [values.size]]))
        durable = [
            values[s]
            for s, n in zip(starts, lengths, strict=True)
            if n >= min_frames and values[s] >= 0
        ]
        counts[series] = int(np.count_nonzero(np.diff(np.asarray(durable, dtype=np.int64))))
    return counts


def durable_switches(states: np.ndarray, min_frames: int) -> np.ndarray:
    """Count switches of a boolean series that last at least ``min_frames`` frames.

    A switch counts only when the new value then persists for ``min_frames``
    consecutive frames, which filters out rattling across the shell boundary (the
    boolean case of :func:`durable_changes`).

    Parameters
    ----------
    states : numpy.ndarray of bool, shape (n_frames, n_series)
    min_frames : int

    Returns
    -------
    numpy.ndarray of int, shape (n_series,)
    """
    return durable_changes(np.asarray(states, dtype=bool).astype(np.int64), min_frames)


def molecules_intact(run: PeoLitfsiRun, max_bond_a: float = 2.2) -> bool:
    """Whether every bond stays shorter than ``max_bond_a`` in every frame (unwrapped)."""
    coords = run.traj.coords
    lengths = np.linalg.norm(coords[:, run.bonds[:, 0]] - coords[:, run.bonds[:, 1]], axis=-1)
    return bool(lengths.max() < max_bond_a)


def thermo(run: PeoLitfsiRun) -> np.ndarray:
    """The run's thermo rows (time ps, potential, kinetic kJ/mol, T K, volume nm³, density).

    One ``thermo-NNNN.csv`` per finished chunk recorded in ``provenance.json``; a run
    loaded with ``max_chunks`` gets the rows of the chunks it loaded.
    """
    files, frames = [], 0
    for record in run.provenance["chunks"]:
        frames += int(record["frames"])
        if frames > run.traj.n_frames and files:
            break
        files.append(run.path / record["file"].replace("chunk-", "thermo-").replace(".xtc", ".csv"))
    return np.concatenate([np.loadtxt(f, delimiter=",", skiprows=1, ndmin=2) for f in files])


def summary(run: PeoLitfsiRun, switch_min_ps: float = 20.0) -> dict[str, float]:
    """Validation numbers of one run, and the same for its first and second half.

    Returns density (g/cm³), mean ether-O and TFSI-O counts within 2.8 Å of Li⁺,
    the fraction of Li⁺ with TFSI in the first shell, durable TFSI in/out switches per
    Li⁺ per ns, temperature mean and drift (K/ns) and potential-energy drift (kJ/mol/ns).
    """
    traj = run.traj
    ether = first_shell_counts(traj, run.li_index, run.ether_o_index)
    tfsi_o = first_shell_counts(traj, run.li_index, run.tfsi_o_index)
    with_tfsi = tfsi_o > 0
    density = density_g_cm3(run)
    half = traj.n_frames // 2
    min_frames = max(1, int(round(switch_min_ps / traj.time_step_ps)))
    duration_ns = traj.n_frames * traj.time_step_ps / 1000.0
    rows = thermo(run)
    t_ns = rows[:, 0] / 1000.0
    result = {
        "frames": float(traj.n_frames),
        "duration_ns": duration_ns,
        "density_g_cm3": float(density.mean()),
        "ether_o_per_li": float(ether.mean()),
        "tfsi_o_per_li": float(tfsi_o.mean()),
        "fraction_li_with_tfsi": float(with_tfsi.mean()),
        "tfsi_switches_per_li_per_ns": float(
            durable_switches(with_tfsi, min_frames).mean() / duration_ns
        ),
        "temperature_k": float(rows[:, 3].mean()),
        "temperature_drift_k_per_ns": float(np.polyfit(t_ns, rows[:, 3], 1)[0]),
        "potential_drift_kj_mol_per_ns": float(np.polyfit(t_ns, rows[:, 1], 1)[0]),
        "molecules_intact": float(molecules_intact(run)),
    }
    for name, part in (("first_half", slice(0, half)), ("second_half", slice(half, None))):
        result[f"{name}_density_g_cm3"] = float(density[part].mean())
        result[f"{name}_ether_o_per_li"] = float(ether[part].mean())
        result[f"{name}_tfsi_o_per_li"] = float(tfsi_o[part].mean())
        result[f"{name}_fraction_li_with_tfsi"] = float(with_tfsi[part].mean())
    return result


CHECKSUMS_BEGIN = "<!-- checksums: generated by gdynbook.systems.peo_litfsi.runs.checksum_table -->"
CHECKSUMS_END = "<!-- end of checksums -->"


def checksum_table(root: str | os.PathLike[str]) -> str:
    """Markdown table of every finished production chunk: frames and sha256.

    Built from each run's ``provenance.json`` (whose records :func:`load_run` checks
    against the files).
    """
    lines = ["| run | file | frames | sha256 |", "|---|---|---|---|"]
    for run_dir in run_directories(root):
        provenance = json.loads((run_dir / "provenance.json").read_text())
        for record in provenance["chunks"]:
            lines.append(
                f"| {run_dir.name} | {record['file']} | {record['frames']} | `{record['sha256']}` |"
            )
    return "\n".join(lines)


def update_readme_checksums(readme: str | os.PathLike[str], root: str | os.PathLike[str]) -> None:
    """Rewrite the checksum block of ``readme`` (between the two marker comments)."""
    path = Path(readme)
    text = path.read_text()
    if CHECKSUMS_BEGIN not in text or CHECKSUMS_END not in text:
        raise ValueError(f"{path} has no checksum block to update.")
    head, rest = text.split(CHECKSUMS_BEGIN, 1)
    _, tail = rest.split(CHECKSUMS_END, 1)
    text = f"{head}{CHECKSUMS_BEGIN}\n{checksum_table(root)}\n{CHECKSUMS_END}{tail}"
    atomic_write_bytes(path, text.encode())
