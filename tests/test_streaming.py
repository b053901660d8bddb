"""Streaming input: frame and atom selection while reading equals slicing the full load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gdynbook.systems.dimers import DimerSimulation, simulate_dimers
from gdynbook.trajectory import Trajectory, TrajectoryError, _npz_memmap, load_trajectory


@pytest.fixture(scope="module")
def dimer_run() -> Trajectory:
    return simulate_dimers(DimerSimulation(n_frames=400, n_replicas=1, seed=5))[0]


def expected(full: Trajectory, start: int, stop: int | None, stride: int, keep=None):
    coords = full.coords[start:stop:stride]
    if keep is not None:
        coords = coords[:, keep]
    return coords, full.lattices[start:stop:stride]


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize(("start", "stop", "stride"), [(0, None, 1), (10, 200, 3), (7, 8, 1)])
def test_npz_selection_equals_slicing(dimer_run, tmp_path: Path, compressed, start, stop, stride):
    path = tmp_path / "run.npz"
    arrays = dict(
        traj_coords=dimer_run.coords,
        lattices=dimer_run.lattices,
        atom_types=dimer_run.atom_types,
        target_index=dimer_run.target_index,
        time_step_ps=np.float64(dimer_run.time_step_ps),
    )
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    assert (_npz_memmap(path, "traj_coords") is None) == compressed  # mapped when stored
    full = load_trajectory(path)
    part = load_trajectory(path, frames=(start, stop), stride=stride)
    coords, lattices = expected(full, start, stop, stride)
    np.testing.assert_array_equal(part.coords, coords)
    np.testing.assert_array_equal(part.lattices, lattices)
    assert part.time_step_ps == pytest.approx(full.time_step_ps * stride)
    if not compressed:  # a view of the file's pages, nothing copied into memory
        base = part.coords
        while base.base is not None and not isinstance(base, np.memmap):
            base = base.base
        assert isinstance(base, np.memmap) and not part.coords.flags.owndata
        # writeable like a loaded array, and a write never reaches the file
        original = np.array(full.coords)
        part.coords[0, 0, 0] += 1.0
        np.testing.assert_array_equal(load_trajectory(path).coords, original)
        np.testing.assert_array_equal(full.coords, original)
    # atoms: keep the targets (Na) only; the targets are renumbered among the kept atoms
    sodium = np.flatnonzero(full.atom_types == 11)
    small = load_trajectory(
        path, frames=(start, stop), stride=stride, atoms=sodium.tolist(), dtype=np.float32
    )
    coords, _ = expected(full, start, stop, stride, sodium)
    assert small.coords.dtype == np.float32
    np.testing.assert_allclose(small.coords, coords, rtol=1e-6)
    np.testing.assert_array_equal(small.atom_types, full.atom_types[sodium])
    np.testing.assert_array_equal(sodium[small.target_index], full.target_index)


def test_dcd_chunks_stream_across_the_join(dimer_run, tmp_path: Path) -> None:
    md = dimer_run.to_mdtraj()
    md[:150].save_dcd(str(tmp_path / "a.dcd"))
    md[150:].save_dcd(str(tmp_path / "b.dcd"))
    md[0].save_pdb(str(tmp_path / "top.pdb"))
    files = [tmp_path / "a.dcd", tmp_path / "b.dcd"]
    options = dict(topology=tmp_path / "top.pdb", target="element Na", time_step_ps=1.0)
    full = load_trajectory(files, **options)
    for chunk_frames in (1, 7, 1000):
        part = load_trajectory(
            files,
            frames=(100, 390),
            stride=4,
            atoms="element Na",
            chunk_frames=chunk_frames,
            **options,
        )
        keep = np.flatnonzero(full.atom_types == 11)
        coords, lattices = expected(full, 100, 390, 4, keep)
        np.testing.assert_allclose(part.coords, coords, atol=1e-5)
        np.testing.assert_allclose(part.lattices, lattices, atol=1e-5)
        assert part.time_step_ps == 4.0 and part.n_frames == len(range(100, 390, 4))


def test_xtc_times_survive_selection_and_joins_are_still_checked(dimer_run, tmp_path) -> None:
    md = dimer_run.to_mdtraj()
    md.time = np.arange(md.n_frames) * 2.0
    md[:200].save_xtc(str(tmp_path / "a.xtc"))
    md[200:].save_xtc(str(tmp_path / "b.xtc"))
    md[199:].save_xtc(str(tmp_path / "overlap.xtc"))
    md[0].save_pdb(str(tmp_path / "top.pdb"))
    options = dict(topology=tmp_path / "top.pdb", target="element Na")
    part = load_trajectory(
        [tmp_path / "a.xtc", tmp_path / "b.xtc"], frames=(150, 250), stride=5, **options
    )
    assert part.time_step_ps == pytest.approx(10.0) and part.n_frames == 20
    with pytest.raises(TrajectoryError, match="duplicated or overlapping"):
        load_trajectory([tmp_path / "a.xtc", tmp_path / "overlap.xtc"], frames=(0, 10), **options)


def test_bad_selections_are_refused(dimer_run, tmp_path: Path) -> None:
    path = dimer_run.save(tmp_path / "run.npz")
    with pytest.raises(TrajectoryError, match="stride"):
        load_trajectory(path, stride=0)
    with pytest.raises(TrajectoryError, match="start < stop"):
        load_trajectory(path, frames=(5, 5))
    with pytest.raises(TrajectoryError, match="keeps no frame"):
        load_trajectory(path, frames=(10_000, None))
    with pytest.raises(TrajectoryError, match="float32 or float64"):
        load_trajectory(path, dtype=np.int32)


# ---------------------------------------------------------------------- ASE formats
def ase_frames(n_frames: int = 12, seed: int = 0):
    ase = pytest.importorskip("ase")
    rng = np.random.default_rng(seed)
    cell = np.array([[9.0, 0.0, 0.0], [2.0, 8.5, 0.0], [1.0, 1.5, 10.0]])  # triclinic
    frames = []
    for _ in range(n_frames):
        frac = rng.random((6, 3))
        frames.append(ase.Atoms("Li2S2O2", scaled_positions=frac, cell=cell, pbc=True))
    return frames


@pytest.mark.parametrize(("name", "fmt"), [("traj.extxyz", "extxyz"), ("XDATCAR", "vasp-xdatcar")])
def test_ase_formats_load_as_written(tmp_path: Path, name: str, fmt: str) -> None:
    import ase.io

    frames = ase_frames()
    path = tmp_path / name
    ase.io.write(str(path), frames, format=fmt)
    traj = load_trajectory(path, target="element Li", time_step_ps=0.5)
    positions = np.stack([f.positions for f in frames])
    np.testing.assert_allclose(traj.coords, positions, atol=1e-5)
    np.testing.assert_allclose(traj.lattices, np.stack([f.cell.array for f in frames]), atol=1e-6)
    np.testing.assert_array_equal(traj.atom_types, frames[0].numbers)
    np.testing.assert_array_equal(traj.target_index, [0, 1])
    part = load_trajectory(
        path, target="element Li", time_step_ps=0.5, frames=(2, 11), stride=3, atoms="element S"
    )
    np.testing.assert_allclose(part.coords, positions[2:11:3][:, :4], atol=1e-5)
    assert part.time_step_ps == 1.5
    with pytest.raises(TrajectoryError, match="does not carry frame times"):
        load_trajectory(path, target="element Li")


def test_ase_refuses_a_non_periodic_file_and_names_the_missing_extra(tmp_path, monkeypatch):
    import sys

    import ase.io

    frames = ase_frames(3)
    for frame in frames:
        frame.pbc = False
    ase.io.write(str(tmp_path / "open.extxyz"), frames, format="extxyz")
    with pytest.raises(TrajectoryError, match="not periodic"):
        load_trajectory(tmp_path / "open.extxyz", target="element Li", time_step_ps=1.0)
    monkeypatch.setitem(sys.modules, "ase.io", None)
    monkeypatch.setitem(sys.modules, "ase", None)
    with pytest.raises(TrajectoryError, match=r"pip install 'gdynbook\[ase\]'"):
        load_trajectory(tmp_path / "open.extxyz", target="element Li", time_step_ps=1.0)


def test_late_float32_xtc_times_are_accepted(dimer_run, tmp_path: Path) -> None:
    """XTC keeps times in float32: at 1e5 ps, 0.1 ps steps round to 0.094–0.102 ps."""
    md = dimer_run.to_mdtraj()[:60]
    md.time = 1.0e5 + np.arange(md.n_frames) * 0.1
    md[:30].save_xtc(str(tmp_path / "a.xtc"))
    md[30:].save_xtc(str(tmp_path / "b.xtc"))
    md[0].save_pdb(str(tmp_path / "top.pdb"))
    traj = load_trajectory(
        [tmp_path / "a.xtc", tmp_path / "b.xtc"], topology=tmp_path / "top.pdb", target="element Na"
    )
    assert traj.n_frames == 60 and traj.time_step_ps == pytest.approx(0.1, rel=1e-3)
