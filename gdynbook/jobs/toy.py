"""The toy main job: simulate → graphs → train GDyNet and the baseline → analyse.

Each arrow is one function the toy chapters call:

* :func:`gdynbook.systems.toy.simulate_toy` — Langevin replicas of Li in the fcc S cell;
* :func:`split_replicas` — whole replicas for training, validation and test;
* :func:`train_toy_models` — a :class:`~gdynbook.model.GDyNet` and a
  :class:`~gdynbook.model.CoordinateVAMPNet` on the same pairs;
* :func:`~gdynbook.systems.toy_reference.toy_reference` — the answer from the
  simulation: core-set tet/oct labels, the two-state Markov model and the 12-hole
  model built from its rates;
* :func:`evaluate_states` — memberships (:mod:`gdynbook.states`), Koopman model,
  implied timescales with bootstrap errors, populations, recall against the labels;
* :func:`run_toy_job` — all of it, with figures and ``summary.json``
  (``gdynbook toy``).

Units: ps, Å.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gdynbook.analysis import analyze
from gdynbook.dataset import TrajectoryDataset
from gdynbook.jobs.rundir import save_checkpoint, train_seeded, write_figure, write_json
from gdynbook.koopman import (
    ImpliedTimescales,
    KoopmanModel,
    lagged_pairs,
)
from gdynbook.model import CoordinateVAMPNet, GDyNet
from gdynbook.states import (
    SimplexMap,
    crisp_states,
    membership_recall,
    state_recall,
)
from gdynbook.systems.toy import ToySimulation, simulate_toy
from gdynbook.systems.toy_reference import ToyReference, count_oct_visits, toy_reference
from gdynbook.train import History, TrainingSettings, evaluate, predict, resolve_device
from gdynbook.trajectory import Trajectory
from gdynbook.vamp import vamp_score

STATE_NAMES = ("tetrahedral", "octahedral")


@dataclass(frozen=True)
class ToyRegime:
    """Simulation and analysis settings of one regime of the toy system."""

    temperature_k: float
    frame_interval_ps: float
    n_replicas: int
    frames_per_replica: int
    lag_frames: int
    description: str


REGIMES: dict[str, ToyRegime] = {
    "default": ToyRegime(
        temperature_k=600.0,
        frame_interval_ps=0.5,
        n_replicas=256,
        frames_per_replica=500,
        lag_frames=10,
        description="fast, CPU: ~83/17 tet/oct, slow relaxation ≈ 6 ps, 0.5 ps per frame",
    ),
    "paper": ToyRegime(
        temperature_k=450.0,
        frame_interval_ps=0.1,
        n_replicas=100,
        frames_per_replica=10_000,
        lag_frames=50,
        description="paper-like, GPU: ~92/8 tet/oct, slow relaxation ≈ 26 ps, 0.1 ps per "
        "frame, 10⁶ frames (the paper: ~91/9, ~40 ps)",
    ),
}


@dataclass
class ToyTraining:
    """Training settings of both models (same pairs, same lag).

    The baseline is cheap per step but slow to converge: isolating one of several
    equivalent holes takes a sharp function of the coordinates, so it gets more epochs
    over all pairs, a larger learning rate, and ``baseline_restarts`` independent
    starts, of which the one with the best VAMP-2 on the training and validation pairs
    together is kept (a start can stall in a mixture of modes; the chapter's point is
    what the *best* score leads to). The validation pairs alone are too few to rank
    starts: a 40 ps mode seen in 25 replicas of 250 ps scores noisily.
    """

    n_epochs: int = 12
    pairs_per_epoch: int | None = 20_000
    batch_size: int = 512
    lr: float = 5e-3
    baseline_epochs: int = 30
    baseline_pairs_per_epoch: int | None = None
    baseline_lr: float = 1e-2
    baseline_restarts: int = 3
    gdynet: dict[str, Any] = field(
        default_factory=lambda: {
            "n_states": 2,
            "n_conv": 2,
            "n_neighbors": 12,
            "atom_fea_len": 16,
            "h_fea_len": 16,
        }
    )
    baseline: dict[str, Any] = field(default_factory=lambda: {"n_states": 2, "hidden": 64})


# ---------------------------------------------------------------------- data
def toy_simulation_settings(
    regime: str = "default", n_frames: int | None = None, seed: int = 0
) -> ToySimulation:
    """Simulation settings of a regime; ``n_frames`` (total over replicas) rescales it.

    Fewer frames than the regime's default first shorten the number of replicas (down
    to 10), then the replicas.

    Raises
    ------
    ValueError
        For an unknown regime or too few frames to analyse at the regime's lag.
    """
    if regime not in REGIMES:
        raise ValueError(f"regime must be one of {sorted(REGIMES)}, got {regime!r}.")
    r = REGIMES[regime]
    n_replicas, per_replica = r.n_replicas, r.frames_per_replica
    if n_frames is not None:
        n_replicas = max(10, int(round(n_frames / per_replica)))
        per_replica = min(per_replica, int(n_frames) // n_replicas)
        if per_replica < 8 * r.lag_frames:
            raise ValueError(
                f"{n_frames} frames make replicas of {per_replica} frames, too short for "
                f"the {regime!r} regime's lag of {r.lag_frames} frames (need ≥ "
                f"{8 * r.lag_frames}): ask for at least {80 * r.lag_frames} frames."
            )
    return ToySimulation(
        temperature_k=r.temperature_k,
        frame_interval_ps=r.frame_interval_ps,
        n_replicas=n_replicas,
        n_frames=per_replica,
        seed=seed,
    )


def split_replicas(trajectories: list[Trajectory]) -> TrajectoryDataset:
    """Whole replicas: 70 % training, 10 % validation, 20 % test."""
    return TrajectoryDataset(trajectories, validation_fraction=0.1, test_fraction=0.2)


def held_out_replicas(dataset: TrajectoryDataset) -> list[Trajectory]:
    """The held-out replicas of a dataset made by :func:`split_replicas`."""
    return [dataset.trajectories[segment.trajectory] for segment in dataset.splits["test"]]


# ---------------------------------------------------------------------- training
def train_toy_models(
    dataset: TrajectoryDataset,
    lag_frames: int,
    training: ToyTraining | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
) -> dict[str, tuple[torch.nn.Module, History]]:
    """Train a GDyNet and the periodic-coordinate baseline on the same pairs.

    Returns
    -------
    dict
        ``{"gdynet": (model, history), "baseline": (model, history)}``.
    """
    training = training or ToyTraining()
    out = {}
    for name, cls, kwargs, n_epochs, pairs_per_epoch, lr, starts in (
        (
            "gdynet",
            GDyNet,
            training.gdynet,
            training.n_epochs,
            training.pairs_per_epoch,
            training.lr,
            1,
        ),
        (
            "baseline",
            CoordinateVAMPNet,
            training.baseline,
            training.baseline_epochs,
            training.baseline_pairs_per_epoch,
            training.baseline_lr,
            training.baseline_restarts,
        ),
    ):
        best = None
        for start in range(max(1, starts)):
            start_seed = seed + 1000 * start
            settings = TrainingSettings(
                n_epochs=n_epochs,
                batch_size=training.batch_size,
                lr=lr,
                pairs_per_epoch=pairs_per_epoch,
            )
            model, history = train_seeded(
                lambda cls=cls, kwargs=kwargs: cls(**kwargs),
                dataset,
                lag_frames,
                settings,
                seed=start_seed,
                device=device,
                progress=progress,
            )
            if starts > 1:
                pairs = np.concatenate(
                    [dataset.pairs("train", lag_frames), dataset.pairs("validation", lag_frames)]
                )
                stores = model.prepare(dataset.trajectories, progress=False)
                score = evaluate(model, stores, pairs, lag_frames, resolve_device(device))
            else:
                score = history.validation_score[history.best_epoch]
            if best is None or score > best[2]:
                best = (model, history, score)
        out[name] = best[:2]
    return out


# ---------------------------------------------------------------------- evaluation
@dataclass
class StateReport:
    """How well a model's states match the reference, on held-out replicas.

    Attributes
    ----------
    probabilities : list of numpy.ndarray
        Network outputs (frames, 1, n_states), trimmed like the reference.
    memberships : list of numpy.ndarray
        The same after :func:`~gdynbook.states.fit_simplex`: corners are pure states.
    simplex : SimplexMap
    model : KoopmanModel
        Koopman model of the memberships at the lag.
    its : ImpliedTimescales
        Implied timescales of the memberships over ``lags_frames``, bootstrapped.
    recall : numpy.ndarray
        (tetrahedral, octahedral) recall on core frames after the best relabelling,
        from the most probable state of each frame (argmax).
    membership_recall : numpy.ndarray
        The same, weighting each frame by its membership of the matched state: a
        frame halfway between the states counts half (see
        :func:`~gdynbook.states.membership_recall`).
    mapping : numpy.ndarray
        mapping[k]: the reference state (0 tet, 1 oct) matched to network state k.
    populations : numpy.ndarray
        Stationary populations in reference order (tet, oct).
    populations_err : numpy.ndarray
        Their bootstrap standard deviations.
    timescale_ps, timescale_err_ps : float
        Slowest implied timescale at the lag and its bootstrap σ.
    vamp2 : float
        VAMP-2 score of the raw outputs at the lag.
    """

    probabilities: list[np.ndarray]
    memberships: list[np.ndarray]
    simplex: SimplexMap
    model: KoopmanModel
    its: ImpliedTimescales
    recall: np.ndarray
    membership_recall: np.ndarray
    mapping: np.ndarray
    populations: np.ndarray
    populations_err: np.ndarray
    timescale_ps: float
    timescale_err_ps: float
    vamp2: float

    @property
    def balanced_accuracy(self) -> float:
        """Mean of the membership-weighted recalls: 1 perfect, 0.5 unrelated to tet/oct."""
        return float(np.nanmean(self.membership_recall))

    @property
    def argmax_balanced_accuracy(self) -> float:
        """Mean of the argmax recalls. Near 0.5 memberships it depends on noise: a model
        that puts every octahedral frame at 0.5 can score 0.5 or 0.75."""
        return float(np.nanmean(self.recall))


def evaluate_states(
    model: torch.nn.Module,
    trajectories: list[Trajectory],
    reference: ToyReference,
    lag_frames: int,
    lags_frames: np.ndarray | None = None,
    n_bootstrap: int = 100,
    device: str = "auto",
) -> StateReport:
    """Score a trained two-state model against the reference on held-out replicas."""
    raw = reference.trim(predict(model, trajectories, device=device))
    dt = trajectories[0].time_step_ps
    if lags_frames is None:
        lags_frames = np.unique(np.round(lag_frames * np.array([0.2, 0.5, 1, 1.5, 2, 3])))
        lags_frames = lags_frames[lags_frames >= 1].astype(int)
    analysis = analyze(raw, lag_frames, dt, lags_frames=lags_frames, n_bootstrap=n_bootstrap)
    simplex, memberships, koopman, its = (
        analysis.simplex,
        analysis.memberships,
        analysis.model,
        analysis.its,
    )
    usable = [run for run in raw if run.shape[0] > lag_frames]
    at = int(np.flatnonzero(its.lags_frames == lag_frames)[0])
    assigned = np.concatenate([s.reshape(-1) for s in crisp_states(memberships)])
    labels = np.concatenate(reference.labels)
    core = np.concatenate(reference.in_core)
    recall, mapping = state_recall(assigned[core], labels[core], 2)
    weighted = membership_recall(
        np.concatenate([m.reshape(-1, 2) for m in memberships])[core], labels[core], mapping
    )
    populations = np.empty(2)
    populations[mapping] = koopman.populations
    populations_err = np.empty(2)
    populations_err[mapping] = analysis.populations_err
    chi_0, chi_t = lagged_pairs(usable, lag_frames)
    score = float(vamp_score(torch.from_numpy(chi_0), torch.from_numpy(chi_t)))
    return StateReport(
        probabilities=raw,
        memberships=memberships,
        simplex=simplex,
        model=koopman,
        its=its,
        recall=recall,
        membership_recall=weighted,
        mapping=mapping,
        populations=populations,
        populations_err=populations_err,
        timescale_ps=float(its.timescales_ps[at, 0]),
        timescale_err_ps=float(its.std_ps[at, 0]),
        vamp2=score,
    )


def acceptance(gdynet: StateReport, baseline: StateReport, reference: ToyReference) -> dict:
    """The toy system's acceptance criteria, each with its measured value and verdict."""
    t_ref = reference.timescale_ps
    t_tol = max(0.15 * t_ref, 3 * gdynet.timescale_err_ps)
    pop_tol = np.maximum(0.02, 3 * gdynet.populations_err)
    pop_dev = np.abs(gdynet.populations - reference.populations)
    t_id = reference.identity_timescale_ps
    return {
        "tet_recall >= 0.95 (argmax and membership-weighted)": bool(
            min(gdynet.recall[0], gdynet.membership_recall[0]) >= 0.95
        ),
        "oct_recall >= 0.90 (argmax and membership-weighted)": bool(
            min(gdynet.recall[1], gdynet.membership_recall[1]) >= 0.90
        ),
        "gdynet timescale within max(15%, 3 sigma) of reference": bool(
            abs(gdynet.timescale_ps - t_ref) <= t_tol
        ),
        "gdynet populations within max(0.02, 3 sigma) of reference": bool(
            np.all(pop_dev <= pop_tol)
        ),
        "baseline balanced accuracy <= 0.7 (membership-weighted)": bool(
            baseline.balanced_accuracy <= 0.7
        ),
        "baseline timescale within 25% of the identity mode": bool(
            abs(baseline.timescale_ps - t_id) <= 0.25 * t_id
        ),
    }


