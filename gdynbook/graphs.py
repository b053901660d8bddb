"""Periodic neighbour graphs: who neighbours whom, in any cell, with every image.

Each atom i gets its M nearest neighbours j within a cutoff, counting every periodic
image of every atom — including i's own images, which matter in a small cell (the toy
cell is 5.7 Å wide with a 7 Å cutoff: an atom's own images are among its neighbours).
Distances come from the actual image positions, so wrapped and unwrapped coordinates
give the same graph, and the cutoff is never capped at half the cell. When fewer than
M atoms lie within the cutoff, the rows are padded and masked.

:func:`build_graphs` builds, for every frame of a trajectory, only what the encoder
needs: the target atoms and the atoms within ``n_conv`` hops of them (optionally only
among selected atoms, e.g. heavy atoms), with each node's hop distance from the targets.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree

from gdynbook.trajectory import Trajectory

#: Up to this many (centre, candidate image) pairs, brute force beats a k-d tree.
_BRUTE_FORCE_LIMIT = 20_000


class GraphError(ValueError):
    """Graph construction is impossible as asked (names the problem and the fix)."""


def _check_frame(coords: np.ndarray, lattice: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    coords = np.asarray(coords, dtype=np.float64)
    lattice = np.asarray(lattice, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 3:
        raise GraphError(f"coords must have shape (n_atoms, 3), got {coords.shape}.")
    if lattice.shape != (3, 3):
        raise GraphError(
            f"lattice must be a (3, 3) matrix of lattice vectors (rows), got {lattice.shape}."
        )
    if not np.isfinite(coords).all() or not np.isfinite(lattice).all():
        raise GraphError("coords or lattice contain NaN or infinite values.")
    if np.linalg.det(lattice) <= 0:
        raise GraphError(
            "the lattice has zero or negative volume: rows must be a, b, c (right-handed)."
        )
    return coords, lattice


def image_range(lattice: np.ndarray, cutoff: float) -> np.ndarray:
    """How many cells to go out along each lattice vector to cover ``cutoff`` (Å).

    The spacing of lattice planes normal to reciprocal vector i is dᵢ = 1/‖bᵢ*‖; images
    up to ⌈cutoff/dᵢ⌉ cells away can hold a neighbour of an atom inside the cell.
    """
    reciprocal = np.linalg.inv(lattice)  # columns are the reciprocal vectors b_i*
    spacing = 1.0 / np.linalg.norm(reciprocal, axis=0)
    return np.ceil(cutoff / spacing).astype(np.int64)


def _images(frac: np.ndarray, lattice: np.ndarray, reach_a: float) -> tuple[np.ndarray, np.ndarray]:
    """Cartesian positions and atom indices of all images that can lie within ``reach_a``
    (Å) of a point in the cell. ``frac`` must be wrapped into [0, 1).

    An image is kept if its fractional coordinate along every axis lies within the margin
    ``reach_a / dᵢ`` of the cell (dᵢ: spacing of the lattice planes): any other image is
    farther than ``reach_a`` from every point of the cell along that plane normal. Images
    come shift-major (shifts in ``itertools.product`` order), atoms in order within.
    """
    reach = image_range(lattice, reach_a)
    margin = reach_a * np.linalg.norm(np.linalg.inv(lattice), axis=0)  # fractional, per axis
    inside = []
    for axis in range(3):
        moved = frac[None, :, axis] + np.arange(-reach[axis], reach[axis] + 1)[:, None]
        inside.append((moved >= -margin[axis] - 1e-9) & (moved < 1.0 + margin[axis] + 1e-9))
    keep = inside[0][:, None, None, :] & inside[1][None, :, None, :] & inside[2][None, None]
    s0, s1, s2, atom = np.nonzero(keep)
    shift = np.stack([s0 - reach[0], s1 - reach[1], s2 - reach[2]], axis=1)
    return (frac[atom] + shift) @ lattice, atom


def _search_reach(n_points: int, lattice: np.ndarray, k: int, cutoff: float) -> float:
    """A first search radius, Å: 1.4 × the radius holding k points at the mean density.

    Rows whose k-th neighbour lies beyond it are searched again with the full cutoff, so
    the radius only sets the speed, never the result.
    """
    density = n_points / abs(np.linalg.det(lattice))
    typical = (3.0 * k / (4.0 * np.pi * density)) ** (1.0 / 3.0)
    return float(min(cutoff, 1.4 * typical + 0.5))


def _tree_neighbors(
    frac: np.ndarray,
    lattice: np.ndarray,
    query: np.ndarray,
    k: int,
    reach_a: float,
    workers: int,
) -> tuple[np.ndarray, np.ndarray]:
    """k nearest images within ``reach_a`` of each query point, a k-d tree.

    Returns (distance, atom), each (n_query, k); missing neighbours are ``inf`` and −1.
    """
    image_pos, image_atom = _images(frac, lattice, reach_a)
    found_dist = np.full((len(query), k), np.inf)
    found_atom = np.full((len(query), k), -1, dtype=np.int64)
    k_eff = min(k, image_pos.shape[0])
    tree = cKDTree(image_pos, leafsize=16, balanced_tree=False, compact_nodes=False)
    dist, found = tree.query(query, k=k_eff, distance_upper_bound=reach_a, workers=workers)
    found = found.reshape(len(query), k_eff)
    missing = found >= image_pos.shape[0]
    found_dist[:, :k_eff] = dist.reshape(len(query), k_eff)
    found_atom[:, :k_eff] = np.where(missing, -1, image_atom[np.where(missing, 0, found)])
    return found_dist, found_atom


def neighbor_lists(
    coords: np.ndarray,
    lattice: np.ndarray,
    n_neighbors: int = 20,
    cutoff: float = 7.0,
    centers: np.ndarray | None = None,
    candidates: np.ndarray | None = None,
    workers: int = -1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The M nearest periodic neighbours of atoms in one frame.

    Parameters
    ----------
    coords : numpy.ndarray, shape (n_atoms, 3)
        Cartesian coordinates, Å, wrapped or not.
    lattice : numpy.ndarray, shape (3, 3)
        Lattice vectors as rows, Å. Any right-handed (triclinic) cell.
    n_neighbors : int
        M, the number of neighbours per atom.
    cutoff : float
        Largest neighbour distance, Å. May exceed half the cell.
    centers : numpy.ndarray of int, optional
        Atoms to find neighbours for (default all).
    candidates : numpy.ndarray of int, optional
        Atoms that may be neighbours (default all), e.g. heavy atoms only.
    workers : int
        Threads for the k-d tree query (-1: all cores; 1: one).

    Returns
    -------
    index : numpy.ndarray of int64, shape (n_centers, M)
        Neighbour atom indices (0 where masked).
    distance : numpy.ndarray of float64, shape (n_centers, M)
        Distances in Å, ascending per row (``inf`` where masked).
    mask : numpy.ndarray of bool, shape (n_centers, M)
        True for real neighbours, False for padding.
    """
    coords, lattice = _check_frame(coords, lattice)
    n_atoms = coords.shape[0]
    centers = np.arange(n_atoms) if centers is None else np.asarray(centers, dtype=np.int64)
    candidates = np.arange(n_atoms) if candidates is None else np.asarray(candidates, np.int64)
    if n_neighbors < 1 or cutoff <= 0:
        raise GraphError("n_neighbors must be ≥ 1 and cutoff > 0.")
    inverse = np.linalg.inv(lattice)
    frac = coords[candidates] @ inverse  # only the atoms the search needs
    frac -= np.floor(frac)
    query = coords[centers] @ inverse
    query = (query - np.floor(query)) @ lattice
    k = n_neighbors + 1  # room for the centre itself, removed below
    n_images = len(candidates) * np.prod(2 * image_range(lattice, cutoff) + 1)  # at most
    if len(centers) * n_images <= _BRUTE_FORCE_LIMIT:
        image_pos, image_atom = _images(frac, lattice, cutoff)
        dist = np.linalg.norm(query[:, None, :] - image_pos[None, :, :], axis=-1)
        dist[dist > cutoff] = np.inf
        found = np.argsort(dist, axis=1, kind="stable")[:, : min(k, dist.shape[1])]
        found_dist = np.take_along_axis(dist, found, axis=1)
        found_atom = candidates[image_atom[found]]
    else:
        # Search within a small radius first (a small tree); rows that may miss a
        # neighbour (fewer than k found within that radius) are searched again with the
        # cutoff. Every image the first search left out is farther than the radius.
        first_reach = _search_reach(len(candidates), lattice, k, cutoff)
        found_dist, found_atom = _tree_neighbors(frac, lattice, query, k, first_reach, workers)
        if first_reach < cutoff:
            again = np.flatnonzero(found_dist[:, -1] > first_reach)  # inf: fewer than k
            if again.size:
                found_dist[again], found_atom[again] = _tree_neighbors(
                    frac, lattice, query[again], k, cutoff, workers
                )
        found_atom = np.where(found_atom >= 0, candidates[np.maximum(found_atom, 0)], -1)
    # Drop the centre itself (zero distance, same atom); keep its periodic images. Rows
    # come sorted by distance, so the centre, when present, is usually the first entry.
    is_self = (found_atom == centers[:, None]) & (found_dist < 1e-8)
    n_self = int(is_self.sum())
    if n_self == 0:
        found_dist, found_atom = found_dist[:, :n_neighbors], found_atom[:, :n_neighbors]
    elif n_self == len(centers) and is_self[:, 0].all():
        found_dist, found_atom = found_dist[:, 1:k], found_atom[:, 1:k]
    else:  # an atom on top of another one: sort the rows again
        found_dist = np.where(is_self, np.inf, found_dist)
        order = np.argsort(found_dist, axis=1, kind="stable")
        found_dist = np.take_along_axis(found_dist, order, axis=1)[:, :n_neighbors]
        found_atom = np.take_along_axis(found_atom, order, axis=1)[:, :n_neighbors]
    if found_dist.shape[1] < n_neighbors:
        pad = n_neighbors - found_dist.shape[1]
        found_dist = np.pad(found_dist, ((0, 0), (0, pad)), constant_values=np.inf)
        found_atom = np.pad(found_atom, ((0, 0), (0, pad)), constant_values=-1)
    mask = np.isfinite(found_dist)
    return np.where(mask, found_atom, 0).astype(np.int64), found_dist, mask


