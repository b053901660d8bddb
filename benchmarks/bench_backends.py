"""One training step (forward + VAMP-2 loss + backward) with the torch and DGL backends.

Identical batches of the fcc site-hopping system and of a larger random periodic system;
prints the time per step of each backend and the ratio torch/DGL, and the peak memory
that torch's CPU allocator reports (profiler), as a ratio too.

    python benchmarks/bench_backends.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from gdynbook.model import GDyNet, dgl_available
from gdynbook.systems.fcc_sites import simulate_site_hopping
from gdynbook.trajectory import Trajectory
from gdynbook.vamp import vamp_loss


def step_time(model: GDyNet, batch, repeats: int = 5) -> float:
    timings = []
    half = batch.n_frames // 2
    for _ in range(repeats):
        model.zero_grad()
        start = time.perf_counter()
        out = model(batch)
        n_states = out.shape[-1]
        loss = vamp_loss(out[:half].reshape(-1, n_states), out[half:].reshape(-1, n_states))
        loss.backward()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def peak_memory_mb(model: GDyNet, batch) -> float:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = model(batch)
        out.sum().backward()
    events = prof.key_averages()
    return max(abs(e.cpu_memory_usage) for e in events) / 1e6


def main() -> None:
    if not dgl_available():
        raise SystemExit("DGL is not installed: pip install 'gdynbook[dgl]'")
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    cases = {"toy (5 atoms)": simulate_site_hopping(512, seed=0)[0]}
    length = (1650 / 0.084) ** (1 / 3)
    coords = rng.random((32, 1650, 3)) * length
    cases["random 1,650 atoms, 16 targets"] = Trajectory(
        coords, np.eye(3) * length, np.full(1650, 8), np.arange(16), 1.0
    )
    print(f"{'system':>32} {'torch ms':>9} {'dgl ms':>8} {'ratio':>6} {'torch/dgl peak mem':>19}")
    for name, traj in cases.items():
        torch.manual_seed(0)
        model = GDyNet(n_states=4, n_neighbors=20, n_conv=3)
        stores = model.prepare([traj], progress=False)
        items = np.stack([np.zeros(traj.n_frames, int), np.arange(traj.n_frames)], axis=1)
        batch = model.collate(stores, items)
        model.backend = "torch"
        t_torch, m_torch = step_time(model, batch), peak_memory_mb(model, batch)
        model.backend = "dgl"
        t_dgl, m_dgl = step_time(model, batch), peak_memory_mb(model, batch)
        print(
            f"{name:>32} {t_torch * 1e3:>9.1f} {t_dgl * 1e3:>8.1f} {t_torch / t_dgl:>6.2f} "
            f"{m_torch / m_dgl:>19.2f}"
        )


if __name__ == "__main__":
    main()
