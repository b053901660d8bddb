"""The PEO/LiTFSI MD protocol on a tiny box: stability, resume, data integrity, checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gdynbook.cli import main
from gdynbook.systems.peo_litfsi import md
from gdynbook.systems.peo_litfsi.md import PeoLitfsiSimulation, Protocol
from gdynbook.systems.peo_litfsi.runs import (
    durable_switches,
    load_run,
    load_runs,
    pair_distances,
    radial_distribution,
    summary,
)
from gdynbook.trajectory import Trajectory, TrajectoryError


class Interrupted(PeoLitfsiSimulation):
    """Stops (as if cut off) after a given number of chunk checks."""

    budget = 0

    def out_of_time(self) -> bool:
        Interrupted.budget -= 1
        return Interrupted.budget < 0


def chunk_hashes(root: Path) -> dict[str, str]:
    chunks = sorted(root.glob("run-*/chunk-*.xtc"))
    return {str(p.relative_to(root)): md.sha256_file(p) for p in chunks}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("smoke") / "peo"
    assert PeoLitfsiSimulation(out, Protocol.smoke(), progress=False).run()
    return out


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke protocol on OpenMM's Reference platform, which is bitwise deterministic.

    The CPU platform is not, even with one thread: PME runs on a thread of its own and
    two Contexts in one process already differ by ~1e-6 nm after 2 ps. So bitwise
    resume tests use the Reference platform.
    """
    out = tmp_path_factory.mktemp("reference") / "peo"
    assert PeoLitfsiSimulation(out, Protocol.smoke(), progress=False, platform="Reference").run()
    return out


def test_smoke_run_is_stable_and_loads(smoke_run: Path) -> None:
    protocol = Protocol.smoke()
    runs = load_runs(smoke_run)
    assert len(runs) == protocol.n_runs
    for run in runs:
        assert run.provenance["complete"] is True
        assert run.traj.n_frames == round(protocol.production_ps / protocol.frame_interval_ps)
        assert run.traj.time_step_ps == pytest.approx(protocol.frame_interval_ps, rel=1e-4)
        assert run.traj.wrapped is False
        assert len(run.li_index) == protocol.composition.n_salt
        np.testing.assert_array_equal(run.traj.target_index, run.li_index)
        assert np.isfinite(run.traj.coords).all()
        values = summary(run, switch_min_ps=0.2)
        assert values["molecules_intact"] == 1.0
        assert abs(values["temperature_k"] - protocol.temperature_k) < 60
        # NVT: one box volume for the whole run
        np.testing.assert_allclose(run.traj.volumes, run.traj.volumes[0], rtol=1e-5)


