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
