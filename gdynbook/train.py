"""Train an encoder with the VAMP loss; predict state probabilities; checkpoints.

:func:`fit` runs Adam over time-lagged pairs. Each step passes the frames at t and at
t + τ through the network as *one* batch (so batch normalisation sees both halves
together), splits the output and minimises −VAMP. Progress shows the running training
and validation VAMP-2; training stops early when the validation score has not improved
for ``patience`` epochs, and the best weights are restored.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gdynbook import __version__, config
from gdynbook.cache import atomic_torch_save
from gdynbook.dataset import TrajectoryDataset, batches
from gdynbook.trajectory import Trajectory, check_trajectory_list
from gdynbook.vamp import vamp_loss, vamp_score

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
    out = model(_to_device(batch, device))  # (2B, n_targets, n_states)
    b = items_0.shape[0]
    n_states = out.shape[-1]
    return out[:b].reshape(-1, n_states), out[b:].reshape(-1, n_states)


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
    """VAMP score of ``pairs`` in eval mode, from all probabilities at once."""
    if len(pairs) == 0:
        return float("nan")
    model.eval()
    chi_0, chi_t = [], []
    with torch.no_grad():
        for items in batches(pairs, batch_size, None):
            a, b = _joint_forward(model, stores, items, _shift(items, lag_frames), device)
            chi_0.append(a.double().cpu())
            chi_t.append(b.double().cpu())
    return float(vamp_score(torch.cat(chi_0), torch.cat(chi_t), method=method))


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
) -> History:
    """Train ``model`` (a GDyNet or CoordinateVAMPNet) with the VAMP loss.

    Parameters
    ----------
    model : torch.nn.Module
        Has ``prepare(trajectories)`` and ``collate(stores, items)``.
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
        Stop when validation VAMP-2 has not improved for this many epochs.
    epsilon : float
        Regularisation of the VAMP covariance inverses.
    pairs_per_epoch : int, optional
        Train each epoch on a fresh random subset of this many pairs (all pairs when
        None): on long, redundant trajectories an epoch need not see every frame.

    Returns
    -------
    History

    Raises
    ------
    TrainingError
        When the loss becomes NaN or infinite.
    ValueError
        When the lag leaves no training pairs.
    """
    if not isinstance(dataset, TrajectoryDataset):
        dataset = TrajectoryDataset(check_trajectory_list(dataset), validation_fraction=0.1)
    dataset.check_lag(lag_frames)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = resolve_device(device)
    model.to(device)
    stores = model.prepare(dataset.trajectories, progress=progress)
    train_pairs = dataset.pairs("train", lag_frames)
    validation_pairs = dataset.pairs("validation", lag_frames)
    if batch_size > len(train_pairs):
        batch_size = len(train_pairs)
    stages = schedule or [Stage(n_epochs=n_epochs, lr=lr, loss=loss)]
    history = History(lag_frames=lag_frames, seed=seed)
    best_score, best_state, since_best = -np.inf, None, 0
    from tqdm.auto import tqdm

    total = sum(stage.n_epochs for stage in stages)
    bar = tqdm(total=total, desc="training", unit="epoch", disable=not progress)
    for stage_index, stage in enumerate(stages):
        optimizer = torch.optim.Adam(model.parameters(), lr=stage.lr)
        for _epoch in range(stage.n_epochs):
            model.train()
            scores = []
            epoch_pairs = train_pairs
            if pairs_per_epoch is not None and pairs_per_epoch < len(train_pairs):
                chosen = rng.choice(len(train_pairs), size=pairs_per_epoch, replace=False)
                epoch_pairs = train_pairs[chosen]
            for items in batches(epoch_pairs, batch_size, rng):
                if len(items) < 2:
                    continue
                chi_0, chi_t = _joint_forward(
                    model, stores, items, _shift(items, lag_frames), device
                )
                value = vamp_loss(chi_0, chi_t, method=stage.loss, epsilon=epsilon)
                if not torch.isfinite(value):
                    raise TrainingError(
                        f"the {stage.loss} loss became {value.item()} in epoch "
                        f"{len(history.train_score) + 1}: lower the learning rate (now "
                        f"{stage.lr:g}), use a larger batch (now {batch_size} pairs) or a "
                        f"larger epsilon (now {epsilon:g})."
                    )
                optimizer.zero_grad()
                value.backward()
                optimizer.step()
                scores.append(
                    -value.item()
                    if stage.loss == "VAMP2"
                    else vamp_score(chi_0.detach(), chi_t.detach()).item()
                )
            history.train_score.append(float(np.mean(scores)))
            history.stage.append(stage_index)
            try:
                validation = evaluate(model, stores, validation_pairs, lag_frames, device)
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
            if patience is not None and since_best >= patience:
                history.stopped_early = True
                break
        if history.stopped_early:
            break
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
