"""Trajectories of periodic systems: the :class:`Trajectory` container and its loaders.

A trajectory is what every later step starts from: Cartesian coordinates of all atoms
in every frame, the periodic cell of every frame, the atomic numbers, which atoms are
the *targets* whose dynamics a GDyNet learns, and the time between frames.

Two kinds of files are read by :func:`load_trajectory`:

* the original GDyNets ``traj.npz`` (keys ``traj_coords``, ``lattices``,
  ``atom_types``, ``target_index``), unchanged; gdynbook adds ``time_step_ps`` and
  ``wrapped`` when it writes one;
* any format that mdtraj reads (DCD, XTC, LAMMPS dump, PDB, NetCDF, ...), with a
  topology where the format needs one. mdtraj works in nm; gdynbook in Å.

Several independent runs of one system are always a Python ``list`` of
:class:`Trajectory`; one run stored as several chunk files loads as one trajectory.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gdynbook.cache import atomic_savez

if TYPE_CHECKING:  # pragma: no cover
    import mdtraj

PathLike = str | os.PathLike[str]

#: Keys of the original GDyNets ``traj.npz``.
GDYNET_KEYS = ("traj_coords", "lattices", "atom_types", "target_index")

#: File suffixes whose mdtraj reader returns real times in ps (others give 0, 1, 2, ...).
_TIMED_SUFFIXES = {".xtc", ".trr", ".nc", ".netcdf", ".ncdf", ".h5", ".dtr"}

#: File suffixes that carry their own topology.
_SELF_TOPOLOGY_SUFFIXES = {".pdb", ".pdb.gz", ".h5", ".gro", ".mol2", ".cif", ".pdbx"}

_NM_TO_A = 10.0


class TrajectoryError(ValueError):
    """A trajectory or trajectory file that gdynbook cannot use as it is.

    The message names the problem and how to fix it.
    """


def _as_float_array(name: str, value: Any) -> np.ndarray:
    try:
        array = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - anything numpy refuses
        raise TrajectoryError(f"{name} could not be turned into a numeric array: {exc}") from exc
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise TrajectoryError(f"{name} must be numeric, got dtype {array.dtype}.")
    if array.dtype != np.float32:
        array = array.astype(np.float64, copy=False)  # a float64 memory map stays one
    return array


def _check_finite(name: str, array: np.ndarray, fix: str) -> None:
    # frame blocks: no full-size boolean array for a long trajectory
    step = max(1, (1 << 24) // max(1, array[0].size if array.ndim else 1))
    if array.ndim and all(
        np.isfinite(array[start : start + step]).all() for start in range(0, len(array), step)
    ):
        return
    bad = ~np.isfinite(array)
    if bad.any():
        frames = np.unique(np.nonzero(bad)[0])
        shown = ", ".join(str(f) for f in frames[:5]) + (" ..." if frames.size > 5 else "")
        raise TrajectoryError(
            f"{name} contains NaN or infinite values ({int(bad.sum())} entries, "
            f"frames {shown}). {fix}"
        )


@dataclass(eq=False)
class Trajectory:
    """Coordinates and periodic cells of one MD run, with the atoms to learn.

    Parameters
    ----------
    coords : array_like, shape (n_frames, n_atoms, 3)
        Cartesian coordinates, Å. float32 input stays float32; anything else
        becomes float64.
    lattices : array_like, shape (n_frames, 3, 3) or (3, 3)
        Periodic cell of each frame, Å; **rows are the lattice vectors** a, b, c.
        A single (3, 3) cell is repeated for every frame.
    atom_types : array_like of int, shape (n_atoms,)
        Atomic numbers.
    target_index : array_like of int, shape (n_targets,)
        0-based indices of the target atoms whose dynamics are learned.
    time_step_ps : float
        Time between consecutive frames, ps.
    wrapped : bool, optional
        ``True`` if coordinates are wrapped into the cell, ``False`` if they are
        continuous (unwrapped, e.g. for diffusion). ``None`` (default) decides from
        the data: wrapped when every fractional coordinate lies in [0, 1).

    Raises
    ------
    TrajectoryError
        On wrong shapes, a missing or degenerate cell, NaN/inf values, bad target
        indices or a missing/non-positive time step.
    """

    coords: np.ndarray
    lattices: np.ndarray
    atom_types: np.ndarray
    target_index: np.ndarray
    time_step_ps: float
    wrapped: bool | None = None

    def __post_init__(self) -> None:
        coords = _as_float_array("coords", self.coords)
        if coords.ndim != 3 or coords.shape[-1] != 3:
            raise TrajectoryError(
                f"coords must have shape (n_frames, n_atoms, 3) in Å, got {coords.shape}. "
                "For a single frame use coords[None]."
            )
        n_frames, n_atoms, _ = coords.shape
        if n_frames == 0 or n_atoms == 0:
            raise TrajectoryError(f"coords is empty (shape {coords.shape}): no frames or no atoms.")
        _check_finite("coords", coords, "Remove or repair those frames before loading.")

        if self.lattices is None:
            raise TrajectoryError(
                "lattices is missing: GDyNets needs the periodic cell of every frame "
                "(rows = lattice vectors, Å). Pass lattices=... or use a file with box information."
            )
        lattices = _as_float_array("lattices", self.lattices).astype(np.float64)
        if lattices.shape == (3, 3):
            lattices = np.broadcast_to(lattices, (n_frames, 3, 3)).copy()
        if lattices.shape != (n_frames, 3, 3):
            raise TrajectoryError(
                f"lattices must have shape (n_frames, 3, 3) = ({n_frames}, 3, 3) or (3, 3), "
                f"got {lattices.shape}."
            )
        _check_finite("lattices", lattices, "Every frame needs a finite periodic cell.")
        volumes = np.linalg.det(lattices)
        scale = np.prod(np.linalg.norm(lattices, axis=2), axis=1)
        degenerate = volumes <= 1e-8 * np.maximum(scale, 1e-300)
        if degenerate.any():
            first = int(np.nonzero(degenerate)[0][0])
            raise TrajectoryError(
                f"the cell of frame {first} has zero or negative volume "
                f"({volumes[first]:.4g} Å³). Rows of lattices must be three linearly "
                "independent lattice vectors a, b, c forming a right-handed set; a "
                "non-periodic system needs a (large) box before GDyNets can use it."
            )

        types = np.asarray(self.atom_types)
        if types.ndim != 1 or types.shape[0] != n_atoms:
            raise TrajectoryError(
                f"atom_types must have shape (n_atoms,) = ({n_atoms},), got {types.shape}."
            )
        if not np.issubdtype(types.dtype, np.integer):
            if np.issubdtype(types.dtype, np.floating) and np.all(types == np.round(types)):
                types = types.astype(np.int64)
            else:
                raise TrajectoryError("atom_types must be integer atomic numbers.")
        types = types.astype(np.int64)
        if (types < 1).any() or (types > 118).any():
            raise TrajectoryError(
                "atom_types must be atomic numbers between 1 and 118, got values "
                f"from {types.min()} to {types.max()}."
            )

        targets = _validate_target_index(self.target_index, n_atoms)

        if self.time_step_ps is None:
            raise TrajectoryError(
                "time_step_ps is missing: give the time between frames in ps "
                "(e.g. time_step_ps=0.1). The original traj.npz format does not store it."
            )
        try:
            time_step = float(self.time_step_ps)
        except (TypeError, ValueError) as exc:
            raise TrajectoryError(
                f"time_step_ps must be a number of ps, got {self.time_step_ps!r}."
            ) from exc
        if not np.isfinite(time_step) or time_step <= 0:
            raise TrajectoryError(f"time_step_ps must be a positive number of ps, got {time_step}.")

        self.coords = coords
        self.lattices = lattices
        self.atom_types = types
        self.target_index = targets
        self.time_step_ps = time_step
        if self.wrapped is None:
            self.wrapped = self._inside_cell()
        else:
            self.wrapped = bool(self.wrapped)

    # ------------------------------------------------------------------ basic facts
    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.coords.shape[0])

    @property
    def n_atoms(self) -> int:
        """Number of atoms."""
        return int(self.coords.shape[1])

    @property
    def n_targets(self) -> int:
        """Number of target atoms."""
        return int(self.target_index.shape[0])

    @property
    def times_ps(self) -> np.ndarray:
        """Time of every frame from the first, ps, shape (n_frames,)."""
        return np.arange(self.n_frames) * self.time_step_ps

    @property
    def duration_ps(self) -> float:
        """Time from the first to the last frame, ps."""
        return (self.n_frames - 1) * self.time_step_ps

    @property
    def volumes(self) -> np.ndarray:
        """Cell volume of every frame, Å³, shape (n_frames,)."""
        return np.linalg.det(self.lattices)

    def __len__(self) -> int:
        return self.n_frames

    def __repr__(self) -> str:
        kind = "wrapped" if self.wrapped else "unwrapped"
        return (
            f"Trajectory({self.n_frames} frames x {self.n_atoms} atoms, "
            f"{self.n_targets} targets, {self.time_step_ps:g} ps/frame, {kind})"
        )

    def __getitem__(self, frames: slice) -> Trajectory:
        """Return the frames selected by a slice (the time step follows the stride)."""
        if not isinstance(frames, slice):
            raise TypeError("Trajectory supports slices only, e.g. traj[100:], traj[::10].")
        start, stop, step = frames.indices(self.n_frames)
        if step <= 0:
            raise TrajectoryError("a trajectory slice must run forward in time (positive step).")
        return Trajectory(
            coords=self.coords[start:stop:step],
            lattices=self.lattices[start:stop:step],
            atom_types=self.atom_types,
            target_index=self.target_index,
            time_step_ps=self.time_step_ps * step,
            wrapped=self.wrapped,
        )

    # ------------------------------------------------------------------ geometry
    def fractional_coords(self) -> np.ndarray:
        """Fractional coordinates, shape (n_frames, n_atoms, 3), float64.

        ``coords = fractional @ lattice`` frame by frame.
        """
        inverse = np.linalg.inv(self.lattices)
        return np.einsum("fnj,fjk->fnk", self.coords.astype(np.float64), inverse)

    def _inside_cell(self) -> bool:
        """Whether every fractional coordinate lies in [0, 1) (to 10⁻⁶), frame block by
        frame block: no full-size float64 copy of a long (memory-mapped) trajectory."""
        inverse = np.linalg.inv(self.lattices)
        step = max(1, (1 << 22) // max(1, self.coords[0].size))
        for start in range(0, self.n_frames, step):
            block = np.asarray(self.coords[start : start + step], dtype=np.float64)
            frac = np.einsum("fnj,fjk->fnk", block, inverse[start : start + step])
            if not (np.all(frac >= -1e-6) and np.all(frac < 1.0 + 1e-6)):
                return False
        return True

    def wrap(self) -> Trajectory:
        """Return a copy with every atom wrapped into the cell (fractional in [0, 1))."""
        frac = self.fractional_coords()
        frac = frac - np.floor(frac)
        coords = np.einsum("fnj,fjk->fnk", frac, self.lattices).astype(self.coords.dtype)
        return self._replace(coords=coords, wrapped=True)

    def unwrap(self) -> Trajectory:
        """Return a copy with continuous (unwrapped) coordinates.

        Jumps across the cell between consecutive frames are removed by taking the
        shortest periodic step in fractional coordinates. This is exact as long as
        no atom moves more than half a cell length between two frames.
        """
        frac = self.fractional_coords()
        steps = np.diff(frac, axis=0)
        steps -= np.round(steps)
        continuous = np.concatenate([frac[:1], frac[:1] + np.cumsum(steps, axis=0)], axis=0)
        coords = np.einsum("fnj,fjk->fnk", continuous, self.lattices).astype(self.coords.dtype)
        return self._replace(coords=coords, wrapped=False)

    def _replace(self, **changes: Any) -> Trajectory:
        fields = {
            "coords": self.coords,
            "lattices": self.lattices,
            "atom_types": self.atom_types,
            "target_index": self.target_index,
            "time_step_ps": self.time_step_ps,
            "wrapped": self.wrapped,
        }
        fields.update(changes)
        return Trajectory(**fields)

    # ------------------------------------------------------------------ output
    def save(self, path: PathLike) -> Path:
        """Write the trajectory as a GDyNets ``traj.npz`` plus ``time_step_ps``.

        The file holds the original keys (``traj_coords``, ``lattices``,
        ``atom_types``, ``target_index``), so the original code reads it too, plus
        ``time_step_ps`` and ``wrapped``. It is written atomically: an interrupted
        save never leaves a truncated file in place of a good one.

        Parameters
        ----------
        path : str or os.PathLike
            Destination file, conventionally ending in ``.npz``.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        return atomic_savez(
            path,
            traj_coords=self.coords,
            lattices=self.lattices,
            atom_types=self.atom_types,
            target_index=self.target_index,
            time_step_ps=np.float64(self.time_step_ps),
            wrapped=np.bool_(self.wrapped),
        )

    def topology(self) -> mdtraj.Topology:
        """Return a minimal mdtraj topology: one residue per atom, named by element."""
        return _topology_from_types(self.atom_types)

    def to_mdtraj(self, topology: mdtraj.Topology | None = None) -> mdtraj.Trajectory:
        """Convert to an ``mdtraj.Trajectory`` (nm, ps) for writing DCD, PDB, XTC, ...

        Parameters
        ----------
        topology : mdtraj.Topology, optional
            Defaults to :meth:`topology`.
        """
        import mdtraj

        top = self.topology() if topology is None else topology
        if top.n_atoms != self.n_atoms:
            raise TrajectoryError(
                f"the topology has {top.n_atoms} atoms but the trajectory has {self.n_atoms}."
            )
        # mdtraj (and DCD, PDB, LAMMPS) store a cell as lengths and angles, which
        # implies the standard orientation: a along x, b in the xy plane. Rotate the
        # whole system into it, through fractional coordinates, so that atoms and
        # cell stay consistent whatever orientation the lattice rows had.
        lengths = np.linalg.norm(self.lattices, axis=2)
        a, b, c = (self.lattices[:, i] for i in range(3))

        def angle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
            cosine = np.sum(u * v, axis=1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1))
            return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))

        angles = np.stack([angle(b, c), angle(a, c), angle(a, b)], axis=1)
        standard = np.stack(
            mdtraj.utils.lengths_and_angles_to_box_vectors(*lengths.T, *angles.T), axis=1
        )
        coords = np.einsum("fnj,fjk->fnk", self.fractional_coords(), standard)
        md_traj = mdtraj.Trajectory(
            xyz=(coords / _NM_TO_A).astype(np.float32), topology=top, time=self.times_ps
        )
        md_traj.unitcell_lengths = (lengths / _NM_TO_A).astype(np.float32)
        md_traj.unitcell_angles = angles.astype(np.float32)
        return md_traj


