"""The shipped PEO/LiTFSI state models: complete, consistent, and reproducible."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest

from gdynbook import data

MODELS = data.data_dir() / "peo_models"
pytestmark = pytest.mark.skipif(
    not (MODELS / "summary.json").is_file(), reason="no shipped PEO/LiTFSI models"
)


def _on_builds() -> bool:
    import json

    return "builds" in json.loads((MODELS / "summary.json").read_text())


old_runs = pytest.mark.skipif(
    (MODELS / "summary.json").is_file() and _on_builds(), reason="models of the builds"
)
on_builds = pytest.mark.skipif(
    not (MODELS / "summary.json").is_file() or not _on_builds(),
    reason="models of the old runs",
)


@old_runs
def test_summary_matches_the_cross_validation_and_the_files() -> None:
    from gdynbook.jobs.peo import CrossValidation, PeoTraining, load_ensemble

    summary, ensemble = load_ensemble(MODELS)
    rows = summary["cross_validation"]["rows"]
    candidates = sorted({r["n_states"] for r in rows})
    folds = sorted({r["test_run"] for r in rows})
    assert len(rows) == len(candidates) * len(folds) and len(folds) == len(summary["runs"])
    assert CrossValidation(rows).choose() == summary["n_states"]
    # made with today's defaults (stored under the older field names; ``patience`` came
    # later, and its default, None, is what these fits used)
    assert PeoTraining.from_dict(summary["training"]) == PeoTraining()
    assert set(summary["training"]) == set(asdict(PeoTraining())) - {
        "cutoff",
        "node_selection",
        "patience",
    } | {"cutoff_a", "graph_atoms"}
    assert set(ensemble) == set(summary["seeds"])
    for per_run in ensemble.values():
        for probs, frames in zip(per_run, summary["frames"], strict=True):
            assert probs.shape == (frames, 16, summary["n_states"])
            np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    for seed in summary["seeds"]:
        assert (MODELS / f"gdynet-seed{seed}.pt").is_file()


@old_runs
def test_checkpoint_reproduces_the_shipped_predictions() -> None:
    import torch

    from gdynbook.jobs.peo import load_ensemble
    from gdynbook.systems.peo_litfsi.runs import load_run
    from gdynbook.train import load, predict

    torch.set_num_threads(1)
    summary, ensemble = load_ensemble(MODELS)
    model, _ = load(MODELS / "gdynet-seed0.pt")
    name = summary["test_run"]
    run = load_run(data.data_dir() / "peo_litfsi" / name, verify_checksums=False)
    fresh = predict(model, [run.traj[:40]], device="cpu")[0]
    shipped = ensemble[summary["seeds"][0]][summary["runs"].index(name)][:40]
    np.testing.assert_allclose(fresh, shipped, atol=2e-4)


# ---------------------------------------------------------------------- on the builds
@on_builds
def test_the_plan_on_the_builds_reports_what_issue_21_asks_and_its_files_agree() -> None:
    from gdynbook.jobs.peo import held_out_build_report, load_ensemble
    from gdynbook.jobs.peo_builds import load_fold_memberships
    from gdynbook.jobs.peo_tables import cross_validation_table

    summary, ensemble = load_ensemble(MODELS)
    for key in (
        "builds",
        "lockbox",
        "n_states",
        "lag_ps",
        "held_out",
        "timescales_ps",
        "populations",
        "between_ion_variance_fraction",
        "seed_agreement",
        "reference_vamp2",
        "transference",
    ):
        assert key in summary, key
    # the registered plan, once: the lockbox open, on every finished build, full data
    assert summary["lockbox_opened"] is True and summary["max_frames"] is None
    assert summary["predicted_builds"] == summary["builds"] == summary["transference"]["builds"]
    assert summary["prediction_seeds"] == [0] and sorted(ensemble) == [0]
    table = cross_validation_table(summary)
    assert int(table.index[table["chosen"]][0]) == summary["n_states"]
    # every held-out report follows from the shipped memberships of a model that never saw
    # the build: the fold model's for development builds, the final one's for the lockbox
    plan = summary["plan"]
    lag_frames = round(summary["lag_ps"] / summary["time_step_ps"])
    folds = load_fold_memberships(MODELS)
    inputs = {**folds, summary["lockbox"]: ensemble[0][summary["builds"].index(summary["lockbox"])]}
    assert sorted(inputs) == sorted(summary["builds"])
    for name, memberships in inputs.items():
        report = held_out_build_report(
            memberships, lag_frames, summary["time_step_ps"], plan["ck_steps"], plan["n_bootstrap"]
        )
        stored = summary["held_out"][name]
        assert report["vamp2"] == pytest.approx(stored["vamp2"], rel=1e-5), name
        assert report["ck_max_deviation"] == pytest.approx(stored["ck_max_deviation"], abs=1e-4)
    for per_build, frames in zip(ensemble[0], summary["frames"], strict=True):
        assert per_build.shape[0] == frames and per_build.shape[-1] == summary["n_states"]
        np.testing.assert_allclose(per_build.sum(-1), 1.0, atol=1e-5)
    # small enough for the data budget (60 MB for all of data/)
    assert (MODELS / "predictions.npz").stat().st_size < 6e6


@on_builds
def test_the_final_model_reproduces_its_shipped_memberships_of_the_lockbox() -> None:
    import torch

    from gdynbook.jobs.peo import load_ensemble
    from gdynbook.systems.peo_litfsi.runs import load_run
    from gdynbook.train import load, predict

    torch.set_num_threads(1)
    summary, ensemble = load_ensemble(MODELS)
    model, _ = load(MODELS / "gdynet-seed0.pt")
    name = summary["lockbox"]
    build = load_run(data.data_dir() / "peo_litfsi" / name, max_chunks=1, verify_checksums=False)
    fresh = predict(model, [build.traj[:40]], device="cpu")[0]
    shipped = ensemble[0][summary["builds"].index(name)][:40]
    np.testing.assert_allclose(fresh, shipped, atol=2e-4)
