"""Train an encoder with the VAMP loss; predict state probabilities; checkpoints.

:func:`fit` runs Adam over time-lagged pairs. Each step passes the frames at t and at
t + τ through the network as *one* batch (so batch normalisation sees both halves
together), splits the output and minimises −VAMP. Progress shows the running training
and validation VAMP-2; a stage stops early when the validation score has not improved
for ``patience`` epochs (the next stage of a schedule starts from the best weights so
far), and the best weights of all stages are restored at the end.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gdynbook import __version__, config
from gdynbook.cache import atomic_torch_save
from gdynbook.dataset import TrajectoryDataset, batches
from gdynbook.trajectory import Trajectory, check_trajectory_list
from gdynbook.vamp import vamp_score

CHECKPOINT_FORMAT = 1


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a NaN loss); the message says what to change."""


@dataclass(frozen=True)
class TrainingSettings:
    """How to train (not what to train): the options of :func:`fit` a job chooses.

    Attributes
    ----------
    n_epochs : int
        Passes over the training pairs (fewer when early stopping ends training).
    batch_size : int
        Time-lagged pairs per optimiser step.
    lr : float
        Adam learning rate.
    patience : int, optional
        Stop when validation VAMP-2 has not improved for this many epochs (None: never).
    pairs_per_epoch : int, optional
        Train each epoch on a random subset of this many pairs (None: all).
    """

    n_epochs: int = 20
    batch_size: int = 256
    lr: float = 5e-4
    patience: int | None = 10
    pairs_per_epoch: int | None = None

    def fit_options(self) -> dict[str, Any]:
        """These settings as keyword arguments of :func:`fit`."""
        return asdict(self)


@dataclass
class Stage:
    """One stage of a training schedule."""

    n_epochs: int
    lr: float = 5e-4
    loss: str = "VAMP2"


@dataclass
class History:
    """Scores per epoch (VAMP-2, +1 convention) and what training did."""

    train_score: list[float] = field(default_factory=list)
    validation_score: list[float] = field(default_factory=list)
    stage: list[int] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False
    lag_frames: int = 0
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: :func:`gdynbook.config.device` (CUDA when available, else CPU)."""
    if str(device) == "auto":
        return torch.device(config.device())
    return torch.device(device)


def _to_device(batch: Any, device: torch.device) -> Any:
    return batch.to(device)


def _joint_forward(
    model: torch.nn.Module,
    stores: list,
    items_0: np.ndarray,
    items_t: np.ndarray,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward t and t+τ frames as one batch; return (samples, n_states) for each half."""
    batch = model.collate(stores, np.concatenate([items_0, items_t]))
    return _forward_pairs(model, batch, items_0.shape[0], device)