# ---------------------------------------------------------------------- helpers
def _validate_target_index(target_index: Any, n_atoms: int) -> np.ndarray:
    if target_index is None:
        raise TrajectoryError(
            "target_index is missing: say which atoms to learn, e.g. target='element Li'."
        )
    targets = np.asarray(target_index)
    if targets.ndim == 0:
        targets = targets.reshape(1)
    if targets.ndim != 1:
        raise TrajectoryError(f"target_index must be one-dimensional, got shape {targets.shape}.")
    if targets.size == 0:
        raise TrajectoryError(
            "target_index is empty: at least one target atom is needed. Check the selection."
        )
    if targets.dtype == bool:
        raise TrajectoryError("target_index must hold atom indices, not a boolean mask.")
    if not np.issubdtype(targets.dtype, np.integer):
        if np.issubdtype(targets.dtype, np.floating) and np.all(targets == np.round(targets)):
            targets = targets.astype(np.int64)
        else:
            raise TrajectoryError("target_index must hold integer atom indices (0-based).")
    targets = targets.astype(np.int64)
    if (targets < 0).any() or (targets >= n_atoms).any():
        raise TrajectoryError(
            f"target_index has indices outside 0 ... {n_atoms - 1} (got {targets.min()} "
            f"... {targets.max()}); indices are 0-based."
        )
    if np.unique(targets).size != targets.size:
        raise TrajectoryError("target_index lists some atoms more than once.")
    return targets