def summarize(
    gdynet: StateReport,
    baseline: StateReport,
    reference: ToyReference,
    lag_frames: int,
    time_step_ps: float,
) -> dict[str, Any]:
    """The numbers of ``summary.json``."""
    checks = acceptance(gdynet, baseline, reference)
    return {
        "lag_ps": lag_frames * time_step_ps,
        "reference_timescale_ps": reference.timescale_ps,
        "gdynet_timescale_ps": gdynet.timescale_ps,
        "gdynet_timescale_err_ps": gdynet.timescale_err_ps,
        "baseline_timescale_ps": baseline.timescale_ps,
        "baseline_timescale_err_ps": baseline.timescale_err_ps,
        "reference_identity_timescale_ps": reference.identity_timescale_ps,
        "tet_recall": float(gdynet.recall[0]),
        "oct_recall": float(gdynet.recall[1]),
        "tet_recall_membership": float(gdynet.membership_recall[0]),
        "oct_recall_membership": float(gdynet.membership_recall[1]),
        "baseline_balanced_accuracy": baseline.balanced_accuracy,
        "baseline_balanced_accuracy_argmax": baseline.argmax_balanced_accuracy,
        "populations": gdynet.populations.tolist(),
        "populations_err": gdynet.populations_err.tolist(),
        "baseline_populations": baseline.populations.tolist(),
        "reference_populations": reference.populations.tolist(),
        "gdynet_vamp2": gdynet.vamp2,
        "baseline_vamp2": baseline.vamp2,
        "k_tet_to_oct_per_ps": reference.k_tet_to_oct,
        "k_oct_to_tet_per_ps": reference.k_oct_to_tet,
        "n_oct_visits_test": reference.n_oct_visits,
        "state_names": list(STATE_NAMES),
        "acceptance": checks,
        "passed": bool(all(checks.values())),
    }


