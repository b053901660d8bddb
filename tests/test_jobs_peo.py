"""Held-out splits, state matching, the choice of the number of states, and the PEO job."""

from __future__ import annotations

import numpy as np
import pytest

from gdynbook import data
from gdynbook.jobs.peo import (
    CrossValidation,
    PeoTraining,
    crisp_agreement,
    held_out_split,
    held_out_vamp2,
    match_to_reference,
)
from gdynbook.markov import one_hot, simulate_markov_chain
from gdynbook.trajectory import Trajectory

ROOT = data.data_dir() / "peo_litfsi"
HAS_RUNS = len(list(ROOT.glob("run-*/chunk-0000.xtc"))) >= 3


def _runs(n_runs: int, n_frames: int) -> list[Trajectory]:
    rng = np.random.default_rng(0)
    return [
        Trajectory(rng.uniform(0, 10, (n_frames, 4, 3)), np.eye(3) * 10, [3, 8, 8, 8], [0], 5.0)
        for _ in range(n_runs)
    ]


def test_held_out_split_keeps_test_runs_whole() -> None:
    dataset = held_out_split(_runs(4, 100), test_runs=[2], validation_share=0.2)
    assert [(s.trajectory, s.start, s.stop) for s in dataset.splits["test"]] == [(2, 0, 100)]
    assert [(s.trajectory, s.start, s.stop) for s in dataset.splits["train"]] == [
        (0, 0, 80),
        (1, 0, 80),
        (3, 0, 80),
    ]
    assert [s.start for s in dataset.splits["validation"]] == [80, 80, 80]
    pairs = dataset.pairs("train", 10)
    assert 2 not in pairs[:, 0] and pairs[:, 1].max() == 69  # never crosses into validation
    with pytest.raises(ValueError, match="every run is held out"):
        held_out_split(_runs(2, 50), [0, 1])
    with pytest.raises(ValueError, match="run numbers"):
        held_out_split(_runs(2, 50), [5])


def test_held_out_vamp2_of_a_two_state_chain() -> None:
    """One-hot states of a reversible two-state chain: VAMP-2 = 1 + λ₂^τ squared."""
    a, b = 0.05, 0.1
    transition = np.array([[1 - a, a], [b, 1 - b]])
    (chain,) = simulate_markov_chain(transition, 200_000, seed=3)
    probabilities = [one_hot(chain, 2)[:, None, :]]
    lag = 3
    expected = 1 + (1 - a - b) ** (2 * lag)
    assert held_out_vamp2(probabilities, lag) == pytest.approx(expected, abs=0.01)


def test_match_to_reference_undoes_a_permutation() -> None:
    rng = np.random.default_rng(1)
    reference = [rng.dirichlet(np.ones(4), size=(30, 5)) for _ in range(2)]
    permutation = np.array([2, 0, 3, 1])
    shuffled = [p[..., permutation] for p in reference]
    matched, mapping = match_to_reference(reference, shuffled)
    for original, back in zip(reference, matched, strict=True):
        np.testing.assert_array_equal(original, back)
    np.testing.assert_array_equal(
        mapping, permutation
    )  # shuffled state p is reference permutation[p]
    assert crisp_agreement(reference, matched) == 1.0
    assert crisp_agreement(reference, shuffled) < 0.6


def test_choose_keeps_only_states_the_held_out_runs_reward() -> None:
    rows = []
    for run in range(4):
        noise = 0.002 * (run - 1.5)
        for n, score in ((2, 1.40), (3, 1.55), (4, 1.551)):
            rows.append({"n_states": n, "test_run": run, "vamp2_test": score + noise * n})
    cv = CrossValidation(rows)
    assert cv.choose() == 3
    gain = cv.per_state_gain()
    assert gain[3][0] == pytest.approx(0.15 + 0.002 * 0, abs=0.01)
    scores = cv.scores()
    assert set(scores) == {2, 3, 4} and scores[2][0] == pytest.approx(1.40, abs=0.01)
    flat = CrossValidation(
        [
            {"n_states": n, "test_run": r, "vamp2_test": 1.4 + 0.01 * ((r * n) % 3)}
            for r in range(4)
            for n in (2, 3)
        ]
    )
    assert flat.choose() == 2