def _forward_pairs(
    model: torch.nn.Module, batch: Any, n_pairs: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The model on a collated batch of ``n_pairs`` t-frames then their t+τ frames."""
    out = model(_to_device(batch, device))  # (2B, n_targets, n_states)
    n_states = out.shape[-1]
    return out[:n_pairs].reshape(-1, n_states), out[n_pairs:].reshape(-1, n_states)


class PairBatches(torch.utils.data.Dataset):
    """Collated batches of time-lagged pairs, for a :class:`torch.utils.data.DataLoader`.

    Indexed by an (n, 2) array of (trajectory, frame) items: returns the batch of those
    frames followed by the frames ``lag_frames`` later. The batch order is chosen in the
    main process (the sampler yields the item arrays); workers only read and collate.
    The stores travel to workers as they pickle — graphs on disk
    (:class:`~gdynbook.graph_store.ChunkedGraphs`) as folder names, opened there.
    """

    def __init__(self, collate: Any, stores: list, lag_frames: int) -> None:
        self.collate = collate
        self.stores = stores
        self.lag_frames = lag_frames

    def __getitem__(self, items: np.ndarray) -> Any:
        return self.collate(self.stores, np.concatenate([items, _shift(items, self.lag_frames)]))


def _loaded_batches(
    model: torch.nn.Module,
    stores: list,
    lag_frames: int,
    steps: list[tuple[int, np.ndarray]],
    workers: int,
) -> Iterator[tuple[int, np.ndarray, Any]]:
    """(step, items, collated batch) for ``steps``, collated here or by ``workers``."""
    if workers <= 0:
        for step, items in steps:
            yield (
                step,
                items,
                model.collate(stores, np.concatenate([items, _shift(items, lag_frames)])),
            )
        return
    loader = torch.utils.data.DataLoader(
        PairBatches(model.collate, stores, lag_frames),
        batch_size=None,  # each sampled element is already a batch of items
        sampler=[items for _, items in steps],
        num_workers=workers,
        prefetch_factor=4,
    )
    for (step, items), batch in zip(steps, loader, strict=True):
        yield step, items, batch


def _shift(items: np.ndarray, lag_frames: int) -> np.ndarray:
    shifted = items.copy()
    shifted[:, 1] += lag_frames
    return shifted


def evaluate(
    model: torch.nn.Module,
    stores: list,
    pairs: np.ndarray,
    lag_frames: int,
    device: torch.device,
    batch_size: int = 1024,
    method: str = "VAMP2",
) -> float:
    """VAMP score of ``pairs`` in eval mode, from all probabilities at once.

    Inside :func:`gdynbook.distributed.data_parallel` each process scores its share of
    the pairs and the score is that of all of them (all-reduced covariance sums).
    """
    from gdynbook import distributed

    if len(pairs) == 0:
        return float("nan")
    parallel = distributed.world_size() > 1
    if parallel:
        pairs = pairs[distributed.rank() :: distributed.world_size()]
    model.eval()
    chi_0, chi_t = [], []
    with torch.no_grad():
        for items in batches(pairs, batch_size, None):
            a, b = _joint_forward(model, stores, items, _shift(items, lag_frames), device)
            chi_0.append(a.double().cpu())
            chi_t.append(b.double().cpu())
        if parallel:
            n_states = chi_0[0].shape[-1] if chi_0 else model.hyperparameters()["n_states"]
            x = torch.cat(chi_0) if chi_0 else torch.zeros((0, n_states), dtype=torch.float64)
            y = torch.cat(chi_t) if chi_t else torch.zeros((0, n_states), dtype=torch.float64)
            return float(distributed.vamp_score(x, y, method=method))
    return float(vamp_score(torch.cat(chi_0), torch.cat(chi_t), method=method))


class TrainingInterrupted(Exception):
    """Training stopped on SIGINT/SIGTERM after saving a checkpoint it can resume from.

    Attributes
    ----------
    signal_number : int
        The signal that stopped it (``signal.SIGINT`` or ``signal.SIGTERM``).
    epoch : int
        Epochs completed before the interruption.
    checkpoint : pathlib.Path or None
        The training checkpoint written, when ``fit`` had one.
    """

    def __init__(self, signal_number: int, epoch: int, checkpoint: Path | None) -> None:
        self.signal_number = signal_number
        self.epoch = epoch
        self.checkpoint = checkpoint
        where = f"; resume from {checkpoint}" if checkpoint is not None else ""
        super().__init__(f"interrupted at epoch {epoch + 1}{where}")

    @property
    def exit_code(self) -> int:
        """128 + the signal number: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + int(self.signal_number)


#: Version of the training-checkpoint layout (``fit(checkpoint=...)``).
TRAINING_CHECKPOINT_FORMAT = 1


class _StopFlag:
    """SIGINT/SIGTERM handlers that ask training to stop after the current step.

    The first signal sets the flag and restores the previous handlers, so a second
    Ctrl-C interrupts at once (the last good checkpoint stays intact: every checkpoint
    is written atomically).
    """

    def __init__(self, active: bool) -> None:
        self.signal_number: int | None = None
        self._previous: dict[int, Any] = {}
        self._active = active

    def __enter__(self) -> _StopFlag:
        import signal
        import threading

        if self._active and threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, number: int, _frame: Any) -> None:
        self.signal_number = number
        self._restore()

    def _restore(self) -> None:
        import signal

        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def __exit__(self, *exc: object) -> None:
        self._restore()


def _fingerprint(values: dict[str, Any]) -> str:
    from gdynbook.cache import cache_key

    return cache_key(values)


