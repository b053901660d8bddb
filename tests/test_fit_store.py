"""Stored fits: a rerun loads what it has, trains the rest, and waits for a fit another
process holds."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from gdynbook.jobs.fit_store import FitStore, run_fits
from gdynbook.train import History


def tiny_training(calls: list):
    def train(job):
        calls.append(job)
        torch.manual_seed(job)
        model = torch.nn.Linear(2, 2)
        return model, History(train_score=[1.0 + job], validation_score=[1.5], best_epoch=0)

    return train


def test_a_second_run_loads_every_fit_and_trains_nothing(tmp_path) -> None:
    store = FitStore(tmp_path / "fits")
    options = dict(
        store=store,
        key_of=lambda job: FitStore.key(job=job),
        make_model=lambda job: torch.nn.Linear(2, 2),
    )
    calls: list = []
    first = run_fits([3, 5], tiny_training(calls), **options)
    assert calls == [3, 5] and not any(fit.loaded for fit in first)
    again: list = []
    second = run_fits([3, 5, 7], tiny_training(again), **options)
    assert again == [7] and [fit.loaded for fit in second] == [True, True, False]
    for old, new in zip(first, second[:2], strict=False):
        torch.testing.assert_close(old.model.weight, new.model.weight)
        assert new.history.train_score == old.history.train_score
    assert store.total_wall_time_s() == pytest.approx(sum(f.wall_time_s for f in second))
    # without a store every fit is trained
    plain: list = []
    run_fits([3], tiny_training(plain))
    assert plain == [3]
    with pytest.raises(ValueError, match="key_of and make_model"):
        run_fits([3], tiny_training([]), store=store)


def test_keys_follow_every_setting() -> None:
    assert FitStore.key(n_states=2, seed=0) == FitStore.key(seed=0, n_states=2)
    assert FitStore.key(n_states=2, seed=0) != FitStore.key(n_states=3, seed=0)


HOLD_FIT = """
import sys, time
from gdynbook import cache
with cache.exclusive_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(1.0)
"""


def test_a_fit_held_by_another_process_is_put_off_then_awaited(tmp_path) -> None:
    store = FitStore(tmp_path / "fits")
    key_of = lambda job: FitStore.key(job=job)  # noqa: E731
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD_FIT, str(store.folder / "locks" / key_of(0))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout.readline().strip() == "held"
        calls: list = []
        fits = run_fits(
            [0, 1],
            tiny_training(calls),
            store=store,
            key_of=key_of,
            make_model=lambda job: torch.nn.Linear(2, 2),
        )
    finally:
        other.kill()
        other.wait()
    # job 0 was busy: job 1 went first; the other process stored nothing, so job 0 was
    # trained here once its lock came free
    assert calls == [1, 0] and [f.history.train_score for f in fits] == [[1.0], [2.0]]
    assert store.path(key_of(0)).exists()