def _topology_from_types(atom_types: np.ndarray) -> mdtraj.Topology:
    import mdtraj

    top = mdtraj.Topology()
    chain = top.add_chain()
    for number in np.asarray(atom_types):
        element = mdtraj.element.Element.getByAtomicNumber(int(number))
        residue = top.add_residue(element.symbol.upper()[:3], chain)
        top.add_atom(element.symbol, element, residue)
    return top


def check_trajectory_list(trajectories: Sequence[Trajectory]) -> list[Trajectory]:
    """Check that independent runs describe one system, and return them as a list.

    Parameters
    ----------
    trajectories : sequence of Trajectory
        Independent runs (a single :class:`Trajectory` is accepted and wrapped).

    Raises
    ------
    TrajectoryError
        If the list is empty, holds something other than trajectories, or the runs
        differ in atom types, target atoms or time step.
    """
    if isinstance(trajectories, Trajectory):
        return [trajectories]
    runs = list(trajectories)
    if not runs:
        raise TrajectoryError("the list of trajectories is empty.")
    for i, run in enumerate(runs):
        if not isinstance(run, Trajectory):
            raise TrajectoryError(
                f"item {i} of the trajectory list is a {type(run).__name__}, not a Trajectory; "
                "load files with load_trajectory first."
            )
    first = runs[0]
    for i, run in enumerate(runs[1:], start=1):
        problems = []
        if run.n_atoms != first.n_atoms or not np.array_equal(run.atom_types, first.atom_types):
            problems.append("atom types")
        if not np.array_equal(run.target_index, first.target_index):
            problems.append("target atoms")
        if not np.isclose(run.time_step_ps, first.time_step_ps, rtol=1e-5, atol=0):
            problems.append(f"time step ({run.time_step_ps} vs {first.time_step_ps} ps)")
        if problems:
            raise TrajectoryError(
                f"trajectory {i} does not match trajectory 0 in its {', '.join(problems)}. "
                "Independent runs in one list must be of one system with the same targets "
                "and frame spacing; subsample with traj[::k] to match time steps."
            )
    return runs


