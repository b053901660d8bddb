"""Peak anonymous memory of ``gdynbook train`` at 10⁴ and 10⁵ frames: flat or not.

Writes synthetic trajectories (1,000 atoms, 16 targets, float32, an uncompressed
``traj.npz``) of 10⁴ and 10⁵ frames and runs ``gdynbook train`` on each for one epoch
of a fixed number of pairs. While it runs, ``RssAnon`` (``/proc/PID/status``: memory
the process owns; the file pages of memory maps are not in it) is summed over the
process and its workers every 20 ms; the peak is printed for both sizes with their
ratio (the issue asks ≤ 1.3). Beside it, the estimate for the old path, which read the
coordinates whole as float64 and kept every frame's graph in memory: the measured
10⁴-frame peak plus those two arrays' bytes. Also printed: the disk the graphs take per
10⁴ frames and the wall time.

    python benchmarks/bench_memory.py            # 10⁴ and 10⁵ frames (~15 min, 6 GB disk)
    python benchmarks/bench_memory.py --small    # 10³ and 10⁴ frames (a quick check)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_ATOMS = 1000
N_TARGETS = 16
BOX_A = 27.0  # 1,000 atoms at 0.05 Å⁻³
GRAPH = ["--n-neighbors", "12", "--n-conv", "1", "--cutoff", "6"]


def write_trajectory(path: Path, n_frames: int, seed: int = 0) -> None:
    """Atoms vibrating around random sites (float32 Å), targets hopping slowly."""
    rng = np.random.default_rng(seed)
    sites = rng.random((N_ATOMS, 3)).astype(np.float32) * BOX_A
    raw = path.with_suffix(".coords.npy")
    coords = np.lib.format.open_memmap(
        raw, mode="w+", dtype=np.float32, shape=(n_frames, N_ATOMS, 3)
    )
    block = 2000
    for start in range(0, n_frames, block):
        stop = min(n_frames, start + block)
        noise = rng.normal(0.0, 0.3, (stop - start, N_ATOMS, 3)).astype(np.float32)
        drift = np.zeros((stop - start, N_ATOMS, 3), np.float32)
        drift[:, :N_TARGETS] = 2.0 * np.sin(np.arange(start, stop) / 500.0)[:, None, None]
        coords[start:stop] = sites + noise + drift
    coords.flush()
    np.savez(
        path,
        traj_coords=coords,
        lattices=np.eye(3) * BOX_A,
        atom_types=np.where(np.arange(N_ATOMS) < N_TARGETS, 3, 8),
        target_index=np.arange(N_TARGETS),
        time_step_ps=np.float64(1.0),
    )
    del coords
    raw.unlink()


def descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                queue += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return found


def rss_anon_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_train(trajectory: Path, out: Path, cache: Path, workers: int) -> tuple[float, float]:
    """(peak summed RssAnon in MiB, wall seconds) of one ``gdynbook train``."""
    command = [
        sys.executable,
        "-m",
        "gdynbook",
        "train",
        str(trajectory),
        "--n-states",
        "2",
        "--lag-ps",
        "10",
        "--float32",
        *GRAPH,
        "--n-epochs",
        "1",
        "--pairs-per-epoch",
        "4096",
        "--batch-size",
        "256",
        "--validation-fraction",
        "0.05",
        "--device",
        "cpu",
        "--no-progress",
        "--workers",
        str(workers),
        "--output",
        str(out),
    ]
    env = {**os.environ, "GDYNBOOK_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = 0
    while process.poll() is None:
        peak = max(peak, sum(rss_anon_kib(p) for p in descendants(process.pid)))
        time.sleep(0.02)
    output = process.stdout.read().decode() if process.stdout else ""
    if process.returncode != 0:
        raise SystemExit(f"gdynbook train failed ({process.returncode}):\n{output[-3000:]}")
    return peak / 1024, time.perf_counter() - start


def graph_bytes(cache: Path) -> int:
    return sum(p.stat().st_size for p in (cache / "graph-chunks").rglob("*.npy"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="10³ and 10⁴ frames")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sizes = [1_000, 10_000] if args.small else [10_000, 100_000]
    rows = []
    with tempfile.TemporaryDirectory(prefix="gdynbook-bench-memory-") as tmp:
        root = Path(tmp)
        for n_frames in sizes:
            path = root / f"traj-{n_frames}.npz"
            write_trajectory(path, n_frames)
            cache = root / f"cache-{n_frames}"
            peak, wall = peak_train(path, root / f"run-{n_frames}", cache, args.workers)
            disk = graph_bytes(cache)
            rows.append((n_frames, peak, wall, disk))
            path.unlink()
    (n0, p0, _, _), (n1, p1, _, d1) = rows
    print(
        f"gdynbook train, 1 epoch of 4,096 pairs, {N_ATOMS} atoms, {N_TARGETS} targets, "
        f"{args.workers} workers; peak RssAnon summed over the process and its workers"
    )
    print(
        f"{'frames':>8} {'peak MiB':>9} {'wall s':>7} {'graphs MB':>10} {'old path MiB (est.)':>20}"
    )
    for n_frames, peak, wall, disk in rows:
        old = p0 + (n_frames * N_ATOMS * 3 * 8 + disk) / 2**20  # + coords, graphs
        print(f"{n_frames:>8} {peak:>9.0f} {wall:>7.1f} {disk / 1e6:>10.0f} {old:>20.0f}")
    print(f"ratio of peaks {n1:,} / {n0:,} frames: {p1 / p0:.2f} (flat: ≤ 1.3)")
    print(f"graphs on disk per 10⁴ frames: {d1 / n1 * 1e4 / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
