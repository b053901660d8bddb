"""Learning Li⁺ states in PEO/LiTFSI: held-out runs, the number of states, a seed ensemble.

The chapter "Learning Li⁺ states" and ``gdynbook peo`` use these steps:

* :func:`held_out_split` — training and validation from some runs, whole runs held out;
* :func:`cross_validate_n_states` — VAMP-2 on held-out runs for each candidate number of
  states (each run held out in turn);
* :func:`train_ensemble` — the chosen model trained with several seeds, states matched
  across seeds by :func:`match_to_reference` (Hungarian assignment);
* :func:`run_peo_job` — all of it, writing checkpoints, predictions and ``summary.json``.

Units: ps, Å.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from gdynbook.dataset import Segment, TrajectoryDataset
from gdynbook.selection import CrossValidation
from gdynbook.trajectory import Trajectory, check_trajectory_list

if TYPE_CHECKING:  # pragma: no cover
    from gdynbook.koopman import ImpliedTimescales
    from gdynbook.lag_choice import LagChoice
    from gdynbook.model import GDyNetConfig
    from gdynbook.train import TrainingSettings


@dataclass(frozen=True)
class PeoTraining:
    """Model and training settings for Li⁺ in PEO/LiTFSI.

    Two graph convolutions over heavy atoms (in PEO most of a Li⁺'s nearest atoms are H)
    within 6 Å, 12 neighbours; trained at a lag of 100 ps — within the range where the
    solvation relaxes (tens to hundreds of ps at 423 K) and short enough for ~480 pairs
    per 2.5 ns run. Measured on one CPU core: ~10 s per epoch over three runs.

    The encoder fields carry :class:`~gdynbook.model.GDyNetConfig`'s names (``cutoff``
    in Å, ``node_selection``), the training fields :class:`~gdynbook.train.TrainingSettings`'s.
    """

    lag_ps: float = 100.0
    n_conv: int = 2
    n_neighbors: int = 12
    cutoff: float = 6.0
    atom_fea_len: int = 16
    h_fea_len: int = 16
    node_selection: str = "heavy"
    n_epochs: int = 15
    batch_size: int = 128
    lr: float = 5e-3
    validation_share: float = 0.2
    pairs_per_epoch: int | None = None
    patience: int | None = None

    #: Older names of fields, as stored in summaries written before the rename.
    RENAMED: ClassVar[dict[str, str]] = {"cutoff_a": "cutoff", "graph_atoms": "node_selection"}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PeoTraining:
        """Settings from a stored summary, older field names included."""
        return cls(**{cls.RENAMED.get(key, key): value for key, value in values.items()})

    def encoder(self, n_states: int) -> GDyNetConfig:
        """The encoder's settings for ``n_states`` states."""
        from gdynbook.model import GDyNetConfig

        return GDyNetConfig(
            n_states=n_states,
            atom_fea_len=self.atom_fea_len,
            h_fea_len=self.h_fea_len,
            n_conv=self.n_conv,
            n_neighbors=self.n_neighbors,
            cutoff=self.cutoff,
            node_selection=self.node_selection,
        )

    def settings(self) -> TrainingSettings:
        """How to train: ``n_epochs`` at most; with ``patience``, stop when validation
        VAMP-2 has not improved for that many epochs (None: every fit runs all epochs)."""
        from gdynbook.train import TrainingSettings

        return TrainingSettings(
            n_epochs=self.n_epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            patience=self.patience,
            pairs_per_epoch=self.pairs_per_epoch,
        )

    def model(self, n_states: int) -> Any:
        """A fresh GDyNet with these settings (seed torch first for reproducible weights)."""
        from gdynbook.model import GDyNet

        return GDyNet(self.encoder(n_states))


