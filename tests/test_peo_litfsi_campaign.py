"""Independent PEO/LiTFSI builds: campaign files, heavy-atom frames, traces, charge scale."""

from __future__ import annotations

import json
from pathlib import Path

import mdtraj
import numpy as np
import pytest

from gdynbook.cli import main
from gdynbook.systems.peo_litfsi import md
from gdynbook.systems.peo_litfsi.builder import build_box
from gdynbook.systems.peo_litfsi.campaign import read_campaign, run_campaign
from gdynbook.systems.peo_litfsi.forcefield import ATOM_TYPES, ION_TYPES
from gdynbook.systems.peo_litfsi.md import PeoLitfsiSimulation, Protocol
from gdynbook.systems.peo_litfsi.runs import load_run

SMOKE_BASE = {
    **{k: v for k, v in Protocol.smoke().to_dict().items() if k != "composition"},
    "composition": {"n_chains": 2, "n_ethylene_oxide": 4, "n_salt": 2},
    "n_runs": 1,
    "anneal_ps": 1.2,
    "layout": "build",
    "frame_atoms": "heavy",
    "equilibration_frame_interval_ps": 0.08,
    "keep_stage_states": False,
}


def write_campaign(path: Path, builds: list[dict], base: dict | None = None) -> Path:
    path.write_text(
        json.dumps({"description": "test", "base": base or SMOKE_BASE, "builds": builds})
    )
    return path


TWO_BUILDS = [
    {"name": "screen/a", "protocol": {"seed": 11, "ion_charge_scale": 0.7}},
    {"name": "screen/b", "protocol": {"seed": 12}},
]


def build_hashes(root: Path) -> dict[str, str]:
    files = sorted(root.glob("screen/*/chunk-*.xtc")) + sorted(
        root.glob("screen/*/equilibration/trace-*.xtc")
    )
    return {str(p.relative_to(root)): md.sha256_file(p) for p in files}