# ---------------------------------------------------------------------- loading
def load_trajectory(
    path_or_paths: PathLike | Sequence[PathLike],
    *,
    topology: PathLike | mdtraj.Topology | None = None,
    target: str | Sequence[int] | np.ndarray | None = None,
    time_step_ps: float | None = None,
    frames: tuple[int | None, int | None] | None = None,
    stride: int = 1,
    atoms: str | Sequence[int] | np.ndarray | None = None,
    dtype: Any = np.float64,
    chunk_frames: int = 1000,
) -> Trajectory:
    """Load one MD run from a GDyNets ``traj.npz`` or any file mdtraj reads.

    Only what is asked for is kept in memory: mdtraj formats are read in chunks of
    ``chunk_frames`` (``mdtraj.iterload``), uncompressed ``.npz`` files are memory-mapped,
    and the frame and atom selections are applied while reading.

    Parameters
    ----------
    path_or_paths : path or sequence of paths
        One file, or several chunk files of **one** run, joined in the given order.
        For independent runs call this once per run and keep a list.
    topology : path or mdtraj.Topology, optional
        Needed for formats without atom information (DCD, XTC, LAMMPS dump, ...).
    target : str or sequence of int, optional
        The target atoms: an mdtraj selection (e.g. ``"element Li"``) or 0-based
        indices. Required for mdtraj formats; for ``traj.npz`` it overrides the
        file's ``target_index``.
    time_step_ps : float, optional
        Time between frames, ps. Required unless the file stores it (gdynbook's
        ``traj.npz``) or the format carries real times (XTC, TRR, NetCDF, ...).
    frames : (start, stop), optional
        Keep frames ``start ≤ i < stop`` of the whole run (chunk files joined; None: an
        open end), before ``stride``.
    stride : int
        Keep every ``stride``-th of those frames; the time step grows by the same factor.
    atoms : str or sequence of int, optional
        Keep only these atoms (an mdtraj selection, ``"heavy"`` for every non-hydrogen
        atom, or 0-based indices); the targets are always kept, and target indices
        refer to the kept atoms.
    dtype : numpy dtype
        ``numpy.float32`` halves the memory of the coordinates (cells stay float64).
    chunk_frames : int
        Frames per read for mdtraj formats.

    Returns
    -------
    Trajectory

    Raises
    ------
    TrajectoryError
        For an unreadable, truncated or corrupt file, missing keys, a file without a
        unit cell, a selection matching nothing, a missing time step, or chunks that
        do not join (duplicated or missing frames).
    FileNotFoundError
        If a file does not exist.
    """
    if isinstance(path_or_paths, (str, os.PathLike)):
        paths = [Path(path_or_paths)]
    else:
        paths = [Path(p) for p in path_or_paths]
    if not paths:
        raise TrajectoryError("no trajectory files were given.")
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"trajectory file {str(p)!r} does not exist.")

    for p in paths:
        _check_format(p)
    selection = _FrameSelection.make(frames, stride)
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TrajectoryError(f"dtype must be float32 or float64, got {np.dtype(dtype)}.")
    if int(chunk_frames) < 1:
        raise TrajectoryError(f"chunk_frames must be at least 1, got {chunk_frames}.")
    kinds = {_reader_kind(p) for p in paths}
    if len(kinds) > 1:
        raise TrajectoryError(
            "cannot join chunks of different formats (.npz, ASE and mdtraj formats); "
            "convert them to one format first."
        )
    kind = kinds.pop()
    if kind == "npz":
        pieces = [
            _read_npz(p, target=target, time_step_ps=time_step_ps, atoms=atoms) for p in paths
        ]
    elif kind in ASE_FORMATS.values():
        pieces, offset = [], 0
        for p in paths:
            pieces.append(
                _read_ase(
                    p,
                    kind,
                    target=target,
                    time_step_ps=time_step_ps,
                    atoms=atoms,
                    selection=selection,
                    offset=offset,
                )
            )
            offset += pieces[-1].n_frames
    else:
        pieces = _read_mdtraj_files(
            paths,
            topology=topology,
            target=target,
            time_step_ps=time_step_ps,
            atoms=atoms,
            selection=selection,
            chunk_frames=int(chunk_frames),
        )
    return _assemble(pieces, paths, selection, np.dtype(dtype))


@dataclass(frozen=True)
class _FrameSelection:
    """Frames start ≤ i < stop of the joined run, every stride-th."""

    start: int
    stop: int | None
    stride: int

    @classmethod
    def make(cls, frames: tuple[int | None, int | None] | None, stride: int) -> _FrameSelection:
        start, stop = (None, None) if frames is None else tuple(frames)
        start = 0 if start is None else int(start)
        if start < 0 or (stop is not None and int(stop) <= start):
            raise TrajectoryError(
                f"frames=({start}, {stop}) must satisfy 0 ≤ start < stop (None: open end)."
            )
        if int(stride) < 1:
            raise TrajectoryError(f"stride must be a positive number of frames, got {stride}.")
        return cls(start, None if stop is None else int(stop), int(stride))

    def mask(self, first_global: int, n_frames: int) -> np.ndarray:
        """Which of frames first_global … first_global + n − 1 are kept."""
        index = np.arange(first_global, first_global + n_frames)
        keep = (index >= self.start) & ((index - self.start) % self.stride == 0)
        if self.stop is not None:
            keep &= index < self.stop
        return keep


@dataclass
class _Piece:
    """What one file contributes: its kept frames and the frames at its two ends (kept or
    not) for checking the joins."""

    coords: Any  # array or lazily indexable (memmap) of all frames of the file
    lattices: np.ndarray
    atom_types: np.ndarray
    target_index: np.ndarray
    time_step_ps: float
    times: np.ndarray | None
    wrapped: bool | None
    atom_index: np.ndarray | None = None  # atoms to keep (None: all)
    selected: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None  # streamed
    head: tuple[np.ndarray, np.ndarray] | None = None  # streamed: first frames, cells
    tail: tuple[np.ndarray, np.ndarray] | None = None  # streamed: last frames, cells

    @property
    def n_frames(self) -> int:
        return int(self.lattices.shape[0])

    def ends(self, n: int = 3) -> tuple[Trajectory, Trajectory]:
        if self.head is not None and self.tail is not None:
            return tuple(
                Trajectory(
                    coords=coords,
                    lattices=cells,
                    atom_types=self.atom_types,
                    target_index=self.target_index,
                    time_step_ps=self.time_step_ps,
                    wrapped=self.wrapped,
                )
                for coords, cells in (self.head, self.tail)
            )

        def frames(rows: slice) -> Trajectory:
            coords = np.asarray(self.coords[rows], dtype=np.float64)
            if self.atom_index is not None and coords.shape[1] != self.atom_types.size:
                coords = coords[:, self.atom_index]
            return Trajectory(
                coords=coords,
                lattices=self.lattices[rows],
                atom_types=self.atom_types,
                target_index=self.target_index,
                time_step_ps=self.time_step_ps,
                wrapped=self.wrapped,
            )

        return frames(slice(0, n)), frames(slice(max(0, self.n_frames - n), None))