def held_out_split(
    trajectories: Sequence[Trajectory], test_runs: Sequence[int], validation_share: float = 0.2
) -> TrajectoryDataset:
    """Hold out whole runs for testing; of every other run, train on the first part and
    validate (early stopping) on the last ``validation_share`` of its frames.

    Raises
    ------
    ValueError
        If no run is left for training or a test run does not exist.
    """
    runs = check_trajectory_list(list(trajectories))
    test = sorted({int(i) for i in test_runs})
    if any(not 0 <= i < len(runs) for i in test):
        raise ValueError(f"test_runs {test} must be run numbers 0 … {len(runs) - 1}.")
    training = [i for i in range(len(runs)) if i not in test]
    if not training:
        raise ValueError("every run is held out: keep at least one run for training.")
    if not 0 <= validation_share < 1:
        raise ValueError("validation_share must lie in [0, 1).")
    splits: dict[str, list[Segment]] = {"train": [], "validation": [], "test": []}
    for index in training:
        n_frames = runs[index].n_frames
        cut = int(round((1 - validation_share) * n_frames))
        splits["train"].append(Segment(index, 0, cut))
        if cut < n_frames:
            splits["validation"].append(Segment(index, cut, n_frames))
    splits["test"] = [Segment(i, 0, runs[i].n_frames) for i in test]
    return TrajectoryDataset.from_segments(runs, splits, split_by="held-out runs")


def held_out_vamp2(probabilities: Sequence[np.ndarray], lag_frames: int) -> float:
    """VAMP-2 of state probabilities over the given runs (every target, every pair).

    Parameters
    ----------
    probabilities : list of numpy.ndarray, each (n_frames, n_targets, n_states)
    lag_frames : int
    """
    from gdynbook.koopman import as_trajectory_list, lagged_pairs
    from gdynbook.vamp import vamp_score

    return float(vamp_score(*lagged_pairs(as_trajectory_list(probabilities), lag_frames)))


def fit_key(
    trajectories: Sequence[Trajectory],
    n_states: int,
    test_runs: Sequence[int],
    training: PeoTraining,
    seed: int,
) -> str:
    """The :class:`~gdynbook.jobs.fit_store.FitStore` key of one :func:`train_model` fit:
    the data's fingerprint, the number of states, the held-out runs, the settings and
    the seed."""
    from gdynbook.jobs.fit_store import FitStore, data_fingerprint

    return FitStore.key(
        data=data_fingerprint(trajectories),
        n_states=int(n_states),
        test_runs=sorted(int(i) for i in test_runs),
        training=asdict(training),
        seed=int(seed),
    )


def train_models(
    trajectories: Sequence[Trajectory],
    fits: Sequence[tuple[int, Sequence[int], int]],
    training: PeoTraining | None = None,
    device: str = "auto",
    progress: bool = False,
    store: Any = None,
    description: str = "fits",
) -> list[Any]:
    """Train several GDyNets, each ``(n_states, test_runs, seed)``, through a
    :class:`~gdynbook.jobs.fit_store.FitStore` when one is given (stored fits are
    loaded, fits another process is training are awaited).

    Returns
    -------
    list of :class:`~gdynbook.jobs.fit_store.StoredFit`
        ``model``, ``history``, ``wall_time_s``, ``loaded``, in the order of ``fits``.
    """
    from tqdm.auto import tqdm

    from gdynbook.jobs.fit_store import run_fits

    training = training or PeoTraining()
    runs = check_trajectory_list(list(trajectories))
    with tqdm(total=len(fits), desc=description, disable=not progress) as bar:
        return run_fits(
            list(fits),
            lambda job: train_model(runs, job[0], job[1], training, job[2], device),
            store=store,
            key_of=lambda job: fit_key(runs, job[0], job[1], training, job[2]),
            make_model=lambda job: training.model(job[0]),
            on_done=lambda job, fit: bar.update(1),
        )


