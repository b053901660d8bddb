"""Cost of one fit of the PEO analysis plan's training, to size a full run of the plan.

Stand-in data: the two finished EO:Li 12.5 screen builds, each cut into halves (four
"builds" of 100 frames, 24 Li⁺); one fit trains on three of them. Printed: seconds per
epoch with every training pair, the time per pair, and the ratio of an epoch of
``pairs_per_epoch`` pairs (the plan's setting) to a full epoch, in the same process; then
the projected cost of the plan's ~65 fits on builds of 800 frames.

    python benchmarks/bench_plan_fit.py
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch

from gdynbook import data
from gdynbook.jobs.peo import train_model
from gdynbook.jobs.peo_builds import PLAN_TRAINING
from gdynbook.systems.peo_litfsi.runs import load_run


def seconds_per_epoch(runs, training, epochs: int = 2) -> float:
    start = time.perf_counter()
    train_model(runs, 4, [len(runs) - 1], replace(training, n_epochs=epochs), 0, "cpu")
    return (time.perf_counter() - start) / epochs


def main() -> None:
    torch.set_num_threads(1)
    screen = data.data_dir() / "peo_litfsi" / "screen"
    whole = [load_run(screen / name).traj for name in ("q0.8-eo12", "q0.7-eo12")]
    runs = [t[part] for t in whole for part in (slice(0, 100), slice(100, 200))]
    lag = int(round(PLAN_TRAINING.lag_ps / runs[0].time_step_ps))
    train_pairs = sum(int(0.8 * r.n_frames) - lag for r in runs[:-1])
    seconds_per_epoch(runs, replace(PLAN_TRAINING, patience=None), epochs=1)  # graphs cached
    full = seconds_per_epoch(runs, replace(PLAN_TRAINING, pairs_per_epoch=None, patience=None))
    sampled = seconds_per_epoch(runs, replace(PLAN_TRAINING, pairs_per_epoch=60, patience=None))
    per_pair = full / train_pairs
    print(
        f"full epoch: {full:.1f} s for {train_pairs} training pairs ({per_pair * 1e3:.0f} ms/pair)"
    )
    print(f"epoch of 60 pairs / full epoch: {sampled / full:.2f}")
    fold_pairs = 4 * (int(0.8 * 800) - lag)
    for pairs in (fold_pairs, PLAN_TRAINING.pairs_per_epoch):
        hours = 65 * 20 * pairs * per_pair / 3600
        print(f"plan, 65 fits x 20 epochs of {pairs} pairs: ~{hours:.1f} h on one core")


if __name__ == "__main__":
    main()