#: Formats read through ASE (the ``[ase]`` extra), by file suffix or name.
ASE_FORMATS = {".extxyz": "extxyz", ".xdatcar": "vasp-xdatcar", "XDATCAR": "vasp-xdatcar"}


def _reader_kind(path: Path) -> str:
    """``"npz"``, an ASE format name, or ``"mdtraj"``."""
    if path.suffix == ".npz":
        return "npz"
    if path.name.startswith("XDATCAR"):
        return ASE_FORMATS["XDATCAR"]
    return ASE_FORMATS.get(path.suffix.lower(), "mdtraj")


def _check_format(path: Path) -> None:
    """Refuse a file whose extension neither gdynbook, ASE nor mdtraj formats cover."""
    from mdtraj.formats.registry import FormatRegistry

    if _reader_kind(path) != "mdtraj":
        return
    known = set(FormatRegistry.loaders) | {".npz"} | {k for k in ASE_FORMATS if k.startswith(".")}
    name = path.name.lower()
    if not any(name.endswith(suffix) for suffix in known):
        raise TrajectoryError(
            f"unknown trajectory format {path.suffix!r} ({path.name}): gdynbook reads "
            f"traj.npz and what mdtraj reads ({', '.join(sorted(known))}). Convert the "
            "file, or rename it if the extension is wrong."
        )


def _read_npz(path: Path, *, target: Any, time_step_ps: float | None, atoms: Any) -> _Piece:
    """The arrays of a GDyNets ``traj.npz``; coordinates memory-mapped when stored
    uncompressed, so that only the selected frames are ever read."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in GDYNET_KEYS if key not in archive.files]
            if missing:
                raise TrajectoryError(
                    f"{path} is not a GDyNets traj.npz: keys {missing} are missing "
                    f"(it has {archive.files}). Expected {list(GDYNET_KEYS)}."
                )
            small = {key: archive[key] for key in GDYNET_KEYS if key != "traj_coords"}
            stored_step = (
                float(archive["time_step_ps"]) if "time_step_ps" in archive.files else None
            )
            wrapped = bool(archive["wrapped"]) if "wrapped" in archive.files else None
            coords = _npz_memmap(path, "traj_coords")
            if coords is None:
                coords = archive["traj_coords"]
    except TrajectoryError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as exc:
        raise TrajectoryError(
            f"{path} could not be read as an .npz archive ({type(exc).__name__}: {exc}). "
            "The file is truncated or corrupt: write or copy it again."
        ) from exc

    step = _resolve_time_step(path, stored_step, time_step_ps, "the file's time_step_ps")
    if step is None:
        raise TrajectoryError(
            f"{path} does not store the time between frames (the original traj.npz format "
            "has none): pass time_step_ps=... in ps (the original toy data used 0.1)."
        )
    if coords.ndim == 4:
        raise TrajectoryError(
            f"{path} stacks {coords.shape[0]} trajectories in one array; gdynbook keeps "
            "independent runs as a list of Trajectory. Split the array along axis 0."
        )
    if coords.ndim != 3 or coords.shape[-1] != 3:
        raise TrajectoryError(
            f"traj_coords in {path} must have shape (n_frames, n_atoms, 3) in Å, got "
            f"{coords.shape}."
        )
    atom_types = np.asarray(small["atom_types"])
    if atom_types.ndim != 1 or atom_types.shape[0] != coords.shape[1]:
        raise TrajectoryError(
            f"atom_types must have shape (n_atoms,) = ({coords.shape[1]},), got {atom_types.shape}."
        )
    lattices = _as_float_array("lattices", small["lattices"]).astype(np.float64)
    if lattices.shape == (3, 3):
        lattices = np.broadcast_to(lattices, (coords.shape[0], 3, 3)).copy()
    if lattices.shape != (coords.shape[0], 3, 3):
        raise TrajectoryError(
            f"lattices must have shape (n_frames, 3, 3) = ({coords.shape[0]}, 3, 3) or "
            f"(3, 3), got {lattices.shape}."
        )
    targets = small["target_index"]
    if target is not None:
        targets = _select_targets(target, _topology_from_types(atom_types))
    targets = _validate_target_index(targets, atom_types.size)
    keep, kept_targets = _keep_atoms(atoms, targets, None, atom_types)
    return _Piece(
        coords=coords,
        lattices=lattices,
        atom_types=atom_types if keep is None else atom_types[keep],
        target_index=kept_targets,
        time_step_ps=step,
        times=None,
        wrapped=wrapped,
        atom_index=keep,
    )


def _resolve_time_step(
    path: Path, stored: float | None, requested: float | None, source: str
) -> float | None:
    if requested is not None and stored is not None:
        if not np.isclose(float(requested), stored, rtol=1e-6, atol=0):
            raise TrajectoryError(
                f"time_step_ps={requested} contradicts {source} ({stored:g} ps) in {path}. "
                "Leave time_step_ps out to use the file's value."
            )
    return stored if stored is not None else requested


def _select_targets(target: Any, topology: mdtraj.Topology) -> np.ndarray:
    if isinstance(target, str):
        try:
            selected = topology.select(target)
        except Exception as exc:  # noqa: BLE001 - mdtraj raises several types
            raise TrajectoryError(
                f"the target selection {target!r} is not valid mdtraj selection syntax "
                f"({exc}). Example: target='element Li' or target='name LI'."
            ) from exc
        if selected.size == 0:
            elements = sorted({a.element.symbol for a in topology.atoms if a.element is not None})
            raise TrajectoryError(
                f"the target selection {target!r} matches no atom. The topology has "
                f"elements {elements}; e.g. target='element {elements[0] if elements else 'Li'}'."
            )
        return selected.astype(np.int64)
    return _validate_target_index(target, topology.n_atoms)


def _scaled_lammps_columns(path: Path) -> bool:
    """Return whether mdtraj will read a LAMMPS dump's scaled (fractional) columns."""
    with open(path, encoding="utf-8", errors="replace") as stream:
        for line in stream:
            if line.startswith("ITEM: ATOMS"):
                columns = line.split()[2:]
                for group in (
                    ("x", "y", "z"),
                    ("xs", "ys", "zs"),
                    ("xu", "yu", "zu"),
                    ("xsu", "ysu", "zsu"),
                ):
                    if all(c in columns for c in group):
                        return group[0] in ("xs", "xsu")
                raise TrajectoryError(
                    f"{path} has no coordinate columns (x y z, xs ys zs, xu yu zu or "
                    f"xsu ysu zsu); its columns are {columns}."
                )
    raise TrajectoryError(f"{path} has no 'ITEM: ATOMS' line: it is not a LAMMPS dump.")


