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


RUN_SETTINGS = "run.json"
TRAINING_STATE = "training-state.pt"
SIMPLEX = "simplex.npz"


def system_signature(traj: Trajectory) -> dict[str, Any]:
    """What a trained model needs of a system to apply to it: the atoms (their types, in
    order), the target atoms and the time between frames (ps)."""
    return {
        "n_atoms": int(traj.n_atoms),
        "atom_types": [int(t) for t in traj.atom_types],
        "target_index": [int(i) for i in traj.target_index],
        "time_step_ps": float(traj.time_step_ps),
    }


def check_signature(expected: dict[str, Any], traj: Trajectory, name: str) -> None:
    """Refuse a trajectory whose system differs from the one a model was trained on.

    Raises
    ------
    ValueError
        Naming what differs (atom count, atom types, targets, time step) and the fix.
    """
    found = system_signature(traj)
    if found["n_atoms"] != expected["n_atoms"]:
        raise ValueError(
            f"{name} has {found['n_atoms']} atoms, the model was trained on "
            f"{expected['n_atoms']}: apply it to the same system (same atoms, same order)."
        )
    if found["atom_types"] != expected["atom_types"]:
        first = next(
            i
            for i, (a, b) in enumerate(
                zip(found["atom_types"], expected["atom_types"], strict=True)
            )
            if a != b
        )
        raise ValueError(
            f"{name}: atom {first} has atomic number {found['atom_types'][first]}, the model "
            f"was trained with {expected['atom_types'][first]} there: the graphs would mean "
            "something else. Use a trajectory of the same system, atoms in the same order."
        )
    if found["target_index"] != expected["target_index"]:
        raise ValueError(
            f"{name}: the target atoms differ from the model's ({len(found['target_index'])} "
            f"vs {len(expected['target_index'])}); pass the same --target as in training."
        )
    if abs(found["time_step_ps"] - expected["time_step_ps"]) > 1e-9 * expected["time_step_ps"]:
        raise ValueError(
            f"{name} has {found['time_step_ps']:g} ps between frames, the model was trained "
            f"on {expected['time_step_ps']:g} ps: its lag and timescales would not match; "
            "stride or resample the trajectory to the training time step."
        )


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
    load_options: dict[str, Any] | None = None,
    resume: bool = False,
    handle_signals: bool = False,
    checkpoint_every_s: float | None = 600.0,
    progress: bool = True,
    workers: int = 0,
) -> dict[str, Any]:
    """Train a GDyNet on ``trajectories`` and write the run directory.

    Everything is checked before the run directory is created (lag, splits, settings,
    graphs); a refused run leaves nothing behind. During training the whole training
    state is checkpointed into ``RUN_DIR/training-state.pt`` after every epoch (and
    every ``checkpoint_every_s`` within one), so an interrupted run continues with
    ``resume=True`` (``gdynbook train --resume RUN_DIR``) and ends with the parameters an
    uninterrupted run would have.

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
    sources, load_options : optional
        The files and ``load_trajectory`` options the trajectories came from, stored in
        ``run.json`` so that ``--resume`` and ``predict`` can read them again.
    resume : bool
        Continue from ``RUN_DIR/training-state.pt`` (refused if data or settings differ).
    handle_signals : bool
        Stop cleanly on SIGINT/SIGTERM (see :func:`gdynbook.train.fit`).
    workers : int
        Processes that build the graphs and collate batches (0: none); the result does
        not depend on it.
    Other parameters
        As in :class:`~gdynbook.model.GDyNetConfig` and :func:`~gdynbook.train.fit`.

    Returns
    -------
    dict
        The configuration written to ``config.json`` (with the validation VAMP-2).
    """
    import shutil

    from gdynbook import distributed
    from gdynbook.dataset import TrajectoryDataset
    from gdynbook.model import GDyNet, GDyNetConfig
    from gdynbook.plots import plot_training_history
    from gdynbook.states import fit_simplex
    from gdynbook.train import TrainingError, TrainingSettings, predict

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
    out = Path(output)
    stored = {
        "format": RUN_FORMAT,
        "sources": list(sources) if sources is not None else None,
        "load_options": load_options or {},
        "n_states": n_states,
        "lag_ps": lag_frames * dt,
        "encoder": {k: v for k, v in encoder.__dict__.items()},
        "training": {**settings.fit_options(), "validation_fraction": validation_fraction},
        "seed": seed,
        "backend": backend,
        "system": system_signature(runs[0]),
        "source_sha256": _digests(sources),
    }
    if resume:
        previous = read_run_settings(out)
        changed = sorted(k for k in stored if k != "load_options" and previous.get(k) != stored[k])
        if changed:
            words = {
                "source_sha256": "the trajectory files' contents",
                "sources": "the trajectory files",
                "system": "the system (atoms, targets, time step)",
            }
            raise ValueError(
                "--resume: "
                + ", ".join(words.get(k, k) for k in changed)
                + f" differ from {out / RUN_SETTINGS}; a run continues only with the data "
                "and settings it was started with."
            )
    # the graphs are built (and cached) before anything is written: a system the graph
    # builder refuses leaves no run directory behind
    GDyNet(encoder, backend=backend).prepare(runs, progress=progress, workers=workers)
    lead = distributed.rank() == 0  # with several processes one writes
    created = not out.exists()
    if not resume and lead:
        # an earlier run's results must not outlive its settings (--overwrite)
        for name in (CHECKPOINT, SIMPLEX, PREDICTIONS, CONFIG, SUMMARY, TRAINING_STATE):
            (out / name).unlink(missing_ok=True)
        write_json(out / RUN_SETTINGS, stored)
    try:
        model, history = train_seeded(
            lambda: GDyNet(encoder, backend=backend),
            dataset,
            lag_frames,
            settings,
            seed=seed,
            device=device,
            progress=progress,
            checkpoint=out / TRAINING_STATE,
            checkpoint_every_s=checkpoint_every_s,
            resume=resume,
            handle_signals=handle_signals,
            workers=workers,
        )
        probabilities = predict(model, runs, device=device, progress=progress)
    except (RuntimeError, MemoryError) as exc:
        if lead and created and not (out / TRAINING_STATE).exists():
            shutil.rmtree(out, ignore_errors=True)  # nothing worth keeping was written
        if isinstance(exc, TrainingError):
            raise
        if "out of memory" in str(exc).lower() or isinstance(exc, MemoryError):
            raise MemoryError(
                f"training ran out of memory ({exc}): use a smaller --batch-size (now "
                f"{batch_size}) or fewer --n-neighbors (now {n_neighbors})."
            ) from exc
        raise
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
        "world_size": distributed.world_size(),
    }
    if not lead:
        return config
    save_checkpoint(model, out / CHECKPOINT, lag_frames=lag_frames, time_step_ps=dt)
    write_arrays(
        out / PREDICTIONS,
        time_step_ps=np.float64(dt),
        lag_frames=np.int64(lag_frames),
        **{f"trajectory_{i:03d}": p.astype(np.float32) for i, p in enumerate(probabilities)},
    )
    simplex = fit_simplex(probabilities)
    write_arrays(out / SIMPLEX, vertices=simplex.vertices, vertex_frames=simplex.vertex_frames)
    write_json(out / CONFIG, config)
    write_figure(plot_training_history(history.to_dict()).figure, out / "training.png")
    return config