def train_model(
    trajectories: Sequence[Trajectory],
    n_states: int,
    test_runs: Sequence[int],
    training: PeoTraining | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = False,
) -> tuple[Any, Any]:
    """Train one GDyNet with ``test_runs`` held out; returns (model, history)."""
    from gdynbook.jobs.rundir import train_seeded
    from gdynbook.trajectory import lag_in_frames

    training = training or PeoTraining()
    dataset = held_out_split(trajectories, test_runs, training.validation_share)
    lag_frames = lag_in_frames(training.lag_ps, dataset.time_step_ps, "training lag")
    return train_seeded(
        lambda: training.model(n_states),
        dataset,
        lag_frames,
        training.settings(),
        seed=seed,
        device=device,
        progress=progress,
    )


def cross_validate_n_states(
    trajectories: Sequence[Trajectory],
    candidates: Sequence[int] = (2, 3, 4),
    test_runs: Sequence[int] | None = None,
    training: PeoTraining | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    seeds: Sequence[int] | None = None,
    train_runs: Sequence[int] | None = None,
    keep_memberships: bool = False,
    store: Any = None,
) -> CrossValidation:
    """Train each candidate with each run held out in turn and score the held-out run.

    Parameters
    ----------
    trajectories : list of Trajectory
        Independent runs (builds).
    candidates : sequence of int
        Numbers of states to compare.
    test_runs : sequence of int, optional
        Runs to hold out, one per fold (default: every run of ``train_runs``).
    training : PeoTraining, optional
    seed : int
        The same seed for every fit, so candidates differ only in ``n_states``.
    seeds : sequence of int, optional
        Several seeds per fold instead (a fold's score is their mean); overrides ``seed``.
    train_runs : sequence of int, optional
        Runs the folds may use at all (default: all). A lockbox run is left out here:
        it is neither trained on nor scored.
    keep_memberships : bool
        Keep each fit's memberships of its held-out run in ``result.memberships``.
    store : FitStore, optional
        Keep and reuse finished fits (:mod:`gdynbook.jobs.fit_store`).
    """
    from gdynbook.train import predict
    from gdynbook.trajectory import lag_in_frames

    training = training or PeoTraining()
    all_runs = check_trajectory_list(list(trajectories))
    usable = list(range(len(all_runs))) if train_runs is None else sorted(set(train_runs))
    runs = [all_runs[i] for i in usable]
    folds = (
        list(range(len(runs))) if test_runs is None else [usable.index(int(i)) for i in test_runs]
    )
    lag_frames = lag_in_frames(training.lag_ps, runs[0].time_step_ps, "training lag")
    result = CrossValidation()
    fold_seeds = [seed] if seeds is None else [int(s) for s in seeds]
    jobs = [(n, k, s) for k in folds for n in candidates for s in fold_seeds]
    fits = train_models(
        runs,
        [(n, [k], s) for n, k, s in jobs],
        training,
        device,
        progress,
        store,
        "cross-validation",
    )
    for (n_states, test_run, fit_seed), fit in zip(jobs, fits, strict=True):
        model, history = fit.model, fit.history
        probabilities = predict(model, [runs[test_run]], device=device)
        if keep_memberships:
            key = (int(n_states), int(usable[test_run]), int(fit_seed))
            result.memberships[key] = probabilities[0]
        result.rows.append(
            {
                "n_states": int(n_states),
                "test_run": int(usable[test_run]),
                "seed": fit_seed,
                "epochs": len(history.train_score),
                "vamp2_test": held_out_vamp2(probabilities, lag_frames),
                "vamp2_validation": float(history.validation_score[history.best_epoch]),
            }
        )
    return result


