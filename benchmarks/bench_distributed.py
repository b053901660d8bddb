"""Data-parallel training: pairs per second with 1 and 2 processes, and the all-reduce
share of a step.

Trains the same small GDyNet on the dimer system for a few epochs, once in one process
and once under ``torchrun --nproc-per-node 2`` (gloo on CPU; NCCL where there are GPUs),
each process on one thread. Prints pairs/s for both, their ratio, and the share of the
step time spent in the all-reduces of the covariance and batch-norm sums (measured in
the 2-process run). On a 2-core machine with the MD running on one core the ratio
measures contention as much as scaling; GPUs are where it pays.

    python benchmarks/bench_distributed.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EPOCHS = 3
BATCH = 256


def worker(files: list[str], out: str) -> None:
    """One process's training (run by torchrun or directly)."""
    import torch

    from gdynbook import distributed
    from gdynbook.dataset import TrajectoryDataset
    from gdynbook.model import GDyNet
    from gdynbook.train import fit
    from gdynbook.trajectory import load_trajectory

    torch.set_num_threads(1)
    spent = [0.0]
    reduce = distributed._AllReduceSum.forward

    def timed(ctx, tensor):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        result = reduce(ctx, tensor)
        spent[0] += time.perf_counter() - start
        return result

    distributed._AllReduceSum.forward = staticmethod(timed)
    launched = distributed.init_from_environment("cpu")
    runs = [load_trajectory(f) for f in files]
    dataset = TrajectoryDataset(runs, validation_fraction=0.1)
    torch.manual_seed(0)
    model = GDyNet(n_states=2, n_conv=1, n_neighbors=8, atom_fea_len=16, h_fea_len=16)
    model.prepare(runs, progress=False)  # graphs built before the clock starts
    n_pairs = len(dataset.pairs("train", 5))
    with distributed.data_parallel():
        start = time.perf_counter()
        fit(
            model,
            dataset,
            lag_frames=5,
            n_epochs=EPOCHS,
            batch_size=BATCH,
            patience=None,
            progress=False,
            device="cpu",
        )
        wall = time.perf_counter() - start
        rank, world = distributed.rank(), distributed.world_size()
    if rank == 0:
        Path(out).write_text(
            json.dumps(
                {
                    "world": world,
                    "pairs_per_s": EPOCHS * n_pairs / wall,
                    "all_reduce_share": spent[0] / wall,
                }
            )
        )
    if launched:
        import torch.distributed as dist

        dist.destroy_process_group()


def main() -> None:
    from gdynbook.systems.dimers import DimerSimulation, simulate_dimers

    folder = Path(tempfile.mkdtemp())
    runs = simulate_dimers(DimerSimulation(n_frames=3000, n_replicas=4, seed=3))
    files = [str(r.save(folder / f"run{i}.npz")) for i, r in enumerate(runs)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    results = {}
    for world in (1, 2):
        out = folder / f"result-{world}.json"
        code = f"from benchmarks.bench_distributed import worker; worker({files!r}, {str(out)!r})"
        if world == 1:
            command = [sys.executable, "-c", code]
        else:
            torchrun = str(Path(sys.executable).with_name("torchrun"))
            command = [
                torchrun,
                "--standalone",
                "--nproc-per-node",
                "2",
                "--no-python",
                sys.executable,
                "-c",
                code,
            ]
        subprocess.run(command, check=True, env=env, cwd=Path(__file__).resolve().parents[1])
        results[world] = json.loads(out.read_text())
    one, two = results[1], results[2]
    print(f"{'processes':>9} {'pairs/s':>9} {'all-reduce share':>17}")
    for world, values in results.items():
        print(f"{world:>9} {values['pairs_per_s']:>9.0f} {values['all_reduce_share']:>17.1%}")
    print(f"ratio (2 processes / 1): {two['pairs_per_s'] / one['pairs_per_s']:.2f}")


if __name__ == "__main__":
    main()
