"""Learning Li⁺ states from independent builds, step by step as the analysis plan fixes it.

``reference/peo_analysis_plan.md`` was written before the builds existed; this module
carries out its steps 1–4 and part of 5 (:func:`learn_from_builds`), built from the pieces
in :mod:`gdynbook.jobs.peo`:

1. the lockbox — the highest-numbered build — is set aside
   (:func:`~gdynbook.selection.lockbox_index`);
2. the lag: a four-state (and a two-state) model at the starting lag on the other builds,
   their implied timescales over a lag ladder, :func:`~gdynbook.lag_choice.choose_lag`
   (:func:`~gdynbook.jobs.peo.lag_from_memberships`);
3. the number of states: :func:`~gdynbook.jobs.peo.staged_state_search` with
   leave-one-build-out folds at that lag;
4. the final seed ensemble on all builds but the lockbox, and the reports: the lockbox's
   held-out VAMP-2, CK test and timescales with intervals, seed agreement per build, and
   how much of the states is a fixed label per Li⁺.

The same report is made for each left-out build of the folds (from the first seed's
cross-validation fit at the chosen number of states, which never saw it), and, given the
descriptors, for the hand-made reference model
(:mod:`gdynbook.systems.peo_litfsi.reference_model`): its sets are fixed on the training
builds of each fold and on all development builds for the lockbox.

:func:`transference_from_builds` gives the Onsager coefficients and t₊ over builds in
both reference frames (the plan's last item); it needs no learned model.
:func:`run_build_job` does all of it on a folder of builds and writes ``summary.json``,
the memberships and the models (``gdynbook peo --data <folder with build-NN>``).

Units: ps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from gdynbook.jobs.peo import (
    PeoTraining,
    crisp_agreement,
    held_out_build_report,
    label_fractions,
    lag_from_memberships,
    staged_state_search,
    train_ensemble,
    train_models,
)
from gdynbook.selection import lockbox_index
from gdynbook.trajectory import Trajectory, check_trajectory_list, lag_in_frames


@dataclass(frozen=True)
class BuildPlan:
    """The analysis plan's choices (defaults: ``reference/peo_analysis_plan.md``)."""

    candidates: tuple[int, ...] = (2, 3, 4, 5)
    lag_ladder_ps: tuple[float, ...] = (25.0, 50.0, 100.0, 200.0, 400.0)
    lag_states: tuple[int, ...] = (2, 4)
    coarse_seeds: tuple[int, ...] = (0, 1)
    extra_seeds: tuple[int, ...] = (2,)
    ensemble_seeds: tuple[int, ...] = (0, 1, 2)
    ck_steps: int = 3
    n_bootstrap: int = 100


def smoke_plan() -> tuple[BuildPlan, PeoTraining]:
    """A minutes-long run of the whole pipeline with tiny models (``gdynbook peo --preset
    smoke``): every step of the plan, none of its results."""
    plan = BuildPlan(
        candidates=(2, 3),
        lag_ladder_ps=(5.0, 10.0, 20.0),
        lag_states=(2,),
        coarse_seeds=(0,),
        extra_seeds=(),
        ensemble_seeds=(0,),
        ck_steps=2,
        n_bootstrap=10,
    )
    training = PeoTraining(
        lag_ps=10.0, n_conv=1, n_neighbors=4, atom_fea_len=8, h_fea_len=8, n_epochs=1, patience=1
    )
    return plan, training


#: Training of the plan: at most 40 epochs, patience 5, the current architecture; each
#: epoch trains on 600 random pairs (a quarter of a fold's ~2,500), validation on all of
#: them (the plan's "Revisions before any data": the full epochs would take ~20 h).
PLAN_TRAINING = PeoTraining(n_epochs=40, patience=5, pairs_per_epoch=600)


class BuildResult(NamedTuple):
    """What :func:`learn_from_builds` returns (unpacks as a 4-tuple)."""

    #: Everything the plan reports (see :func:`learn_from_builds`).
    summary: dict[str, Any]
    #: Per seed, per build: the final ensemble's memberships, states matched to seed 0's.
    probabilities: list[list[np.ndarray]]
    #: The final ensemble, one model per seed.
    models: list[Any]
    #: Per development build: its memberships from the cross-validation fit that held it
    #: out (the first seed, the chosen number of states), states in that fit's order.
    fold_memberships: dict[str, np.ndarray]