def staged_state_search(
    trajectories: Sequence[Trajectory],
    candidates: Sequence[int] = (2, 3, 4, 5),
    *,
    train_runs: Sequence[int] | None = None,
    training: PeoTraining | None = None,
    coarse_seeds: Sequence[int] = (0, 1),
    extra_seeds: Sequence[int] = (2,),
    device: str = "auto",
    progress: bool = True,
    cross_validate: Any = None,
    keep_memberships: bool = False,
    store: Any = None,
) -> tuple[CrossValidation, dict[str, Any]]:
    """The number of states in two stages (the analysis plan, step 4).

    Stage 1 cross-validates every candidate with ``coarse_seeds``; stage 2 trains the
    survivors (:meth:`~gdynbook.selection.CrossValidation.survivors`: gain > 1 standard
    error, with their n − 1) again with ``extra_seeds``. The result holds every row; a
    fold's score is the mean over the seeds it was trained with. Going up from the
    smallest candidate, n is kept while it survived stage 1 and its paired gain over
    n − 1 (all seeds) exceeds two standard errors over folds.

    Returns
    -------
    CrossValidation, dict
        All rows (with ``keep_memberships``, every fit's held-out memberships), and
        ``stage_1`` (candidates), ``survivors``, ``chosen``.
    """
    cross_validate = cross_validate or cross_validate_n_states
    options = dict(training=training, device=device, progress=progress, train_runs=train_runs)
    if keep_memberships:
        options["keep_memberships"] = True
    if store is not None:
        options["store"] = store
    first = cross_validate(trajectories, tuple(candidates), seeds=tuple(coarse_seeds), **options)
    survivors = first.survivors(1.0)
    second = (
        cross_validate(trajectories, tuple(survivors), seeds=tuple(extra_seeds), **options)
        if extra_seeds
        else CrossValidation()
    )
    merged = CrossValidation(first.rows + second.rows, {**first.memberships, **second.memberships})
    # go up from the smallest candidate; a state that did not survive stage 1 ends the
    # walk, one that did is kept when its gain on all seeds exceeds two standard errors
    gains = merged.per_state_gain()
    ordered = sorted(int(n) for n in candidates)
    chosen = ordered[0]
    for n in ordered[1:]:
        gain, sem = gains[n]
        if n not in survivors or not (np.isfinite(sem) and gain > 2 * sem and gain > 0):
            break
        chosen = n
    return merged, {
        "stage_1": [int(n) for n in candidates],
        "survivors": survivors,
        "chosen": int(chosen),
    }


def lag_from_memberships(
    probabilities: Sequence[np.ndarray],
    lags_ps: Sequence[float],
    time_step_ps: float,
    n_bootstrap: int = 200,
    seed: int = 0,
    process: int = 0,
) -> tuple[LagChoice, ImpliedTimescales]:
    """The lag by implied timescales (the analysis plan, step 3).

    Parameters
    ----------
    probabilities : list of numpy.ndarray, each (frames, n_li, n_states)
        Memberships per build.
    lags_ps : sequence of float
        The lag ladder, ps; lags longer than a tenth of the shortest build are dropped.
    time_step_ps : float
    n_bootstrap, seed : int
        Bootstrap over whole builds (the Li⁺ of one build share a box and are not
        independent); over the Li⁺ when there is a single build.
    process : int
        Which timescale decides (0: the slowest).

    Returns
    -------
    LagChoice, ImpliedTimescales
    """
    from gdynbook.koopman import implied_timescales, split_targets
    from gdynbook.lag_choice import choose_lag
    from gdynbook.trajectory import lag_in_frames

    shortest_ps = min(p.shape[0] for p in probabilities) * time_step_ps
    kept = [lag for lag in lags_ps if lag <= 0.1 * shortest_ps]
    if len(kept) < 3:
        raise ValueError(
            f"only {len(kept)} of the lags {list(lags_ps)} ps are at most a tenth of the "
            f"shortest build ({shortest_ps:g} ps): the rule needs three; give shorter lags."
        )
    frames = [lag_in_frames(lag, time_step_ps, "lag") for lag in kept]
    series, builds = [], []
    for index, build in enumerate(probabilities):
        per_li = split_targets([build])
        series += per_li
        builds += [index] * len(per_li)
    its = implied_timescales(
        series,
        frames,
        time_step_ps,
        n_bootstrap=n_bootstrap,
        seed=seed,
        resample="groups" if len(probabilities) > 1 else "runs",
        groups=builds,
    )
    return choose_lag(its, process=process), its


