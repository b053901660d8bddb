"""Your own trajectories: train a GDyNet into a run directory, then analyse it.

These are the ``gdynbook train`` and ``gdynbook analyze`` commands as functions:

* :func:`train_run` — trajectories → graphs → VAMP training → ``RUN_DIR`` with the
  checkpoint (``model.pt``), ``config.json``, ``training.png`` and ``predictions.npz``
  (state probabilities per trajectory, frame and target);
* :func:`analyze_run` — ``RUN_DIR`` → implied timescales with bootstrap intervals over a
  range of lags, the Chapman–Kolmogorov test, populations and eigenvectors →
  figures and ``summary.json``.

Units: ps, Å.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gdynbook.jobs.rundir import (
    save_checkpoint,
    train_seeded,
    write_arrays,
    write_figure,
    write_json,
)
from gdynbook.trajectory import Trajectory, check_trajectory_list, lag_in_frames

PREDICTIONS = "predictions.npz"
CONFIG = "config.json"
#: Version of the run-directory layout; ``analyze`` refuses other versions.
RUN_FORMAT = 1
CHECKPOINT = "model.pt"
SUMMARY = "summary.json"


def train_run(
    trajectories: Sequence[Trajectory],
    output: str | Path,
    *,
    n_states: int,
    lag_ps: float,
    n_neighbors: int = 12,
    cutoff: float = 7.0,
    n_conv: int = 3,
    atom_fea_len: int = 16,
    h_fea_len: int = 16,
    node_selection: str | list[int] | None = None,
    n_epochs: int = 20,
    batch_size: int = 256,
    lr: float = 5e-3,
    pairs_per_epoch: int | None = None,
    validation_fraction: float = 0.1,
    seed: int = 0,
    device: str = "auto",
    backend: str = "torch",
    sources: Sequence[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train a GDyNet on ``trajectories`` and write the run directory.

    Parameters
    ----------
    trajectories : list of Trajectory
        Independent trajectories of one system (same atoms, same targets).
    output : path
        The run directory (created; existing files are replaced).
    n_states : int
        Number of states.
    lag_ps : float
        Training lag τ, ps — a modelling choice: pick it above the fast, uninteresting
        motions and below the processes you want to see.
    node_selection : None, "heavy" or list of int
        Atoms allowed as graph nodes besides the targets.
    Other parameters
        As in :class:`~gdynbook.model.GDyNet` and :func:`~gdynbook.train.fit`.

    Returns
    -------
    dict
        The configuration written to ``config.json`` (with the validation VAMP-2).
    """
    from gdynbook.dataset import TrajectoryDataset
    from gdynbook.model import GDyNet, GDyNetConfig
    from gdynbook.plots import plot_training_history
    from gdynbook.train import TrainingSettings, predict

    runs = check_trajectory_list(list(trajectories))
    dt = runs[0].time_step_ps
    lag_frames = lag_in_frames(lag_ps, dt, "training lag")
    dataset = TrajectoryDataset(runs, validation_fraction=validation_fraction)
    dataset.check_lag(lag_frames)
    encoder = GDyNetConfig(
        n_states=n_states,
        atom_fea_len=atom_fea_len,
        h_fea_len=h_fea_len,
        n_conv=n_conv,
        n_neighbors=n_neighbors,
        cutoff=cutoff,
        node_selection=node_selection,
    )
    settings = TrainingSettings(
        n_epochs=n_epochs, batch_size=batch_size, lr=lr, pairs_per_epoch=pairs_per_epoch
    )
    try:
        model, history = train_seeded(
            lambda: GDyNet(encoder, backend=backend),
            dataset,
            lag_frames,
            settings,
            seed=seed,
            device=device,
            progress=progress,
        )
        probabilities = predict(model, runs, device=device, progress=progress)
    except (RuntimeError, MemoryError) as exc:
        if "out of memory" in str(exc).lower() or isinstance(exc, MemoryError):
            raise MemoryError(
                f"training ran out of memory ({exc}): use a smaller --batch-size (now "
                f"{batch_size}) or fewer --n-neighbors (now {n_neighbors})."
            ) from exc
        raise
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    validation = [v for v in history.validation_score if np.isfinite(v)]
    from gdynbook import __version__

    config = {
        "format": RUN_FORMAT,
        "gdynbook_version": __version__,
        "n_states": n_states,
        "lag_ps": lag_frames * dt,
        "lag_frames": lag_frames,
        "time_step_ps": dt,
        "n_trajectories": len(runs),
        "frames": [r.n_frames for r in runs],
        "n_atoms": runs[0].n_atoms,
        "n_targets": runs[0].n_targets,
        "sources": list(sources) if sources is not None else None,
        "model": model.hyperparameters(),
        "training": {
            "n_epochs": n_epochs,
            "batch_size": batch_size,
            "lr": lr,
            "pairs_per_epoch": pairs_per_epoch,
            "validation_fraction": validation_fraction,
            "seed": seed,
            "backend": backend,
            "split_by": dataset.split_by,
        },
        "vamp2_validation": float(history.validation_score[history.best_epoch])
        if validation
        else None,
        "best_epoch": history.best_epoch,
        "history": history.to_dict(),
    }
    save_checkpoint(model, out / CHECKPOINT, lag_frames=lag_frames, time_step_ps=dt)
    write_arrays(
        out / PREDICTIONS,
        time_step_ps=np.float64(dt),
        lag_frames=np.int64(lag_frames),
        **{f"trajectory_{i:03d}": p.astype(np.float32) for i, p in enumerate(probabilities)},
    )
    write_json(out / CONFIG, config)
    write_figure(plot_training_history(history.to_dict()).figure, out / "training.png")
    return config


