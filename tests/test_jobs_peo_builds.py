"""The analysis plan as code, end to end on four small 'builds' of switching dimers."""

from __future__ import annotations

import numpy as np
import pytest

from gdynbook.jobs.peo import PeoTraining
from gdynbook.jobs.peo_builds import BuildPlan, learn_from_builds
from gdynbook.systems.dimers import DimerSimulation, simulate_dimers


@pytest.fixture(scope="module")
def builds():
    runs = simulate_dimers(DimerSimulation(n_frames=400, n_replicas=4, seed=3))
    return runs, ["build-02", "build-00", "build-03", "build-01"]


def test_learn_from_builds_follows_the_plan(builds) -> None:
    import torch

    torch.set_num_threads(1)
    runs, names = builds
    plan = BuildPlan(
        candidates=(2, 3),
        lag_ladder_ps=(2.0, 4.0, 8.0, 16.0),
        lag_states=(2,),
        coarse_seeds=(0,),
        extra_seeds=(1,),
        ensemble_seeds=(0, 1),
        ck_steps=2,
        n_bootstrap=20,
    )
    training = PeoTraining(
        lag_ps=4.0,
        n_conv=1,
        n_neighbors=4,
        cutoff=8.0,
        atom_fea_len=8,
        h_fea_len=8,
        node_selection=None,
        n_epochs=3,
        patience=1,
        batch_size=64,
    )
    descriptors = [np.tile(np.arange(8.0), (r.n_frames, 1)) for r in runs]  # fixed per dimer
    # reference descriptors: a switching contact (the target's x above the box middle) and
    # a fixed per-target "distance"
    reference_inputs = [
        (r.coords[:, r.target_index, 0] > r.lattices[:, None, 0, 0] / 2, d)
        for r, d in zip(runs, descriptors, strict=True)
    ]
    summary, probabilities = learn_from_builds(
        runs,
        names,
        plan=plan,
        training=training,
        descriptors=descriptors,
        reference_inputs=reference_inputs,
        device="cpu",
        progress=False,
    )
    assert summary["lockbox"] == "build-03"
    # the lockbox is never a fold, never scored in cross-validation
    assert {r["test_run"] for r in summary["cross_validation"]["rows"]} == {0, 1, 3}
    assert (
        summary["n_states"] in (2, 3)
        and summary["n_states"] == summary["cross_validation"]["chosen"]
    )
    lag = summary["lag"]["2"]
    assert lag["lags_ps"] == [2.0, 4.0, 8.0, 16.0]
    assert summary["lag_ps"] == (lag["choice"]["lag_ps"] if lag["choice"]["levels_off"] else 4.0)
    assert summary["training"]["lag_ps"] == summary["lag_ps"]
    report = summary["held_out"]["build-03"]
    assert report["vamp2"] > 1.0 and isinstance(report["ck_passes"], bool)
    # every development build is reported from the fold that held it out: its report is
    # score is the cross-validation fit's held-out score at the chosen n (seed 0)
    assert summary["held_out_role"] == {
        "build-02": "fold",
        "build-00": "fold",
        "build-03": "lockbox",
        "build-01": "fold",
    }
    for name in ("build-00", "build-01", "build-02"):
        assert summary["held_out"][name]["vamp2"] > 1.0
    fold_rows = [
        r
        for r in summary["cross_validation"]["rows"]
        if r["n_states"] == summary["n_states"] and r["seed"] == 0
    ]
    for row in fold_rows:
        name = names[row["test_run"]]
        assert summary["held_out"][name]["vamp2"] == pytest.approx(row["vamp2_test"])
    # the reference model: sets fixed without the build they score
    reference = summary["reference"]
    assert set(reference["held_out"]) == set(names)
    for entry in reference["held_out"].values():
        assert 1 <= entry["n_sets"] <= 6 and len(entry["edges_eo"]) == 2
        assert entry["vamp2"] >= 1.0 - 1e-9
    lock_edges = np.quantile(
        np.concatenate([descriptors[i].ravel() for i in (0, 1, 3)]), [1 / 3, 2 / 3]
    )
    np.testing.assert_allclose(reference["held_out"]["build-03"]["edges_eo"], lock_edges)
    assert reference["mean_fold_vamp2"] == pytest.approx(
        np.mean([reference["held_out"][n]["vamp2"] for n in ("build-00", "build-01", "build-02")])
    )
    assert len(probabilities) == 2 and len(probabilities[0]) == 4
    for per_build in probabilities[0]:
        assert per_build.shape == (400, 8, summary["n_states"])
    assert set(summary["seed_agreement"]) == set(names)
    fractions = summary["between_ion_variance_fraction"]["build-00"]
    assert fractions["descriptor"] == pytest.approx(1.0)
    assert 0.0 <= fractions["learned"] <= 1.0 and 0.0 < fractions["baseline"] < 1.0
    assert all(1 <= e <= 3 for e in summary["epochs"]["cross_validation"])


def test_bad_build_lists_are_refused(builds) -> None:
    runs, names = builds
    with pytest.raises(ValueError, match="one per build"):
        learn_from_builds(runs, names[:3])
    with pytest.raises(ValueError, match="at least three"):
        learn_from_builds(runs[:2], names[:2])