def held_out_build_report(
    probabilities: np.ndarray | Sequence[np.ndarray],
    lag_frames: int,
    time_step_ps: float,
    ck_steps: int = 3,
    n_bootstrap: int = 100,
    n_blocks: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """What the plan reports for one held-out build (step 5): VAMP-2, a CK test and the
    timescales, with intervals from a bootstrap over its Li⁺ (they share a box, so the
    intervals are a lower bound on the uncertainty; builds are the independent units).

    Parameters
    ----------
    probabilities : numpy.ndarray, shape (frames, n_li, n_states), or a list of them
        Memberships of the build's Li⁺ from a model that never saw the build; a list
        pools several builds (states in one order), each Li⁺ series a bootstrap unit.
    lag_frames : int
    time_step_ps : float

    Returns
    -------
    dict
        ``vamp2``, ``ck_max_deviation``, ``ck_half_width`` (the largest half-width of the
        95 % interval of an estimated CK entry), ``ck_passes``, ``timescales_ps`` and
        their 95 % bounds ``timescales_lower_ps``, ``timescales_upper_ps``.
    """
    from gdynbook.jobs.rundir import json_numbers
    from gdynbook.koopman import ck_test, implied_timescales, split_targets

    runs = [probabilities] if isinstance(probabilities, np.ndarray) else list(probabilities)
    series = split_targets(runs)
    ck = ck_test(
        series,
        lag_frames,
        ck_steps,
        time_step_ps,
        n_bootstrap=n_bootstrap,
        n_blocks=n_blocks,
        seed=seed,
    )
    half_width = 0.5 * (ck.estimated_upper - ck.estimated_lower)
    its = implied_timescales(
        series, [lag_frames], time_step_ps, n_bootstrap=n_bootstrap, n_blocks=n_blocks, seed=seed
    )

    return {
        "vamp2": held_out_vamp2(runs, lag_frames),
        "ck_max_deviation": float(ck.max_deviation),
        "ck_half_width": float(np.nanmax(half_width)) if np.isfinite(half_width).any() else None,
        "ck_passes": bool(ck.passes),
        "timescales_ps": json_numbers(its.timescales_ps[0]),
        "timescales_lower_ps": json_numbers(its.lower_ps[0]),
        "timescales_upper_ps": json_numbers(its.upper_ps[0]),
    }


def label_fractions(
    probabilities: np.ndarray,
    descriptor: np.ndarray,
    lifetime_ps: float,
    time_step_ps: float,
) -> dict[str, float]:
    """How much of the learned states is a fixed label per Li⁺, for one build.

    ``learned``: the between-ion share of the membership variance, summed over states
    (Σ between-ion variance / Σ total variance); ``baseline``: what a label switching
    with ``lifetime_ps`` leaves over the build's length by chance
    (:func:`~gdynbook.systems.peo_litfsi.diagnostics.switching_baseline`);
    ``descriptor``: the same share for a non-learned quantity (e.g. the chain-end
    distance).

    Parameters
    ----------
    probabilities : numpy.ndarray, shape (frames, n_li, n_states)
    descriptor : numpy.ndarray, shape (frames, n_li)
    lifetime_ps : float
        The model's slowest timescale, ps.
    time_step_ps : float
    """
    from gdynbook.systems.peo_litfsi.diagnostics import between_ion_fraction, switching_baseline

    chi = np.asarray(probabilities, dtype=np.float64)
    if chi.ndim != 3 or chi.shape[:2] != np.shape(descriptor):
        raise ValueError(
            f"probabilities {chi.shape} must be (frames, n_li, n_states) and the descriptor "
            f"{np.shape(descriptor)} (frames, n_li) of the same build."
        )
    total = chi.var(axis=(0, 1))
    between = np.array([between_ion_fraction(chi[:, :, k]) for k in range(chi.shape[2])])
    shares = np.where(total > 0, between, 0.0) * total
    return {
        "learned": float(shares.sum() / total.sum()),
        "baseline": switching_baseline(lifetime_ps, chi.shape[0] * time_step_ps),
        "descriptor": between_ion_fraction(np.asarray(descriptor, dtype=np.float64)),
    }


def match_to_reference(
    reference: Sequence[np.ndarray], probabilities: Sequence[np.ndarray]
) -> tuple[list[np.ndarray], np.ndarray]:
    """Reorder the states of one model to best agree with a reference model.

    Both are lists of (frames, targets, n_states) arrays over the same samples. The
    permutation maximises the summed recall of the reference's crisp states (Hungarian
    assignment). Returns the reordered probabilities and ``mapping`` (state p of the
    model becomes state ``mapping[p]``).
    """
    from gdynbook.states import match_states

    n_states = reference[0].shape[-1]
    predicted = np.concatenate([np.argmax(p, -1).ravel() for p in probabilities])
    labels = np.concatenate([np.argmax(p, -1).ravel() for p in reference])
    mapping = match_states(predicted, labels, n_states)
    order = np.argsort(mapping)  # column j of the result is the model's state mapped to j
    return [p[..., order] for p in probabilities], mapping


def crisp_agreement(reference: Sequence[np.ndarray], matched: Sequence[np.ndarray]) -> float:
    """Fraction of samples whose most probable state is the same in both models."""
    a = np.concatenate([np.argmax(p, -1).ravel() for p in reference])
    b = np.concatenate([np.argmax(p, -1).ravel() for p in matched])
    return float(np.mean(a == b))


def train_ensemble(
    trajectories: Sequence[Trajectory],
    n_states: int,
    seeds: Sequence[int],
    test_runs: Sequence[int],
    training: PeoTraining | None = None,
    device: str = "auto",
    progress: bool = True,
    match_on: Sequence[int] | None = None,
    store: Any = None,
) -> tuple[list[Any], list[Any], list[list[np.ndarray]]]:
    """Train one model per seed; predict every run; match states to the first seed.

    ``match_on`` names the runs whose memberships decide the matching (default: all);
    pass the training runs so that held-out runs play no part in it. ``store``: a
    :class:`~gdynbook.jobs.fit_store.FitStore` to keep and reuse finished fits.

    Returns
    -------
    models, histories : lists, one per seed
    probabilities : list (per seed) of lists (per run) of (frames, targets, n_states)
        State order matched to the first seed's.
    """
    from gdynbook.train import predict

    runs = check_trajectory_list(list(trajectories))
    fits = train_models(
        runs,
        [(n_states, list(test_runs), seed) for seed in seeds],
        training,
        device,
        progress,
        store,
        "seed ensemble",
    )
    models, histories, probabilities = [], [], []
    for fit in fits:
        model, history = fit.model, fit.history
        predicted = predict(model, runs, device=device)
        if probabilities:
            chosen = range(len(runs)) if match_on is None else list(match_on)
            _, mapping = match_to_reference(
                [probabilities[0][i] for i in chosen], [predicted[i] for i in chosen]
            )
            order = np.argsort(mapping)
            predicted = [p[..., order] for p in predicted]
        models.append(model)
        histories.append(history)
        probabilities.append(predicted)
    return models, histories, probabilities


def run_peo_job(
    root: str | Path,
    output: str | Path,
    *,
    candidates: Sequence[int] = (2, 3, 4),
    seeds: Sequence[int] = (0, 1, 2),
    test_run: int | None = None,
    n_states: int | None = None,
    training: PeoTraining | None = None,
    max_runs: int | None = None,
    max_frames: int | None = None,
    device: str = "auto",
    progress: bool = True,
) -> dict[str, Any]:
    """Cross-validate the number of states, train a seed ensemble, write the results.

    Parameters
    ----------
    root : path
        Folder with the ``run-NN`` directories (``data/peo_litfsi``).
    output : path
        Receives ``gdynet-seed<S>.pt``, ``predictions.npz`` (probabilities per seed and
        run, float32) and ``summary.json``.
    candidates : sequence of int
        Numbers of states to cross-validate (skipped when ``n_states`` is given).
    seeds : sequence of int
        Seeds of the ensemble.
    test_run : int, optional
        Run held out from the ensemble's training (default: the last run).
    max_runs, max_frames : int, optional
        Use only the first runs / frames (quick checks).
    """
    from gdynbook import __version__
    from gdynbook.jobs.rundir import save_checkpoint, write_arrays, write_json
    from gdynbook.systems.peo_litfsi.runs import load_runs
    from gdynbook.trajectory import lag_in_frames

    training = training or PeoTraining()
    started = time.perf_counter()
    loaded = load_runs(root)
    if max_runs is not None:
        loaded = loaded[:max_runs]
    if len(loaded) < 2:
        raise ValueError(
            f"{root} holds {len(loaded)} finished run(s); learning with a held-out run needs "
            "at least two."
        )
    trajectories = [run.traj[:max_frames] if max_frames else run.traj for run in loaded]
    names = [run.path.name for run in loaded]
    held_out = len(trajectories) - 1 if test_run is None else int(test_run)

    cross_validation = None
    if n_states is None:
        cross_validation = cross_validate_n_states(
            trajectories, candidates, training=training, device=device, progress=progress
        )
        n_states = cross_validation.choose()
    models, histories, probabilities = train_ensemble(
        trajectories, n_states, seeds, [held_out], training, device, progress
    )
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    for seed, model in zip(seeds, models, strict=True):
        save_checkpoint(
            model,
            out / f"gdynet-seed{seed}.pt",
            lag_frames=lag_in_frames(training.lag_ps, trajectories[0].time_step_ps),
            time_step_ps=trajectories[0].time_step_ps,
        )
    arrays = {
        f"seed{seed}_{name}": p.astype(np.float32)
        for seed, per_run in zip(seeds, probabilities, strict=True)
        for name, p in zip(names, per_run, strict=True)
    }
    write_arrays(out / "predictions.npz", **arrays)
    summary = {
        "gdynbook_version": __version__,
        "runs": names,
        "frames": [t.n_frames for t in trajectories],
        "time_step_ps": trajectories[0].time_step_ps,
        "test_run": names[held_out],
        "training": asdict(training),
        "n_states": int(n_states),
        "seeds": [int(s) for s in seeds],
        "cross_validation": None
        if cross_validation is None
        else {
            "rows": cross_validation.rows,
            "scores": {str(k): v for k, v in cross_validation.scores().items()},
            "gain": {str(k): v for k, v in cross_validation.per_state_gain().items()},
        },
        "histories": [h.to_dict() for h in histories],
        "agreement_with_seed0": [crisp_agreement(probabilities[0], p) for p in probabilities[1:]],
        "wall_time_s": time.perf_counter() - started,
    }
    write_json(out / "summary.json", summary)
    return summary


def load_ensemble(folder: str | Path) -> tuple[dict[str, Any], dict[int, list[np.ndarray]]]:
    """The summary and the shipped probabilities ({seed: [per run (frames, Li, states)]}),
    of :func:`run_peo_job` (``runs``) or of ``peo_builds.run_build_job`` (its
    ``predicted_builds``, in that order: every build but a shut lockbox; the seeds in its
    ``prediction_seeds``)."""
    folder = Path(folder)
    summary = json.loads((folder / "summary.json").read_text())
    names = summary.get("runs") or summary.get("predicted_builds") or summary["builds"]
    seeds = summary.get("prediction_seeds") or summary["seeds"]
    with np.load(folder / "predictions.npz") as stored:
        probabilities = {
            seed: [stored[f"seed{seed}_{name}"].astype(np.float64) for name in names]
            for seed in seeds
        }
    return summary, probabilities
