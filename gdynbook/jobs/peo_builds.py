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

Not yet here (the plan's step 5 asks for them; they come with the data): the same report
for each left-out build of the folds, the descriptor reference model
(:mod:`gdynbook.systems.peo_litfsi.reference_model`) scored on the folds, and the
transference numbers over builds
(:func:`gdynbook.transference.transference_over_units`).

Units: ps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from gdynbook.jobs.peo import (
    PeoTraining,
    crisp_agreement,
    held_out_build_report,
    label_fractions,
    lag_from_memberships,
    staged_state_search,
    train_ensemble,
    train_model,
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


#: Training of the plan: at most 40 epochs, patience 5, the current architecture.
PLAN_TRAINING = PeoTraining(n_epochs=40, patience=5)


def learn_from_builds(
    trajectories: Sequence[Trajectory],
    names: Sequence[str],
    *,
    plan: BuildPlan | None = None,
    training: PeoTraining | None = None,
    descriptors: Sequence[np.ndarray] | None = None,
    device: str = "auto",
    progress: bool = True,
) -> tuple[dict[str, Any], list[list[np.ndarray]]]:
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

    Returns
    -------
    summary : dict
        ``builds``, ``lockbox``, ``lag`` (the rule's outcome), ``lag_ps``,
        ``n_states``, ``cross_validation``, ``held_out`` (the lockbox report),
        ``seed_agreement`` per build, ``between_ion_variance_fraction`` per build,
        ``epochs`` of every fit, ``plan`` and ``training``.
    probabilities : list (per seed) of lists (per build) of (frames, n_targets, n_states)
        The final ensemble's memberships, states matched to seed 0's.
    """
    plan = plan or BuildPlan()
    training = training or PLAN_TRAINING
    runs = check_trajectory_list(list(trajectories))
    names = [str(n) for n in names]
    if len(names) != len(runs):
        raise ValueError(f"{len(runs)} trajectories but {len(names)} names: one per build.")
    if descriptors is not None and len(descriptors) != len(runs):
        raise ValueError("give one descriptor array per build (or none).")
    lock = lockbox_index(names)
    development = [i for i in range(len(runs)) if i != lock]
    time_step = runs[0].time_step_ps

    # step 3 of the plan: the lag, from models that never see the lockbox
    from gdynbook.train import predict

    lag_results: dict[int, Any] = {}
    for n_states in plan.lag_states:
        model, history = train_model(runs, n_states, [lock], training, 0, device, progress)
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
    )
    n_states = int(stages["chosen"])

    # step 5: the ensemble on the development builds, then the lockbox, once
    _, histories, probabilities = train_ensemble(
        runs, n_states, plan.ensemble_seeds, [lock], chosen_training, device, progress
    )
    reference = probabilities[0]
    lockbox_report = held_out_build_report(
        reference[lock], lag_frames, time_step, plan.ck_steps, plan.n_bootstrap
    )
    slowest = (lockbox_report["timescales_ps"] or [None])[0] or lag_ps
    fractions = {}
    for i, name in enumerate(names):
        descriptor = np.zeros(reference[i].shape[:2]) if descriptors is None else descriptors[i]
        report = label_fractions(reference[i], descriptor, max(slowest, lag_ps), time_step)
        if descriptors is None:
            report["descriptor"] = None
        fractions[name] = report
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
        "held_out": {names[lock]: lockbox_report},
        "seed_agreement": {
            name: [crisp_agreement([reference[i]], [p[i]]) for p in probabilities[1:]]
            for i, name in enumerate(names)
        },
        "between_ion_variance_fraction": fractions,
        "epochs": {
            "cross_validation": [int(r["epochs"]) for r in cross_validation.rows],
            "ensemble": [len(h.train_score) for h in histories],
        },
        "plan": asdict(plan),
        "training": asdict(chosen_training),
    }
    return summary, probabilities
