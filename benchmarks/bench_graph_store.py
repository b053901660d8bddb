"""Graphs on disk: preparation frames/s with 0, 1 and 2 workers, and training pairs/s
with the graphs in memory (the old path) and on disk (with 0 and 2 loader workers).

Preparation: a synthetic 1,000-atom box (16 targets, 12 neighbours, one convolution),
2,048 frames in chunks of 256, each setting with an empty cache; the in-memory
``build_graphs`` is the reference. Training: the toy system (Li hopping in fcc S,
3,000 frames), a small GDyNet, 3 epochs; the same seed, so the same batches, and the
ratio says what the memory maps and the loader cost or save.

    python benchmarks/bench_graph_store.py

Workers pay only with free cores: on a machine whose cores are busy (or under
``taskset -c 0``) they share one core with the main process and come out slower.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
import torch

from gdynbook.graph_store import build_graph_store
from gdynbook.graphs import build_graphs
from gdynbook.model import GDyNet
from gdynbook.systems.fcc_sites import simulate_site_hopping
from gdynbook.train import fit
from gdynbook.trajectory import Trajectory

GRAPH = {"n_neighbors": 12, "cutoff": 6.0, "n_conv": 1}


def box(n_frames: int = 2048, n_atoms: int = 1000, seed: int = 0) -> Trajectory:
    rng = np.random.default_rng(seed)
    length = 27.0
    sites = rng.random((n_atoms, 3)) * length
    coords = sites + rng.normal(0, 0.3, (n_frames, n_atoms, 3))
    lattices = np.repeat(np.eye(3)[None] * length, n_frames, axis=0)
    return Trajectory(coords, lattices, np.full(n_atoms, 8), np.arange(16), 1.0)


def fresh_cache() -> str:
    folder = tempfile.mkdtemp(prefix="gdynbook-bench-cache-")
    os.environ["GDYNBOOK_CACHE_DIR"] = folder
    return folder


class InMemoryGDyNet(GDyNet):
    """The old path: every frame's graph in memory (``build_graphs``)."""

    def prepare(self, trajectories, progress=True, workers=0):  # type: ignore[override]
        cfg = self.config
        return [
            build_graphs(t, cfg.n_neighbors, cfg.cutoff, cfg.n_conv, progress=False)
            for t in trajectories
        ]


def pairs_per_second(model_class: type, traj: Trajectory, workers: int) -> float:
    torch.manual_seed(0)
    model = model_class(n_states=2, n_neighbors=12, n_conv=2, atom_fea_len=16, h_fea_len=16)
    model.prepare([traj], progress=False)  # graphs built (cached) before the clock
    epochs, batch, lag = 3, 256, 5
    n_pairs = int(0.9 * traj.n_frames) - lag
    start = time.perf_counter()
    fit(
        model,
        [traj],
        lag_frames=lag,
        n_epochs=epochs,
        batch_size=batch,
        patience=None,
        progress=False,
        device="cpu",
        workers=workers,
    )
    return epochs * n_pairs / (time.perf_counter() - start)


def main() -> None:
    torch.set_num_threads(1)
    traj = box()
    fresh_cache()
    start = time.perf_counter()
    build_graphs(traj, **GRAPH, progress=False, use_cache=False)
    reference = traj.n_frames / (time.perf_counter() - start)
    print(f"graph preparation, {traj.n_frames} frames of {traj.n_atoms} atoms (frames/s)")
    print(f"  in memory (build_graphs)      {reference:8.0f}   1.00")
    for workers in (0, 2):
        fresh_cache()
        start = time.perf_counter()
        store = build_graph_store(traj, **GRAPH, progress=False, chunk_frames=256, workers=workers)
        rate = traj.n_frames / (time.perf_counter() - start)
        label = "this process" if workers == 0 else f"{workers} workers"
        print(f"  on disk, {label:<20} {rate:8.0f}   {rate / reference:.2f}")
    print(f"  disk: {store.disk_bytes() / traj.n_frames * 1e4 / 1e6:.0f} MB per 10⁴ frames")

    toy = simulate_site_hopping(3000, seed=1)[0]
    fresh_cache()
    pairs_per_second(GDyNet, toy, 0)  # warm-up: the first fit in a process pays for setup
    old = pairs_per_second(InMemoryGDyNet, toy, 0)
    print("training on the toy system (pairs/s)")
    print(f"  graphs in memory (old path)   {old:8.0f}   1.00")
    for workers in (0, 2):
        rate = pairs_per_second(GDyNet, toy, workers)
        label = "in this process" if workers == 0 else f"{workers} loader workers"
        print(f"  on disk, {label:<20} {rate:8.0f}   {rate / old:.2f}")


if __name__ == "__main__":
    main()