def load_predictions(run_dir: str | Path) -> tuple[list[np.ndarray], float, int]:
    """State probabilities per trajectory, the time step (ps) and the training lag (frames).

    Raises
    ------
    FileNotFoundError
        If ``run_dir`` holds no predictions (run ``gdynbook train`` first).
    """
    path = Path(run_dir) / PREDICTIONS
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: {run_dir} is not a finished `gdynbook train` run."
        )
    with np.load(path) as stored:
        keys = sorted(k for k in stored.files if k.startswith("trajectory_"))
        probabilities = [stored[k].astype(np.float64) for k in keys]
        return probabilities, float(stored["time_step_ps"]), int(stored["lag_frames"])


def default_lags(time_step_ps: float, lag_frames: int, shortest_frames: int) -> np.ndarray:
    """Analysis lags (frames): a geometric series around the training lag, ≤ ¼ of the
    shortest trajectory."""
    longest = max(1, shortest_frames // 4)
    grid = np.unique(np.round(np.geomspace(1, longest, 12)).astype(int))
    return np.union1d(grid, [min(lag_frames, longest)])


def analyze_run(
    run_dir: str | Path,
    lags_ps: Sequence[float] | None = None,
    output: str | Path | None = None,
    ck_lag_ps: float | None = None,
    n_bootstrap: int = 100,
    ck_steps: int = 4,
    figures: bool = True,
) -> dict[str, Any]:
    """Implied timescales, CK test, populations and eigenvectors of a trained run.

    Parameters
    ----------
    run_dir : path
        Written by :func:`train_run`.
    lags_ps : sequence of float, optional
        Analysis lags (ps); default a geometric series up to ¼ of the shortest
        trajectory.
    ck_lag_ps : float, optional
        Lag of the Koopman model that is reported and CK-tested; default the
        training lag.
    output : path, optional
        Where to write ``summary.json`` and the figures (default ``run_dir``).
    n_bootstrap : int
        Bootstrap samples over trajectories (or time blocks of a single one).

    Returns
    -------
    dict
        The summary, also written to ``RUN_DIR/summary.json``: ``timescales_ps`` (at the
        CK lag, slowest first), ``timescales_err_ps``, ``populations``, ``lag_ps``,
        ``vamp2_validation``, ``ck_max_deviation``, ``ck_passes``,
        ``timescales_levelled_off`` and ``hints``.
    """
    from gdynbook.analysis import analyze
    from gdynbook.plots import plot_ck_test, plot_eigenvectors, plot_implied_timescales

    out = Path(run_dir)
    probabilities, dt, train_lag = load_predictions(out)
    config = json.loads((out / CONFIG).read_text()) if (out / CONFIG).is_file() else {}
    if config.get("format", RUN_FORMAT) != RUN_FORMAT:
        raise ValueError(
            f"{out} was written by gdynbook {config.get('gdynbook_version', '?')} in run format "
            f"{config.get('format')}; this version reads format {RUN_FORMAT}. Re-run "
            "`gdynbook train` with this version."
        )
    shortest = min(p.shape[0] for p in probabilities)
    ck_lag = train_lag if ck_lag_ps is None else lag_in_frames(ck_lag_ps, dt, "CK lag")
    if ck_lag * 2 >= shortest:
        raise ValueError(
            f"the CK lag of {ck_lag * dt:g} ps needs trajectories longer than "
            f"{2 * ck_lag} frames (the shortest has {shortest}): choose a shorter lag."
        )
    if lags_ps is None:
        lags = default_lags(dt, ck_lag, shortest)
    else:
        lags = np.array([lag_in_frames(t, dt, "analysis lag") for t in lags_ps])
    lags = np.union1d(lags[lags < shortest], [ck_lag])
    analysis = analyze(
        probabilities, ck_lag, dt, lags_frames=lags, ck_steps=ck_steps, n_bootstrap=n_bootstrap
    )
    its, ck, model = analysis.its, analysis.ck, analysis.model
    at = int(np.flatnonzero(its.lags_frames == ck_lag)[0])
    timescales = its.timescales_ps[at]
    hints = []
    levelled = _levelled_off(its, at)
    if not levelled:
        hints.append(
            "the slowest implied timescale still changes by more than 15 % between the "
            "CK lag and twice that lag: it has not levelled off. Analyse at a longer lag "
            "(--ck-lag-ps), and consider retraining with a longer training lag."
        )
    if not ck.passes:
        hints.append(
            "the Chapman–Kolmogorov test fails at this lag: the states are not Markovian "
            "here. Try a longer lag or a different number of states."
        )
    summary = {
        "lag_ps": ck_lag * dt,
        "training_lag_ps": train_lag * dt,
        "n_states": analysis.n_states,
        "timescales_ps": [float(t) for t in timescales],
        "timescales_err_ps": [float(e) for e in its.std_ps[at]],
        "populations": [float(p) for p in model.populations],
        "populations_err": [float(e) for e in analysis.populations_err]
        if len(analysis.population_samples) > 1
        else None,
        "vamp2_validation": config.get("vamp2_validation"),
        "ck_max_deviation": ck.max_deviation,
        "ck_passes": ck.passes,
        "timescales_levelled_off": levelled,
        "analysis_lags_ps": [float(x) for x in its.lags_ps],
        "implied_timescales_ps": [[float(t) for t in row] for row in its.timescales_ps],
        "hints": hints,
    }
    out = Path(output) if output is not None else out
    out.mkdir(parents=True, exist_ok=True)
    if figures:
        ax = plot_implied_timescales(its)
        ax.axvline(ck_lag * dt, color="0.5", ls=":")
        write_figure(ax.figure, out / "implied_timescales.png")
        write_figure(plot_ck_test(ck), out / "ck_test.png")
        write_figure(plot_eigenvectors(model), out / "eigenvectors.png")
    write_json(out / SUMMARY, summary)
    return summary


def _levelled_off(its: Any, at: int, tolerance: float = 0.15) -> bool:
    """Whether t₂ changes by less than ``tolerance`` from the lag at ``at`` to ~2× it."""
    lags = its.lags_frames
    later = np.flatnonzero(lags >= 2 * lags[at])
    if later.size == 0:
        later = np.flatnonzero(lags > lags[at])
    if later.size == 0:
        return True
    now, then = its.timescales_ps[at, 0], its.timescales_ps[later[0], 0]
    if not (np.isfinite(now) and np.isfinite(then)):
        return False
    return bool(abs(then - now) <= tolerance * now)
