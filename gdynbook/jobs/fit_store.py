"""Finished fits of a long job, kept on disk: a rerun resumes, a second process helps.

The analysis plan of the PEO/LiTFSI builds trains some thirty models, hours on a CPU.
A :class:`FitStore` keeps each finished fit (weights, training history, wall time) under
a key made of everything that determines it — number of states, held-out builds, seed,
training settings and a fingerprint of the data — so

* a job that is stopped (a session ends, a machine reboots) and started again loads
  the fits it has and trains only the rest;
* two processes started with the same command and output share the work:
  :func:`run_fits` takes a fit another process is training as "later" and moves on,
  then waits for it (the lock ends when that process ends, however it ends).

A changed setting, changed data or changed training code (the source of the modules
that decide what a fit learns, :data:`TRAINING_MODULES`) gives a new key: a stored fit is
never reused for a different question.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from gdynbook.cache import LockHeld, atomic_torch_save, exclusive_lock
from gdynbook.train import History
from gdynbook.trajectory import Trajectory

#: Bumped when what a stored fit means changes.
FIT_FORMAT = 1

#: Modules whose source is part of every key: an edit there makes old fits stale.
TRAINING_MODULES = ("train", "model", "graphs", "graph_store", "dataset", "vamp")


@lru_cache(maxsize=1)
def training_code_hash() -> str:
    """A short hash of the source of :data:`TRAINING_MODULES`."""
    from importlib import import_module

    digest = hashlib.sha256()
    for name in TRAINING_MODULES:
        module = import_module(f"gdynbook.{name}")
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


Job = TypeVar("Job")


def data_fingerprint(trajectories: Sequence[Trajectory]) -> str:
    """A short hash of the data a fit sees: frames, atoms, time step and the first and
    last frame's coordinates of every trajectory."""
    digest = hashlib.sha256()
    for traj in trajectories:
        digest.update(f"{traj.n_frames}:{traj.n_atoms}:{traj.time_step_ps!r}".encode())
        for frame in (0, traj.n_frames - 1):
            digest.update(np.ascontiguousarray(traj.coords[frame], dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]


@dataclass
class StoredFit:
    """A fit as stored: the trained model, its history and how long it took, s."""

    model: Any
    history: History
    wall_time_s: float
    loaded: bool


class FitStore:
    """A folder of finished fits, one ``<key>.pt`` each, and their locks.

    Parameters
    ----------
    folder : path
        Created when the first fit is stored.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.used: set[str] = set()  # keys this process loaded or stored

    @staticmethod
    def key(**parts: Any) -> str:
        """The key of a fit: a hash of ``parts`` (JSON-serialisable), the format and the
        training code (:func:`training_code_hash`)."""
        text = json.dumps(
            {"format": FIT_FORMAT, "code": training_code_hash(), **parts},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.pt"

    def load(self, key: str, make_model: Callable[[], Any]) -> StoredFit | None:
        """The stored fit, its weights loaded into ``make_model()``; None if absent."""
        import torch

        path = self.path(key)
        if not path.exists():
            return None
        payload = torch.load(path, map_location="cpu", weights_only=True)
        model = make_model()
        model.load_state_dict(payload["state_dict"])
        model.eval()
        self.used.add(key)
        return StoredFit(model, History(**payload["history"]), float(payload["wall_time_s"]), True)

    def save(self, key: str, model: Any, history: History, wall_time_s: float) -> Path:
        """Store a finished fit atomically (a half-written fit never exists)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
        payload = {
            "format": FIT_FORMAT,
            "state_dict": state,
            "history": json.loads(json.dumps(history.to_dict(), default=float)),
            "wall_time_s": float(wall_time_s),
        }
        self.used.add(key)
        return atomic_torch_save(payload, self.path(key))

    def total_wall_time_s(self) -> float:
        """Training time of the fits this process used (loaded or trained), s, summed over
        the processes that trained them; stale fits of other settings do not count."""
        import torch

        return float(
            sum(
                torch.load(self.path(key), map_location="cpu", weights_only=True)["wall_time_s"]
                for key in sorted(self.used)
            )
        )


def run_fits(
    jobs: Sequence[Job],
    train: Callable[[Job], tuple[Any, History]],
    *,
    store: FitStore | None = None,
    key_of: Callable[[Job], str] | None = None,
    make_model: Callable[[Job], Any] | None = None,
    on_done: Callable[[Job, StoredFit], None] | None = None,
) -> list[StoredFit]:
    """Run every job's fit once, in order, reusing stored fits.

    Without a store, each job is trained in turn. With one, a job whose fit is stored is
    loaded; a job another process is training (its lock is held) is put off, and after
    the pass each put-off job waits for its lock and then loads the fit (or trains it,
    if that process died first).

    Parameters
    ----------
    jobs : sequence
        Anything that describes one fit.
    train : callable
        ``train(job) -> (model, history)``.
    store : FitStore, optional
    key_of, make_model : callable, optional
        With a store: the job's key (:meth:`FitStore.key`) and a fresh model of the
        job's architecture to load weights into.
    on_done : callable, optional
        Called with each job and its fit when it is ready (a progress bar's update).

    Returns
    -------
    list of StoredFit
        In the order of ``jobs``.
    """
    if store is not None and (key_of is None or make_model is None):
        raise ValueError("a FitStore needs key_of and make_model to find and rebuild fits.")
    results: list[StoredFit | None] = [None] * len(jobs)

    def fresh(job: Job) -> StoredFit:
        started = time.perf_counter()
        model, history = train(job)
        return StoredFit(model, history, time.perf_counter() - started, False)

    def finish(index: int, fit: StoredFit) -> None:
        results[index] = fit
        if on_done is not None:
            on_done(jobs[index], fit)

    def claimed(index: int, wait: bool) -> StoredFit:
        job = jobs[index]
        key = key_of(job)
        with exclusive_lock(store.folder / "locks" / key, wait=wait):
            stored = store.load(key, lambda: make_model(job))  # finished meanwhile?
            if stored is not None:
                return stored
            fit = fresh(job)
            store.save(key, fit.model, fit.history, fit.wall_time_s)
            return fit

    put_off = []
    for index, job in enumerate(jobs):
        if store is None:
            finish(index, fresh(job))
            continue
        stored = store.load(key_of(job), lambda job=job: make_model(job))
        if stored is not None:
            finish(index, stored)
            continue
        try:
            finish(index, claimed(index, wait=False))
        except LockHeld:
            put_off.append(index)
    for index in put_off:
        finish(index, claimed(index, wait=True))
    return [fit for fit in results if fit is not None]
