"""The out-of-equilibrium job, part A, end to end on a tiny system (the numbers the
chapter prints are checked there, at full statistics of fast mode)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from gdynbook.jobs.driven import NonstationarySettings, nonstationary_checks, run_nonstationary
from gdynbook.nonequilibrium import METHODS

#: training settings small enough for a unit test (both parts share ToyRunSettings)
TINY_TRAINING = dict(lag_frames=4, n_epochs=2, pairs_per_epoch=500, batch_size=64)


def test_run_nonstationary_writes_every_number(tmp_path) -> None:
    tiny = replace(
        NonstationarySettings.fast(),
        equilibrium_replicas=12,
        equilibrium_ps=40.0,
        replicas_per_start=24,
        duration_ps=15.0,
        n_bootstrap=10,
        **TINY_TRAINING,
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


def test_run_driven_writes_every_number(tmp_path) -> None:
    from gdynbook.jobs.driven import DrivenSettings, run_driven

    tiny = replace(
        DrivenSettings.fast(),
        forces_kt_per_a=(0.5, 2.0),
        replicas_per_force=8,
        duration_ps=20.0,
        diffusion_window_ps=5.0,
        ck_steps=2,
        n_bootstrap=5,
        **TINY_TRAINING,
    )
    result = run_driven(tmp_path, tiny, seed=1, device="cpu", progress=False)
    written = json.loads((tmp_path / "driven.json").read_text())
    assert (tmp_path / "driven.png").stat().st_size > 0
    keys = {
        "force_kt_per_a",
        "drift_velocity_A_per_ps",
        "drift_velocity_err",
        "drift_velocity_tilted",
        "diffusion_tilted_A2_per_ps",
        "diffusion_direct_A2_per_ps",
        "entropy_production_counted",
        "entropy_production_tilted",
        "entropy_production_tilted_err",
        "entropy_production_expected",
        "entropy_production_two_state",
        "li_temperature_k",
        "timescale_ps",
    }
    assert [e["force_kt_per_a"] for e in written["driven"]] == [0.5, 2.0]
    for entry in written["driven"]:
        assert keys <= set(entry)
        assert entry["entropy_production_expected"] == pytest.approx(
            entry["force_kt_per_a"] * entry["drift_velocity_A_per_ps"]
        )
        assert abs(entry["entropy_production_two_state"]) < 1e-9
    assert {"mobility", "d_over_kT", "err"} <= set(written["mobility_check"])
    assert written["mobility_check"]["forces_kt_per_a"] == [0.5]
    assert result["checks"] == written["checks"]


def test_driven_checks_apply_the_stated_rules() -> None:
    from gdynbook.jobs.driven import driven_checks

    def entry(f, v, v_tilted, tilted, counted, err=0.0):
        return {
            "force_kt_per_a": f,
            "drift_velocity_A_per_ps": v,
            "drift_velocity_err": 0.001,
            "drift_velocity_held_out": v,
            "drift_velocity_tilted": v_tilted,
            "entropy_production_two_state": 0.0,
            "entropy_production_tilted": tilted,
            "entropy_production_tilted_err": err,
            "entropy_production_counted": counted,
            "entropy_production_counted_err": err,
            "entropy_production_expected": f * v,
            "entropy_production_expected_err": 0.0,
        }

    entries = [
        entry(0.25, 0.0005, 0.5, 0.0, 0.0),  # no significant drift: not checked
        # both 2× off but within 3σ: pass
        entry(0.5, 0.02, 0.021, 0.005, 0.02, err=0.004),
        # tilted v 12 % off: passes; symmetry EP 10 % off passes, counted 40 % off fails
        entry(1.0, 0.05, 0.056, 0.055, 0.07),
        # tilted v 20 % off fails; symmetry EP NaN (no second root) fails; counted beyond
        # 1 kT/Å is not checked
        entry(1.5, 0.10, 0.12, float("nan"), 0.05),
        entry(2.0, 0.14, 0.14, 0.21, 0.01),  # symmetry EP 25 % low: fails
    ]
    mob = {"mobility": 0.06, "d_over_kT": 0.05, "err": 0.002}
    checks = driven_checks(entries, mob)
    assert checks == {
        "f0.5_tilted_velocity": True,
        "f0.5_two_state_no_entropy": True,
        "f0.5_entropy_production": True,
        "f0.5_entropy_production_counted": True,
        "f1_tilted_velocity": True,
        "f1_two_state_no_entropy": True,
        "f1_entropy_production": True,
        "f1_entropy_production_counted": False,
        "f1.5_tilted_velocity": False,
        "f1.5_two_state_no_entropy": True,
        "f1.5_entropy_production": False,
        "f2_tilted_velocity": True,
        "f2_two_state_no_entropy": True,
        "f2_entropy_production": False,
        "einstein_relation": False,
    }


def test_an_error_from_failed_resamples_is_unknown_not_small() -> None:
    from gdynbook.jobs.driven import _finite_std

    values = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 1.02, 0.98, 1.01, 0.99]
    assert _finite_std(values) == pytest.approx(np.std(values, ddof=1))
    assert _finite_std([*values[:9], float("nan")]) == pytest.approx(np.std(values[:9], ddof=1))
    assert np.isnan(_finite_std([*values[:8], float("nan"), float("nan")]))  # 20 % failed