def learn_from_builds(
    trajectories: Sequence[Trajectory],
    names: Sequence[str],
    *,
    plan: BuildPlan | None = None,
    training: PeoTraining | None = None,
    descriptors: Sequence[np.ndarray] | None = None,
    reference_inputs: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    open_lockbox: bool = True,
    device: str = "auto",
    progress: bool = True,
    store: Any = None,
) -> BuildResult:
    """Run the analysis plan on independent builds.

    Parameters
    ----------
    trajectories : list of Trajectory
        One per build, Li⁺ (or any equivalent atoms) as targets.
    names : list of str
        Build names (``build-NN``); the one that sorts last is the lockbox.
    plan : BuildPlan, optional
    training : PeoTraining, optional
        Default :data:`PLAN_TRAINING`; its ``lag_ps`` is the starting lag.
    descriptors : list of numpy.ndarray, optional
        A non-learned per-frame, per-target quantity per build (frames, n_targets), e.g.
        the chain-end distance, for the fixed-label comparison.
    reference_inputs : list of (numpy.ndarray, numpy.ndarray), optional
        Per build, the reference model's descriptors, each (frames, n_targets): whether
        a TFSI O touches the Li⁺, and its distance from a chain end (EO units, NaN where
        undefined).
    open_lockbox : bool
        Score the lockbox (the plan's last step, done once). ``False`` for checks and
        partial data: nothing about the lockbox is computed or reported.
    store : FitStore, optional
        Keep every finished fit and reuse stored ones (:mod:`gdynbook.jobs.fit_store`):
        a stopped run resumes, a second process started alike shares the fits.

    Returns
    -------
    summary : dict
        ``builds``, ``lockbox``, ``lag`` (the rule's outcome), ``lag_ps``,
        ``n_states``, ``cross_validation``, ``held_out`` (per build: the lockbox's
        report and each fold's; ``held_out_role`` says which is which),
        ``pooled`` (the same report for the final model on every reported build
        pooled — in-sample but for the lockbox: a summary, never a test),
        ``reference``
        (the same reports for the descriptor model, with its sets; given
        ``reference_inputs``),
        ``seed_agreement`` per build, ``between_ion_variance_fraction`` per build,
        ``strata`` (given descriptors: the states within terciles of each Li⁺'s mean
        descriptor, :func:`~gdynbook.systems.peo_litfsi.strata.states_within_strata`),
        ``timescales_ps`` (the final model on the development builds, intervals from
        resampling whole builds, and the lockbox's held-out ones once opened),
        ``populations`` (per development build and over them), ``epochs`` of every
        fit, ``plan`` and ``training``.
    probabilities : list (per seed) of lists (per build) of (frames, n_targets, n_states)
        The final ensemble's memberships, states matched to seed 0's.
    models : list of GDyNet
        The final ensemble, one per seed (trained on every build but the lockbox).
    fold_memberships : dict of str to numpy.ndarray
        Per development build, (frames, n_targets, n_states) from the cross-validation
        fit that held it out: what its ``held_out`` report was computed from.

    The four come as a :class:`BuildResult`.
    """
    plan = plan or BuildPlan()
    training = training or PLAN_TRAINING
    runs = check_trajectory_list(list(trajectories))
    names = [str(n) for n in names]
    if len(names) != len(runs):
        raise ValueError(f"{len(runs)} trajectories but {len(names)} names: one per build.")
    if descriptors is not None and len(descriptors) != len(runs):
        raise ValueError("give one descriptor array per build (or none).")
    if reference_inputs is not None and len(reference_inputs) != len(runs):
        raise ValueError("give one (contact, distance) pair per build (or none).")
    lock = lockbox_index(names)
    development = [i for i in range(len(runs)) if i != lock]
    time_step = runs[0].time_step_ps

    # step 3 of the plan: the lag, from models that never see the lockbox
    from gdynbook.train import predict

    lag_results: dict[int, Any] = {}
    lag_fits = train_models(
        runs,
        [(n, [lock], 0) for n in plan.lag_states],
        training,
        device,
        progress,
        store,
        "models for the lag",
    )
    for n_states, fit in zip(plan.lag_states, lag_fits, strict=True):
        model, history = fit.model, fit.history
        memberships = predict(model, [runs[i] for i in development], device=device)
        choice, its = lag_from_memberships(
            memberships, plan.lag_ladder_ps, time_step, n_bootstrap=plan.n_bootstrap
        )
        lag_results[n_states] = {
            "choice": asdict(choice),
            "description": choice.describe(),
            "lags_ps": its.lags_ps.tolist(),
            "timescales_ps": its.timescales_ps.tolist(),
            "lower_ps": its.lower_ps.tolist(),
            "upper_ps": its.upper_ps.tolist(),
            "epochs": len(history.train_score),
        }
    deciding = lag_results[max(plan.lag_states)]["choice"]
    lag_ps = float(deciding["lag_ps"]) if deciding["levels_off"] else float(training.lag_ps)
    chosen_training = replace(training, lag_ps=lag_ps)
    lag_frames = lag_in_frames(lag_ps, time_step, "chosen lag")

    # step 4: the number of states, leave-one-build-out on the development builds
    cross_validation, stages = staged_state_search(
        runs,
        plan.candidates,
        train_runs=development,
        training=chosen_training,
        coarse_seeds=plan.coarse_seeds,
        extra_seeds=plan.extra_seeds,
        device=device,
        progress=progress,
        keep_memberships=True,
        store=store,
    )
    n_states = int(stages["chosen"])
    fold_seed = int(plan.coarse_seeds[0])

    # step 5: the ensemble on the development builds, then the lockbox, once
    models, histories, probabilities = train_ensemble(
        runs,
        n_states,
        plan.ensemble_seeds,
        [lock],
        chosen_training,
        device,
        progress,
        match_on=development,  # the lockbox plays no part in matching seeds
        store=store,
    )
    reference = probabilities[0]
    held_out = {}
    if open_lockbox:
        held_out[names[lock]] = held_out_build_report(
            reference[lock], lag_frames, time_step, plan.ck_steps, plan.n_bootstrap
        )
    # each fold's model at the chosen n was trained without its build (the lag and the
    # number of states were chosen on these folds, so the scores lean optimistic)
    for i in development:
        held_out[names[i]] = held_out_build_report(
            cross_validation.memberships[(n_states, i, fold_seed)],
            lag_frames,
            time_step,
            plan.ck_steps,
            plan.n_bootstrap,
        )
    # the pooled summary: one model (the final seed 0) on every reported build. Pooling
    # the folds' memberships instead would mix models: each model's offset on its own
    # build then acts as a label frozen per build (on stand-in data it doubled VAMP-2).
    pooled = held_out_build_report(
        [reference[i] for i in range(len(runs)) if open_lockbox or i != lock],
        lag_frames,
        time_step,
        plan.ck_steps,
        plan.n_bootstrap,
    )
    reference_summary = None
    if reference_inputs is not None:
        reference_summary = reference_model_reports(
            reference_inputs, names, lock, lag_frames, time_step, plan, open_lockbox
        )
    # the final model on the development builds (in-sample): its timescales, whose slowest
    # is the baseline's lifetime, and the populations per build
    timescales, populations = _development_koopman_summary(
        reference, development, lag_frames, time_step, plan.n_bootstrap
    )
    first = timescales["value"][0] if timescales["value"] else None
    slowest = lag_ps if first is None else float(first)
    if open_lockbox:
        lockbox_report = held_out[names[lock]]
        timescales["lockbox"] = {
            "value": lockbox_report["timescales_ps"],
            "lower": lockbox_report["timescales_lower_ps"],
            "upper": lockbox_report["timescales_upper_ps"],
        }
    reported = [i for i in range(len(names)) if open_lockbox or i != lock]
    fractions = {}
    for i in reported:
        name = names[i]
        descriptor = np.zeros(reference[i].shape[:2]) if descriptors is None else descriptors[i]
        report = label_fractions(reference[i], descriptor, max(slowest, lag_ps), time_step)
        if descriptors is None:
            report["descriptor"] = None
        fractions[name] = report
    strata = None
    if descriptors is not None:
        strata = _strata_summary(
            [reference[i] for i in reported],
            [descriptors[i] for i in reported],
            lag_frames,
            time_step,
        )
    summary = {
        "builds": names,
        "lockbox": names[lock],
        "lag": {str(n): result for n, result in lag_results.items()},
        "lag_ps": lag_ps,
        "n_states": n_states,
        "cross_validation": {
            "rows": cross_validation.rows,
            "scores": {str(k): v for k, v in cross_validation.scores().items()},
            "gain": {str(k): v for k, v in cross_validation.per_state_gain().items()},
            **stages,
        },
        "held_out": held_out,
        "held_out_role": {names[i]: "lockbox" if i == lock else "fold" for i in reported},
        "pooled": pooled,
        "lockbox_opened": bool(open_lockbox),
        "timescales_ps": timescales,
        "populations": populations,
        "reference": reference_summary,
        "seed_agreement": {
            names[i]: [crisp_agreement([reference[i]], [p[i]]) for p in probabilities[1:]]
            for i in reported
        },
        "between_ion_variance_fraction": fractions,
        "strata": strata,
        "epochs": {
            "cross_validation": [int(r["epochs"]) for r in cross_validation.rows],
            "ensemble": [len(h.train_score) for h in histories],
        },
        "plan": asdict(plan),
        "training": asdict(chosen_training),
    }
    fold_memberships = {
        names[i]: cross_validation.memberships[(n_states, i, fold_seed)] for i in development
    }
    return BuildResult(summary, probabilities, models, fold_memberships)