def _read_mdtraj_files(
    paths: list[Path],
    *,
    topology: Any,
    target: Any,
    time_step_ps: float | None,
    atoms: Any,
    selection: _FrameSelection,
    chunk_frames: int,
) -> list[_Piece]:
    """Stream mdtraj files chunk by chunk, keeping the selected frames and atoms."""
    import mdtraj

    if topology is None and not all(
        "".join(p.suffixes[-2:]) in _SELF_TOPOLOGY_SUFFIXES or p.suffix in _SELF_TOPOLOGY_SUFFIXES
        for p in paths
    ):
        raise TrajectoryError(
            f"{paths[0].name} has no atom information: pass topology=... (e.g. a PDB file "
            "of the same system)."
        )
    if target is None:
        raise TrajectoryError(
            "target is missing: say which atoms to learn, e.g. target='element Li' or a "
            "list of 0-based indices."
        )
    if isinstance(topology, (str, os.PathLike)):
        try:
            topology = mdtraj.load_topology(str(topology))
        except Exception as exc:  # noqa: BLE001
            raise TrajectoryError(f"could not read the topology {topology}: {exc}") from exc

    pieces: list[_Piece] = []
    offset = 0
    for path in paths:
        kwargs = {} if topology is None else {"top": topology}
        suffix = path.suffix.lower()
        scaled = suffix == ".lammpstrj" and _scaled_lammps_columns(path)
        kept_coords: list[np.ndarray] = []
        kept_lattices: list[np.ndarray] = []
        all_lattices: list[np.ndarray] = []
        all_times: list[np.ndarray] = []
        head: np.ndarray | None = None
        tail = np.empty((0, 0, 3))
        file_topology = None
        keep = None
        n_read = 0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for piece in mdtraj.iterload(str(path), chunk=chunk_frames, **kwargs):
                    if piece.unitcell_vectors is None:
                        raise TrajectoryError(
                            f"{path} has no unit cell: GDyNets works on periodic systems. "
                            "Write the file with box information (e.g. DCD from a periodic "
                            "simulation) or add a box to a non-periodic system before loading."
                        )
                    if file_topology is None:
                        file_topology = piece.topology
                        targets = _select_targets(target, file_topology)
                        types = np.array(
                            [
                                a.element.atomic_number if a.element is not None else 0
                                for a in file_topology.atoms
                            ]
                        )
                        if (types < 1).any():
                            unknown = [a.name for a in file_topology.atoms if a.element is None]
                            raise TrajectoryError(
                                f"the topology of {path.name} has atoms without an element "
                                f"({unknown[:5]}); use a topology with element information."
                            )
                        keep, kept_targets = _keep_atoms(atoms, targets, file_topology, types)
                    lattices = piece.unitcell_vectors.astype(np.float64) * _NM_TO_A
                    xyz = piece.xyz if keep is None else piece.xyz[:, keep]
                    coords = xyz.astype(np.float64) * _NM_TO_A
                    if scaled:
                        # mdtraj reads xs/ys/zs as if they were Cartesian Å and divides by
                        # 10; multiplying by 10 above gave back the fractional values.
                        # Convert them with the cell (LAMMPS and mdtraj share one
                        # orientation: a along x, b in the xy plane).
                        coords = np.einsum("fnj,fjk->fnk", coords, lattices)
                    mask = selection.mask(offset + n_read, coords.shape[0])
                    kept_coords.append(coords[mask])
                    kept_lattices.append(lattices[mask])
                    all_lattices.append(lattices)
                    if suffix in _TIMED_SUFFIXES:
                        all_times.append(np.asarray(piece.time, dtype=np.float64))
                    if head is None or head.shape[0] < 3:
                        head = coords[:3] if head is None else np.concatenate([head, coords])[:3]
                    tail = coords[-3:] if tail.size == 0 else np.concatenate([tail, coords])[-3:]
                    n_read += coords.shape[0]
        except TrajectoryError:
            raise
        except (OSError, ValueError, IndexError, RuntimeError, TypeError, KeyError) as exc:
            raise TrajectoryError(
                f"mdtraj could not read {path} ({type(exc).__name__}: {exc}). Check the "
                "format (from the file suffix) and that the topology matches it."
            ) from exc
        if n_read == 0 or file_topology is None:
            raise TrajectoryError(f"{path} holds no frames.")
        lattices_all = np.concatenate(all_lattices)
        if suffix in _TIMED_SUFFIXES:
            times = np.concatenate(all_times)
            file_step = None
            if times.size > 1:
                steps = np.diff(times)
                # XTC stores times as float32: late times carry ~1e-2 ps of rounding, so
                # the step is the mean over the file, and single steps get that slack
                file_step = float((times[-1] - times[0]) / (times.size - 1))
                slack = 4 * float(np.spacing(np.float32(np.abs(times).max())))
                if file_step <= 0 or not np.allclose(
                    steps, file_step, rtol=1e-4, atol=1e-6 + slack
                ):
                    raise TrajectoryError(
                        f"{path}: the frame times are not evenly spaced (steps from "
                        f"{steps.min():g} to {steps.max():g} ps): frames are missing or "
                        "duplicated inside the file."
                    )
            step = _resolve_time_step(path, file_step, time_step_ps, "the frame times")
        else:
            times = None
            step = time_step_ps
        if step is None:
            raise TrajectoryError(
                f"{path.name} does not carry frame times: pass time_step_ps=... (ps between "
                "saved frames)."
            )
        kept_types = types if keep is None else types[keep]
        pieces.append(
            _Piece(
                coords=None,
                lattices=lattices_all,
                atom_types=kept_types,
                target_index=kept_targets,
                time_step_ps=step,
                times=times,
                wrapped=None,
                selected=(np.concatenate(kept_coords), np.concatenate(kept_lattices), None),
                head=(head, lattices_all[: head.shape[0]]),
                tail=(tail, lattices_all[lattices_all.shape[0] - tail.shape[0] :]),
            )
        )
        offset += n_read
    return pieces