def test_resume_reproduces_an_uninterrupted_run(reference_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "peo"
    for budget in (2, 3, 1, 2):  # cut off at several places, including mid-equilibration
        Interrupted.budget = budget
        finished = Interrupted(
            out,
            Protocol.smoke() if not (out / "protocol.json").exists() else None,
            progress=False,
            resume=True,
            platform="Reference",
        ).run()
        if finished:
            break
    Interrupted.budget = 10_000
    assert Interrupted(out, None, progress=False, resume=True, platform="Reference").run()
    assert chunk_hashes(out) == chunk_hashes(reference_run)


def test_unrecorded_chunk_is_redone(reference_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "peo"
    Interrupted.budget = 5  # compress, anneal, npt, the NVT set-up, run-00 chunk 0
    Interrupted(out, Protocol.smoke(), progress=False, platform="Reference").run()
    provenance = json.loads((out / "run-00" / "provenance.json").read_text())
    assert len(provenance["chunks"]) == 1
    # An interruption after the XTC was moved into place but before provenance.json
    # recorded it leaves a stray chunk file behind.
    (out / "run-00" / "chunk-0001.xtc").write_bytes(b"half-written")
    assert PeoLitfsiSimulation(out, None, progress=False, resume=True, platform="Reference").run()
    assert chunk_hashes(out) == chunk_hashes(reference_run)


def test_changed_chunk_is_detected(smoke_run: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(smoke_run, copy)
    chunk = copy / "run-01" / "chunk-0000.xtc"
    chunk.write_bytes(chunk.read_bytes()[:-10])
    with pytest.raises(TrajectoryError, match="sha256"):
        load_run(copy / "run-01")
    with pytest.raises(ValueError, match="sha256"):
        PeoLitfsiSimulation(copy, None, progress=False, resume=True).run()


def test_existing_output_needs_resume(smoke_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(FileExistsError, match="resume"):
        PeoLitfsiSimulation(smoke_run, Protocol.smoke(), progress=False)
    assert main(["simulate", "peo-litfsi", "--preset", "smoke", "--out", str(smoke_run)]) == 2
    assert "--resume" in capsys.readouterr().err
    changed = Protocol.smoke()
    changed.temperature_k = 300.0
    with pytest.raises(ValueError, match="differs"):
        PeoLitfsiSimulation(smoke_run, changed, progress=False, resume=True)


def test_protocol_round_trip_and_validation() -> None:
    protocol = Protocol()
    assert Protocol.from_dict(json.loads(json.dumps(protocol.to_dict()))) == protocol
    protocol.validate()
    assert protocol.n_runs * protocol.production_ps >= 12_000
    assert protocol.production_ps >= 2_000 and protocol.frame_interval_ps <= 10
    bad = Protocol(chunk_ps=300.0)
    with pytest.raises(ValueError, match="whole number of chunks"):
        bad.validate()


# ---------------------------------------------------------------- analysis helpers
def test_durable_switches_by_hand() -> None:
    series = np.array([0, 0, 0, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)[:, None]
    # the single-frame blip at index 3 is not durable; 0 -> 1 (index 6) and 1 -> 0 are
    assert durable_switches(series, min_frames=3).tolist() == [2]
    assert durable_switches(series, min_frames=1).tolist() == [4]


def test_pair_distances_minimum_image_brute_force() -> None:
    rng = np.random.default_rng(1)
    length = 12.0
    coords = rng.random((3, 6, 3)) * 30 - 5  # unwrapped, outside the cell too
    traj = Trajectory(coords, np.eye(3) * length, np.full(6, 8), [0], 1.0)
    got = pair_distances(traj, np.array([0, 1]), np.array([2, 3, 4, 5]))
    for f in range(3):
        for a, i in enumerate([0, 1]):
            for b, j in enumerate([2, 3, 4, 5]):
                images = [coords[f, j] + length * np.array(s) for s in np.ndindex(5, 5, 5)]
                shift = length * 2
                best = min(np.linalg.norm(coords[f, i] - (im - shift)) for im in images)
                assert got[f, a, b] == pytest.approx(best)


def test_rdf_of_an_ideal_gas_is_one() -> None:
    rng = np.random.default_rng(2)
    length = 20.0
    coords = rng.random((200, 60, 3)) * length
    traj = Trajectory(coords, np.eye(3) * length, np.full(60, 8), [0], 1.0)
    r, g, n = radial_distribution(
        traj, np.arange(20), np.arange(20, 60), r_max_a=8.0, bin_width_a=0.5
    )
    assert np.abs(g[r > 2.0] - 1.0).max() < 0.15
    expected_n = 40 / length**3 * 4 / 3 * np.pi * 8.0**3
    assert n[-1] == pytest.approx(expected_n, rel=0.05)


def test_time_step_check_runs_and_reports(smoke_run: Path) -> None:
    simulation = PeoLitfsiSimulation(smoke_run, None, progress=False, resume=True)
    summary = simulation.validate_time_step(duration_ps=0.4)
    assert set(summary) == {"hmr", "natural", "difference"}
    for name in ("hmr", "natural"):
        values = summary[name]
        assert np.isfinite(values["li_diffusion_a2_per_ps"])
        assert values["duration_ps"] == pytest.approx(0.36, rel=1e-3)
        assert 0.0 <= values["fraction_li_with_tfsi"] <= 1.0
    # paired over Li⁺: the mean of per-Li⁺ differences is the difference of the means for
    # quantities averaged with equal weight per Li⁺ (fraction with TFSI, switch rate)
    for key in ("fraction_li_with_tfsi", "tfsi_switches_per_li_per_ns"):
        entry = summary["difference"][key]
        expected = summary["hmr"][key] - summary["natural"][key]
        assert entry["mean"] == pytest.approx(expected, abs=1e-12)
        assert entry["standard_error"] >= 0 and entry["n_li"] >= 2
    assert (smoke_run / "validation" / "time-step" / "summary.json").exists()
    # resumable: a second call re-reads the finished segments without running them
    assert simulation.validate_time_step(duration_ps=0.4) == summary
