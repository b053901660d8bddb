"""Every shipped independent build (the screen's and production's): integrity, physical
ranges, intact molecules and stationarity (first half against second half)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gdynbook import data
from gdynbook.systems.peo_litfsi.md import sha256_file
from gdynbook.systems.peo_litfsi.runs import density_g_cm3, load_run, molecules_intact, summary

ROOT = data.data_dir() / "peo_litfsi"


def finished_builds() -> list[Path]:
    """Build directories (``screen/*``, ``build-NN``) whose production is complete."""
    found = []
    for provenance in sorted(ROOT.glob("screen/*/provenance.json")) + sorted(
        ROOT.glob("build-[0-9][0-9]/provenance.json")
    ):
        if json.loads(provenance.read_text()).get("complete"):
            found.append(provenance.parent)
    return found


BUILDS = finished_builds()
pytestmark = pytest.mark.skipif(not BUILDS, reason="no finished PEO/LiTFSI build shipped yet")


@pytest.fixture(scope="module", params=BUILDS, ids=lambda p: str(p.relative_to(ROOT)))
def build(request: pytest.FixtureRequest):
    return load_run(request.param)  # checks every chunk's sha256 and the frame count


def test_build_matches_its_provenance(build) -> None:
    provenance = build.provenance
    records = provenance["chunks"]
    assert build.traj.n_frames == sum(r["frames"] for r in records)
    assert build.traj.time_step_ps == pytest.approx(provenance["frame_interval_ps"], rel=1e-4)
    assert [r["start_ps"] for r in records] == [250.0 * k for k in range(len(records))]
    for record in records:
        assert sha256_file(build.path / record["file"]) == record["sha256"]
        assert abs(record["temperature_k_mean"] - provenance["temperature_k"]) < 10.0
    composition = provenance["composition"]
    assert len(build.li_index) == composition["n_salt"] == len(build.tfsi_n_index)
    # CH3-(O-CH2-CH2)n-O-CH3: n + 1 ether O per chain
    n_ether_o = composition["n_chains"] * (composition["n_ethylene_oxide"] + 1)
    assert len(build.ether_o_index) == n_ether_o
    assert provenance["frame_atoms"] == "heavy" and provenance["unwrapped"] is True


def test_build_is_one_box_at_its_npt_density_and_physical(build) -> None:
    density = density_g_cm3(build)
    np.testing.assert_allclose(density, density[0], rtol=1e-5)  # NVT: one box
    recorded = build.provenance["equilibration"]["npt_density_g_cm3_mean"]
    assert density[0] == pytest.approx(recorded, rel=1e-3)  # hydrogens counted back in
    assert 1.05 < density[0] < 1.35  # PEO/LiTFSI melts at 350-430 K: 1.1-1.3 g/cm3
    assert molecules_intact(build)


def test_build_li_shell_is_in_range_and_stationary(build) -> None:
    """Li⁺ first shell (2.8 Å): 4-6.5 O in all (ether + TFSI; neutron diffraction finds
    about 5 ether O, see the data page); first half against second half: ether O per Li⁺
    within 0.3 (5 % of the shell) and the fraction of Li⁺ with a TFSI⁻ within 0.1."""
    numbers = summary(build)
    assert 4.0 <= numbers["ether_o_per_li"] + numbers["tfsi_o_per_li"] <= 6.5
    for key, tolerance in (("ether_o_per_li", 0.3), ("fraction_li_with_tfsi", 0.1)):
        first, second = numbers[f"first_half_{key}"], numbers[f"second_half_{key}"]
        assert abs(first - second) < tolerance, (build.path.name, key, first, second)


SCREEN_RESULT = ROOT / "screen" / "screen.json"