def fit(
    model: torch.nn.Module,
    dataset: TrajectoryDataset | list[Trajectory],
    *,
    lag_frames: int,
    n_epochs: int = 20,
    batch_size: int = 256,
    lr: float = 5e-4,
    loss: str = "VAMP2",
    schedule: list[Stage] | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    patience: int | None = 10,
    epsilon: float = 1e-6,
    pairs_per_epoch: int | None = None,
    progress: bool = True,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every_s: float | None = None,
    resume: bool = False,
    handle_signals: bool = False,
    on_step: Any = None,
    workers: int = 0,
) -> History:
    """Train ``model`` (a GDyNet or CoordinateVAMPNet) with the VAMP loss.

    Parameters
    ----------
    model : torch.nn.Module
        An :class:`~gdynbook.model.Encoder`: has ``prepare`` and ``collate``.
    dataset : TrajectoryDataset or list of Trajectory
        Training data and splits (a list is split with 10 % validation).
    lag_frames : int
        Training lag τ in frames — a modelling choice, never inferred.
    n_epochs, lr, loss : int, float, str
        A single stage; ignored when ``schedule`` is given.
    batch_size : int
        Pairs per step (each pair contributes every target atom twice).
    schedule : list of Stage, optional
        Several stages, e.g. VAMP-2 then VAMP-E.
    device : str
        ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda"``.
    seed : int
        Seeds torch and the batch order; the same seed gives the same numbers on CPU.
    patience : int, optional
        End a stage when validation VAMP-2 has not improved for this many epochs; a
        following stage starts from the best weights so far, with its own patience.
    epsilon : float
        Regularisation of the VAMP covariance inverses.
    pairs_per_epoch : int, optional
        Train each epoch on a fresh random subset of this many pairs (all pairs when
        None): on long, redundant trajectories an epoch need not see every frame.
    checkpoint : path, optional
        Write the whole training state here (model, optimiser, stage and epoch,
        early-stopping state, history, random-number states, the current epoch's batch
        order) after every epoch, atomically.
    checkpoint_every_s : float, optional
        Also write it within an epoch when this many seconds have passed since the last.
    resume : bool
        Continue from ``checkpoint`` if it exists. Resumed equals uninterrupted: with
        the same seed and thread count the final parameters are the same. A checkpoint
        of other data or settings is refused.
    handle_signals : bool
        On SIGINT/SIGTERM finish the current step, write the checkpoint and raise
        :class:`TrainingInterrupted`; a second signal interrupts at once.
    on_step : callable, optional
        Called as ``on_step(epoch, step, loss)`` after every optimiser step.
    workers : int
        Worker processes that build the graphs and collate batches (a
        :class:`torch.utils.data.DataLoader`); 0: all in this process. The result does
        not depend on it.

    Returns
    -------
    History

    Raises
    ------
    TrainingError
        When the loss becomes NaN or infinite.
    TrainingInterrupted
        On SIGINT/SIGTERM with ``handle_signals``.
    ValueError
        When the lag leaves no training pairs, or a checkpoint to resume does not
        belong to this training.
    """
    import random
    import signal as signal_module
    import time

    from gdynbook import distributed

    world, rank = distributed.world_size(), distributed.rank()
    if not isinstance(dataset, TrajectoryDataset):
        dataset = TrajectoryDataset(check_trajectory_list(dataset), validation_fraction=0.1)
    dataset.check_lag(lag_frames)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = resolve_device(device)
    model.to(device)
    if workers < 0:
        raise ValueError(f"workers must be ≥ 0, got {workers}.")
    stores = model.prepare(dataset.trajectories, progress=progress, workers=workers)
    train_pairs = dataset.pairs("train", lag_frames)
    validation_pairs = dataset.pairs("validation", lag_frames)
    if batch_size > len(train_pairs):
        batch_size = len(train_pairs)
    if batch_size < 2 * world:
        raise ValueError(
            f"a batch of {batch_size} pairs cannot be shared by {world} processes: use at "
            f"least {2 * world} pairs per batch."
        )
    if pairs_per_epoch is not None and pairs_per_epoch < 2 * world:
        raise ValueError(
            f"pairs_per_epoch={pairs_per_epoch} leaves no batch to train on: use at least "
            f"{2 * world}."
        )
    n_targets = dataset.trajectories[0].n_targets
    n_states = int(model.hyperparameters().get("n_states", 2))
    stages = schedule or [Stage(n_epochs=n_epochs, lr=lr, loss=loss)]
    history = History(lag_frames=lag_frames, seed=seed)
    best_score, best_state, since_best = -np.inf, None, 0
    path = None if checkpoint is None else Path(checkpoint)
    fingerprint = _fingerprint(
        {
            "lag_frames": lag_frames,
            "batch_size": batch_size,
            "stages": [asdict(stage) for stage in stages],
            "seed": seed,
            "patience": patience,
            "epsilon": epsilon,
            "pairs_per_epoch": pairs_per_epoch,
            "train_pairs": train_pairs,
            "validation_pairs": validation_pairs,
            "model_class": type(model).__name__,
            "hyperparameters": model.hyperparameters(),
        }
    )
    # where training stands: stage, epoch within it, and within an epoch its batch order
    stage_index, epoch_in_stage, step = 0, 0, 0
    epoch_items: np.ndarray | None = None
    epoch_scores: list[float] = []
    optimizer_state = None
    if resume and path is not None and path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=False)
        written_by = state.get("gdynbook_version")
        if written_by is not None and written_by != __version__:
            # the fingerprint includes the version (a cache key): say so, not "other data"
            raise ValueError(
                f"{path} was written by gdynbook {written_by}, this is {__version__}: resume "
                f"with gdynbook {written_by}, or start afresh in a new run directory."
            )
        if (
            state.get("format") != TRAINING_CHECKPOINT_FORMAT
            or state.get("fingerprint") != fingerprint
        ):
            raise ValueError(
                f"{path} belongs to another training (other data, lag, model or settings): "
                "resume with the settings and files it was started with, or start afresh "
                "in a new run directory."
            )
        model.load_state_dict(state["model"])
        optimizer_state = state["optimizer"]
        stage_index, epoch_in_stage, step = state["stage"], state["epoch"], state["step"]
        epoch_items, epoch_scores = state["epoch_items"], list(state["epoch_scores"])
        best_score, best_state, since_best = state["best"]
        history = History(**state["history"])
        rng.bit_generator.state = state["rng_numpy"]
        torch.set_rng_state(state["rng_torch"])
        random.setstate(state["rng_python"])

    def save_state() -> None:
        if path is None or rank != 0:  # one process writes
            return
        atomic_torch_save(
            {
                "format": TRAINING_CHECKPOINT_FORMAT,
                "fingerprint": fingerprint,
                "gdynbook_version": __version__,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "stage": stage_index,
                "epoch": epoch_in_stage,
                "step": step,
                "epoch_items": epoch_items,
                "epoch_scores": epoch_scores,
                "best": (best_score, best_state, since_best),
                "history": history.to_dict(),
                "rng_numpy": rng.bit_generator.state,
                "rng_torch": torch.get_rng_state(),
                "rng_python": random.getstate(),
            },
            path,
        )

    from tqdm.auto import tqdm

    total = sum(stage.n_epochs for stage in stages)
    bar = tqdm(
        total=total,
        initial=len(history.train_score),
        desc="training",
        unit="epoch",
        disable=not progress,
    )
    last_save = time.monotonic()
    # one code path for one process and many: all-reduced VAMP sums and batch-norm
    # statistics (a world of one when no process group is set up)
    with _StopFlag(handle_signals) as stop, distributed.data_parallel(distributed.group()):
        while stage_index < len(stages):
            stage = stages[stage_index]
            stage_done = False
            optimizer = torch.optim.Adam(model.parameters(), lr=stage.lr)
            if optimizer_state is not None:
                optimizer.load_state_dict(optimizer_state)
                optimizer_state = None
            while epoch_in_stage < stage.n_epochs:
                model.train()
                if epoch_items is None:
                    epoch_pairs = train_pairs
                    if pairs_per_epoch is not None and pairs_per_epoch < len(train_pairs):
                        chosen = rng.choice(len(train_pairs), size=pairs_per_epoch, replace=False)
                        epoch_pairs = train_pairs[chosen]
                    epoch_items = epoch_pairs[rng.permutation(len(epoch_pairs))]
                    step, epoch_scores = 0, []
                # the remaining steps of this epoch (a resumed epoch starts mid-way);
                # every process skips the same too-short last batch
                steps = []
                for index in range(step, -(-len(epoch_items) // batch_size)):
                    items = epoch_items[index * batch_size : (index + 1) * batch_size]
                    if len(items) < 2 * world or len(items) * n_targets <= n_states:
                        continue
                    steps.append((index + 1, items[rank::world] if world > 1 else items))
                if not steps:
                    step = -(-len(epoch_items) // batch_size)
                for step, items, batch in _loaded_batches(
                    model, stores, lag_frames, steps, workers
                ):
                    chi_0, chi_t = _forward_pairs(model, batch, len(items), device)
                    value = -distributed.vamp_score(
                        chi_0, chi_t, method=stage.loss, epsilon=epsilon
                    )
                    if not torch.isfinite(value):
                        raise TrainingError(
                            f"the {stage.loss} loss became {value.item()} in epoch "
                            f"{len(history.train_score) + 1}: lower the learning rate (now "
                            f"{stage.lr:g}), use a larger batch (now {batch_size} pairs) or a "
                            f"larger epsilon (now {epsilon:g})."
                        )
                    optimizer.zero_grad()
                    distributed.share(value).backward()
                    distributed.sum_gradients(model)
                    optimizer.step()
                    if stage.loss == "VAMP2":
                        epoch_scores.append(-value.item())
                    else:
                        epoch_scores.append(
                            distributed.vamp_score(chi_0.detach(), chi_t.detach()).item()
                        )
                    if on_step is not None:
                        on_step(len(history.train_score), step, value.item())
                    due = (
                        checkpoint_every_s is not None
                        and time.monotonic() - last_save >= checkpoint_every_s
                    )
                    if world > 1:  # every process stops, and saves, at the same step
                        due = distributed.any_process(due)
                        if distributed.any_process(stop.signal_number is not None):
                            stop.signal_number = stop.signal_number or signal_module.SIGTERM
                    if stop.signal_number is not None or due:
                        save_state()
                        last_save = time.monotonic()
                    if stop.signal_number is not None:
                        distributed.barrier()  # the checkpoint is whole before anyone exits
                        bar.close()
                        raise TrainingInterrupted(
                            stop.signal_number, len(history.train_score), path
                        )
                history.train_score.append(float(np.mean(epoch_scores)))
                history.stage.append(stage_index)
                try:
                    validation = evaluate(
                        model, stores, validation_pairs, lag_frames, device, batch_size=batch_size
                    )
                except ValueError as exc:
                    raise TrainingError(
                        f"the model's outputs became NaN or infinite in epoch "
                        f"{len(history.train_score)} ({exc}): lower the learning rate (now "
                        f"{stage.lr:g}) or use a larger batch (now {batch_size} pairs)."
                    ) from exc
                history.validation_score.append(validation)
                monitored = validation if np.isfinite(validation) else history.train_score[-1]
                if monitored > best_score:
                    best_score, since_best = monitored, 0
                    best_state = copy.deepcopy(model.state_dict())
                    history.best_epoch = len(history.train_score) - 1
                else:
                    since_best += 1
                bar.update(1)
                bar.set_postfix_str(
                    f"train VAMP-2 {history.train_score[-1]:.3f}, validation {validation:.3f}"
                )
                epoch_in_stage += 1
                epoch_items, step, epoch_scores = None, 0, []
                if patience is not None and since_best >= patience:
                    # patience ends this stage only: the next one starts from the best
                    # weights so far with its own patience (a schedule is not cut short)
                    history.stopped_early = stage_done = True
                    epoch_in_stage = stage.n_epochs
                    if best_state is not None:
                        model.load_state_dict(best_state)
                    since_best = 0
                save_state()
                last_save = time.monotonic()
                if world > 1 and distributed.any_process(stop.signal_number is not None):
                    stop.signal_number = stop.signal_number or signal_module.SIGTERM
                if stop.signal_number is not None:
                    distributed.barrier()  # the checkpoint is whole before anyone exits
                    bar.close()
                    raise TrainingInterrupted(stop.signal_number, len(history.train_score), path)
                if stage_done:
                    break
            stage_index += 1
            epoch_in_stage = 0
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


def predict(
    model: torch.nn.Module,
    trajectories: list[Trajectory] | Trajectory,
    batch_size: int = 512,
    device: str | torch.device = "auto",
    progress: bool = False,
) -> list[np.ndarray]:
    """State probabilities of every frame, (frames, n_targets, n_states) per trajectory.

    Runs in eval mode (batch normalisation uses its running statistics).
    """
    runs = check_trajectory_list(trajectories)
    device = resolve_device(device)
    model.to(device)
    model.eval()
    stores = model.prepare(runs, progress=progress)
    out = []
    with torch.no_grad():
        for index, traj in enumerate(runs):
            items = np.stack([np.full(traj.n_frames, index), np.arange(traj.n_frames)], axis=1)
            parts = [
                model(_to_device(model.collate(stores, chunk), device)).cpu().numpy()
                for chunk in batches(items, batch_size, None)
            ]
            out.append(np.concatenate(parts).astype(np.float64))
    return out


# ---------------------------------------------------------------------- checkpoints
#: Keys every checkpoint's "extra" has (values may be ``None`` when a migrated old
#: checkpoint did not record them): the training lag in frames, the time between
#: frames (ps) and the lag in ps.
EXTRA_KEYS = ("lag_frames", "time_step_ps", "lag_ps")


def checkpoint_extra(
    lag_frames: int | None, time_step_ps: float | None, **more: Any
) -> dict[str, Any]:
    """The "extra" of a checkpoint in the one schema every job writes.

    ``lag_ps`` is derived (``lag_frames × time_step_ps``) when both are known; ``more``
    adds job-specific entries (a training history, say).
    """
    lag_ps = None
    if lag_frames is not None and time_step_ps is not None:
        lag_ps = float(lag_frames) * float(time_step_ps)
    extra = {
        "lag_frames": None if lag_frames is None else int(lag_frames),
        "time_step_ps": None if time_step_ps is None else float(time_step_ps),
        "lag_ps": lag_ps,
    }
    clash = set(more) & set(extra)
    if clash:
        raise ValueError(f"pass {sorted(clash)} as arguments, not in **more.")
    return {**extra, **more}


def migrate_extra(extra: dict[str, Any]) -> dict[str, Any]:
    """Bring the "extra" of an older checkpoint into the schema of :func:`checkpoint_extra`.

    Older forms: ``{"lag": frames, "history": ...}`` (toy models), ``{"lag_ps": ps}``
    (PEO models), ``{"lag_frames": f, "time_step_ps": dt}`` (own-data runs). The
    original keys that were renamed are dropped; ``migrated_from`` names the old form.
    """
    if all(key in extra for key in EXTRA_KEYS):
        return dict(extra)
    values = dict(extra)
    if "lag" in values and "lag_frames" not in values:
        values["lag_frames"] = values.pop("lag")
        form = "lag (frames)"
    elif "lag_frames" in values:
        form = "lag_frames + time_step_ps"
    elif "lag_ps" in values:
        form = "lag_ps"
    else:
        form = "no lag recorded"
    lag_frames = values.pop("lag_frames", None)
    time_step_ps = values.pop("time_step_ps", None)
    lag_ps = values.pop("lag_ps", None)
    migrated = checkpoint_extra(lag_frames, time_step_ps, **values)
    if migrated["lag_ps"] is None and lag_ps is not None:
        migrated["lag_ps"] = float(lag_ps)
    migrated["migrated_from"] = form
    return migrated


def save(
    model: torch.nn.Module, path: str | os.PathLike[str], extra: dict[str, Any] | None = None
) -> Path:
    """Write a checkpoint: weights, hyper-parameters, model class, gdynbook version.

    ``extra`` should come from :func:`checkpoint_extra` (older forms are migrated by
    :func:`load`). The file is written atomically.
    """
    payload = {
        "format": CHECKPOINT_FORMAT,
        "gdynbook_version": __version__,
        "model_class": type(model).__name__,
        "hyperparameters": model.hyperparameters(),
        "state_dict": model.state_dict(),
        "extra": json.loads(json.dumps(extra or {}, default=str)),
    }
    return atomic_torch_save(payload, path)


def load(path: str | os.PathLike[str], backend: str = "torch") -> tuple[torch.nn.Module, dict]:
    """Read a checkpoint written by :func:`save`; return the model (eval mode) and extras.

    The model class is looked up in the encoder registry
    (:func:`gdynbook.model.encoder_class`); the extras come back in the schema of
    :func:`checkpoint_extra`, older forms migrated (:func:`migrate_extra`).

    Raises
    ------
    ValueError
        For a file that is not a gdynbook checkpoint or comes from an incompatible version.
    """
    from gdynbook.model import GDyNet, encoder_class

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"{path} is not a readable gdynbook checkpoint ({exc}).") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        version = payload.get("gdynbook_version", "?") if isinstance(payload, dict) else "?"
        raise ValueError(
            f"{path} is not a gdynbook checkpoint of format {CHECKPOINT_FORMAT} (found "
            f"{found}, written by gdynbook {version}). Retrain the model with this version."
        )
    try:
        cls = encoder_class(payload["model_class"])
    except KeyError as exc:
        raise ValueError(
            f"{path} holds an unknown model class {payload['model_class']!r}."
        ) from exc
    kwargs = dict(payload["hyperparameters"])
    if cls is GDyNet:
        kwargs["backend"] = backend
    model = cls(**kwargs)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise ValueError(f"{path} does not match its model's layers: {exc}") from exc
    model.eval()
    return model, migrate_extra(payload.get("extra", {}))
