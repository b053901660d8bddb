"""The out-of-equilibrium job, part A, end to end on a tiny system (the numbers the
chapter prints are checked there, at full statistics of fast mode)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from gdynbook.jobs.driven import NonstationarySettings, nonstationary_checks, run_nonstationary
from gdynbook.nonequilibrium import METHODS


def test_run_nonstationary_writes_every_number(tmp_path) -> None:
    tiny = replace(
        NonstationarySettings.fast(),
        equilibrium_replicas=12,
        equilibrium_ps=40.0,
        replicas_per_start=24,
        duration_ps=15.0,
        lag_frames=4,
        n_epochs=2,
        pairs_per_epoch=1_000,
        batch_size=128,
        n_bootstrap=10,
    )
    result = run_nonstationary(tmp_path, tiny, seed=2, device="cpu", progress=False)
    written = json.loads((tmp_path / "nonstationary.json").read_text())
    assert (tmp_path / "nonstationary.png").stat().st_size > 0
    assert set(written["nonstationary"]) == {"oct", "tet", "pooled"}
    for group, entry in written["nonstationary"].items():
        assert entry["n_replicas"] == (24 if group == "pooled" else 12)
        for method in METHODS:
            populations = np.array(entry[f"populations_{method}"])
            assert populations.shape == (2,) and abs(populations.sum() - 1) < 1e-9
            assert len(entry["populations_err"][method]) == 2
        for key in ("reference_populations", "reference_populations_learned"):
            assert abs(sum(entry[key]) - 1) < 1e-9
    assert written["checks"] == result["checks"]
    assert all(isinstance(v, bool) for v in result["checks"].values())


def test_checks_flag_what_they_should() -> None:
    entry = {
        "reference_populations": [0.8, 0.2],
        "reference_populations_err": [0.01, 0.01],
        "populations_err": {m: [0.01, 0.01] for m in METHODS},
        "populations_nonreversible": [0.79, 0.21],
        "populations_reversible_ml": [0.70, 0.30],  # far off: must fail
        "populations_symmetrised": [0.70, 0.30],  # biased: passes "is_biased"
        "populations_mean_membership": [0.8, 0.2],  # unbiased: fails "is_biased"
    }
    checks = nonstationary_checks({"oct": entry})
    assert checks == {
        "oct_nonreversible_recovers_equilibrium": True,
        "oct_reversible_ml_recovers_equilibrium": False,
        "oct_symmetrised_is_biased": True,
        "oct_mean_membership_is_biased": False,
    }
