"""Neighbour graphs on disk: chunks of frames as memory-mapped ``.npy`` files.

A research trajectory's graphs do not fit in memory (10⁵ frames of a few hundred nodes
with 12 neighbours each are ~10 GB). :func:`build_graph_store` cuts the trajectory into
chunks of frames and writes each chunk's graph arrays (the fields of
:class:`~gdynbook.graphs.FrameGraphs`) once, as uncompressed ``.npy`` files in a folder
of the gdynbook cache (``$GDYNBOOK_CACHE_DIR/graph-chunks/<key>/``). The key holds the
chunk's frame range, its coordinates and cells, the targets, the node atoms and the
graph parameters: a longer trajectory that shares its first chunks with an earlier one
reuses them, and a changed frame rebuilds only its chunk.

:class:`ChunkedGraphs` opens the files as read-only memory maps on first use and copies
out only the rows a batch needs, so the memory a training process holds does not grow
with the number of frames: the pages of a memory map are file pages, which the kernel
may drop at any time. Pickling it (to a data-loader worker) carries the folder names
only; each process opens the files itself.
"""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gdynbook.graphs import FrameGraphs, graph_arrays, node_candidates
from gdynbook.trajectory import Trajectory

#: The arrays of one chunk, each a ``NAME.npy`` file in the chunk's folder.
CHUNK_FIELDS = ("node_offsets", "node_atom", "nbr_index", "nbr_distance", "nbr_mask", "hops")

#: Frames per chunk are chosen so that a chunk's float64 coordinates take about this
#: many bytes (a worker holds one chunk's coordinates at a time).
_CHUNK_COORD_BYTES = 1 << 24


def default_chunk_frames(n_atoms: int) -> int:
    """Frames per chunk for ``n_atoms`` atoms: a power of two in [64, 4096].

    About 16 MB of float64 coordinates per chunk; a function of the atom count only, so
    runs on the same system cut their trajectories at the same frames (and share chunks).
    """
    frames = _CHUNK_COORD_BYTES // max(1, 24 * n_atoms)
    return int(min(4096, max(64, 1 << max(0, int(frames).bit_length() - 1))))