@pytest.mark.skipif(not HAS_RUNS, reason="needs three shipped PEO/LiTFSI runs")
def test_peo_job_end_to_end_on_a_sliver(tmp_path) -> None:
    import torch

    from gdynbook.jobs.peo import load_ensemble, run_peo_job

    torch.set_num_threads(1)
    training = PeoTraining(n_epochs=1, batch_size=32)
    summary = run_peo_job(
        ROOT,
        tmp_path,
        candidates=(2, 3),
        seeds=(0, 1),
        training=training,
        max_runs=3,
        max_frames=60,
        device="cpu",
        progress=False,
    )
    assert summary["n_states"] in (2, 3)
    assert summary["runs"] == ["run-00", "run-01", "run-02"] and summary["test_run"] == "run-02"
    assert len(summary["cross_validation"]["rows"]) == 2 * 3
    for name in ("gdynet-seed0.pt", "gdynet-seed1.pt", "predictions.npz", "summary.json"):
        assert (tmp_path / name).is_file()
    loaded, probabilities = load_ensemble(tmp_path)
    assert set(probabilities) == {0, 1}
    for per_run in probabilities.values():
        assert [p.shape for p in per_run] == [(60, 16, summary["n_states"])] * 3
        np.testing.assert_allclose(per_run[0].sum(-1), 1.0, atol=1e-5)
    assert 0.0 <= loaded["agreement_with_seed0"][0] <= 1.0


def test_scores_average_the_seeds_of_a_fold_and_survivors_pair_up() -> None:
    rows = [
        {
            "n_states": n,
            "test_run": r,
            "seed": s,
            "vamp2_test": base + 0.01 * s + 0.001 * r + 0.002 * ((r * n) % 3 - 1),
        }
        for r in range(5)
        for s in (0, 1)
        for n, base in ((2, 1.40), (3, 1.45), (4, 1.60), (5, 1.60))
    ]
    cv = CrossValidation(rows)
    _, runs, table = cv.table()
    assert runs == [0, 1, 2, 3, 4]
    # mean of seeds 0 and 1 for 2 states, fold 2: 1.40 + 0.005 + 0.002 + 0.002·(4 % 3 − 1)
    assert table[0, 2] == pytest.approx(1.407)
    # 3 over 2 and 4 over 3 gain clearly; 5 over 4 gains nothing
    assert cv.survivors(1.0) == [2, 3, 4]
    with pytest.raises(ValueError, match="every candidate needs every fold"):
        CrossValidation([r for r in rows if (r["n_states"], r["test_run"]) != (5, 4)]).table()


def test_lockbox_is_the_highest_numbered_build() -> None:
    from gdynbook.selection import lockbox_index

    assert lockbox_index(["build-02", "build-10", "build-00", "build-01"]) == 1
    with pytest.raises(ValueError, match="at least three"):
        lockbox_index(["build-00", "build-01"])
    with pytest.raises(ValueError, match="repeat"):
        lockbox_index(["build-00", "build-00", "build-01"])


def test_staged_search_follows_the_plan() -> None:
    """A made-up cross-validation: 3 states gain clearly, 4 gain by about one standard
    error (survives stage 1, fails at two), 5 gain nothing. Stage 2 trains only the
    survivors and their n − 1, with the extra seed; the choice is 3."""
    from gdynbook.jobs.peo import staged_state_search

    gains = {2: 0.0, 3: 0.2, 4: 0.2017, 5: 0.2017}
    calls = []

    def fake(trajectories, candidates, *, seeds, **options):
        calls.append((tuple(candidates), tuple(seeds), options["train_runs"]))
        noise = [0.0, 0.01, -0.01, 0.005, -0.005]  # per fold, shared by all candidates
        jitter = [0.0, 0.003, -0.003, 0.002, -0.002]  # per fold, only for 4 states
        return CrossValidation(
            [
                {
                    "n_states": n,
                    "test_run": k,
                    "seed": s,
                    "vamp2_test": 1.4 + gains[n] + noise[k] + (jitter[k] if n == 4 else 0.0),
                }
                for n in candidates
                for k in range(5)
                for s in seeds
            ]
        )

    cv, stages = staged_state_search(
        [None] * 6, (2, 3, 4, 5), train_runs=[0, 1, 2, 3, 4], cross_validate=fake
    )
    assert calls[0] == ((2, 3, 4, 5), (0, 1), [0, 1, 2, 3, 4])
    assert calls[1] == ((2, 3, 4), (2,), [0, 1, 2, 3, 4])
    assert stages == {"stage_1": [2, 3, 4, 5], "survivors": [2, 3, 4], "chosen": 3}
    assert len(cv.rows) == 4 * 5 * 2 + 3 * 5