def _digests(sources: Sequence[str] | None) -> list[str | None] | None:
    """sha256 of each source file (None for a source that is not a file)."""
    if sources is None:
        return None
    from gdynbook.data import sha256_file

    return [sha256_file(Path(p)) if Path(p).is_file() else None for p in sources]


def load_with_options(path: str | Path, options: dict[str, Any]) -> Trajectory:
    """Read a trajectory with the load options a run stores (``run.json``): topology,
    target, time step, frames, stride, atoms and ``float32``."""
    from gdynbook.trajectory import load_trajectory

    kwargs = {k: v for k, v in options.items() if k != "float32"}
    if kwargs.get("frames") is not None:
        kwargs["frames"] = tuple(kwargs["frames"])
    dtype = np.float32 if options.get("float32") else np.float64
    return load_trajectory(path, dtype=dtype, **kwargs)


def train_settings_from_run(stored: dict[str, Any]) -> dict[str, Any]:
    """The :func:`train_run` keyword arguments a ``run.json`` (as :func:`read_run_settings`
    returns it) was written with — what ``--resume`` trains with."""
    encoder, training = stored["encoder"], stored["training"]
    return {
        "n_states": stored["n_states"],
        "lag_ps": stored["lag_ps"],
        **{
            key: encoder[key]
            for key in ("n_neighbors", "cutoff", "n_conv", "atom_fea_len", "h_fea_len")
        },
        "node_selection": encoder["node_selection"],
        **{
            key: training[key]
            for key in ("n_epochs", "batch_size", "lr", "pairs_per_epoch", "validation_fraction")
        },
        "seed": stored["seed"],
        "backend": stored["backend"],
    }