@pytest.mark.skipif(not SCREEN_RESULT.is_file(), reason="the screen's verdict is not shipped yet")
def test_shipped_screen_verdict_is_what_the_rule_gives_on_the_shipped_builds() -> None:
    """Re-measure every screen build from its shipped files and apply the registered rule:
    the same numbers and the same choice as the shipped verdict, and the production
    campaign carries that choice."""
    from dataclasses import asdict

    from gdynbook.systems.peo_litfsi.campaign import read_campaign
    from gdynbook.systems.peo_litfsi.screen import apply_rule, screen_campaign

    shipped = json.loads(SCREEN_RESULT.read_text())
    assert shipped["final"] is True and shipped["unfinished"] == []
    rows, verdict, unfinished = screen_campaign(ROOT / "campaign-screen.json", ROOT)
    assert unfinished == [] and len(rows) == 4
    for row, stored in zip(rows, shipped["rows"], strict=True):
        measured = asdict(row)
        for key in ("name", "n_li", "eo_per_li"):
            assert measured[key] == stored[key]
        for key in ("density", "coordination", "fraction_tfsi_touching_li", "d_ratio"):
            assert measured[key] == pytest.approx(stored[key], rel=1e-9), key
    assert asdict(verdict) == shipped["verdict"] == asdict(apply_rule(rows))
    chosen = next(
        b for b in read_campaign(ROOT / "campaign-screen.json") if b.name.endswith(verdict.chosen)
    )
    for build in read_campaign(ROOT / "campaign-production.json"):
        assert build.protocol.ion_charge_scale == chosen.protocol.ion_charge_scale
        assert build.protocol.composition == chosen.protocol.composition


TIME_STEP_CHECKS = {
    "older runs": "validation/time-step",
    "the production setting": "screen/q0.7-eo8/validation/time-step",
}


@pytest.mark.parametrize("label", sorted(TIME_STEP_CHECKS))
def test_time_step_checks_are_what_the_trajectories_give_and_what_the_page_says(label) -> None:
    """Each shipped check re-measured from its two trajectories, and its paired
    differences as the data page prints them."""
    import json

    from gdynbook.systems.peo_litfsi.md import compare_time_steps

    folder = data.data_dir() / "peo_litfsi" / TIME_STEP_CHECKS[label]
    if not (folder / "natural.xtc").is_file():
        pytest.skip("check not shipped")
    stored = json.loads((folder / "summary.json").read_text())
    measured = compare_time_steps(folder)
    for name in ("hmr", "natural"):
        for key, value in stored[name].items():
            assert measured[name][key] == pytest.approx(value, rel=1e-9), (name, key)
    difference = measured["difference"]
    d_li = difference["li_diffusion_a2_per_ps"]
    switches = difference["tfsi_switches_per_li_per_ns"]
    tfsi = difference["fraction_li_with_tfsi"]
    row = (
        f"| {d_li['n_li']} | {1e3 * d_li['mean']:+.1f} ± {1e3 * d_li['standard_error']:.1f} "
        f"| {switches['mean']:+.1f} ± {switches['standard_error']:.1f} "
        f"| {tfsi['mean']:+.3f} ± {tfsi['standard_error']:.3f} |"
    ).replace("-", "−")
    page = (Path(__file__).resolve().parents[1] / "reference" / "data.md").read_text()
    line = next(text for text in page.splitlines() if text.startswith(f"| {label}"))
    assert line.endswith(row), (line, row)


OLD_RUNS_RECORD = ROOT / "old-runs-diagnostics.json"


@pytest.mark.skipif(not OLD_RUNS_RECORD.is_file(), reason="no record of the old runs")
def test_the_kept_record_of_the_old_runs_is_what_the_runs_give() -> None:
    """The old runs' diagnostics stay in the book as numbers once the runs leave ``data/``;
    while the runs are here, the record must be what they give."""
    from gdynbook.systems.peo_litfsi.diagnostics import (
        diagnostics_per_build,
        load_diagnostics_record,
    )
    from gdynbook.systems.peo_litfsi.runs import load_runs, run_directories

    record, about = load_diagnostics_record(OLD_RUNS_RECORD)
    if not run_directories(ROOT):
        pytest.skip(f"the old runs left data/; re-measure them at {about['source_commit']}")
    measured = diagnostics_per_build(load_runs(ROOT))
    assert list(measured.index) == list(record.index)
    assert list(measured.columns) == list(record.columns)
    np.testing.assert_allclose(measured.to_numpy(), record.to_numpy(), rtol=1e-9)