# ---------------------------------------------------------------------- frame graphs
@dataclass
class FrameGraphs:
    """Neighbour graphs of many frames, stored flat (node counts may differ per frame).

    Attributes
    ----------
    node_offsets : numpy.ndarray of int64, shape (n_frames + 1,)
        Nodes of frame f are rows ``node_offsets[f]:node_offsets[f+1]``.
    node_atom : numpy.ndarray of int64, shape (total_nodes,)
        Atom index of every node; each frame lists its targets first, in target order.
    nbr_index : numpy.ndarray of int32, shape (total_nodes, M)
        Neighbours as node indices *local to the frame* (0 where masked).
    nbr_distance : numpy.ndarray of float32, shape (total_nodes, M)
        Distances, Å (0 where masked).
    nbr_mask : numpy.ndarray of bool, shape (total_nodes, M)
    hops : numpy.ndarray of int8, shape (total_nodes,)
        Graph distance from the nearest target (0 for targets).
    atom_types : numpy.ndarray of int64, shape (n_atoms,)
    n_targets : int
    n_conv : int
        Nodes up to ``n_conv`` hops are kept; those at ``n_conv`` carry no neighbours.
    n_neighbors : int
    cutoff : float
    """

    node_offsets: np.ndarray
    node_atom: np.ndarray
    nbr_index: np.ndarray
    nbr_distance: np.ndarray
    nbr_mask: np.ndarray
    hops: np.ndarray
    atom_types: np.ndarray
    n_targets: int
    n_conv: int
    n_neighbors: int
    cutoff: float

    @property
    def n_frames(self) -> int:
        return int(self.node_offsets.shape[0] - 1)

    def frame(self, f: int) -> dict[str, np.ndarray]:
        """The graph of frame ``f`` as a dict of arrays."""
        rows = slice(self.node_offsets[f], self.node_offsets[f + 1])
        return {
            "node_atom": self.node_atom[rows],
            "nbr_index": self.nbr_index[rows],
            "nbr_distance": self.nbr_distance[rows],
            "nbr_mask": self.nbr_mask[rows],
            "hops": self.hops[rows],
        }

    def gather(self, frames: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The nodes of ``frames`` (in that order), rows copied out of the store.

        Returns
        -------
        counts : numpy.ndarray of int64, shape (len(frames),)
            Nodes per frame; frame k's rows follow frame k − 1's.
        rows : dict
            ``node_atom``, ``nbr_index`` (local to each frame), ``nbr_distance``,
            ``nbr_mask`` and ``hops`` of those nodes.
        """
        frames = np.asarray(frames, dtype=np.int64)
        begin, end = self.node_offsets[frames], self.node_offsets[frames + 1]
        counts = (end - begin).astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rows = np.repeat(begin - starts, counts) + np.arange(int(counts.sum()))
        return counts, {
            "node_atom": np.asarray(self.node_atom[rows]),
            "nbr_index": np.asarray(self.nbr_index[rows]),
            "nbr_distance": np.asarray(self.nbr_distance[rows]),
            "nbr_mask": np.asarray(self.nbr_mask[rows]),
            "hops": np.asarray(self.hops[rows]),
        }

    def save(self, path: str) -> None:
        from gdynbook.cache import atomic_savez

        atomic_savez(path, **{k: np.asarray(v) for k, v in self.__dict__.items()})

    @classmethod
    def load(cls, path: str) -> FrameGraphs:
        with np.load(path) as archive:
            values = {k: archive[k] for k in archive.files}
        for key in ("n_targets", "n_conv", "n_neighbors"):
            values[key] = int(values[key])
        values["cutoff"] = float(values["cutoff"])
        return cls(**values)


def _frame_graph(
    coords: np.ndarray,
    lattice: np.ndarray,
    targets: np.ndarray,
    candidates: np.ndarray,
    n_neighbors: int,
    cutoff: float,
    n_conv: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Nodes within ``n_conv`` hops of the targets and their neighbour lists (one frame).

    Nodes are ordered targets first (target order), then by hop and atom index. Nodes
    at exactly ``n_conv`` hops are leaves: the encoder only needs their embeddings, so
    their neighbour rows are empty (masked).
    """

    # Every node the search visits, and every neighbour it looks up, lies within
    # n_conv × cutoff of a target: in a large cell the rest never need an image or a
    # place in the k-d tree, so the cost stays flat as the system grows.
    nearby = _near_targets(coords, lattice, targets, candidates, n_conv * cutoff)

    def lookup(centers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return neighbor_lists(
            coords, lattice, n_neighbors, cutoff, centers=centers, candidates=nearby
        )

    return _expand_from_targets(coords.shape[0], targets, n_neighbors, n_conv, lookup)


def _near_targets(
    coords: np.ndarray,
    lattice: np.ndarray,
    targets: np.ndarray,
    candidates: np.ndarray,
    radius: float,
) -> np.ndarray:
    """Candidates (sorted, unique) that may lie within ``radius`` (Å) of a target.

    An image within r of a target differs from it by at most rᵢ = r/dᵢ in fractional
    coordinate i (dᵢ: spacing of the lattice planes). The cell is cut into a grid of
    bins about rᵢ/4 wide; the bins within rᵢ of a target's bin are marked, and the
    candidates in marked bins are kept — one pass over the atoms, no tree. When rᵢ ≥ ½
    the region wraps around the cell and every candidate is kept.
    """
    inverse = np.linalg.inv(lattice)
    reach = radius * np.linalg.norm(inverse, axis=0)  # rᵢ per axis
    if np.any(reach >= 0.5) or candidates.size <= 4 * targets.size:
        return candidates
    n_bins = np.minimum(np.floor(4.0 / reach), 64).astype(np.int64)  # bins per axis
    # a difference of at most rᵢ in fractional coordinate spans at most this many bins
    spread = np.floor(reach * n_bins).astype(np.int64) + 1

    to_bins = inverse * n_bins  # Cartesian → fractional × bins per axis

    def bins(positions: np.ndarray) -> np.ndarray:
        """Bin of each position, (n, 3), wrapped into the cell (int32, one pass each)."""
        scaled = positions @ to_bins
        np.floor(scaled, out=scaled)
        cell = scaled.astype(np.int32)
        cell %= n_bins.astype(np.int32)
        return cell

    marked = np.zeros(tuple(n_bins), dtype=bool)
    offsets = [np.arange(-spread[i], spread[i] + 1) for i in range(3)]
    for t0, t1, t2 in bins(coords[targets]):
        marked[
            np.ix_(
                (t0 + offsets[0]) % n_bins[0],
                (t1 + offsets[1]) % n_bins[1],
                (t2 + offsets[2]) % n_bins[2],
            )
        ] = True
    # candidates are sorted and unique: all of them means every atom, in order (no copy)
    cell = bins(coords if candidates.size == coords.shape[0] else coords[candidates])
    flat = (cell[:, 0] * n_bins[1] + cell[:, 1]) * n_bins[2] + cell[:, 2]
    return candidates[marked.ravel()[flat]]


def _small_cell_neighbors(
    coords: np.ndarray,
    lattice: np.ndarray,
    candidates: np.ndarray,
    n_neighbors: int,
    cutoff: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neighbour lists of every candidate atom in many frames at once (one fixed cell).

    For small cells (few atoms × images): all images of all candidates, all distances,
    a stable sort — vectorised over frames. Same ordering rules as :func:`neighbor_lists`.

    Returns index (F, n_cand, M) atom indices, distance (F, n_cand, M), mask.
    """
    reach = image_range(lattice, cutoff)
    shifts = np.array(list(itertools.product(*[range(-r, r + 1) for r in reach])), dtype=float)
    inverse = np.linalg.inv(lattice)
    frac = coords[:, candidates] @ inverse
    frac -= np.floor(frac)
    positions = frac @ lattice  # (F, C, 3)
    # Keep an image (shift s, candidate c) only if, in some frame of the batch, it lies
    # within the cutoff's margin of the cell, as _images does per frame; the rest are
    # farther than the cutoff from every point of the cell in every frame.
    margin = cutoff * np.linalg.norm(inverse, axis=0)  # fractional, per axis
    low, high = frac.min(axis=0), frac.max(axis=0)  # (C, 3) over the batch's frames
    inside = (shifts[:, None, :] + high[None] >= -margin - 1e-9) & (
        shifts[:, None, :] + low[None] < 1.0 + margin + 1e-9
    )
    keep_shift, keep_atom = np.nonzero(inside.all(axis=-1))  # shift-major like _images
    images = (frac[:, keep_atom, :] + shifts[keep_shift][None]) @ lattice  # (F, K, 3)
    image_atom = candidates[keep_atom]
    # |p − q|² = |p|² + |q|² − 2 p·q with one batched matrix product (no (…, 3) temporary)
    squared = (
        (positions**2).sum(-1)[:, :, None]
        + (images**2).sum(-1)[:, None, :]
        - 2.0 * np.einsum("fcx,fix->fci", positions, images, optimize=True)
    )
    dist = np.sqrt(np.maximum(squared, 0.0))
    is_self = (image_atom[None, None, :] == candidates[None, :, None]) & (dist < 1e-6)
    dist[(dist > cutoff) | is_self] = np.inf
    order = _smallest_stable(dist, n_neighbors)
    found_dist = np.take_along_axis(dist, order, axis=-1)
    mask = np.isfinite(found_dist)
    index = np.where(mask, image_atom[order], 0)
    if found_dist.shape[-1] < n_neighbors:
        pad = ((0, 0), (0, 0), (0, n_neighbors - found_dist.shape[-1]))
        found_dist = np.pad(found_dist, pad, constant_values=np.inf)
        index = np.pad(index, pad)
        mask = np.pad(mask, pad)
    return index.astype(np.int64), found_dist, mask


def _smallest_stable(values: np.ndarray, k: int) -> np.ndarray:
    """``np.argsort(values, axis=-1, kind="stable")[..., :k]`` without a full sort.

    A partition finds the k-th smallest value t of each row; all entries below t and
    the first (by position) of those equal to t make the k kept entries, which are then
    sorted stably — the same indices, ties included, in O(n) instead of O(n log n).
    """
    n = values.shape[-1]
    if k >= n:
        return np.argsort(values, axis=-1, kind="stable")
    threshold = np.partition(values, k - 1, axis=-1)[..., k - 1 : k]  # (..., 1)
    below = values < threshold
    tied = values == threshold
    room = k - below.sum(axis=-1, keepdims=True)
    keep = below | (tied & (np.cumsum(tied, axis=-1) <= room))
    kept = np.nonzero(keep)[-1].reshape(*values.shape[:-1], k)  # positional order
    inner = np.argsort(np.take_along_axis(values, kept, axis=-1), axis=-1, kind="stable")
    return np.take_along_axis(kept, inner, axis=-1)


def _assemble_batch(
    n_atoms: int,
    targets: np.ndarray,
    candidates: np.ndarray,
    index: np.ndarray,
    distance: np.ndarray,
    mask: np.ndarray,
    n_conv: int,
) -> tuple[np.ndarray, ...]:
    """Graphs of many frames from precomputed neighbour lists of all candidates.

    The breadth-first search of :func:`_expand_from_targets`, vectorised over frames:
    the same nodes, node order, rows and hops, with no Python loop over frames.

    index, distance, mask : (F, C, M) neighbour lists of the C candidates per frame.
    Returns (n_nodes (F,), node_atom, nbr_index, nbr_distance, nbr_mask, hops), the last
    five flat over the frames' nodes.
    """
    n_frames, n_cand, n_neighbors = index.shape
    row_of = np.full(n_atoms, -1, dtype=np.int64)
    row_of[candidates] = np.arange(n_cand)
    nbr_rows = row_of[index]  # (F, C, M) candidate row of each neighbour
    unreached = np.iinfo(np.int64).max
    hop = np.full((n_frames, n_cand), unreached, dtype=np.int64)
    target_rows = row_of[targets]
    hop[:, target_rows] = 0
    frontier = hop == 0
    for step in range(1, n_conv + 1):
        frame, row = np.nonzero(frontier)
        found = mask[frame, row]  # (K, M)
        reached = np.zeros_like(frontier)
        reached[np.repeat(frame, n_neighbors)[found.ravel()], nbr_rows[frame, row][found]] = True
        frontier = reached & (hop == unreached)
        hop[frontier] = step
    # node order: targets first (target order), then by hop, then by atom index
    bounded = np.minimum(hop, n_conv + 1)  # no overflow in the product below
    key = np.where(hop == unreached, unreached, len(targets) + bounded * n_atoms + candidates)
    key[:, target_rows] = np.arange(len(targets))
    order = np.argsort(key, axis=1, kind="stable")  # (F, C)
    n_nodes = (hop != unreached).sum(axis=1)
    position = np.empty_like(order)
    np.put_along_axis(position, order, np.arange(n_cand)[None, :], axis=1)
    frames = np.arange(n_frames)[:, None]
    node_hop = hop[frames, order]  # (F, C)
    has_row = (node_hop < n_conv)[..., None]
    node_mask = mask[frames, order] & has_row  # (F, C, M)
    node_index = np.where(node_mask, position[frames[..., None], nbr_rows[frames, order]], 0)
    node_distance = np.where(node_mask, distance[frames, order], 0.0)
    keep = np.arange(n_cand)[None, :] < n_nodes[:, None]  # (F, C)
    return (
        n_nodes,
        candidates[order][keep].astype(np.int64),
        node_index[keep].astype(np.int32),
        node_distance[keep].astype(np.float32),
        node_mask[keep],
        node_hop[keep].astype(np.int8),
    )


def _expand_from_targets(
    n_atoms: int,
    targets: np.ndarray,
    n_neighbors: int,
    n_conv: int,
    lookup: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Breadth-first search from the targets over ``n_conv`` hops; the frame's arrays.

    ``lookup(centers)`` gives (atom index, distance, mask) rows of the neighbour lists.
    Nodes are ordered targets first (target order), then by hop and atom index; nodes
    at exactly ``n_conv`` hops are leaves with empty (masked) neighbour rows.
    """
    hop_of = np.full(n_atoms, -1, dtype=np.int64)
    hop_of[targets] = 0
    blocks = []
    frontier = np.asarray(targets, dtype=np.int64)
    for hop in range(n_conv):
        if frontier.size == 0:
            break
        index, distance, mask = lookup(frontier)
        blocks.append((frontier, index, distance, mask))
        reached = np.unique(index[mask])
        frontier = reached[hop_of[reached] < 0]
        hop_of[frontier] = hop + 1
    others = np.flatnonzero(hop_of > 0)
    others = others[np.lexsort((others, hop_of[others]))]
    node_atom = np.concatenate([targets, others]).astype(np.int64)
    local = np.full(n_atoms, -1, dtype=np.int64)
    local[node_atom] = np.arange(node_atom.size)
    n_nodes = node_atom.size
    nbr_index = np.zeros((n_nodes, n_neighbors), dtype=np.int32)
    nbr_distance = np.zeros((n_nodes, n_neighbors), dtype=np.float32)
    nbr_mask = np.zeros((n_nodes, n_neighbors), dtype=bool)
    for centers, index, distance, mask in blocks:
        rows = local[centers]
        nbr_index[rows] = np.where(mask, local[index], 0)
        nbr_distance[rows] = np.where(mask, distance, 0.0)
        nbr_mask[rows] = mask
    return node_atom, nbr_index, nbr_distance, nbr_mask, hop_of[node_atom].astype(np.int8)


#: Below this many candidate atoms × images, a fixed cell uses the batched path.
_SMALL_CELL_LIMIT = 2_000


def graph_arrays(
    coords: np.ndarray,
    lattices: np.ndarray,
    targets: np.ndarray,
    candidates: np.ndarray,
    n_atoms: int,
    n_neighbors: int,
    cutoff: float,
    n_conv: int,
    min_neighbors: int = 1,
    first_frame: int = 0,
    on_frames: Callable[[int], object] | None = None,
) -> dict[str, np.ndarray]:
    """The flat graph arrays of a block of frames (the fields of :class:`FrameGraphs`).

    Parameters
    ----------
    coords : numpy.ndarray, shape (n_frames, n_atoms, 3)
        Coordinates of the block, Å (a memory map is read a few frames at a time).
    lattices : numpy.ndarray, shape (n_frames, 3, 3)
        Lattice vectors (rows) per frame, Å.
    targets, candidates : numpy.ndarray of int
        Target atoms, and the atoms allowed as nodes (sorted, unique, with the targets).
    n_atoms, n_neighbors, cutoff, n_conv, min_neighbors
        As in :func:`build_graphs`.
    first_frame : int
        Index of the block's first frame in its trajectory (for error messages).
    on_frames : callable, optional
        Called with the number of frames done after each step (a progress bar's update).

    Returns
    -------
    dict
        ``node_offsets``, ``node_atom``, ``nbr_index``, ``nbr_distance``, ``nbr_mask``,
        ``hops`` for the block's frames.
    """
    n_frames = coords.shape[0]
    parts = []  # per step: (n_nodes per frame, node_atom, rows..., hops)
    fixed_cell = bool(np.all(lattices == lattices[0]))
    n_images = candidates.size * np.prod(2 * image_range(lattices[0], cutoff) + 1)
    batched = fixed_cell and n_images <= _SMALL_CELL_LIMIT
    batch_frames = max(1, int(4e6 // max(candidates.size * n_images, 1))) if batched else 1
    for start in range(0, n_frames, batch_frames):
        if batched:
            lists = _small_cell_neighbors(
                np.asarray(coords[start : start + batch_frames], dtype=np.float64),
                np.asarray(lattices[0], dtype=np.float64),
                candidates,
                n_neighbors,
                cutoff,
            )
            block = _assemble_batch(n_atoms, targets, candidates, *lists, n_conv)
        else:
            graph = _frame_graph(
                np.asarray(coords[start], dtype=np.float64),
                np.asarray(lattices[start], dtype=np.float64),
                targets,
                candidates,
                n_neighbors,
                cutoff,
                n_conv,
            )
            block = (np.array([graph[0].size]), *graph)
        n_nodes = block[0]
        first_nodes = np.concatenate([[0], np.cumsum(n_nodes)[:-1]])
        target_rows = (first_nodes[:, None] + np.arange(len(targets))[None, :]).ravel()
        n_found = block[4][target_rows].sum(axis=1).reshape(len(n_nodes), len(targets))
        if (n_found < min_neighbors).any():
            frame, worst = np.unravel_index(np.argmin(n_found), n_found.shape)
            raise GraphError(
                f"frame {first_frame + start + frame}: target atom {targets[worst]} has "
                f"{int(n_found[frame, worst])} neighbours within {cutoff} Å (at least "
                f"{min_neighbors} needed). Increase the cutoff or check the coordinates "
                "and the cell."
            )
        parts.append(block)
        if on_frames is not None:
            on_frames(len(n_nodes))
    counts = np.concatenate([p[0] for p in parts])
    return {
        "node_offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        "node_atom": np.concatenate([p[1] for p in parts]),
        "nbr_index": np.concatenate([p[2] for p in parts]),
        "nbr_distance": np.concatenate([p[3] for p in parts]),
        "nbr_mask": np.concatenate([p[4] for p in parts]),
        "hops": np.concatenate([p[5] for p in parts]),
    }


def node_candidates(
    n_atoms: int, targets: np.ndarray, node_selection: np.ndarray | None = None
) -> np.ndarray:
    """Atoms that may become graph nodes: all of them, or ``node_selection`` plus the
    targets, sorted and unique.

    Parameters
    ----------
    n_atoms : int
    targets : numpy.ndarray of int
        Target atoms (always nodes).
    node_selection : numpy.ndarray of int, optional
        Atoms allowed as nodes besides the targets (e.g. heavy atoms).
    """
    if node_selection is None:
        return np.arange(n_atoms)
    return np.union1d(np.asarray(node_selection, dtype=np.int64), targets)


def build_graphs(
    traj: Trajectory,
    n_neighbors: int = 20,
    cutoff: float = 7.0,
    n_conv: int = 3,
    node_selection: np.ndarray | None = None,
    min_neighbors: int = 1,
    progress: bool = True,
    use_cache: bool = True,
) -> FrameGraphs:
    """Neighbour graphs of every frame: targets plus atoms within ``n_conv`` hops.

    Parameters
    ----------
    traj : Trajectory
    n_neighbors : int
        M neighbours per node.
    cutoff : float
        Neighbour cutoff, Å.
    n_conv : int
        Number of graph convolutions the encoder applies (hops needed).
    node_selection : numpy.ndarray of int, optional
        Atoms allowed as graph nodes besides the targets (e.g. heavy atoms).
    min_neighbors : int
        Every target needs at least this many neighbours within the cutoff; fewer
        raises :class:`GraphError` (pad-and-mask handles the rest).
    progress : bool
        Show a progress bar.
    use_cache : bool
        Read and write the result under the gdynbook cache directory, keyed by the
        coordinates, cell, targets and every parameter.

    Raises
    ------
    GraphError
        If a target has fewer than ``min_neighbors`` neighbours within the cutoff.
    """
    from gdynbook.cache import cache_path

    targets = traj.target_index
    candidates = node_candidates(traj.n_atoms, targets, node_selection)
    key_parts = (
        traj.coords,
        traj.lattices,
        targets,
        candidates,
        {"M": n_neighbors, "cutoff": cutoff, "n_conv": n_conv},
    )
    path = cache_path("graphs", *key_parts) if use_cache else None
    if path is not None and path.exists():
        try:
            return FrameGraphs.load(str(path))
        except Exception:  # noqa: BLE001 - a damaged cache entry is rebuilt
            path.unlink(missing_ok=True)
    from tqdm.auto import tqdm

    bar = tqdm(
        total=traj.n_frames,
        desc="neighbour graphs",
        unit="frame",
        disable=not progress or traj.n_frames < 50,
    )
    arrays = graph_arrays(
        traj.coords,
        traj.lattices,
        targets,
        candidates,
        traj.n_atoms,
        n_neighbors,
        cutoff,
        n_conv,
        min_neighbors,
        on_frames=bar.update,
    )
    bar.close()
    graphs = FrameGraphs(
        **arrays,
        atom_types=traj.atom_types.copy(),
        n_targets=int(targets.size),
        n_conv=int(n_conv),
        n_neighbors=int(n_neighbors),
        cutoff=float(cutoff),
    )
    if path is not None:
        graphs.save(str(path))
    return graphs


class GaussianDistance(torch.nn.Module):
    """Expand distances in Gaussians: exp(−(d − μₖ)²/σ²), μₖ = 0, step, …, cutoff (Å).

    With the original's defaults (cutoff 7 Å, step 0.2 Å, σ = 0.2 Å) there are 36
    centres.
    """

    def __init__(self, cutoff: float = 7.0, step: float = 0.2, width: float | None = None):
        super().__init__()
        centers = torch.arange(0.0, cutoff + step / 2, step, dtype=torch.float32)
        self.register_buffer("centers", centers)
        self.width = float(step if width is None else width)

    @property
    def n_features(self) -> int:
        return int(self.centers.numel())

    def forward(self, distance: torch.Tensor) -> torch.Tensor:
        """(…,) distances in Å → (…, n_features) edge features."""
        exponent = -((distance[..., None] - self.centers) ** 2) / self.width**2
        # Far centres give exponents down to about −1200, whose results underflow
        # through subnormal floats, which x86 CPUs compute ~20× slower. Values below
        # e^−80 ≈ 2e−35 carry no information, so they are clamped there.
        return torch.exp(exponent.clamp(min=-80.0))