def read_run_settings(run_dir: str | Path) -> dict[str, Any]:
    """The settings ``train_run`` stored in ``RUN_DIR/run.json``.

    Raises
    ------
    FileNotFoundError
        If the folder is not a ``gdynbook train`` run directory.
    """
    path = Path(run_dir) / RUN_SETTINGS
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: {run_dir} is not a run directory of `gdynbook train` "
            "(or was made by an older version; train it again)."
        )
    return json.loads(path.read_text())


def predict_run(
    run_dir: str | Path,
    trajectories: Sequence[Trajectory | str | Path],
    output: str | Path | None = None,
    *,
    device: str = "auto",
    progress: bool = False,
) -> dict[str, Any]:
    """Apply a trained run's model to new trajectories: memberships per frame and target.

    Parameters
    ----------
    run_dir : path
        Written by :func:`train_run`.
    trajectories : list of Trajectory or paths
        New trajectories of the same system; paths are read with the load options stored
        in the run (topology, target, time step).
    output : path, optional
        Receives ``memberships.npz`` (per trajectory: ``memberships_NNN`` float32
        (frames, targets, states) and ``time_ps_NNN``) and ``summary.json`` (mean
        membership of each state per trajectory).

    Returns
    -------
    dict
        ``memberships`` (list of arrays), ``time_ps`` (list), ``populations`` (mean
        membership per state, per trajectory) and ``sources``.

    Raises
    ------
    ValueError
        If a trajectory's system differs from the training system (atoms, types,
        targets, time step).
    """
    from gdynbook.states import SimplexMap
    from gdynbook.train import load, predict

    run = Path(run_dir)
    stored = read_run_settings(run)
    for name in (CHECKPOINT, SIMPLEX):
        if not (run / name).is_file():
            raise FileNotFoundError(f"{run / name} is missing: the run has not finished training.")
    # new files are read like the training files (targets, atoms, stride), but whole:
    # the training's frame window does not apply to them
    options = {k: v for k, v in stored.get("load_options", {}).items() if k != "frames"}
    loaded: list[Trajectory] = []
    names: list[str] = []
    for item in trajectories:
        if isinstance(item, Trajectory):
            loaded.append(item)
            names.append(f"trajectory {len(loaded) - 1}")
        else:
            loaded.append(load_with_options(item, options))
            names.append(str(item))
    for traj, name in zip(loaded, names, strict=True):
        check_signature(stored["system"], traj, name)
    model, _ = load(run / CHECKPOINT)
    with np.load(run / SIMPLEX) as values:
        simplex = SimplexMap(values["vertices"], values["vertex_frames"])
    memberships = simplex.transform(predict(model, loaded, device=device, progress=progress))
    times = [np.arange(t.n_frames) * t.time_step_ps for t in loaded]
    populations = [m.reshape(-1, m.shape[-1]).mean(axis=0).tolist() for m in memberships]
    result = {
        "sources": names,
        "memberships": memberships,
        "time_ps": times,
        "populations": populations,
    }
    if output is not None:
        out = Path(output)
        write_arrays(
            out / "memberships.npz",
            **{f"memberships_{i:03d}": m.astype(np.float32) for i, m in enumerate(memberships)},
            **{f"time_ps_{i:03d}": t for i, t in enumerate(times)},
        )
        write_json(
            out / "summary.json",
            {
                "run_dir": str(run),
                "sources": names,
                "frames": [t.n_frames for t in loaded],
                "populations": populations,
                "note": "populations: mean membership of each state over frames and targets",
            },
        )
    return result


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
        "world_size": config.get("world_size", 1),
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
