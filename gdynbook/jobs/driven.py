"""Out of equilibrium on the toy system, part A: a GDyNet trained on relaxation data.

Each arrow is one function the chapter "Out of equilibrium" calls:

* :func:`simulate_nonstationary` — equilibrium replicas (the reference and the pool of
  starts), then many short replicas started with the Li in an octahedral core and as
  many from tetrahedral cores (:mod:`gdynbook.systems.toy_relaxation`);
* :func:`split_halves` — every other replica of each start for training, the rest held
  out (whole replicas: held out by independent simulation);
* :func:`train_on_relaxation` — a GDyNet with the VAMP-2 loss on the relaxation data
  alone (VAMP needs no stationarity: C₀₀ and C_ττ are estimated separately);
* :func:`reference_estimate` — equilibrium populations and timescale from core-set labels
  of the equilibrium replicas;
* :func:`relaxation_estimates` — the four estimates of
  :mod:`gdynbook.nonequilibrium` on the held-out replicas, for oct starts, tet starts and
  both pooled, in tet/oct order;
* :func:`run_nonstationary` — all of it, with a figure and the ``nonstationary`` part of
  ``summary.json``.

The lag, 5 ps (10 frames), is the toy chapters' lag, fixed before these data existed.

Units: ps, K.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gdynbook.dataset import TrajectoryDataset
from gdynbook.jobs.rundir import train_seeded, write_figure, write_json
from gdynbook.markov import one_hot
from gdynbook.model import GDyNet
from gdynbook.nonequilibrium import METHODS, StationaryEstimates, stationary_estimates
from gdynbook.states import crisp_states, fit_simplex, state_recall
from gdynbook.systems.toy import ToySimulation, simulate_toy
from gdynbook.systems.toy_driven import (
    DrivenRun,
    axis_diffusion,
    drift_velocity,
    li_positions,
    mobility,
    simulate_driven_many,
)
from gdynbook.systems.toy_reference import toy_reference
from gdynbook.systems.toy_relaxation import simulate_relaxation
from gdynbook.train import TrainingSettings, predict
from gdynbook.trajectory import Trajectory

#: Start groups, as reported.
GROUPS = ("oct", "tet", "pooled")


@dataclass(frozen=True)
class ToyRunSettings:
    """What both parts share: the toy system's temperature (K) and frame interval (ps),
    the lag, and how the GDyNet trains (:func:`train_on_relaxation`)."""

    temperature_k: float = 600.0
    frame_interval_ps: float = 0.5
    lag_frames: int = 10
    n_epochs: int = 12
    pairs_per_epoch: int | None = 20_000
    batch_size: int = 512
    lr: float = 5e-3


@dataclass(frozen=True)
class NonstationarySettings(ToyRunSettings):
    """How much to simulate for part A (times in ps), besides :class:`ToyRunSettings`."""

    equilibrium_replicas: int = 256
    equilibrium_ps: float = 200.0
    replicas_per_start: int = 512
    duration_ps: float = 30.0
    n_bootstrap: int = 200

    @classmethod
    def fast(cls) -> NonstationarySettings:
        """A CPU-sized version: fewer, shorter equilibrium runs and 256 replicas per start."""
        return cls(
            equilibrium_replicas=128,
            equilibrium_ps=100.0,
            replicas_per_start=256,
            n_epochs=8,
            pairs_per_epoch=8_000,
            n_bootstrap=100,
        )


def simulate_nonstationary(
    settings: NonstationarySettings, seed: int = 0, progress: bool = True
) -> tuple[list[Trajectory], dict[str, list[Trajectory]]]:
    """Equilibrium replicas, then ``replicas_per_start`` relaxation runs per start.

    Returns
    -------
    equilibrium : list of Trajectory
    relaxation : dict
        ``"oct"`` and ``"tet"`` → replicas of ``duration_ps`` from those cores.
    """
    base = ToySimulation(
        temperature_k=settings.temperature_k,
        frame_interval_ps=settings.frame_interval_ps,
        n_replicas=settings.equilibrium_replicas,
        n_frames=int(round(settings.equilibrium_ps / settings.frame_interval_ps)),
        seed=seed,
    )
    equilibrium = simulate_toy(base, progress=progress)
    relaxation = simulate_relaxation(
        equilibrium,
        ("oct", "tet"),
        settings.replicas_per_start,
        settings.duration_ps,
        settings=base,
        seed=seed + 10,
        progress=progress,
    )
    return equilibrium, relaxation


def split_halves(
    relaxation: dict[str, list[Trajectory]],
) -> tuple[list[Trajectory], dict[str, list[Trajectory]]]:
    """Even-numbered replicas of each start train, odd-numbered ones are held out."""
    training = [run for runs in relaxation.values() for run in runs[0::2]]
    held_out = {start: runs[1::2] for start, runs in relaxation.items()}
    return training, held_out


def train_on_relaxation(
    training: list[Trajectory],
    settings: ToyRunSettings,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
) -> torch.nn.Module:
    """A two-state GDyNet trained with VAMP-2 on ``training`` replicas only — relaxation
    runs or driven runs (10 % of the replicas validate)."""
    dataset = TrajectoryDataset(training, validation_fraction=0.1, seed=seed)
    model, _ = train_seeded(
        lambda: GDyNet(n_states=2, n_conv=2, n_neighbors=12, atom_fea_len=16, h_fea_len=16),
        dataset,
        settings.lag_frames,
        TrainingSettings(
            n_epochs=settings.n_epochs,
            batch_size=settings.batch_size,
            lr=settings.lr,
            pairs_per_epoch=settings.pairs_per_epoch,
        ),
        seed=seed,
        device=device,
        progress=progress,
    )
    return model


def core_labels(trajectories: list[Trajectory], lag_frames: int) -> list[np.ndarray]:
    """Core-set tet (0) / oct (1) labels per replica, −1 before the first core visit."""
    reference = toy_reference(trajectories, lag_frames)
    return [
        np.concatenate([np.full(start, -1), labels])
        for labels, start in zip(reference.labels, reference.first_frame, strict=True)
    ]


def reference_estimate(
    equilibrium: list[Trajectory], lag_frames: int, n_bootstrap: int = 200, seed: int = 0
) -> StationaryEstimates:
    """Equilibrium populations (tet, oct) and timescale from core-set labels of the
    equilibrium replicas (frames before the first core visit dropped)."""
    labels = [run[run >= 0] for run in core_labels(equilibrium, lag_frames)]
    runs = [one_hot(run, 2) for run in labels if run.size > lag_frames]
    return stationary_estimates(
        runs, lag_frames, equilibrium[0].time_step_ps, n_bootstrap=n_bootstrap, seed=seed
    )


def ordered_memberships(
    model: torch.nn.Module,
    held_out: dict[str, list[Trajectory]],
    lag_frames: int,
    device: str = "auto",
) -> tuple[dict[str, list[np.ndarray]], np.ndarray]:
    """Memberships of the held-out replicas with column 0 tetrahedral, 1 octahedral.

    The network's outputs are turned into memberships (corners of the simplex of all
    held-out outputs); network state k is matched to the tet/oct label it recalls best
    on core frames.

    Returns
    -------
    memberships : dict
        Start → list of (frames, 2) arrays.
    recall : numpy.ndarray
        (tet, oct) recall on core frames after matching.
    """
    starts = list(held_out)
    raw = {s: predict(model, held_out[s], device=device) for s in starts}
    simplex = fit_simplex([run for s in starts for run in raw[s]])
    memberships = {s: [m.reshape(-1, 2) for m in simplex.transform(raw[s])] for s in starts}
    labels = np.concatenate([run for s in starts for run in core_labels(held_out[s], lag_frames)])
    assigned = np.concatenate(
        [states.reshape(-1) for s in starts for states in crisp_states(memberships[s])]
    )
    known = labels >= 0
    recall, mapping = state_recall(assigned[known], labels[known], 2)
    ordered = {}
    for s in starts:
        ordered[s] = []
        for m in memberships[s]:
            reordered = np.empty_like(m)
            reordered[:, mapping] = m
            ordered[s].append(reordered)
    return ordered, recall


def relaxation_estimates(
    memberships: dict[str, list[np.ndarray]],
    lag_frames: int,
    time_step_ps: float,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> dict[str, StationaryEstimates]:
    """The four estimates for oct starts, tet starts and both pooled."""
    groups = {"oct": memberships["oct"], "tet": memberships["tet"]}  # not "equilibrium"
    groups["pooled"] = memberships["oct"] + memberships["tet"]
    return {
        name: stationary_estimates(runs, lag_frames, time_step_ps, n_bootstrap, seed=seed)
        for name, runs in groups.items()
    }


def summarize_nonstationary(
    estimates: dict[str, StationaryEstimates],
    reference: StationaryEstimates,
    learned_reference: StationaryEstimates | None = None,
) -> dict[str, Any]:
    """The ``nonstationary`` entry of ``summary.json`` (populations tet first).

    ``reference`` is the core-set Markov model of the equilibrium replicas;
    ``learned_reference`` (optional) the equilibrium of the learned states themselves,
    from the network's memberships on those replicas.
    """
    out: dict[str, Any] = {}
    for name, result in estimates.items():
        entry: dict[str, Any] = {
            "reference_populations": reference.populations["nonreversible"].tolist(),
            "reference_populations_err": reference.errors["nonreversible"].tolist(),
            "reference_timescale_ps": reference.timescale_ps["nonreversible"],
            "reference_timescale_err_ps": reference.timescale_err_ps["nonreversible"],
            "populations_err": {m: result.errors[m].tolist() for m in METHODS},
            "timescale_ps": result.timescale_ps["nonreversible"],
            "timescale_err_ps": result.timescale_err_ps["nonreversible"],
            "timescale_reversible_ml_ps": result.timescale_ps["reversible_ml"],
            "n_replicas": result.n_runs,
        }
        if learned_reference is not None:
            entry["reference_populations_learned"] = learned_reference.populations[
                "nonreversible"
            ].tolist()
            entry["reference_populations_learned_err"] = learned_reference.errors[
                "nonreversible"
            ].tolist()
            entry["reference_timescale_learned_ps"] = learned_reference.timescale_ps[
                "nonreversible"
            ]
        for method in METHODS:
            entry[f"populations_{method}"] = result.populations[method].tolist()
        out[name] = entry
    return out


def nonstationary_checks(
    summary: dict[str, Any], reference_key: str = "reference_populations", sigmas: float = 3.0
) -> dict[str, bool]:
    """Acceptance: for every group the non-reversible and ML-reversible octahedral
    populations lie within ``sigmas`` combined standard errors of the reference
    (``reference_key``); for oct starts the symmetrised and mean-membership ones lie
    beyond it. Tet starts relax from the majority state and pooled data mix both starts:
    their bias is smaller and, with fast mode's replicas, not always resolved — reported,
    not checked."""
    checks = {}
    for name, entry in summary.items():
        reference = entry[reference_key][1]
        reference_err = entry[f"{reference_key}_err"][1]
        for method in METHODS:
            value = entry[f"populations_{method}"][1]
            err = float(np.hypot(entry["populations_err"][method][1], reference_err))
            within = abs(value - reference) <= sigmas * err
            if method in ("nonreversible", "reversible_ml"):
                checks[f"{name}_{method}_recovers_equilibrium"] = bool(within)
            elif name == "oct":
                checks[f"{name}_{method}_is_biased"] = bool(not within)
    return checks


def run_nonstationary(
    output: str | Path | None,
    settings: NonstationarySettings | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
) -> dict[str, Any]:
    """Part A end to end: simulate, train on relaxation data, estimate four ways.

    Writes ``nonstationary.png`` and ``nonstationary.json`` into ``output`` (if given).

    Returns
    -------
    dict
        ``nonstationary`` (per group, see :func:`summarize_nonstationary`), ``checks``,
        ``recall`` (tet, oct on held-out core frames), ``label_estimates`` (the same four
        estimates from core-set labels instead of the network) and ``settings``.
    """
    from gdynbook.systems.toy_figures import plot_nonstationary_estimates

    settings = settings or NonstationarySettings()
    equilibrium, relaxation = simulate_nonstationary(settings, seed=seed, progress=progress)
    training, held_out = split_halves(relaxation)
    model = train_on_relaxation(training, settings, seed=seed, device=device, progress=progress)
    dt = equilibrium[0].time_step_ps
    reference = reference_estimate(equilibrium, settings.lag_frames, settings.n_bootstrap, seed)
    memberships, recall = ordered_memberships(
        model, {**held_out, "equilibrium": equilibrium}, settings.lag_frames, device
    )
    # the learned states' own equilibrium: the same network on the equilibrium replicas
    # (which it never saw); its tet/oct boundary need not be the core sets'
    learned_reference = stationary_estimates(
        memberships["equilibrium"], settings.lag_frames, dt, settings.n_bootstrap, seed=seed
    )
    learned = relaxation_estimates(memberships, settings.lag_frames, dt, settings.n_bootstrap, seed)
    labelled = {
        s: [one_hot(run[run >= 0], 2) for run in core_labels(held_out[s], settings.lag_frames)]
        for s in held_out
    }
    from_labels = relaxation_estimates(
        labelled, settings.lag_frames, dt, settings.n_bootstrap, seed
    )
    summary = summarize_nonstationary(learned, reference, learned_reference)
    label_summary = summarize_nonstationary(from_labels, reference)
    checks = nonstationary_checks(summary, "reference_populations_learned")
    checks.update(
        {
            f"labels_{k}": v
            for k, v in nonstationary_checks(label_summary, "reference_populations").items()
        }
    )
    result = {
        "nonstationary": summary,
        "checks": checks,
        "recall": recall.tolist(),
        "label_estimates": label_summary,
        "settings": asdict(settings),
        "seed": seed,
    }
    if output is not None:
        out = Path(output)
        write_json(out / "nonstationary.json", result)
        write_figure(plot_nonstationary_estimates(summary).figure, out / "nonstationary.png")
    return result


# ---------------------------------------------------------------------- part B: driven
@dataclass(frozen=True)
class DrivenSettings(ToyRunSettings):
    """Forces (kT/Å along +x), replicas and analysis of the driven steady state, besides
    :class:`ToyRunSettings`."""

    forces_kt_per_a: tuple[float, ...] = (0.25, 0.5, 1.0, 1.5, 2.0)
    replicas_per_force: int = 128
    duration_ps: float = 100.0
    diffusion_window_ps: float = 20.0
    linear_response_max: float = 0.5
    ck_steps: int = 3
    n_bootstrap: int = 100

    @classmethod
    def fast(cls) -> DrivenSettings:
        """A CPU-sized version: four forces, 64 replicas each."""
        return cls(
            forces_kt_per_a=(0.25, 0.5, 1.0, 2.0),
            replicas_per_force=64,
            n_epochs=6,
            pairs_per_epoch=8_000,
            n_bootstrap=50,
        )


def hole_plane_spacing(lattice_constant: float = 5.7) -> float:
    """Spacing of the planes of holes normal to a cubic axis, a/4 (Å): tetrahedral holes
    sit at x = a/4, 3a/4 and octahedral ones at 0, a/2, so every hop moves the Li by
    ±a/4 along x."""
    return lattice_constant / 4.0


def simulate_forces(
    settings: DrivenSettings, seed: int = 0, progress: bool = True
) -> dict[float, DrivenRun]:
    """One :class:`~gdynbook.systems.toy_driven.DrivenRun` per force, 0 (equilibrium)
    included, all in one vectorised run."""
    base = ToySimulation(
        temperature_k=settings.temperature_k, frame_interval_ps=settings.frame_interval_ps
    )
    forces = (0.0, *settings.forces_kt_per_a)
    runs = simulate_driven_many(
        forces, settings.replicas_per_force, settings.duration_ps, base, seed + 100, progress
    )
    return {float(f): run for f, run in zip(forces, runs, strict=True)}


def driven_entry(
    force: float,
    run: DrivenRun,
    held_out: list[Trajectory],
    memberships: list[np.ndarray],
    settings: DrivenSettings,
) -> dict[str, Any]:
    """Every number of one force: direct transport over all replicas; the learned
    model's timescale, CK test, tilted transport and entropy productions on the held-out
    replicas."""
    from gdynbook.koopman import ck_test, estimate_koopman
    from gdynbook.markov_additive import (
        counted_entropy_production,
        tilted_entropy_production,
        tilted_transport,
        two_state_entropy_production,
    )

    dt = run.trajectories[0].time_step_ps
    lag = settings.lag_frames
    v, v_err = drift_velocity(run.trajectories)
    v_held, v_held_err = drift_velocity(held_out)
    d, d_err = axis_diffusion(run.trajectories, settings.diffusion_window_ps)
    x = li_positions(held_out)
    v_tilted, d_tilted = tilted_transport(memberships, x, lag, dt)
    plane = hole_plane_spacing(float(run.trajectories[0].lattices[0, 0, 0]))
    # displacement between planes of holes: vibrations inside a hole are no transport
    planes = [np.round(xi / plane) * plane for xi in x]
    counted = counted_entropy_production(memberships, planes, lag, dt, plane)
    from_symmetry, affinity_root = tilted_entropy_production(memberships, planes, lag, dt)
    # intervals of both estimates from resampling whole held-out replicas
    rng = np.random.default_rng(int(1000 * force))
    resampled_counted, resampled_tilted = [], []
    for _ in range(settings.n_bootstrap):
        pick = rng.integers(0, len(held_out), len(held_out))
        chosen_memberships = [memberships[i] for i in pick]
        chosen_planes = [planes[i] for i in pick]
        resampled_counted.append(
            counted_entropy_production(chosen_memberships, chosen_planes, lag, dt, plane)
        )
        resampled_tilted.append(
            tilted_entropy_production(chosen_memberships, chosen_planes, lag, dt)[0]
        )
    model = estimate_koopman(memberships, lag, time_step_ps=dt, warn=False)
    ck = ck_test(memberships, lag, settings.ck_steps, dt, n_bootstrap=settings.n_bootstrap)
    return {
        "force_kt_per_a": force,
        "drift_velocity_A_per_ps": v,
        "drift_velocity_err": v_err,
        "drift_velocity_held_out": v_held,
        "drift_velocity_held_out_err": v_held_err,
        "drift_velocity_tilted": v_tilted,
        "diffusion_tilted_A2_per_ps": d_tilted,
        "diffusion_direct_A2_per_ps": d,
        "diffusion_direct_err": d_err,
        "entropy_production_counted": counted,
        "entropy_production_counted_err": float(np.std(resampled_counted, ddof=1)),
        "entropy_production_tilted": from_symmetry,
        "entropy_production_tilted_err": _finite_std(resampled_tilted),
        "entropy_production_tilted_failed_resamples": float(
            np.mean(~np.isfinite(resampled_tilted))
        ),
        "affinity_root_per_a": affinity_root,
        "entropy_production_expected": force * v,
        "entropy_production_expected_err": force * v_err,
        "entropy_production_two_state": two_state_entropy_production(
            model.koopman_matrix, lag * dt
        ),
        "li_temperature_k": float(np.mean(run.li_temperature_k)),
        "li_temperature_err_k": float(
            np.std(run.li_temperature_k, ddof=1) / np.sqrt(run.li_temperature_k.size)
        ),
        "timescale_ps": float(model.timescales()[0]),
        "populations": model.populations.tolist(),
        "ck_passes": bool(ck.passes),
        "ck_max_deviation": float(ck.max_deviation),
    }


def _finite_std(values: list[float], max_failed: float = 0.1) -> float:
    """Standard deviation of the resampled values; NaN — an unknown error, so no 3σ
    allowance in :func:`driven_checks` — when more than ``max_failed`` of them are not
    finite (a resample without a second root of Λ gives NaN: leaving those out would
    make the error look smaller than it is)."""
    array = np.asarray(values, dtype=np.float64)
    finite = array[np.isfinite(array)]
    if finite.size < 2 or finite.size < (1 - max_failed) * array.size:
        return float("nan")
    return float(np.std(finite, ddof=1))


def mobility_check(
    entries: list[dict[str, Any]], equilibrium: DrivenRun, settings: DrivenSettings
) -> dict[str, Any]:
    """Einstein relation: the slope of v(f) over f ≤ ``linear_response_max`` against D
    (along x, from the equilibrium replicas); both Å²/ps with f in kT/Å."""
    weak = [e for e in entries if 0 < e["force_kt_per_a"] <= settings.linear_response_max]
    slope, slope_err = mobility(
        np.array([e["force_kt_per_a"] for e in weak]),
        np.array([e["drift_velocity_A_per_ps"] for e in weak]),
        np.array([e["drift_velocity_err"] for e in weak]),
    )
    d, d_err = axis_diffusion(equilibrium.trajectories, settings.diffusion_window_ps)
    return {
        "mobility": slope,
        "mobility_err": slope_err,
        "d_over_kT": d,
        "d_over_kT_err": d_err,
        "err": float(np.hypot(slope_err, d_err)),
        "forces_kt_per_a": [e["force_kt_per_a"] for e in weak],
    }


def driven_checks(
    entries: list[dict[str, Any]], mobility_result: dict[str, Any], counted_max: float = 1.0
) -> dict[str, bool]:
    """Acceptance of part B.

    At every force with a significant drift (v > 3σ over all replicas):

    * the tilted drift within 15 % of the direct drift of the same (held-out) replicas,
      where that drift is itself significant (> 3σ over the held-out replicas);
    * the two-state model's entropy production zero (< 10⁻⁹ per ps);
    * the entropy production from the fluctuation symmetry of the tilted matrix
      (``entropy_production_tilted``) equal to f·v/kT within 20 % or within 3 combined
      bootstrap standard errors (weak forces: the noise exceeds 20 % of a small number);
    * up to ``counted_max`` kT/Å, the counted entropy production likewise. Beyond it the
      moves that carry most of the current (two planes of holes and more along the
      force) are never seen in reverse — their reverse is e^{−f·Δx/kT} ≲ 1/300 as likely —
      so the counted sum must leave them out and falls far below f·v/kT; it is reported,
      not checked.

    The rule was fixed before the runs that validate it (the chapter says which). The
    mobility equals D/kT within 3 combined standard errors.
    """

    def agrees(estimate: float, estimate_err: float, expected: float, expected_err: float) -> bool:
        tolerance = max(0.2 * abs(expected), 3 * float(np.hypot(estimate_err, expected_err)))
        return bool(np.isfinite(estimate) and abs(estimate - expected) <= tolerance)

    checks: dict[str, bool] = {}
    for e in entries:
        f, v = e["force_kt_per_a"], e["drift_velocity_A_per_ps"]
        if v <= 3 * e["drift_velocity_err"]:
            continue
        same = e.get("drift_velocity_held_out", v)
        if same > 3 * e.get("drift_velocity_held_out_err", e["drift_velocity_err"]):
            checks[f"f{f:g}_tilted_velocity"] = bool(
                abs(e["drift_velocity_tilted"] - same) <= 0.15 * abs(same)
            )
        checks[f"f{f:g}_two_state_no_entropy"] = bool(abs(e["entropy_production_two_state"]) < 1e-9)
        expected = e["entropy_production_expected"]
        expected_err = e.get("entropy_production_expected_err", 0.0)
        tilted_err = e.get("entropy_production_tilted_err", 0.0)
        checks[f"f{f:g}_entropy_production"] = agrees(
            e["entropy_production_tilted"],
            tilted_err if np.isfinite(tilted_err) else 0.0,
            expected,
            expected_err,
        )
        if f <= counted_max:
            checks[f"f{f:g}_entropy_production_counted"] = agrees(
                e["entropy_production_counted"],
                e.get("entropy_production_counted_err", 0.0),
                expected,
                expected_err,
            )
    checks["einstein_relation"] = bool(
        abs(mobility_result["mobility"] - mobility_result["d_over_kT"])
        <= 3 * mobility_result["err"]
    )
    return checks


def run_driven(
    output: str | Path | None,
    settings: DrivenSettings | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
) -> dict[str, Any]:
    """Part B end to end: simulate every force, train one GDyNet on half the replicas
    of all forces, measure transport directly and through the learned states.

    Writes ``driven.json`` and ``driven.png`` into ``output`` (if given).

    Returns
    -------
    dict
        ``driven`` (one entry per force, see :func:`driven_entry`), ``mobility_check``,
        ``checks``, ``recall`` and ``settings``.
    """
    from gdynbook.systems.toy_figures import plot_driven_transport

    settings = settings or DrivenSettings()
    runs = simulate_forces(settings, seed=seed, progress=progress)
    equilibrium = runs.pop(0.0)
    training = [t for run in runs.values() for t in run.trajectories[0::2]]
    held_out = {f"{f:g}": run.trajectories[1::2] for f, run in runs.items()}
    model = train_on_relaxation(training, settings, seed=seed, device=device, progress=progress)
    memberships, recall = ordered_memberships(model, held_out, settings.lag_frames, device)
    entries = [
        driven_entry(f, run, held_out[f"{f:g}"], memberships[f"{f:g}"], settings)
        for f, run in runs.items()
    ]
    mobility_result = mobility_check(entries, equilibrium, settings)
    result = {
        "driven": entries,
        "mobility_check": mobility_result,
        "checks": driven_checks(entries, mobility_result),
        "recall": recall.tolist(),
        "settings": asdict(settings),
        "seed": seed,
    }
    if output is not None:
        out = Path(output)
        write_json(out / "driven.json", result)
        write_figure(plot_driven_transport(entries, mobility_result).figure, out / "driven.png")
    return result


def run_out_of_equilibrium(
    output: str | Path,
    fast: bool | None = None,
    seed: int = 0,
    forces_kt_per_a: tuple[float, ...] | None = None,
    device: str = "auto",
    progress: bool = True,
) -> dict[str, Any]:
    """Parts A and B (``gdynbook driven``): ``summary.json`` and the figures in ``output``.

    Parameters
    ----------
    fast : bool, optional
        CPU-sized settings; default :func:`gdynbook.config.fast_mode` (fast without a GPU).
    forces_kt_per_a : tuple of float, optional
        Forces of part B, kT/Å (default those of the settings).

    Returns
    -------
    dict
        ``nonstationary``, ``driven``, ``mobility_check``, ``checks`` (all of both parts,
        prefixed ``nonstationary_`` and ``driven_``) and the settings.
    """
    from gdynbook import config

    fast = config.fast_mode() if fast is None else fast
    part_a_settings = NonstationarySettings.fast() if fast else NonstationarySettings()
    part_b_settings = DrivenSettings.fast() if fast else DrivenSettings()
    if forces_kt_per_a is not None:
        if not forces_kt_per_a or any(not 0 < f <= 5 for f in forces_kt_per_a):
            raise ValueError("forces must lie in (0, 5] kT/Å.")
        part_b_settings = replace(part_b_settings, forces_kt_per_a=tuple(forces_kt_per_a))
    out = Path(output)
    part_a = run_nonstationary(out, part_a_settings, seed, device, progress)
    part_b = run_driven(out, part_b_settings, seed, device, progress)
    summary = {
        "nonstationary": part_a["nonstationary"],
        "nonstationary_label_estimates": part_a["label_estimates"],
        "driven": part_b["driven"],
        "mobility_check": part_b["mobility_check"],
        "checks": {
            **{f"nonstationary_{k}": v for k, v in part_a["checks"].items()},
            **{f"driven_{k}": v for k, v in part_b["checks"].items()},
        },
        "recall": {"nonstationary": part_a["recall"], "driven": part_b["recall"]},
        "settings": {"nonstationary": part_a["settings"], "driven": part_b["settings"]},
        "fast": fast,
        "seed": seed,
    }
    write_json(out / "summary.json", summary)
    return summary