class Cutoff:
    """Patch ``out_of_time`` so a campaign stops after a given number of chunk checks."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, budget: int) -> None:
        self.budget = budget
        monkeypatch.setattr(PeoLitfsiSimulation, "out_of_time", lambda _sim: self.tick())

    def tick(self) -> bool:
        self.budget -= 1
        return self.budget < 0


@pytest.fixture(scope="module")
def campaign_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("campaign")
    path = write_campaign(folder / "campaign.json", TWO_BUILDS)
    assert run_campaign(path, folder / "out", platform="Reference", progress=False)
    return path, folder / "out"


def test_builds_are_independent_and_load(campaign_run: tuple[Path, Path]) -> None:
    path, root = campaign_run
    builds = read_campaign(path)
    first = builds[0].protocol
    runs = [load_run(root / b.name) for b in builds]
    for build, run in zip(builds, runs, strict=True):
        p = build.protocol
        assert run.provenance["complete"] is True
        assert run.provenance["seed"] == p.seed
        assert run.provenance["ion_charge_scale"] == p.ion_charge_scale
        assert "independent build" in run.provenance["description"]
        assert run.traj.n_frames == round(p.production_ps / p.frame_interval_ps)
        # heavy atoms only: no hydrogen in the frames or the topology that goes with them
        heavy = [
            t
            for t in build_box(p.composition, p.build_density_g_cm3, p.seed).types
            if ATOM_TYPES[t].element != "H"
        ]
        assert run.traj.n_atoms == len(heavy) == run.provenance["n_frame_atoms"]
        assert len(run.li_index) == p.composition.n_salt
        assert len(run.ether_o_index) == p.composition.n_chains * (
            p.composition.n_ethylene_oxide + 1
        )
    # the builds share nothing: other builder seed, other first frame
    assert not np.allclose(runs[0].traj.coords[0], runs[1].traj.coords[0], atol=1.0)
    assert first.seed != builds[1].protocol.seed


def test_load_builds_returns_every_finished_build_in_order(
    campaign_run: tuple[Path, Path], tmp_path: Path
) -> None:
    from gdynbook.systems.peo_litfsi.runs import load_builds
    from gdynbook.trajectory import TrajectoryError

    _, root = campaign_run
    (tmp_path / "build-01").symlink_to(root / "screen" / "a", target_is_directory=True)
    (tmp_path / "build-00").symlink_to(root / "screen" / "b", target_is_directory=True)
    (tmp_path / "build-02").mkdir()  # started, nothing finished: left out
    (tmp_path / "notes").mkdir()
    builds = load_builds(tmp_path)
    assert [b.path.name for b in builds] == ["build-00", "build-01"]
    assert [b.provenance["seed"] for b in builds] == [12, 11]
    with pytest.raises(TrajectoryError, match="no build-NN directory"):
        load_builds(tmp_path / "notes")


def test_max_chunks_loads_the_start_of_a_build_and_status_says_how_far_each_got(
    campaign_run: tuple[Path, Path], tmp_path: Path
) -> None:
    from gdynbook.systems.peo_litfsi.runs import load_builds, production_status, thermo
    from gdynbook.trajectory import TrajectoryError

    _, root = campaign_run
    source = root / "screen" / "a"
    full = load_run(source)
    n_chunks = len(full.provenance["chunks"])
    assert n_chunks >= 2, "the smoke campaign must write at least two chunks"
    first = load_run(source, max_chunks=1)
    frames = full.provenance["chunks"][0]["frames"]
    assert first.traj.n_frames == frames
    np.testing.assert_array_equal(first.traj.coords, full.traj.coords[:frames])
    chunk_rows = np.loadtxt(source / "thermo-0000.csv", delimiter=",", skiprows=1, ndmin=2)
    np.testing.assert_array_equal(thermo(first), chunk_rows)  # the thermo of what it loaded
    assert thermo(full).shape[0] > chunk_rows.shape[0]
    with pytest.raises(ValueError, match="at least one chunk"):
        load_run(source, max_chunks=0)

    (tmp_path / "build-00").symlink_to(source, target_is_directory=True)
    started = tmp_path / "build-01"  # equilibrating: a protocol and the anneal's logs only
    (started / "equilibration").mkdir(parents=True)
    (started / "protocol.json").write_text((source / "protocol.json").read_text())
    for name in ("thermo-compress-0000.csv", "thermo-anneal-0000.csv"):
        (started / "equilibration" / name).write_text("")
    (tmp_path / "build-02").mkdir()  # no protocol yet: not listed
    assert [b.traj.n_frames for b in load_builds(tmp_path, max_chunks=1)] == [frames]
    assert load_builds(tmp_path, min_chunks=n_chunks)[0].path.name == "build-00"
    with pytest.raises(TrajectoryError, match=f"{n_chunks + 1} or more finished chunks"):
        load_builds(tmp_path, min_chunks=n_chunks + 1)
    status = production_status(tmp_path)
    protocol = json.loads((source / "protocol.json").read_text())["protocol"]
    assert [row["build"] for row in status] == ["build-00", "build-01"]
    assert status[0]["stage"] == "production" and status[0]["complete"] is True
    simulated_ps = full.traj.n_frames * full.traj.time_step_ps  # a frame ends each interval
    assert status[0]["production_ns"] == pytest.approx(simulated_ps / 1000)
    assert status[0]["planned_ns"] == pytest.approx(protocol["production_ps"] / 1000)
    assert status[0]["production_ns"] == pytest.approx(status[0]["planned_ns"])
    assert status[0]["chunks"] == n_chunks and status[0]["chunk_ps"] == protocol["chunk_ps"]
    assert status[1] == {
        "build": "build-01",
        "seed": protocol["seed"],
        "stage": "anneal",
        "chunks": 0,
        "chunk_ps": protocol["chunk_ps"],
        "production_ns": 0.0,
        "planned_ns": protocol["production_ps"] / 1000,
        "complete": False,
    }


def test_trace_covers_anneal_and_npt(campaign_run: tuple[Path, Path]) -> None:
    path, root = campaign_run
    build = read_campaign(path)[0]
    p = build.protocol
    folder = root / build.name / "equilibration"
    topology = mdtraj.load_topology(str(folder / "topology-trace.pdb"))
    elements = {atom.element.symbol for atom in topology.atoms}
    assert elements == {"Li", "O", "N"}
    n_li = p.composition.n_salt
    n_o = p.composition.n_chains * (p.composition.n_ethylene_oxide + 1) + 4 * n_li
    assert topology.n_atoms == n_li + n_o + n_li
    for stage, duration in (("anneal", p.anneal_ps), ("npt", p.npt_ps)):
        frames = sum(
            mdtraj.load(str(f), top=topology).n_frames
            for f in sorted(folder.glob(f"trace-{stage}-*.xtc"))
        )
        assert frames == round(duration / p.equilibration_frame_interval_ps)
    # only the latest state of each stage is kept
    assert [f.name for f in sorted(folder.glob("anneal-*.xml.gz"))] == ["anneal-0002.xml.gz"]


def test_heavy_frames_are_the_heavy_atoms_of_a_full_run(tmp_path: Path) -> None:
    """Same protocol with all atoms written: the heavy-atom run's frames are exactly its
    heavy-atom columns, and the topologies name the same atoms (Reference platform)."""
    base = dict(SMOKE_BASE, equilibration_frame_interval_ps=None)
    heavy = write_campaign(tmp_path / "heavy.json", [{"name": "h", "protocol": {"seed": 5}}], base)
    full = write_campaign(
        tmp_path / "full.json", [{"name": "f", "protocol": {"seed": 5, "frame_atoms": "all"}}], base
    )
    assert run_campaign(heavy, tmp_path / "out", platform="Reference", progress=False)
    assert run_campaign(full, tmp_path / "out", platform="Reference", progress=False)
    heavy_run, full_run = load_run(tmp_path / "out" / "h"), load_run(tmp_path / "out" / "f")
    full_top = mdtraj.load_topology(str(tmp_path / "out" / "f" / "topology.pdb"))
    heavy_top = mdtraj.load_topology(str(tmp_path / "out" / "h" / "topology.pdb"))
    keep = full_top.select("not element H")
    np.testing.assert_array_equal(heavy_run.traj.coords, full_run.traj.coords[:, keep])
    assert [(a.name, a.residue.name, a.residue.index) for a in heavy_top.atoms] == [
        (full_top.atom(i).name, full_top.atom(i).residue.name, full_top.atom(i).residue.index)
        for i in keep
    ]
    full_bonds = {(a.index, b.index) for a, b in full_top.bonds}
    position = {int(i): k for k, i in enumerate(keep)}
    expected = {
        (position[a], position[b]) for a, b in full_bonds if a in position and b in position
    }
    assert {(a.index, b.index) for a, b in heavy_top.bonds} == expected
    # united-atom masses: each heavy atom carries its own hydrogens' mass (counted from the
    # full topology's bonds), so the density and centres of mass are the full system's
    from gdynbook.systems.peo_litfsi.runs import density_g_cm3, united_atom_masses
    from gdynbook.transference import formal_charges

    own_h = np.zeros(full_top.n_atoms)
    for a, b in full_top.bonds:
        for host, other in ((a, b), (b, a)):
            if other.element.symbol == "H":
                own_h[host.index] += other.element.mass
    full_masses = np.array([a.element.mass for a in full_top.atoms])
    np.testing.assert_allclose(heavy_run.masses, (full_masses + own_h)[keep], rtol=1e-12)
    np.testing.assert_allclose(density_g_cm3(heavy_run), density_g_cm3(full_run), rtol=1e-12)
    recorded = full_run.provenance["equilibration"]["npt_density_g_cm3_mean"]
    np.testing.assert_allclose(density_g_cm3(full_run), recorded, rtol=1e-4)
    heavy_ions = formal_charges(heavy_top, heavy_run.masses)
    full_ions = formal_charges(full_top)
    np.testing.assert_allclose(
        heavy_ions.centres(heavy_run.traj), full_ions.centres(full_run.traj), atol=1e-4
    )  # ions carry no hydrogen: the same centres
    with pytest.raises(Exception, match="do not belong together"):
        united_atom_masses(heavy_top, {**heavy_run.provenance, "n_atoms": full_top.n_atoms + 1})
    with pytest.raises(ValueError, match="one mass per atom"):
        formal_charges(heavy_top, heavy_run.masses[:-1])


def test_resumed_campaign_equals_an_uninterrupted_one(
    campaign_run: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, reference = campaign_run
    out = tmp_path / "out"
    for budget in (3, 2, 4, 1, 5, 2, 3):  # cut off in both builds, mid-stage and mid-run
        cutoff = Cutoff(monkeypatch, budget)
        if run_campaign(path, out, platform="Reference", progress=False):
            break
    cutoff.budget = 10_000
    assert run_campaign(path, out, platform="Reference", progress=False)
    assert build_hashes(out) == build_hashes(reference)


def test_a_build_held_by_another_process_is_skipped_and_left_alone(
    campaign_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import subprocess
    import sys

    path, reference = campaign_run
    out = tmp_path / "out"
    lock = out / "screen" / "a" / md.PARTIAL / "lock"
    hold = (
        "import sys, time\nfrom gdynbook import cache\n"
        "with cache.exclusive_lock(sys.argv[1]):\n    print('held', flush=True)\n"
        "    time.sleep(120)\n"
    )
    other = subprocess.Popen([sys.executable, "-c", hold, str(lock)], stdout=subprocess.PIPE)
    try:
        assert other.stdout.readline().strip() == b"held"
        assert not run_campaign(path, out, platform="Reference", progress=True)
        assert "screen/a: another process is running it" in capsys.readouterr().out
        assert load_run(out / "screen" / "b").provenance["complete"] is True
        assert not list((out / "screen" / "a").rglob("*.xtc"))  # untouched
    finally:
        other.kill()
        other.wait()
    # the other process is gone, and its lock with it: the build is run and finished
    assert run_campaign(path, out, platform="Reference", progress=False)
    assert build_hashes(out) == build_hashes(reference)


@pytest.mark.parametrize("scale", [0.7, 0.8, 1.0])
def test_ion_charge_scale_reaches_the_system(scale: float) -> None:
    openmm = pytest.importorskip("openmm")
    from gdynbook.systems.peo_litfsi.builder import Composition
    from gdynbook.systems.peo_litfsi.system import create_system

    box = build_box(Composition(1, 3, 2), 0.3, seed=1)
    system = create_system(box, periodic=False, ion_charge_scale=scale)
    force = next(f for f in system.getForces() if isinstance(f, openmm.NonbondedForce))
    charges = np.array([force.getParticleParameters(i)[0]._value for i in range(len(box.types))])
    offset = 0
    for molecule in box.molecules:
        total = charges[offset : offset + molecule.n_atoms].sum()
        expected = {"PEO": 0.0, "LI": scale, "TFS": -scale}[molecule.residue]
        assert total == pytest.approx(expected, abs=1e-9)
        for k, t in enumerate(molecule.types):
            unscaled = ATOM_TYPES[t].charge
            want = unscaled * scale if t in ION_TYPES else unscaled
            assert charges[offset + k] == pytest.approx(want, abs=1e-12)
        offset += molecule.n_atoms


def test_bad_campaigns_are_refused(tmp_path: Path) -> None:
    shared = write_campaign(
        tmp_path / "shared.json",
        [{"name": "a", "protocol": {"seed": 1}}, {"name": "b", "protocol": {"seed": 1}}],
    )
    with pytest.raises(ValueError, match="share a builder seed"):
        read_campaign(shared)
    unknown = write_campaign(tmp_path / "unknown.json", [{"name": "a", "protocol": {"sed": 1}}])
    with pytest.raises(ValueError, match="unknown protocol fields"):
        read_campaign(unknown)
    escape = write_campaign(tmp_path / "escape.json", [{"name": "../a", "protocol": {"seed": 1}}])
    with pytest.raises(ValueError, match="inside the root"):
        read_campaign(escape)
    two_runs = write_campaign(
        tmp_path / "runs.json", [{"name": "a", "protocol": {"seed": 1, "n_runs": 2}}]
    )
    with pytest.raises(ValueError, match="exactly one production run"):
        read_campaign(two_runs)
    charge = write_campaign(
        tmp_path / "charge.json", [{"name": "a", "protocol": {"seed": 1, "ion_charge_scale": 0}}]
    )
    with pytest.raises(ValueError, match="ion_charge_scale"):
        read_campaign(charge)
    (tmp_path / "empty.json").write_text("{}")
    with pytest.raises(ValueError, match="not a campaign file"):
        read_campaign(tmp_path / "empty.json")


def test_campaign_cli(
    campaign_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, root = campaign_run
    command = ["simulate", "peo-litfsi", "--campaign", str(path), "--out", str(root)]
    assert main([*command, "--seed", "3"]) == 2
    assert "comes from the campaign file" in capsys.readouterr().err
    assert main(command) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*command, "--resume", "--platform", "Reference", "--no-progress"]) == 0
    assert "campaign finished" in capsys.readouterr().out
    # a single build that another process is running: a clear refusal, not a traceback
    with md.exclusive_lock(root / "screen" / "a" / md.PARTIAL / "lock"):
        single = ["simulate", "peo-litfsi", "--out", str(root / "screen" / "a"), "--resume"]
        assert main([*single, "--platform", "Reference", "--no-progress"]) == 2
        assert "another process is working here" in capsys.readouterr().err
    missing = ["simulate", "peo-litfsi", "--campaign", str(tmp_path / "none.json")]
    assert main([*missing, "--out", str(tmp_path)]) == 2
    assert not any(tmp_path.iterdir())


def test_equilibration_trace_counts_match_a_brute_force_count(campaign_run) -> None:
    from gdynbook.systems.peo_litfsi.diagnostics import equilibration_trace

    path, root = campaign_run
    build = read_campaign(path)[0]
    p = build.protocol
    trace = equilibration_trace(root / build.name)
    n = round(p.anneal_ps / p.equilibration_frame_interval_ps) + round(
        p.npt_ps / p.equilibration_frame_interval_ps
    )
    assert trace["time_ps"].shape == (n,) and np.all(np.diff(trace["time_ps"]) > 0)
    assert set(trace["stage"]) == {"anneal", "npt"}
    assert trace["fraction_li_on_start_chain"][0] in (0.0, 0.5, 1.0)
    # brute force over periodic images for the last NPT frame
    folder = root / build.name / "equilibration"
    top = mdtraj.load_topology(str(folder / "topology-trace.pdb"))
    last = mdtraj.load(str(sorted(folder.glob("trace-npt-*.xtc"))[-1]), top=top)[-1]
    li, tfsi_o = top.select("element Li"), top.select("resname TFS and element O")
    box = np.diag(last.unitcell_vectors[0]) * 10
    xyz = last.xyz[0] * 10
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    count = 0
    for a in li:
        for b in tfsi_o:
            d = np.linalg.norm(xyz[b] + shifts * box - xyz[a], axis=1).min()
            count += d < 2.8
    assert trace["tfsi_o_per_li"][-1] == pytest.approx(count / li.size)
    with pytest.raises(FileNotFoundError, match="no equilibration trace"):
        equilibration_trace(root / "nowhere")


def test_the_gpu_recipe_on_the_data_page_is_a_valid_campaign(tmp_path: Path) -> None:
    """The JSON block of reference/data.md reads as a campaign with the promised design:
    six builds with their own seeds, ≥ 50 ion pairs, 363 K, 100 ns each; and the atom
    counts the page gives follow from its composition."""
    import re

    page = (Path(__file__).resolve().parents[1] / "reference" / "data.md").read_text()
    (block,) = re.findall(r"```json\n(.*?)```", page, flags=re.S)
    builds = read_campaign(write_campaign_text(tmp_path / "study.json", block))
    assert [b.name for b in builds] == [f"build-{k:02d}" for k in range(6)]
    assert len({b.protocol.seed for b in builds}) == 6
    p = builds[0].protocol
    assert p.composition.n_salt >= 50 and p.temperature_k == 363.0
    assert p.production_ps >= 100_000 and p.layout == "build" and p.frame_atoms == "heavy"
    # CH3–(O–CH2–CH2)ₙ–O–CH3: 7 atoms per EO unit plus 9; LiTFSI: 16 atoms, no H
    chains, eo, salt = p.composition.n_chains, p.composition.n_ethylene_oxide, p.composition.n_salt
    assert chains * (7 * eo + 9) + 16 * salt == 7360
    assert "7,360 atoms" in page
    # the screen's setting: the production campaign's charge scale and EO:Li
    production = read_campaign(
        Path(__file__).resolve().parents[1] / "data" / "peo_litfsi" / "campaign-production.json"
    )[0].protocol
    assert p.ion_charge_scale == production.ion_charge_scale
    shipped = production.composition
    eo_per_li = shipped.n_chains * shipped.n_ethylene_oxide / shipped.n_salt
    assert chains * eo / salt == pytest.approx(eo_per_li, abs=0.05)


def write_campaign_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
