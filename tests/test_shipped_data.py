"""The shipped PEO/LiTFSI runs: they load, match their provenance, and look physical."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gdynbook import data
from gdynbook.systems.peo_litfsi.md import Protocol, sha256_file
from gdynbook.systems.peo_litfsi.runs import (
    density_g_cm3,
    load_runs,
    molecules_intact,
    run_directories,
)

ROOT = data.data_dir() / "peo_litfsi"
RUNS = run_directories(ROOT) if ROOT.is_dir() else []


def test_protocol_is_the_documented_one() -> None:
    if not ROOT.is_dir():
        pytest.skip("no PEO/LiTFSI data shipped yet")
    stored = Protocol.from_dict(json.loads((ROOT / "protocol.json").read_text())["protocol"])
    assert stored == Protocol()  # data/README.md describes the default protocol


@pytest.mark.skipif(not RUNS, reason="no finished PEO/LiTFSI production chunk yet")
def test_runs_load_and_match_provenance() -> None:
    runs = load_runs(ROOT)  # checks every chunk's sha256 and the total frame count
    for run in runs:
        records = run.provenance["chunks"]
        assert run.traj.n_frames == sum(r["frames"] for r in records)
        assert run.traj.time_step_ps == pytest.approx(5.0, rel=1e-4)
        for record in records:
            assert sha256_file(run.path / record["file"]) == record["sha256"]
            # weak coupling (0.1 ps⁻¹): a 250 ps chunk mean scatters by ~3 K
            assert abs(record["temperature_k_mean"] - 423.0) < 10.0
        mean_t = np.mean([record["temperature_k_mean"] for record in records])
        assert abs(mean_t - 423.0) < 3.0 + 10.0 / np.sqrt(len(records))
        # NVT at the mean NPT volume: one box, the documented density
        density = density_g_cm3(run)
        np.testing.assert_allclose(density, density[0], rtol=1e-5)
        equilibration = run.provenance["equilibration"]
        assert density[0] == pytest.approx(equilibration["npt_density_g_cm3_mean"], rel=1e-3)
        assert 1.05 < density[0] < 1.25
        assert molecules_intact(run)
        assert len(run.li_index) == 16 and len(run.tfsi_o_index) == 64


@pytest.mark.skipif(not RUNS, reason="no finished PEO/LiTFSI production chunk yet")
def test_li_solvation_is_in_the_measured_range_and_stationary() -> None:
    """Li⁺ first shells (2.8 Å) of the shipped runs, and first half against second half.

    Ranges are those measured for this model (data/README.md): Li⁺ wrapped by ~5.8
    ether O of PEO, TFSI⁻ in the first shell of only ~7 % of Li⁺. (An earlier test
    system with EO:Li ≈ 21 reported 4.6–4.8 ether O and 0.7–0.9 TFSI O; ours pairs far
    less — see the data page.) Li–O(ether) contact peak at ~2.1 Å.
    """
    from gdynbook.systems.peo_litfsi.runs import radial_distribution, summary

    for run in load_runs(ROOT, verify_checksums=False):
        numbers = summary(run)
        assert 5.3 < numbers["ether_o_per_li"] < 6.3
        assert 0.0 <= numbers["tfsi_o_per_li"] < 0.3
        for key, tolerance in (
            ("density_g_cm3", 1e-4),
            ("ether_o_per_li", 0.25),
            ("fraction_li_with_tfsi", 0.08),
        ):
            first, second = numbers[f"first_half_{key}"], numbers[f"second_half_{key}"]
            assert abs(first - second) < tolerance, (run.path.name, key, first, second)
        r, g, _ = radial_distribution(run.traj[::5], run.li_index, run.ether_o_index, 4.0)
        assert 1.9 < r[np.argmax(g)] < 2.25


def test_readme_checksum_table_is_current() -> None:
    from gdynbook.systems.peo_litfsi.runs import CHECKSUMS_BEGIN, CHECKSUMS_END, checksum_table

    text = (data.data_dir() / "README.md").read_text()
    block = text.split(CHECKSUMS_BEGIN, 1)[1].split(CHECKSUMS_END, 1)[0].strip()
    expected = checksum_table(ROOT) if ROOT.is_dir() else ""
    assert block == expected.strip(), "refresh data/README.md with update_readme_checksums"


@pytest.mark.skipif(not RUNS, reason="no finished PEO/LiTFSI production chunk yet")
def test_shipped_runs_meet_the_teaching_data_set_size() -> None:
    """Five runs at 423 K, each ≥ 2 ns, ≥ 12 ns in all, frames ≤ 10 ps apart."""
    complete = [
        json.loads((p / "provenance.json").read_text())
        for p in RUNS
        if json.loads((p / "provenance.json").read_text()).get("complete")
    ]
    assert len(complete) >= 5
    lengths_ns = [sum(c["end_ps"] - c["start_ps"] for c in p["chunks"]) / 1000 for p in complete]
    assert min(lengths_ns) >= 2.0 and sum(lengths_ns) >= 12.0
    assert all(p["frame_interval_ps"] <= 10.0 and p["temperature_k"] == 423.0 for p in complete)


def test_shipped_data_fits_the_budget() -> None:
    """Everything data/ ships (the files SHA256SUMS lists, the list and the README) stays
    within 60 MB, no file over 20 MB — whatever the MD campaign has added so far."""
    root = data.data_dir()
    lines = (root / "SHA256SUMS").read_text().splitlines()
    files = [root / line.split("  ", 1)[1] for line in lines if line.strip()]
    files += [root / "SHA256SUMS", root / "README.md"]
    # a running MD replaces its latest state file between commits; the manifest check
    # (verify_manifest) is what catches a listed file that is missing
    sizes = [f.stat().st_size for f in files if f.is_file()]
    assert len(files) > 10 and sum(sizes) < 60e6, f"{sum(sizes) / 1e6:.1f} MB"
    assert max(sizes) < 20e6
