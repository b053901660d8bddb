"""Stored fits: a rerun loads what it has, trains the rest, and waits for a fit another
process holds (loading it if that process stored it)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from gdynbook.jobs.fit_store import FitStore, run_fits
from gdynbook.train import History


def small_model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))


def tiny_training(calls: list):
    def train(job):
        calls.append(job)
        torch.manual_seed(job)
        model = small_model()
        model(torch.randn(8, 2))  # training mode: the BatchNorm buffers move
        return model, History(train_score=[1.0 + job], validation_score=[1.5], best_epoch=0)

    return train


def test_a_second_run_loads_every_fit_and_trains_nothing(tmp_path) -> None:
    store = FitStore(tmp_path / "fits")
    options = dict(
        store=store,
        key_of=lambda job: FitStore.key(job=job),
        make_model=lambda job: small_model(),
    )
    calls: list = []
    first = run_fits([3, 5], tiny_training(calls), **options)
    assert calls == [3, 5] and not any(fit.loaded for fit in first)
    again: list = []
    rerun = FitStore(tmp_path / "fits")
    second = run_fits([3, 5, 7], tiny_training(again), **{**options, "store": rerun})
    assert again == [7] and [fit.loaded for fit in second] == [True, True, False]
    for old, new in zip(first, second[:2], strict=False):
        for name, tensor in old.model.state_dict().items():  # weights and BatchNorm buffers
            torch.testing.assert_close(tensor, new.model.state_dict()[name])
        assert new.history.train_score == old.history.train_score
    # the summed training time counts the fits this process used, not stale ones
    run_fits([11], tiny_training([]), **{**options, "store": FitStore(tmp_path / "fits")})
    assert rerun.total_wall_time_s() == pytest.approx(sum(f.wall_time_s for f in second))
    # without a store every fit is trained
    plain: list = []
    run_fits([3], tiny_training(plain))
    assert plain == [3]
    with pytest.raises(ValueError, match="key_of and make_model"):
        run_fits([3], tiny_training([]), store=store)


def test_keys_follow_every_setting_and_the_training_code(monkeypatch) -> None:
    from gdynbook.jobs import fit_store

    assert FitStore.key(n_states=2, seed=0) == FitStore.key(seed=0, n_states=2)
    assert FitStore.key(n_states=2, seed=0) != FitStore.key(n_states=3, seed=0)
    before = FitStore.key(n_states=2, seed=0)
    monkeypatch.setattr(fit_store, "training_code_hash", lambda: "edited")
    assert FitStore.key(n_states=2, seed=0) != before


HOLD_FIT = """
import pathlib, sys, time
import torch
from gdynbook import cache
from gdynbook.jobs.fit_store import FitStore
from gdynbook.train import History
folder, key, release, store_it = sys.argv[1:5]
store = FitStore(folder)
with cache.exclusive_lock(store.folder / "locks" / key):
    print("held", flush=True)
    while not pathlib.Path(release).exists():
        time.sleep(0.05)
    if store_it == "yes":
        model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
        store.save(key, model, History(train_score=[9.0]), 0.5)
"""


@pytest.mark.parametrize("other_stores_it", [True, False])
def test_a_fit_held_by_another_process_is_put_off_then_awaited(tmp_path, other_stores_it) -> None:
    """Job 0 is held by another process until this one trains job 1: job 0 is put off,
    then awaited; if the other process stored it, it is loaded, else trained here."""
    store = FitStore(tmp_path / "fits")
    key_of = lambda job: FitStore.key(job=job)  # noqa: E731
    release = tmp_path / "release"
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLD_FIT,
            str(store.folder),
            key_of(0),
            str(release),
            "yes" if other_stores_it else "no",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    calls: list = []
    train = tiny_training(calls)

    def train_then_release(job):
        result = train(job)
        release.touch()  # only once job 1 is done may the other process let go
        return result

    try:
        assert other.stdout.readline().strip() == "held"
        fits = run_fits(
            [0, 1],
            train_then_release,
            store=store,
            key_of=key_of,
            make_model=lambda job: small_model(),
        )
    finally:
        other.wait(timeout=60)
    if other_stores_it:
        assert calls == [1] and fits[0].loaded and fits[0].history.train_score == [9.0]
    else:
        assert calls == [1, 0] and [f.history.train_score for f in fits] == [[1.0], [2.0]]
    assert store.path(key_of(0)).exists()