def _strata_summary(
    probabilities: Sequence[np.ndarray],
    descriptors: Sequence[np.ndarray],
    lag_frames: int,
    time_step_ps: float,
) -> dict[str, Any]:
    """The states within terciles of the per-Li⁺ mean descriptor (over the frames that
    have a value), as JSON-ready lists
    (:func:`~gdynbook.systems.peo_litfsi.strata.states_within_strata`)."""
    from gdynbook.jobs.rundir import json_numbers
    from gdynbook.systems.peo_litfsi.strata import states_within_strata

    found = states_within_strata(probabilities, list(descriptors), lag_frames, time_step_ps)

    return {
        "edges": json_numbers(found.edges),
        "n_li": [int(n) for n in found.n_li],
        "populations": json_numbers(found.populations),
        "within_ion_share": json_numbers(found.within_ion_share),
        "slowest_timescale_ps": json_numbers(found.slowest_timescale_ps),
        "n_li_without_value": int(found.n_li_without_value),
    }


def reference_model_reports(
    reference_inputs: Sequence[tuple[np.ndarray, np.ndarray]],
    names: Sequence[str],
    lock: int,
    lag_frames: int,
    time_step_ps: float,
    plan: BuildPlan,
    open_lockbox: bool = True,
) -> dict[str, Any]:
    """The hand-made reference model, scored like GDyNet: per development build with sets
    fixed on the other development builds, and on the lockbox with sets fixed on all of
    them (:func:`~gdynbook.systems.peo_litfsi.reference_model.fit_descriptor_sets`).

    Returns
    -------
    dict
        ``held_out`` (per build: :func:`~gdynbook.jobs.peo.held_out_build_report` of the
        crisp memberships, plus ``n_sets`` and ``edges_eo``), ``mean_fold_vamp2``.
    """
    from gdynbook.systems.peo_litfsi.reference_model import fit_descriptor_sets

    development = [i for i in range(len(names)) if i != lock]
    reports: dict[str, Any] = {}
    for held in [*development, lock] if open_lockbox else development:
        fitted_on = [i for i in development if i != held]
        sets = fit_descriptor_sets(
            [reference_inputs[i][0] for i in fitted_on],
            [reference_inputs[i][1] for i in fitted_on],
        )
        memberships = sets.memberships(*reference_inputs[held])
        report = held_out_build_report(
            memberships, lag_frames, time_step_ps, plan.ck_steps, plan.n_bootstrap
        )
        report["n_sets"] = sets.n_states
        report["edges_eo"] = [float(e) for e in sets.edges]
        reports[names[held]] = report
    fold_scores = [reports[names[i]]["vamp2"] for i in development]
    return {"held_out": reports, "mean_fold_vamp2": float(np.mean(fold_scores))}


