"""What every job shares: seeded training and the files of a run directory.

A job trains an encoder and writes checkpoints, arrays, JSON and figures. Here each of
those steps exists once:

* :func:`train_seeded` — seed torch (so the initial weights follow the seed), build the
  encoder, train it with :func:`gdynbook.train.fit`;
* :func:`save_checkpoint` — a checkpoint whose "extra" follows the one schema of
  :func:`gdynbook.train.checkpoint_extra` (``lag_frames``, ``time_step_ps``, ``lag_ps``);
* :func:`write_json`, :func:`write_arrays`, :func:`write_figure` — atomic writes (see
  :mod:`gdynbook.cache`): an interrupted job never leaves half a file;
  :func:`json_numbers` makes arrays JSON-ready (NaN as null).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gdynbook.cache import atomic_savefig, atomic_savez, atomic_write_json
from gdynbook.dataset import TrajectoryDataset
from gdynbook.train import History, TrainingSettings, checkpoint_extra, fit, save


def train_seeded(
    make_encoder: Callable[[], torch.nn.Module],
    dataset: TrajectoryDataset,
    lag_frames: int,
    settings: TrainingSettings,
    *,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    **fit_options: Any,
) -> tuple[torch.nn.Module, History]:
    """Seed torch, build an encoder with ``make_encoder()`` and train it.

    The same seed gives the same initial weights, batch order and result on CPU.
    ``fit_options`` go to :func:`gdynbook.train.fit` (``checkpoint``, ``resume``,
    ``handle_signals`` …).

    Returns
    -------
    (model, history)
    """
    torch.manual_seed(seed)
    model = make_encoder()
    history = fit(
        model,
        dataset,
        lag_frames=lag_frames,
        seed=seed,
        device=device,
        progress=progress,
        **settings.fit_options(),
        **fit_options,
    )
    return model, history


def save_checkpoint(
    model: torch.nn.Module,
    path: str | os.PathLike[str],
    *,
    lag_frames: int,
    time_step_ps: float,
    **more: Any,
) -> Path:
    """Write a checkpoint with the standard extras (lag in frames and ps, time step)."""
    return save(model, path, extra=checkpoint_extra(lag_frames, time_step_ps, **more))


def json_numbers(values: Any) -> Any:
    """Numbers (any depth of nesting) as JSON-ready floats, NaN and inf as None."""
    if np.ndim(values):
        return [json_numbers(v) for v in values]
    return float(values) if np.isfinite(values) else None


def write_json(path: str | os.PathLike[str], values: Any) -> Path:
    """Write JSON (indented, a final newline) atomically."""
    return atomic_write_json(path, values)


def write_arrays(path: str | os.PathLike[str], **arrays: np.ndarray) -> Path:
    """Write arrays to a compressed ``.npz`` atomically."""
    return atomic_savez(path, compress=True, **arrays)


def write_figure(figure: Any, path: str | os.PathLike[str]) -> Path:
    """Save a matplotlib figure atomically (120 dpi, tight) and close it."""
    import matplotlib.pyplot as plt

    try:
        return atomic_savefig(figure, path)
    finally:
        plt.close(figure)