def _assemble(
    pieces: list[_Piece], paths: list[Path], selection: _FrameSelection, dtype: np.dtype
) -> Trajectory:
    """Check the joins between files, then keep the selected frames of each."""
    first = pieces[0]
    for piece, path in zip(pieces[1:], paths[1:], strict=True):
        if piece.atom_types.shape != first.atom_types.shape or not np.array_equal(
            piece.atom_types, first.atom_types
        ):
            raise TrajectoryError(
                f"{path.name} holds other atoms than {paths[0].name}: chunks of one run must "
                "share the atoms."
            )
        if not np.array_equal(piece.target_index, first.target_index):
            raise TrajectoryError(
                f"{path.name} has targets {piece.target_index.tolist()[:8]}, "
                f"{paths[0].name} {first.target_index.tolist()[:8]}: chunks of one run must "
                "share the targets (pass target=... to choose them for all chunks)."
            )
        if not np.isclose(piece.time_step_ps, first.time_step_ps, rtol=1e-6):
            raise TrajectoryError(
                f"{path.name} has {piece.time_step_ps:g} ps between frames, {paths[0].name} "
                f"{first.time_step_ps:g} ps: chunks of one run must share the time step."
            )
    step = first.time_step_ps
    for k in range(1, len(pieces)):
        before, after = pieces[k - 1], pieces[k]
        where = f"between {paths[k - 1].name} and {paths[k].name}"
        if before.times is not None and after.times is not None:
            gap = after.times[0] - before.times[-1]
            slack = 4 * float(np.spacing(np.float32(abs(after.times[0]))))  # float32 times
            if np.isclose(gap, step, rtol=1e-4, atol=slack):
                continue
            if gap <= 1e-9:
                raise TrajectoryError(
                    f"duplicated or overlapping frames {where}: the second chunk starts at "
                    f"{after.times[0]:g} ps, the first ends at {before.times[-1]:g} ps. Drop the "
                    "repeated frames (e.g. traj[1:]) or check the chunk order."
                )
            raise TrajectoryError(
                f"missing frames {where}: a gap of {gap:g} ps where {step:g} ps was expected. "
                "Load the chunks as separate trajectories (a list) instead of one run."
            )
        _, tail = before.ends()
        head, _ = after.ends()
        if np.allclose(tail.coords[-1], head.coords[0], atol=1e-6, rtol=0):
            raise TrajectoryError(
                f"duplicated frame {where}: the last frame of one chunk equals the first of "
                "the next (common after a restart). Drop it before joining, e.g. load the "
                "second chunk and use traj[1:]."
            )
        _warn_on_suspicious_join(tail, head, where)
    coords, lattices, offset = [], [], 0
    for piece in pieces:
        if piece.selected is not None:
            kept_coords, kept_lattices, _ = piece.selected
        else:
            keep = np.flatnonzero(selection.mask(offset, piece.n_frames))
            # the kept frames are every stride-th of a range: a slice, so a memory map
            # stays one (a view, nothing read) instead of being copied whole
            frames = slice(keep[0], keep[-1] + 1, selection.stride) if keep.size else slice(0, 0)
            kept_coords = np.asarray(piece.coords[frames])
            if piece.atom_index is not None and kept_coords.shape[1] != piece.atom_types.size:
                kept_coords = kept_coords[:, piece.atom_index]
            kept_lattices = piece.lattices[keep]
        coords.append(np.asarray(kept_coords, dtype=dtype))
        lattices.append(kept_lattices)
        offset += piece.n_frames
    total = offset
    coords_all = coords[0] if len(coords) == 1 else np.concatenate(coords, axis=0)
    if coords_all.shape[0] == 0:
        raise TrajectoryError(
            f"frames=({selection.start}, {selection.stop}) with stride {selection.stride} "
            f"keeps no frame of the {total} in the file(s)."
        )
    return Trajectory(
        coords=coords_all,
        lattices=np.concatenate(lattices, axis=0),
        atom_types=first.atom_types,
        target_index=first.target_index,
        time_step_ps=step * selection.stride,
        wrapped=all(p.wrapped for p in pieces)
        if all(p.wrapped is not None for p in pieces)
        else None,
    )


def _keep_atoms(
    atoms: Any, targets: np.ndarray, topology: mdtraj.Topology | None, atom_types: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray]:
    """Atoms to keep (None: all) and the target indices among them."""
    if atoms is None:
        return None, targets
    if isinstance(atoms, str) and atoms == "heavy":
        chosen = np.flatnonzero(atom_types != 1)
    elif isinstance(atoms, str):
        top = topology if topology is not None else _topology_from_types(atom_types)
        try:
            chosen = top.select(atoms)
        except Exception as exc:  # noqa: BLE001 - mdtraj raises several types
            raise TrajectoryError(f"the atom selection {atoms!r} is not valid ({exc}).") from exc
    else:
        chosen = _validate_target_index(atoms, atom_types.size)
    keep = np.union1d(np.asarray(chosen, dtype=np.int64), targets)
    if keep.size == 0:
        raise TrajectoryError(f"the atom selection {atoms!r} keeps no atom.")
    return keep, np.searchsorted(keep, targets)