def transference_from_builds(
    builds: Sequence[Any],
    confidence: float = 0.95,
    n_bootstrap: int = 200,
    memberships: Sequence[np.ndarray] | None = None,
) -> dict[str, Any]:
    """Onsager coefficients and t₊ over independent builds, in both reference frames
    (the analysis plan, step 5), and what carries the cation current.

    Each build is one sample: its coefficients are fitted over 10–30 % of its length
    (the default window of :func:`~gdynbook.transference.onsager_coefficients`), with the
    system's (barycentric) or the solvent's (PEO) centre-of-mass displacement subtracted;
    masses are the builds' own (united-atom for heavy-atom frames). Intervals are over
    builds: Student's t with n − 1 degrees of freedom for the coefficients, a jackknife
    over builds for the ratios t₊ (:func:`~gdynbook.transference.transference_over_units`).

    The numerator of t₊, L₊₊ − L₊₋, is split by what each Li⁺ was while it moved
    (:func:`~gdynbook.transference.cation_current_by_group`): in a negatively charged
    ion cluster or not, and, given ``memberships``, in which learned state.

    Parameters
    ----------
    builds : list of PeoLitfsiRun
        Independent builds (:func:`~gdynbook.systems.peo_litfsi.runs.load_builds`).
    confidence : float
        Two-sided coverage of the intervals.
    memberships : list of numpy.ndarray or None, optional
        Per build, the learned states of its Li⁺, (frames, n_li, n_states), summing to
        one over states; None for a build the model must not be applied to (a shut
        lockbox), which then has no part in the by-state splits.

    Returns
    -------
    dict
        Per frame (``barycentric``, ``solvent``): ``samples`` (per build L₊₊, L₋₋, L₊₋,
        D₊, D₋ in Å²/ps), ``fit_window_ps`` per build, the intervals ``l_pp``,
        ``l_mm``, ``l_pm``, ``d_plus``, ``d_minus``, ``ideal``, ``full`` (value,
        standard error, half-width, …), ``negative_clusters`` and (given memberships)
        ``by_state`` and ``by_state_and_cluster`` (state k in a negative cluster, then
        elsewhere, for each k): ``groups``, ``builds`` (those the split is over), per
        group ``samples`` (per build, Å²/ps) and ``intervals``, and ``share`` (each
        group's mean term over the mean L₊₊ − L₊₋ of the same builds — None for every
        group when the interval of L₊₊ − L₊₋ includes 0, where a share means nothing).
        ``msd_exponent``: per build, the slope of log MSD against log t of Li⁺ and
        TFSI⁻ over the fit window (barycentric frame; 1 is diffusive). ``builds``: names.

    Raises
    ------
    ValueError
        With fewer than two builds (no interval over one unit).
    """
    import mdtraj

    from gdynbook.intervals import t_interval
    from gdynbook.systems.peo_litfsi.diagnostics import msd_exponent
    from gdynbook.transference import (
        cation_current_by_group,
        displacement_correlations,
        formal_charges,
        ion_centre_positions,
        ion_clusters,
        onsager_coefficients,
        transference_over_units,
    )

    if len(builds) < 2:
        raise ValueError(
            f"{len(builds)} build(s): intervals over builds need at least two independent builds."
        )
    if memberships is not None and len(memberships) != len(builds):
        raise ValueError(
            f"{len(builds)} builds and {len(memberships)} membership arrays: one per build."
        )
    frames = ("barycentric", "solvent")
    samples: dict[str, list[np.ndarray]] = {frame: [] for frame in frames}
    windows: dict[str, list[list[float]]] = {frame: [] for frame in frames}
    splits = ("negative_clusters", "by_state", "by_state_and_cluster")
    groups: dict[str, dict[str, list[np.ndarray]]] = {
        frame: {key: [] for key in splits} for frame in frames
    }
    # which builds each split is over: every build, or those the model may be applied to
    learned = [
        b for b in range(len(builds)) if memberships is not None and memberships[b] is not None
    ]
    split_builds = {
        "negative_clusters": list(range(len(builds))),
        "by_state": learned,
        "by_state_and_cluster": learned,
    }
    exponents: dict[str, list[float]] = {"li": [], "tfsi": []}
    for b, build in enumerate(builds):
        topology = mdtraj.load_topology(str(build.path / "topology.pdb"))
        charges = formal_charges(topology, build.masses)
        cations, anions, solvents, systems = ion_centre_positions([build.traj], charges)
        dt = build.traj.time_step_ps
        negative = ion_clusters(build.traj, charges).net_charge[:, charges.cation] < 0
        in_negative = np.stack([negative, ~negative], axis=-1).astype(np.float64)
        for frame, centre in zip(frames, (systems[0], solvents[0]), strict=True):
            cation, anion = cations[0] - centre[:, None], anions[0] - centre[:, None]
            result = onsager_coefficients([cation], [anion], dt, n_bootstrap=n_bootstrap)
            window = tuple(float(w) for w in result.fit_window_ps)
            samples[frame].append(result.samples[0])
            windows[frame].append(list(window))
            groups[frame]["negative_clusters"].append(
                cation_current_by_group(cation, anion, in_negative, dt, window)
            )
            if b in learned:
                chi = np.asarray(memberships[b], dtype=np.float64)
                n = chi.shape[0]
                groups[frame]["by_state"].append(
                    cation_current_by_group(cation[:n], anion[:n], chi, dt, window)
                )
                # state k in a negative cluster, then state k elsewhere, for each k
                crossed = (chi[..., :, None] * in_negative[:n, :, None, :]).reshape(
                    *chi.shape[:2], -1
                )
                groups[frame]["by_state_and_cluster"].append(
                    cation_current_by_group(cation[:n], anion[:n], crossed, dt, window)
                )
            if frame == "barycentric":
                lags = np.unique(
                    np.geomspace(window[0] / dt, window[1] / dt, 12).round().astype(int)
                )
                lags = lags[(lags * dt >= window[0]) & (lags * dt <= window[1])]
                self_msd = displacement_correlations(cation, anion, lags)[3:]  # Li⁺, TFSI⁻
                for key, msd in zip(("li", "tfsi"), self_msd, strict=True):
                    exponents[key].append(msd_exponent(lags * dt, msd, window))
    summary: dict[str, Any] = {
        "builds": [build.path.name for build in builds],
        "msd_exponent": exponents,
    }
    for frame in frames:
        units = np.array(samples[frame])
        intervals = transference_over_units(units, confidence)
        summary[frame] = {
            "samples": units.tolist(),
            "fit_window_ps": windows[frame],
            **{name: asdict(interval) for name, interval in intervals.items()},
        }
        n_states = np.shape(memberships[learned[0]])[-1] if learned else 0
        labels_of = {
            "negative_clusters": ["in a negative cluster", "not"],
            "by_state": [f"state {k}" for k in range(n_states)],
            "by_state_and_cluster": [
                f"state {k}, {where}"
                for k in range(n_states)
                for where in ("in a negative cluster", "not")
            ],
        }
        for key in splits:
            terms = np.array(groups[frame][key])
            if terms.size == 0:
                continue
            over = split_builds[key]
            entry: dict[str, Any] = {
                "groups": labels_of[key],
                "builds": [builds[b].path.name for b in over],
                "samples": terms.tolist(),
                "intervals": None,
                "share": None,
            }
            if len(over) >= 2:
                entry["intervals"] = [
                    asdict(t_interval(terms[:, g], confidence)) for g in range(terms.shape[1])
                ]
                # a share of L₊₊ − L₊₋ only where that total is clearly not zero
                total = t_interval(units[over, 0] - units[over, 2], confidence)
                if total.low > 0 or total.high < 0:
                    entry["share"] = (terms.mean(axis=0) / total.value).tolist()
            summary[frame][key] = entry
    return summary


