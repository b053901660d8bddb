"""Neighbour lists: gdynbook against an original-style path and matscipy, same frames.

* original-style: periodic ``cKDTree`` ball query within the cutoff, then a Python sort
  of each atom's neighbours (how per-atom neighbour lists are often built);
* matscipy (if installed): ``matscipy.neighbours.neighbour_list`` + top-M per atom;
* gdynbook: :func:`gdynbook.graphs.neighbor_lists` (images + k-d tree k-NN, or brute
  force for small cells), on one thread and on all cores (its default).

Random atoms at the PEO/LiTFSI atom density (0.084 Å⁻³), M = 20, cutoff 7 Å; times per
frame and ratios printed. Also: the 5-atom toy cell for many frames, and the cost of
``build_graphs`` at a fixed number of targets as the system grows.

    python benchmarks/bench_graphs.py
"""

from __future__ import annotations

import time

import numpy as np
from scipy.spatial import cKDTree

from gdynbook.graphs import build_graphs, neighbor_lists
from gdynbook.trajectory import Trajectory

DENSITY = 0.084  # atoms per Å³ in the PEO/LiTFSI box
M, CUTOFF = 20, 7.0


def original_style(coords: np.ndarray, length: float) -> list[list[tuple[float, int]]]:
    tree = cKDTree(np.mod(coords, length), boxsize=length)
    out = []
    for i, point in enumerate(np.mod(coords, length)):
        found = tree.query_ball_point(point, CUTOFF)
        delta = np.mod(coords[found] - point + length / 2, length) - length / 2
        dist = np.linalg.norm(delta, axis=1)
        pairs = sorted((d, j) for d, j in zip(dist, found, strict=True) if j != i)
        out.append(pairs[:M])
    return out


def matscipy_style(coords: np.ndarray, length: float):
    from ase import Atoms
    from matscipy.neighbours import neighbour_list

    atoms = Atoms("H" * len(coords), positions=np.mod(coords, length), cell=[length] * 3, pbc=True)
    i, j, d = neighbour_list("ijd", atoms, CUTOFF)
    order = np.lexsort((d, i))
    return i[order], j[order], d[order]


def timed(fn, *args, repeats: int = 7) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    try:
        import matscipy  # noqa: F401

        has_matscipy = True
    except ImportError:
        has_matscipy = False
    rng = np.random.default_rng(0)
    print(
        f"{'atoms':>7} {'ours ms':>9} {'all cores':>10} {'original ms':>12} {'ratio':>7}"
        f" {'all cores':>10}" + (f" {'matscipy ms':>12} {'ratio':>7}" if has_matscipy else "")
    )
    for n_atoms in (100, 1_650, 5_000, 20_000):
        length = (n_atoms / DENSITY) ** (1 / 3)
        coords = rng.random((n_atoms, 3)) * length
        lattice = np.eye(3) * length
        ours = timed(lambda c=coords, lat=lattice: neighbor_lists(c, lat, M, CUTOFF, workers=1))
        threaded = timed(neighbor_lists, coords, lattice, M, CUTOFF)
        original = timed(original_style, coords, length, repeats=1)
        line = (
            f"{n_atoms:>7} {ours * 1e3:>9.1f} {threaded * 1e3:>10.1f} "
            f"{original * 1e3:>12.1f} {original / ours:>7.1f} {original / threaded:>10.1f}"
        )
        if has_matscipy:
            other = timed(matscipy_style, coords, length)
            line += f" {other * 1e3:>12.1f} {other / ours:>7.1f}"
        print(line)

    # the toy: 1 Li + 4 S in a 5.7 Å cell, many frames
    n_frames = 2_000
    a = 5.7
    base = np.array([[0.25, 0.25, 0.25], [0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    coords = (base[None] + 0.02 * rng.normal(size=(n_frames, 5, 3))) * a
    traj = Trajectory(coords, np.eye(3) * a, [3, 16, 16, 16, 16], [0], 0.1)
    per_frame = (
        timed(
            lambda: build_graphs(traj, M, CUTOFF, n_conv=3, progress=False, use_cache=False),
            repeats=3,
        )
        / n_frames
    )
    print(
        f"toy cell: build_graphs {per_frame * 1e6:.0f} µs/frame "
        f"({per_frame * 1e5:.0f} s per 10^5 frames)"
    )

    # fixed number of targets, growing system: cost of the graphs the encoder needs
    # (only atoms within n_conv × cutoff of a target enter the search)
    print(f"{'atoms':>7} {'build_graphs ms/frame (16 targets, n_conv=1)':>46} {'vs 1,650':>9}")
    first = None
    for n_atoms in (1_650, 5_000, 20_000, 80_000):
        length = (n_atoms / DENSITY) ** (1 / 3)
        coords = rng.random((3, n_atoms, 3)) * length
        traj = Trajectory(coords, np.eye(3) * length, np.full(n_atoms, 8), np.arange(16), 1.0)
        per_frame = min(
            timed(
                lambda t=traj: build_graphs(t, M, CUTOFF, n_conv=1, progress=False, use_cache=False)
            )
            / 3
            for _ in range(1)
        )
        first = first or per_frame
        print(f"{n_atoms:>7} {per_frame * 1e3:>46.1f} {per_frame / first:>9.2f}")


if __name__ == "__main__":
    main()