def _npz_memmap(path: Path, key: str) -> np.ndarray | None:
    """A copy-on-write memory map of one array of an uncompressed ``.npz`` (None if the
    member is compressed or cannot be mapped)."""
    import struct

    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(f"{key}.npy")
        if info.compress_type != zipfile.ZIP_STORED:
            return None
        with open(path, "rb") as stream:
            stream.seek(info.header_offset)
            local = stream.read(30)
            name_length, extra_length = struct.unpack("<HH", local[26:30])
            stream.seek(info.header_offset + 30 + name_length + extra_length)
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
            offset = stream.tell()
        if dtype.hasobject:
            return None
        # copy-on-write: the array is writeable like a loaded one, a write changes private
        # pages of this process only (never the file), and untouched pages stay file pages
        return np.memmap(
            path, dtype=dtype, mode="c", shape=shape, offset=offset, order="F" if fortran else "C"
        )
    except (KeyError, OSError, ValueError, zipfile.BadZipFile):
        return None


def _read_ase(
    path: Path,
    fmt: str,
    *,
    target: Any,
    time_step_ps: float | None,
    atoms: Any,
    selection: _FrameSelection,
    offset: int,
) -> _Piece:
    """Stream an extended XYZ or VASP XDATCAR file through ASE (``pip install
    'gdynbook[ase]'``); positions and cells in Å, a cell per frame."""
    try:
        import ase.io
    except ImportError as exc:
        raise TrajectoryError(
            f"reading {path.name} ({fmt}) needs ASE: pip install 'gdynbook[ase]' (or "
            "convert the file to a format mdtraj reads)."
        ) from exc
    if time_step_ps is None:
        raise TrajectoryError(
            f"{path.name} ({fmt}) does not carry frame times: pass time_step_ps=... (ps "
            "between saved frames; --time-step-ps on the command line)."
        )
    kept_coords: list[np.ndarray] = []
    kept_cells: list[np.ndarray] = []
    cells: list[np.ndarray] = []
    head: list[np.ndarray] = []
    tail: list[np.ndarray] = []
    numbers = None
    keep = targets = None
    try:
        for index, frame in enumerate(ase.io.iread(str(path), index=":", format=fmt)):
            cell = np.asarray(frame.cell.array, dtype=np.float64)
            if not frame.pbc.any() or abs(np.linalg.det(cell)) < 1e-8:
                raise TrajectoryError(
                    f"{path.name}, frame {index}: the system is not periodic (pbc "
                    f"{frame.pbc.tolist()}, cell volume {abs(np.linalg.det(cell)):.3g} Å³). "
                    "GDyNets needs a periodic cell: write the cell and pbc into the file."
                )
            if numbers is None:
                numbers = np.asarray(frame.numbers, dtype=np.int64)
                all_targets = (
                    _select_targets(target, _topology_from_types(numbers))
                    if target is not None
                    else None
                )
                if all_targets is None:
                    raise TrajectoryError(
                        "target is missing: say which atoms to learn, e.g. target='element Li' "
                        "or a list of 0-based indices."
                    )
                keep, targets = _keep_atoms(atoms, all_targets, None, numbers)
            elif not np.array_equal(frame.numbers, numbers):
                raise TrajectoryError(
                    f"{path.name}, frame {index}: the atoms differ from frame 0; one "
                    "trajectory must keep the same atoms in the same order."
                )
            positions = np.asarray(frame.positions, dtype=np.float64)
            if keep is not None:
                positions = positions[keep]
            cells.append(cell)
            if selection.mask(offset + index, 1)[0]:
                kept_coords.append(positions)
                kept_cells.append(cell)
            if len(head) < 3:
                head.append(positions)
            tail = [*tail[-2:], positions]
    except TrajectoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - ASE raises many types for bad files
        raise TrajectoryError(
            f"ASE could not read {path} as {fmt} ({type(exc).__name__}: {exc})."
        ) from exc
    if numbers is None:
        raise TrajectoryError(f"{path} holds no frames.")
    all_cells = np.stack(cells)
    kept_types = numbers if keep is None else numbers[keep]
    shape = (0, kept_types.size, 3)
    return _Piece(
        coords=None,
        lattices=all_cells,
        atom_types=kept_types,
        target_index=targets,
        time_step_ps=float(time_step_ps),
        times=None,
        wrapped=None,
        selected=(
            np.stack(kept_coords) if kept_coords else np.empty(shape),
            np.stack(kept_cells) if kept_cells else np.empty((0, 3, 3)),
            None,
        ),
        head=(np.stack(head), all_cells[: len(head)]),
        tail=(np.stack(tail), all_cells[all_cells.shape[0] - len(tail) :]),
    )


def _warn_on_suspicious_join(before: Trajectory, after: Trajectory, where: str) -> None:
    """Warn when the step across a join is far larger than steps inside the chunks."""

    def rms_steps(traj: Trajectory) -> np.ndarray:
        if traj.n_frames < 2:
            return np.empty(0)
        frac = np.diff(traj.fractional_coords(), axis=0)
        frac -= np.round(frac)
        disp = np.einsum("fnj,fjk->fnk", frac, traj.lattices[1:])
        return np.sqrt(np.mean(np.sum(disp**2, axis=-1), axis=-1))

    inside = np.concatenate([rms_steps(before), rms_steps(after)])
    if inside.size < 4:
        return
    frac = after.fractional_coords()[0] - before.fractional_coords()[-1]
    frac -= np.round(frac)
    join = float(np.sqrt(np.mean(np.sum((frac @ after.lattices[0]) ** 2, axis=-1))))
    if join > 4.0 * float(np.median(inside)) + 1e-9:
        warnings.warn(
            f"the step {where} ({join:.3g} Å RMS) is much larger than any step inside the "
            "chunks: frames may be missing at the join. These formats store no times, so "
            "gdynbook cannot tell for sure.",
            stacklevel=3,
        )


def lag_in_frames(lag_ps: float, time_step_ps: float, what: str = "lag") -> int:
    """A lag in ps as a whole number of frames.

    Raises
    ------
    ValueError
        If the lag is not positive or not a multiple of the time between frames.
    """
    if lag_ps <= 0:
        raise ValueError(f"the {what} must be positive, got {lag_ps} ps.")
    frames = lag_ps / time_step_ps
    if abs(frames - round(frames)) > 1e-6 * max(1.0, frames) or round(frames) < 1:
        raise ValueError(
            f"the {what} of {lag_ps:g} ps is not a whole number of frames ({time_step_ps:g} ps "
            f"apart): use e.g. {max(1, round(frames)) * time_step_ps:g} ps."
        )
    return int(round(frames))