def _development_koopman_summary(
    probabilities: Sequence[np.ndarray],
    development: Sequence[int],
    lag_frames: int,
    time_step_ps: float,
    n_bootstrap: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Timescales of the final model's memberships pooled over the development builds
    (intervals from resampling whole builds), and the stationary populations per build
    (mean with a Student-t interval over builds). In-sample for the final model."""
    from gdynbook.intervals import t_interval
    from gdynbook.jobs.rundir import json_numbers
    from gdynbook.koopman import estimate_koopman, implied_timescales, split_targets

    series, groups = [], []
    for i in development:
        per_li = split_targets([probabilities[i]])
        series += per_li
        groups += [i] * len(per_li)
    its = implied_timescales(
        series,
        [lag_frames],
        time_step_ps,
        n_bootstrap=n_bootstrap,
        resample="groups",
        groups=groups,
    )

    timescales = {
        "value": json_numbers(its.timescales_ps[0]),
        "lower": json_numbers(its.lower_ps[0]),
        "upper": json_numbers(its.upper_ps[0]),
        "builds": [int(i) for i in development],
        "resample": "builds",
    }
    per_build = np.array(
        [
            estimate_koopman(split_targets([probabilities[i]]), lag_frames, warn=False).populations
            for i in development
        ]
    )
    intervals = [asdict(t_interval(per_build[:, k])) for k in range(per_build.shape[1])]
    populations = {"per_build": per_build.tolist(), "over_builds": intervals}
    return timescales, populations


def run_build_job(
    root: str | Path,
    output: str | Path,
    *,
    plan: BuildPlan | None = None,
    training: PeoTraining | None = None,
    max_frames: int | None = None,
    open_lockbox: bool = True,
    device: str = "auto",
    progress: bool = True,
    keep_fits: bool = True,
    prediction_seeds: Sequence[int] | None = None,
    finished_only: bool = False,
) -> dict[str, Any]:
    """The analysis plan on the builds under ``root``, written to ``output``.

    Loads every ``build-NN`` (:func:`~gdynbook.systems.peo_litfsi.runs.load_builds`),
    computes the non-learned descriptors
    (:func:`~gdynbook.systems.peo_litfsi.shells.li_descriptors`), runs
    :func:`learn_from_builds` and :func:`transference_from_builds`, and writes

    * ``summary.json``: everything :func:`learn_from_builds` reports, plus
      ``reference_vamp2``, ``transference``, ``frames``, ``time_step_ps``,
      ``wall_time_s``;
    * ``predictions.npz``: memberships per seed and build (``seed<S>_<build>``, float32;
      the seeds in ``prediction_seeds``, the builds in ``predicted_builds``: all of them
      once the lockbox is open), and each development build's memberships from the
      cross-validation fit that held it out (``fold_<build>``; its ``held_out`` report
      follows from them; :func:`load_fold_memberships`);
    * ``gdynet-seed<S>.pt``: the final models.

    Parameters
    ----------
    root : path
        Folder with the ``build-NN`` directories.
    output : path
    plan, training : optional
        Default: the registered plan (:class:`BuildPlan`, :data:`PLAN_TRAINING`).
    max_frames : int, optional
        Use only the first frames of every build (quick checks; not the plan).
    open_lockbox : bool
        Score the lockbox: the plan's final step, once, on finished builds only. Checks
        (a smoke plan, fewer frames, unfinished builds) pass ``False``: then the model
        is not applied to the lockbox in anything computed or written (its MD enters
        only the model-free transport coefficients).
    keep_fits : bool
        Keep every finished fit in ``output/fits``
        (:class:`~gdynbook.jobs.fit_store.FitStore`): the same command started again
        resumes where it stopped, and a
        second process started alike trains the fits the first has not reached.
        ``summary.json`` records their summed training time, ``fit_wall_time_s``.
    prediction_seeds : sequence of int, optional
        Write the memberships of these ensemble seeds only (default: every seed); the
        summary's seed agreement still covers them all. Shipped data keep seed 0.
    finished_only : bool
        Leave out builds whose production is still running (an interim run while the
        campaign goes on). With any left out, the last finished build is set aside as
        the lockbox would be, and it stays shut: ``open_lockbox`` must be False.

    Raises
    ------
    ValueError
        If ``open_lockbox`` and a build is unfinished (the lockbox is the last of the
        registered builds, not the last one started).
    """
    import time

    from gdynbook import __version__
    from gdynbook.jobs.fit_store import FitStore
    from gdynbook.jobs.rundir import save_checkpoint, write_arrays, write_json
    from gdynbook.systems.peo_litfsi.runs import load_builds
    from gdynbook.systems.peo_litfsi.shells import li_descriptors

    plan = plan or BuildPlan()
    training = training or PLAN_TRAINING
    if prediction_seeds is not None:
        unknown = sorted(set(prediction_seeds) - set(plan.ensemble_seeds))
        if unknown or not prediction_seeds:
            raise ValueError(
                f"prediction_seeds {list(prediction_seeds)}: give one or more of the "
                f"ensemble's seeds {list(plan.ensemble_seeds)}."
            )
    started = time.perf_counter()
    builds = load_builds(root)
    unfinished = [b.path.name for b in builds if not b.provenance.get("complete")]
    if finished_only and unfinished:
        if open_lockbox:
            raise ValueError(
                f"finished_only leaves out {', '.join(unfinished)}: the lockbox is the last "
                "registered build, so an interim run keeps it shut (open_lockbox=False)."
            )
        builds = [b for b in builds if b.provenance.get("complete")]
        if len(builds) < 3:
            raise ValueError(
                f"{len(builds)} finished build(s) ({', '.join(b.path.name for b in builds)}; "
                f"still running: {', '.join(unfinished)}): an interim run needs three, one "
                "to set aside and two to cross-validate. Wait for the campaign."
            )
        unfinished = []
    if open_lockbox and unfinished:
        raise ValueError(
            f"build(s) {', '.join(unfinished)} are not finished: the plan opens the lockbox "
            "once, on the finished builds. Wait for the campaign, or run a check that "
            "leaves the lockbox closed (open_lockbox=False; gdynbook peo --preset smoke)."
        )
    if max_frames is not None:
        builds = [replace(b, traj=b.traj[:max_frames]) for b in builds]
    names = [b.path.name for b in builds]
    trajectories = [b.traj for b in builds]
    inputs = [li_descriptors(b) for b in builds]
    store = FitStore(Path(output) / "fits") if keep_fits else None
    summary, probabilities, models, fold_memberships = learn_from_builds(
        trajectories,
        names,
        plan=plan,
        training=training,
        descriptors=[distance for _, distance in inputs],
        reference_inputs=inputs,
        open_lockbox=open_lockbox,
        device=device,
        progress=progress,
        store=store,
    )
    time_step = trajectories[0].time_step_ps
    lag_frames = lag_in_frames(summary["lag_ps"], time_step, "chosen lag")
    # a shut lockbox: the model is not applied to it anywhere in what is written
    applied = [
        [
            p if open_lockbox or name != summary["lockbox"] else None
            for p, name in zip(per, names, strict=True)
        ]
        for per in probabilities
    ]
    summary.update(
        {
            "gdynbook_version": __version__,
            "frames": [t.n_frames for t in trajectories],
            "time_step_ps": time_step,
            "reference_vamp2": summary["reference"]["mean_fold_vamp2"],
            "transference": transference_from_builds(
                builds, n_bootstrap=plan.n_bootstrap, memberships=applied[0]
            ),
            "predicted_builds": [n for n in names if open_lockbox or n != summary["lockbox"]],
            "seeds": [int(s) for s in plan.ensemble_seeds],
            "finished_only": bool(finished_only),
            "prediction_seeds": [
                int(s)
                for s in (plan.ensemble_seeds if prediction_seeds is None else prediction_seeds)
            ],
            "fold_memberships": {
                "seed": int(plan.coarse_seeds[0]),
                "n_states": summary["n_states"],
                "builds": list(fold_memberships),
            },
            "max_frames": max_frames,
        }
    )
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    for seed, model in zip(plan.ensemble_seeds, models, strict=True):
        save_checkpoint(
            model, out / f"gdynet-seed{seed}.pt", lag_frames=lag_frames, time_step_ps=time_step
        )
    written = set(summary["prediction_seeds"])
    write_arrays(
        out / "predictions.npz",
        **{
            f"seed{seed}_{name}": p.astype(np.float32)
            for seed, per_build in zip(plan.ensemble_seeds, applied, strict=True)
            if seed in written
            for name, p in zip(names, per_build, strict=True)
            if p is not None
        },
        **{f"fold_{name}": p.astype(np.float32) for name, p in fold_memberships.items()},
    )
    summary["wall_time_s"] = time.perf_counter() - started
    if store is not None:
        summary["fit_wall_time_s"] = store.total_wall_time_s()
    write_json(out / "summary.json", summary)
    return summary


def load_fold_memberships(folder: str | Path) -> dict[str, np.ndarray]:
    """Each development build's memberships from the cross-validation fit that held it
    out, as :func:`run_build_job` wrote them (``summary["fold_memberships"]``): build name
    → (frames, n_li, n_states), float64.

    Raises
    ------
    KeyError
        If the folder was written by an older gdynbook, without them.
    """
    import json

    folder = Path(folder)
    summary = json.loads((folder / "summary.json").read_text())
    if "fold_memberships" not in summary:
        raise KeyError(
            f"{folder} has no fold memberships: it was written by an older gdynbook; run "
            "the plan again (gdynbook peo --layout builds) to get them."
        )
    with np.load(folder / "predictions.npz") as stored:
        return {
            name: stored[f"fold_{name}"].astype(np.float64)
            for name in summary["fold_memberships"]["builds"]
        }