# ---------------------------------------------------------------------- the job
def run_toy_job(
    output: str | Path | None = None,
    regime: str = "default",
    n_frames: int | None = None,
    seed: int = 0,
    device: str = "auto",
    training: ToyTraining | None = None,
    figures: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Simulate, train both models, analyse; write figures, checkpoints and summary.json.

    Parameters
    ----------
    output : path, optional
        Directory for ``summary.json``, ``gdynet.pt``, ``baseline.pt`` and figures
        (nothing is written when None).
    regime : {"default", "paper"}
        See ``REGIMES``.
    n_frames : int, optional
        Total frames over all replicas (the regime's default when None).
    seed : int
        Seeds the simulation, the split and the training.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda"`` for training.

    Returns
    -------
    dict
        The summary (also written to ``summary.json``).
    """
    started = time.perf_counter()
    timings = {}
    settings = toy_simulation_settings(regime, n_frames, seed)
    lag = REGIMES[regime].lag_frames
    trajectories = simulate_toy(settings, progress=progress)
    timings["simulate_s"] = time.perf_counter() - started
    dataset = split_replicas(trajectories)
    mark = time.perf_counter()
    models = train_toy_models(dataset, lag, training, seed, device, progress)
    timings["train_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    held_out = held_out_replicas(dataset)
    reference = toy_reference(held_out, lag)
    reports = {
        name: evaluate_states(model, held_out, reference, lag, device=device)
        for name, (model, _) in models.items()
    }
    timings["analyse_s"] = time.perf_counter() - mark
    summary = summarize(
        reports["gdynet"], reports["baseline"], reference, lag, settings.frame_interval_ps
    )
    summary.update(
        regime=regime,
        seed=seed,
        n_frames=settings.n_replicas * settings.n_frames,
        n_replicas=settings.n_replicas,
        frame_interval_ps=settings.frame_interval_ps,
        temperature_k=settings.temperature_k,
        n_test_replicas=len(held_out),
        n_oct_visits=count_oct_visits(trajectories),
        training={**asdict(training or ToyTraining()), "lag_frames": lag},
        best_epochs={name: history.best_epoch for name, (_, history) in models.items()},
    )
    if output is not None:
        out = Path(output)
        out.mkdir(parents=True, exist_ok=True)
        for name, (model, history) in models.items():
            save_checkpoint(
                model,
                out / f"{name}.pt",
                lag_frames=lag,
                time_step_ps=settings.frame_interval_ps,
                history=history.to_dict(),
            )
        if figures:
            _write_figures(out, reports, reference, held_out, lag)
    timings["total_s"] = time.perf_counter() - started
    summary["timings"] = timings
    if output is not None:
        write_json(Path(output) / "summary.json", summary)
    return summary


def _write_figures(
    out: Path,
    reports: dict[str, StateReport],
    reference: ToyReference,
    held_out: list[Trajectory],
    lag_frames: int,
) -> None:
    from gdynbook.koopman import ck_test
    from gdynbook.plots import plot_ck_test
    from gdynbook.systems.toy_figures import plot_toy_states, plot_toy_timescales

    fig = plot_toy_timescales(reports["gdynet"].its, reports["baseline"].its, reference)
    write_figure(fig, out / "implied_timescales.png")
    for name, report in reports.items():
        kept = [m for m in report.memberships if m.shape[0] > 4 * lag_frames]
        ck = ck_test(kept, lag_frames, 4, time_step_ps=held_out[0].time_step_ps)
        names = [STATE_NAMES[r][:3] for r in report.mapping]
        write_figure(plot_ck_test(ck, labels=names), out / f"ck_test_{name}.png")
    write_figure(plot_toy_states(held_out, reference, reports), out / "states.png")
