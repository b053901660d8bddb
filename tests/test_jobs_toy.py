"""The toy main job: settings, the shipped models on fresh data, and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gdynbook import data
from gdynbook.cli import main
from gdynbook.jobs.toy import (
    REGIMES,
    acceptance,
    count_oct_visits,
    evaluate_states,
    toy_reference,
    toy_simulation_settings,
)
from gdynbook.systems.toy import core_set_labels, simulate_toy
from gdynbook.train import load


def test_settings_scale_with_frames_and_refuse_too_few() -> None:
    default = toy_simulation_settings()
    assert default.n_replicas * default.n_frames == 128_000
    small = toy_simulation_settings(n_frames=20_000)
    assert small.n_replicas * small.n_frames == 20_000
    assert toy_simulation_settings("paper").frame_interval_ps == 0.1
    with pytest.raises(ValueError, match="at least"):
        toy_simulation_settings(n_frames=500)
    with pytest.raises(ValueError, match="regime"):
        toy_simulation_settings("hot")


@pytest.fixture(scope="module")
def fresh_replicas() -> list:
    """Replicas the shipped models never saw (another seed than their training data)."""
    return simulate_toy(toy_simulation_settings(n_frames=32_000, seed=11), progress=False)


def test_shipped_models_meet_the_acceptance_on_fresh_replicas(fresh_replicas) -> None:
    """Ground truth is the geometry (core-set labels), not any stored model output."""
    lag = REGIMES["default"].lag_frames
    reference = toy_reference(fresh_replicas, lag)
    reports = {
        name: evaluate_states(
            load(data.path(f"toy/{name}.pt"))[0], fresh_replicas, reference, lag, n_bootstrap=40
        )
        for name in ("gdynet", "baseline")
    }
    checks = acceptance(reports["gdynet"], reports["baseline"], reference)
    assert all(checks.values()), checks
    assert reports["baseline"].vamp2 > reports["gdynet"].vamp2


def test_reference_counts_and_rates_agree_with_the_labels(fresh_replicas) -> None:
    lag = REGIMES["default"].lag_frames
    reference = toy_reference(fresh_replicas, lag)
    by_hand = 0
    for traj in fresh_replicas:  # entries into an octahedral core, counted one by one
        previous = -1
        for label in core_set_labels(traj.coords[:, 0])[0]:
            if label == 1 and previous == 0:
                by_hand += 1
            if label >= 0:
                previous = label
    assert reference.n_oct_visits == count_oct_visits(fresh_replicas) == by_hand
    # detailed balance of the two-state chain: π_tet k_TO = π_oct k_OT
    flux = reference.populations * [reference.k_tet_to_oct, reference.k_oct_to_tet]
    np.testing.assert_allclose(flux[0], flux[1], rtol=1e-6)
    # the occupancy rate is the two-state relaxation rate
    np.testing.assert_allclose(
        reference.spectrum["occupancy"], 1 / reference.timescale_ps, rtol=1e-6
    )


def test_cli_runs_a_small_job_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "toy"
    args = [
        "toy",
        "--frames",
        "16000",
        "--epochs",
        "2",
        "--no-figures",
        "--no-progress",
        "--output",
        str(out),
    ]
    status = main(args)
    summary = json.loads((out / "summary.json").read_text())
    assert status == (0 if summary["passed"] else 1)  # a failed acceptance check exits 1
    for key in (
        "lag_ps",
        "reference_timescale_ps",
        "gdynet_timescale_ps",
        "gdynet_timescale_err_ps",
        "baseline_timescale_ps",
        "reference_identity_timescale_ps",
        "tet_recall",
        "oct_recall",
        "baseline_balanced_accuracy",
        "populations",
        "reference_populations",
        "gdynet_vamp2",
        "baseline_vamp2",
    ):
        assert key in summary, key
    assert summary["n_frames"] == 16_000 and summary["lag_ps"] == 5.0
    assert np.isfinite(summary["reference_timescale_ps"])
    assert (out / "gdynet.pt").exists() and (out / "baseline.pt").exists()
    assert "acceptance" in capsys.readouterr().out
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