@dataclass
class ChunkedGraphs:
    """The graphs of one trajectory, chunk by chunk on disk (read lazily).

    It has what training needs of :class:`~gdynbook.graphs.FrameGraphs` — ``gather``,
    ``frame``, ``atom_types``, ``n_targets``, ``n_frames`` — without holding the arrays.

    Attributes
    ----------
    directories : list of str
        One folder per chunk (``CHUNK_FIELDS`` as ``.npy`` files and ``meta.json``).
    chunk_starts : numpy.ndarray of int64, shape (n_chunks + 1,)
        Chunk c holds frames ``chunk_starts[c]:chunk_starts[c + 1]``.
    atom_types : numpy.ndarray of int64, shape (n_atoms,)
    n_targets, n_conv, n_neighbors : int
    cutoff : float
        Neighbour cutoff, Å.
    """

    directories: list[str]
    chunk_starts: np.ndarray
    atom_types: np.ndarray
    n_targets: int
    n_conv: int
    n_neighbors: int
    cutoff: float
    _opened: dict[int, FrameGraphs] = field(default_factory=dict, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_opened"] = {}  # each process maps the files itself
        return state

    @property
    def n_frames(self) -> int:
        return int(self.chunk_starts[-1])

    @property
    def n_chunks(self) -> int:
        return len(self.directories)

    def chunk(self, index: int) -> FrameGraphs:
        """Chunk ``index`` as a FrameGraphs of read-only memory maps (opened once)."""
        if index not in self._opened:
            folder = Path(self.directories[index])
            arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in CHUNK_FIELDS}
            self._opened[index] = FrameGraphs(
                **arrays,
                atom_types=self.atom_types,
                n_targets=self.n_targets,
                n_conv=self.n_conv,
                n_neighbors=self.n_neighbors,
                cutoff=self.cutoff,
            )
        return self._opened[index]

    def gather(self, frames: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The nodes of ``frames`` in that order (as ``FrameGraphs.gather`` does)."""
        frames = np.asarray(frames, dtype=np.int64)
        if frames.size and (frames.min() < 0 or frames.max() >= self.n_frames):
            raise IndexError(f"frames must lie in [0, {self.n_frames}).")
        chunk_of = np.searchsorted(self.chunk_starts, frames, side="right") - 1
        groups = [np.flatnonzero(chunk_of == c) for c in np.unique(chunk_of)]
        parts = [
            self.chunk(int(chunk_of[g[0]])).gather(frames[g] - self.chunk_starts[chunk_of[g[0]]])
            for g in groups
        ]
        if len(parts) == 1:
            return parts[0]
        # rows come grouped by chunk; put them back in the order of ``frames``
        grouped = np.concatenate(groups)
        counts_grouped = np.concatenate([counts for counts, _ in parts])
        begin_grouped = np.concatenate([[0], np.cumsum(counts_grouped)[:-1]])
        where = np.empty_like(grouped)
        where[grouped] = np.arange(grouped.size)  # frame k sits at grouped position where[k]
        counts = counts_grouped[where]
        begin = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rows = np.repeat(begin_grouped[where] - begin, counts) + np.arange(int(counts.sum()))
        return counts, {
            name: np.concatenate([values[name] for _, values in parts])[rows]
            for name in parts[0][1]
        }

    def frame(self, f: int) -> dict[str, np.ndarray]:
        """The graph of frame ``f`` as a dict of arrays."""
        c = int(np.searchsorted(self.chunk_starts, f, side="right") - 1)
        return self.chunk(c).frame(int(f - self.chunk_starts[c]))

    def in_memory(self) -> FrameGraphs:
        """All chunks joined into one in-memory FrameGraphs (small trajectories only)."""
        counts, rows = self.gather(np.arange(self.n_frames))
        return FrameGraphs(
            node_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            **rows,
            atom_types=self.atom_types,
            n_targets=self.n_targets,
            n_conv=self.n_conv,
            n_neighbors=self.n_neighbors,
            cutoff=self.cutoff,
        )

    def disk_bytes(self) -> int:
        """Bytes the chunk files take on disk."""
        return sum(
            (Path(folder) / f"{name}.npy").stat().st_size
            for folder in self.directories
            for name in CHUNK_FIELDS
        )


def _write_chunk(
    folder: str,
    coords: np.ndarray,
    lattices: np.ndarray,
    first_frame: int,
    settings: dict[str, Any],
) -> int:
    """Build one chunk's graphs and write its folder (in this process or a worker)."""
    from gdynbook.cache import atomic_array_directory

    arrays = graph_arrays(coords, lattices, first_frame=first_frame, **settings)
    meta = {
        "frames": [first_frame, first_frame + int(coords.shape[0])],
        "n_nodes": int(arrays["node_offsets"][-1]),
    }
    atomic_array_directory(folder, arrays, meta)
    return int(coords.shape[0])


def _pool_context() -> Any:
    """Processes that do not inherit the parent's threads (torch's) where possible."""
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


def build_graph_store(
    traj: Trajectory,
    n_neighbors: int = 20,
    cutoff: float = 7.0,
    n_conv: int = 3,
    node_selection: np.ndarray | None = None,
    min_neighbors: int = 1,
    progress: bool = True,
    chunk_frames: int | None = None,
    workers: int = 0,
) -> ChunkedGraphs:
    """Neighbour graphs of every frame, written chunk by chunk to the cache (once).

    The graphs are those of :func:`~gdynbook.graphs.build_graphs` (same nodes, order
    and neighbours); only where they live differs.

    Parameters
    ----------
    traj : Trajectory
        Its coordinates may be a memory map: they are read one chunk at a time.
    n_neighbors, cutoff, n_conv, node_selection, min_neighbors, progress
        As in :func:`~gdynbook.graphs.build_graphs` (cutoff in Å).
    chunk_frames : int, optional
        Frames per chunk (default :func:`default_chunk_frames`).
    workers : int
        Worker processes that build missing chunks (0 or 1: this process). Each holds one
        chunk's coordinates; it pays when there are many chunks to build.

    Returns
    -------
    ChunkedGraphs

    Raises
    ------
    GraphError
        If a target has fewer than ``min_neighbors`` neighbours within the cutoff (no
        chunk with that frame is written).
    """
    from tqdm.auto import tqdm

    from gdynbook.cache import cache_key
    from gdynbook.config import cache_dir

    if workers < 0:
        raise ValueError(f"workers must be ≥ 0, got {workers}.")
    targets = traj.target_index
    candidates = node_candidates(traj.n_atoms, targets, node_selection)
    chunk_frames = default_chunk_frames(traj.n_atoms) if chunk_frames is None else chunk_frames
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be ≥ 1, got {chunk_frames}.")
    settings = {
        "targets": targets,
        "candidates": candidates,
        "n_atoms": traj.n_atoms,
        "n_neighbors": n_neighbors,
        "cutoff": cutoff,
        "n_conv": n_conv,
        "min_neighbors": min_neighbors,
    }
    parameters = {"M": n_neighbors, "cutoff": cutoff, "n_conv": n_conv, "min": min_neighbors}
    starts = np.arange(0, traj.n_frames, chunk_frames)
    bounds = np.append(starts, traj.n_frames).astype(np.int64)
    root = cache_dir() / "graph-chunks"
    folders = [
        str(
            root
            / cache_key(
                {"frames": [int(a), int(b)]},
                traj.coords[a:b],
                traj.lattices[a:b],
                targets,
                candidates,
                parameters,
            )
        )
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    missing = [c for c, folder in enumerate(folders) if not (Path(folder) / "meta.json").is_file()]
    bar = tqdm(
        total=sum(int(bounds[c + 1] - bounds[c]) for c in missing),
        desc="neighbour graphs",
        unit="frame",
        disable=not progress or traj.n_frames < 50 or not missing,
    )

    def chunk_input(c: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = bounds[c], bounds[c + 1]
        return np.asarray(traj.coords[a:b]), np.asarray(traj.lattices[a:b])

    if workers <= 1 or len(missing) < 2:
        for c in missing:
            coords, lattices = chunk_input(c)
            _write_chunk(folders[c], coords, lattices, int(bounds[c]), settings)
            bar.update(int(bounds[c + 1] - bounds[c]))
    else:
        # at most `workers` chunks in flight: memory stays that of `workers` chunks
        with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context()) as pool:
            pending: set[Any] = set()
            queue = list(missing)
            try:
                while queue or pending:
                    while queue and len(pending) < workers:
                        c = queue.pop(0)
                        coords, lattices = chunk_input(c)
                        pending.add(
                            pool.submit(
                                _write_chunk, folders[c], coords, lattices, int(bounds[c]), settings
                            )
                        )
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        bar.update(future.result())
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
    bar.close()
    return ChunkedGraphs(
        directories=folders,
        chunk_starts=bounds,
        atom_types=np.asarray(traj.atom_types, dtype=np.int64).copy(),
        n_targets=int(targets.size),
        n_conv=int(n_conv),
        n_neighbors=int(n_neighbors),
        cutoff=float(cutoff),
    )
