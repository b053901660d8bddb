"""Speed of gdynbook.vamp.vamp_loss (forward + backward) against deeptime's VAMPNet loss.

Both run on the same data in the same process; the printed ratio is
time(gdynbook) / time(deeptime) (below 1: gdynbook is faster).

    python benchmarks/bench_vamp.py
"""

from __future__ import annotations

import statistics
import time

import torch
from deeptime.decomposition.deep import vampnet_loss

from gdynbook.vamp import vamp_loss


def time_call(loss_fn, logits: torch.Tensor, logits_t: torch.Tensor, repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        a = logits.clone().requires_grad_(True)
        b = logits_t.clone().requires_grad_(True)
        start = time.perf_counter()
        loss = loss_fn(torch.softmax(a, 1), torch.softmax(b, 1))
        loss.backward()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)  # one core each, comparable whatever else runs
    print(f"{'batch':>8} {'states':>6} {'gdynbook ms':>12} {'deeptime ms':>12} {'ratio':>6}")
    for batch in (1_000, 10_000, 100_000):
        for n_states in (2, 4, 8):
            logits = torch.randn(batch, n_states)
            logits_t = logits + 0.5 * torch.randn(batch, n_states)
            repeats = 20 if batch < 100_000 else 5
            ours = time_call(vamp_loss, logits, logits_t, repeats)
            # deeptime computes in the input dtype; give it float64 like ours
            theirs = time_call(
                lambda x, y: vampnet_loss(x.double(), y.double()), logits, logits_t, repeats
            )
            print(
                f"{batch:>8} {n_states:>6} {ours * 1e3:>12.2f} {theirs * 1e3:>12.2f} "
                f"{ours / theirs:>6.2f}"
            )


if __name__ == "__main__":
    main()