def test_lag_from_memberships_on_builds_of_a_markov_chain() -> None:
    """Three 'builds' of eight Li⁺ each hopping by one Markov chain (t = 194 ps at 5 ps
    per frame): the rule takes the first lag, with the exact timescale inside 15 %, and
    drops lags over a tenth of a build."""
    from gdynbook.jobs.peo import lag_from_memberships
    from gdynbook.markov import exact_timescales

    matrix = np.array([[0.98, 0.02], [0.03, 0.97]])
    builds = []
    for b in range(3):
        chains = simulate_markov_chain(matrix, 2000, n_trajectories=8, seed=10 + b)
        builds.append(np.stack([one_hot(c, 2) for c in chains], axis=1))  # (frames, Li, 2)
    choice, its = lag_from_memberships(builds, [5, 10, 20, 40, 80, 2000], 5.0, n_bootstrap=50)
    assert list(its.lags_ps) == [5, 10, 20, 40, 80]  # 2000 ps > a tenth of 10 ns
    assert choice.levels_off and choice.lag_ps == 5
    assert choice.timescale_ps == pytest.approx(5.0 * exact_timescales(matrix)[0], rel=0.15)
    with pytest.raises(ValueError, match="tenth of the shortest build"):
        lag_from_memberships(builds, [500, 1000, 2000], 5.0)


def test_held_out_build_report_of_a_markov_build() -> None:
    """Twelve Li⁺ of one build hop by one Markov chain: VAMP-2 is 1 + λ₂^(2τ), the CK
    test passes, the timescale is the chain's; a build whose Li⁺ flip on a schedule the
    model at τ cannot predict fails the CK test."""
    from gdynbook.jobs.peo import held_out_build_report
    from gdynbook.markov import exact_timescales

    matrix = np.array([[0.95, 0.05], [0.10, 0.90]])
    chains = simulate_markov_chain(matrix, 3000, n_trajectories=12, seed=4)
    build = np.stack([one_hot(c, 2) for c in chains], axis=1)
    report = held_out_build_report(build, 2, 5.0, n_bootstrap=50)
    assert report["vamp2"] == pytest.approx(1 + 0.85**4, abs=0.02)
    assert report["ck_passes"] and 0 < report["ck_half_width"] < 0.05
    assert report["timescales_ps"][0] == pytest.approx(5.0 * exact_timescales(matrix)[0], rel=0.1)
    assert report["timescales_lower_ps"][0] < report["timescales_ps"][0]
    assert report["timescales_ps"][0] < report["timescales_upper_ps"][0]
    # flips every two frames (0, 0, 1, 1, …): at τ = 1 the model says stay or switch with
    # probability ½, so K(1)² is ½ everywhere, while after 2 frames the data switch surely
    periodic = np.tile(np.repeat(np.eye(2), 2, axis=0), (750, 1))  # 0,0,1,1,0,0,…
    flipping = np.stack([periodic] * 12, axis=1)
    assert not held_out_build_report(flipping, 1, 5.0, ck_steps=4, n_bootstrap=20)["ck_passes"]


def test_label_fractions_tell_a_fixed_label_from_a_switching_one() -> None:
    from gdynbook.jobs.peo import label_fractions
    from gdynbook.systems.peo_litfsi.diagnostics import switching_baseline

    rng = np.random.default_rng(6)
    fixed = np.repeat(np.eye(2)[rng.integers(0, 2, 10)][None], 500, axis=0)  # (500, 10, 2)
    chains = simulate_markov_chain(np.array([[0.9, 0.1], [0.1, 0.9]]), 500, 10, seed=7)
    switching = np.stack([one_hot(c, 2) for c in chains], axis=1)
    descriptor = rng.normal(size=(500, 10)) + np.arange(10)  # mostly between ions
    fixed_report = label_fractions(fixed, descriptor, 50.0, 5.0)
    assert fixed_report["learned"] == pytest.approx(1.0)
    assert fixed_report["baseline"] == pytest.approx(switching_baseline(50.0, 2500.0))
    assert fixed_report["descriptor"] > 0.8
    switching_report = label_fractions(switching, descriptor, 50.0, 5.0)
    # lifetime 1/(2·0.1) = 5 frames = 25 ps: the share between ions is near the baseline
    assert switching_report["learned"] < 3 * switching_baseline(25.0, 2500.0)
    with pytest.raises(ValueError, match="same build"):
        label_fractions(fixed, descriptor[:, :5], 50.0, 5.0)
