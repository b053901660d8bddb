"""Trajectory container, gdynet npz and mdtraj round trips, and every bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import mdtraj
import numpy as np
import pytest

from gdynbook.systems.brownian import simulate_brownian
from gdynbook.trajectory import (
    Trajectory,
    TrajectoryError,
    check_trajectory_list,
    load_trajectory,
)
from tests.conftest import triclinic_lattice


def write_original_npz(path: Path, traj: Trajectory) -> None:
    """Write a traj.npz with only the four keys the original GDyNets code uses."""
    np.savez(
        path,
        traj_coords=traj.coords,
        lattices=traj.lattices,
        atom_types=traj.atom_types,
        target_index=traj.target_index,
    )


# ---------------------------------------------------------------- construction
def test_basic_facts(small_traj: Trajectory) -> None:
    assert small_traj.n_frames == 5
    assert small_traj.n_atoms == 4
    assert small_traj.n_targets == 1
    assert small_traj.wrapped is True
    np.testing.assert_allclose(small_traj.times_ps, [0, 0.5, 1.0, 1.5, 2.0])
    assert small_traj.duration_ps == pytest.approx(2.0)
    np.testing.assert_allclose(small_traj.volumes, np.linalg.det(triclinic_lattice()))


def test_single_lattice_is_repeated(small_traj: Trajectory) -> None:
    traj = Trajectory(
        coords=small_traj.coords,
        lattices=triclinic_lattice(),
        atom_types=small_traj.atom_types,
        target_index=[0, 3],
        time_step_ps=1,
    )
    assert traj.lattices.shape == (5, 3, 3)
    np.testing.assert_array_equal(traj.target_index, [0, 3])


def test_slicing_scales_time_step(small_traj: Trajectory) -> None:
    sub = small_traj[1::2]
    assert sub.n_frames == 2
    assert sub.time_step_ps == pytest.approx(1.0)
    np.testing.assert_array_equal(sub.coords, small_traj.coords[1::2])
    with pytest.raises(TrajectoryError, match="forward"):
        small_traj[::-1]


def test_unwrapped_detection(small_traj: Trajectory) -> None:
    shifted = small_traj.coords + triclinic_lattice()[0] * 1.5
    traj = Trajectory(shifted, small_traj.lattices, small_traj.atom_types, [0], 0.5)
    assert traj.wrapped is False


def test_wrap_then_unwrap_recovers_continuous_path() -> None:
    lattice = triclinic_lattice()
    continuous = simulate_brownian(
        lattice,
        np.array([3, 3, 16]),
        n_frames=400,
        time_step_ps=0.1,
        diffusion_a2_per_ps=[2.0, 0.5, 0.0],
        seed=3,
        wrapped=False,
    )
    # Long enough that the fast atom crosses the cell several times.
    assert np.ptp(continuous.fractional_coords()[:, 0], axis=0).max() > 1.0
    wrapped = continuous.wrap()
    assert wrapped.wrapped is True
    frac = wrapped.fractional_coords()
    assert frac.min() >= -1e-9 and frac.max() < 1.0
    back = wrapped.unwrap()
    assert back.wrapped is False
    shift = back.coords[0] - continuous.coords[0]  # the start may move by a lattice vector
    np.testing.assert_allclose(back.coords, continuous.coords + shift, atol=1e-9)
    lattice_shift = np.linalg.solve(lattice.T, shift.T).T
    np.testing.assert_allclose(lattice_shift, np.round(lattice_shift), atol=1e-9)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"coords": np.zeros((5, 4))}, r"shape \(n_frames, n_atoms, 3\)"),
        ({"coords": np.zeros((5, 4, 2))}, r"shape \(n_frames, n_atoms, 3\)"),
        ({"coords": np.zeros((0, 4, 3))}, "empty"),
        ({"lattices": None}, "lattices is missing"),
        ({"lattices": np.zeros((4, 3, 3))}, r"lattices must have shape"),
        ({"lattices": np.zeros((3, 3))}, "zero or negative volume"),
        ({"lattices": -np.eye(3) * 5}, "zero or negative volume"),
        ({"lattices": np.array([[5.0, 0, 0], [10.0, 0, 0], [0, 0, 5.0]])}, "zero or negative"),
        ({"atom_types": np.array([3, 16, 16])}, r"atom_types must have shape"),
        ({"atom_types": np.array([3, 16, 0, 8])}, "atomic numbers between 1 and 118"),
        ({"target_index": np.array([], dtype=int)}, "empty"),
        ({"target_index": np.array([4])}, "outside 0 ... 3"),
        ({"target_index": np.array([-1])}, "outside 0 ... 3"),
        ({"target_index": np.array([0, 0])}, "more than once"),
        ({"target_index": np.array([True, False, False, False])}, "boolean mask"),
        ({"target_index": None}, "target_index is missing"),
        ({"time_step_ps": None}, "time_step_ps is missing"),
        ({"time_step_ps": 0.0}, "positive"),
        ({"time_step_ps": float("nan")}, "positive"),
    ],
)
def test_bad_construction(small_traj: Trajectory, change: dict, message: str) -> None:
    fields = {
        "coords": small_traj.coords,
        "lattices": small_traj.lattices,
        "atom_types": small_traj.atom_types,
        "target_index": small_traj.target_index,
        "time_step_ps": small_traj.time_step_ps,
    }
    fields.update(change)
    with pytest.raises(TrajectoryError, match=message):
        Trajectory(**fields)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_coordinates_name_the_frame(small_traj: Trajectory, bad: float) -> None:
    coords = small_traj.coords.copy()
    coords[3, 2, 1] = bad
    with pytest.raises(TrajectoryError, match=r"NaN or infinite values \(1 entries, frames 3\)"):
        Trajectory(coords, small_traj.lattices, small_traj.atom_types, [0], 0.5)


def test_non_finite_lattice(small_traj: Trajectory) -> None:
    lattices = small_traj.lattices.copy()
    lattices[1, 0, 0] = np.nan
    with pytest.raises(TrajectoryError, match="lattices contains NaN"):
        Trajectory(small_traj.coords, lattices, small_traj.atom_types, [0], 0.5)


def test_trajectory_error_is_a_value_error() -> None:
    assert issubclass(TrajectoryError, ValueError)


def test_mismatched_trajectory_list(small_traj: Trajectory) -> None:
    same = small_traj[1:]
    assert len(check_trajectory_list([small_traj, small_traj[:3]])) == 2
    other_types = Trajectory(small_traj.coords, small_traj.lattices, [3, 16, 16, 9], [0], 0.5)
    other_targets = Trajectory(
        small_traj.coords, small_traj.lattices, small_traj.atom_types, [1], 0.5
    )
    with pytest.raises(TrajectoryError, match="atom types"):
        check_trajectory_list([small_traj, other_types])
    with pytest.raises(TrajectoryError, match="target atoms"):
        check_trajectory_list([small_traj, other_targets])
    with pytest.raises(TrajectoryError, match="time step"):
        check_trajectory_list([small_traj, small_traj[::2]])
    with pytest.raises(TrajectoryError, match="empty"):
        check_trajectory_list([])
    with pytest.raises(TrajectoryError, match="not a Trajectory"):
        check_trajectory_list([small_traj, same.coords])
    assert check_trajectory_list(small_traj) == [small_traj]


# ---------------------------------------------------------------- npz files
def test_npz_round_trip(tmp_path: Path, small_traj: Trajectory) -> None:
    path = small_traj.save(tmp_path / "traj.npz")
    with np.load(path) as archive:
        assert {"traj_coords", "lattices", "atom_types", "target_index"} <= set(archive.files)
        assert float(archive["time_step_ps"]) == 0.5
    back = load_trajectory(path)
    np.testing.assert_array_equal(back.coords, small_traj.coords)
    np.testing.assert_array_equal(back.lattices, small_traj.lattices)
    np.testing.assert_array_equal(back.atom_types, small_traj.atom_types)
    np.testing.assert_array_equal(back.target_index, small_traj.target_index)
    assert back.time_step_ps == 0.5
    assert back.wrapped is small_traj.wrapped


def test_original_npz_needs_a_time_step(tmp_path: Path, small_traj: Trajectory) -> None:
    path = tmp_path / "li2s-traj.npz"
    write_original_npz(path, small_traj)
    with pytest.raises(TrajectoryError, match="pass time_step_ps"):
        load_trajectory(path)
    traj = load_trajectory(path, time_step_ps=0.1)
    assert traj.time_step_ps == 0.1
    np.testing.assert_array_equal(traj.coords, small_traj.coords)


def test_npz_time_step_conflict(tmp_path: Path, small_traj: Trajectory) -> None:
    path = small_traj.save(tmp_path / "traj.npz")
    assert load_trajectory(path, time_step_ps=0.5).time_step_ps == 0.5
    with pytest.raises(TrajectoryError, match="contradicts"):
        load_trajectory(path, time_step_ps=0.1)


def test_npz_target_selection_overrides(tmp_path: Path, small_traj: Trajectory) -> None:
    path = small_traj.save(tmp_path / "traj.npz")
    np.testing.assert_array_equal(load_trajectory(path, target="element S").target_index, [1, 2])
    np.testing.assert_array_equal(load_trajectory(path, target=[3]).target_index, [3])
    with pytest.raises(TrajectoryError, match="matches no atom"):
        load_trajectory(path, target="element Na")
    with pytest.raises(TrajectoryError, match="not valid mdtraj selection"):
        load_trajectory(path, target="element ((")


def test_npz_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, positions=np.zeros((2, 3, 3)))
    with pytest.raises(TrajectoryError, match=r"keys \['traj_coords'"):
        load_trajectory(path)


def test_truncated_npz(tmp_path: Path, small_traj: Trajectory) -> None:
    good = small_traj.save(tmp_path / "traj.npz")
    data = good.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(TrajectoryError, match="truncated or corrupt"):
        load_trajectory(truncated)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip archive at all")
    with pytest.raises(TrajectoryError, match="truncated or corrupt"):
        load_trajectory(garbage)


def test_stacked_npz_is_refused(tmp_path: Path, small_traj: Trajectory) -> None:
    path = tmp_path / "stacked.npz"
    np.savez(
        path,
        traj_coords=np.stack([small_traj.coords] * 2),
        lattices=small_traj.lattices,
        atom_types=small_traj.atom_types,
        target_index=small_traj.target_index,
        time_step_ps=0.5,
    )
    with pytest.raises(TrajectoryError, match="list of Trajectory"):
        load_trajectory(path)


def test_interrupted_save_keeps_old_file(
    tmp_path: Path, small_traj: Trajectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = small_traj.save(tmp_path / "traj.npz")
    before = path.read_bytes()

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", fail)
    with pytest.raises(OSError, match="disk full"):
        small_traj[:2].save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["traj.npz"]  # no temporary leftovers


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_trajectory(tmp_path / "nope.npz")


# ---------------------------------------------------------------- mdtraj formats
def brownian_traj(n_frames: int = 30, seed: int = 1) -> Trajectory:
    return simulate_brownian(
        triclinic_lattice(),
        np.array([3, 3, 16, 8]),
        n_frames=n_frames,
        time_step_ps=0.2,
        diffusion_a2_per_ps=0.3,
        target_index=np.array([0, 1]),
        seed=seed,
    )


def test_npz_to_dcd_pdb_round_trip(tmp_path: Path) -> None:
    original = brownian_traj()
    npz = original.save(tmp_path / "traj.npz")
    from_npz = load_trajectory(npz)
    md_traj = from_npz.to_mdtraj()
    md_traj.save_dcd(str(tmp_path / "traj.dcd"))
    md_traj[0].save_pdb(str(tmp_path / "top.pdb"))
    back = load_trajectory(
        tmp_path / "traj.dcd",
        topology=tmp_path / "top.pdb",
        target="element Li",
        time_step_ps=0.2,
    )
    # DCD stores float32 nm: 1e-3 Å is far below any physical length here.
    np.testing.assert_allclose(back.coords, original.coords, atol=1e-3)
    np.testing.assert_allclose(back.lattices, original.lattices, atol=1e-3)
    np.testing.assert_array_equal(back.atom_types, original.atom_types)
    np.testing.assert_array_equal(back.target_index, original.target_index)
    # and back to npz, readable again
    again = load_trajectory(back.save(tmp_path / "again.npz"))
    np.testing.assert_allclose(again.coords, original.coords, atol=1e-3)


def test_dcd_needs_topology_target_and_time_step(tmp_path: Path) -> None:
    traj = brownian_traj()
    traj.to_mdtraj().save_dcd(str(tmp_path / "t.dcd"))
    traj.to_mdtraj()[0].save_pdb(str(tmp_path / "t.pdb"))
    with pytest.raises(TrajectoryError, match="pass topology"):
        load_trajectory(tmp_path / "t.dcd", target="element Li", time_step_ps=0.2)
    with pytest.raises(TrajectoryError, match="target is missing"):
        load_trajectory(tmp_path / "t.dcd", topology=tmp_path / "t.pdb", time_step_ps=0.2)
    with pytest.raises(TrajectoryError, match="pass time_step_ps"):
        load_trajectory(tmp_path / "t.dcd", topology=tmp_path / "t.pdb", target="element Li")
    with pytest.raises(TrajectoryError, match="matches no atom"):
        load_trajectory(
            tmp_path / "t.dcd", topology=tmp_path / "t.pdb", target="element K", time_step_ps=0.2
        )


def test_pdb_without_unit_cell(tmp_path: Path) -> None:
    traj = brownian_traj(3)
    md_traj = traj.to_mdtraj()
    md_traj.unitcell_vectors = None
    md_traj.save_pdb(str(tmp_path / "nobox.pdb"))
    with pytest.raises(TrajectoryError, match="has no unit cell"):
        load_trajectory(tmp_path / "nobox.pdb", target="element Li", time_step_ps=1.0)


def test_xyz_file_without_cell(tmp_path: Path) -> None:
    traj = brownian_traj(3)
    traj.to_mdtraj().save_xyz(str(tmp_path / "t.xyz"))
    traj.to_mdtraj()[0].save_pdb(str(tmp_path / "t.pdb"))
    with pytest.raises(TrajectoryError, match="has no unit cell"):
        load_trajectory(
            tmp_path / "t.xyz", topology=tmp_path / "t.pdb", target="element Li", time_step_ps=1.0
        )


def test_xtc_times_give_the_time_step(tmp_path: Path) -> None:
    traj = brownian_traj()
    traj.to_mdtraj().save_xtc(str(tmp_path / "t.xtc"))
    traj.to_mdtraj()[0].save_pdb(str(tmp_path / "t.pdb"))
    back = load_trajectory(tmp_path / "t.xtc", topology=tmp_path / "t.pdb", target=[0, 1])
    assert back.time_step_ps == pytest.approx(0.2, rel=1e-5)
    with pytest.raises(TrajectoryError, match="contradicts"):
        load_trajectory(
            tmp_path / "t.xtc", topology=tmp_path / "t.pdb", target=[0], time_step_ps=0.5
        )


def test_chunks_join_in_order(tmp_path: Path) -> None:
    traj = brownian_traj(30)
    md_traj = traj.to_mdtraj()
    md_traj[0].save_pdb(str(tmp_path / "t.pdb"))
    md_traj[:12].save_dcd(str(tmp_path / "a.dcd"))
    md_traj[12:].save_dcd(str(tmp_path / "b.dcd"))
    joined = load_trajectory(
        [tmp_path / "a.dcd", tmp_path / "b.dcd"],
        topology=tmp_path / "t.pdb",
        target="element Li",
        time_step_ps=0.2,
    )
    assert joined.n_frames == 30
    np.testing.assert_allclose(joined.coords, traj.coords, atol=1e-3)


def test_duplicated_frame_at_join(tmp_path: Path) -> None:
    md_traj = brownian_traj(30).to_mdtraj()
    md_traj[0].save_pdb(str(tmp_path / "t.pdb"))
    md_traj[:12].save_dcd(str(tmp_path / "a.dcd"))
    md_traj[11:].save_dcd(str(tmp_path / "b.dcd"))  # restart repeats frame 11
    with pytest.raises(TrajectoryError, match="duplicated frame between a.dcd and b.dcd"):
        load_trajectory(
            [tmp_path / "a.dcd", tmp_path / "b.dcd"],
            topology=tmp_path / "t.pdb",
            target="element Li",
            time_step_ps=0.2,
        )


def test_missing_and_duplicated_frames_in_timed_chunks(tmp_path: Path) -> None:
    md_traj = brownian_traj(30).to_mdtraj()
    md_traj[0].save_pdb(str(tmp_path / "t.pdb"))
    md_traj[:12].save_xtc(str(tmp_path / "a.xtc"))
    md_traj[15:].save_xtc(str(tmp_path / "gap.xtc"))
    md_traj[10:].save_xtc(str(tmp_path / "overlap.xtc"))
    md_traj[12:].save_xtc(str(tmp_path / "b.xtc"))
    kwargs = {"topology": tmp_path / "t.pdb", "target": "element Li"}
    assert load_trajectory([tmp_path / "a.xtc", tmp_path / "b.xtc"], **kwargs).n_frames == 30
    with pytest.raises(TrajectoryError, match="missing frames"):
        load_trajectory([tmp_path / "a.xtc", tmp_path / "gap.xtc"], **kwargs)
    with pytest.raises(TrajectoryError, match="duplicated or overlapping"):
        load_trajectory([tmp_path / "a.xtc", tmp_path / "overlap.xtc"], **kwargs)


def test_suspicious_join_without_times_warns(tmp_path: Path) -> None:
    md_traj = brownian_traj(100).to_mdtraj()
    md_traj[0].save_pdb(str(tmp_path / "t.pdb"))
    md_traj[:20].save_dcd(str(tmp_path / "a.dcd"))
    md_traj[80:].save_dcd(str(tmp_path / "b.dcd"))  # 60 frames missing: ~8x the usual step
    with pytest.warns(UserWarning, match="frames may be missing"):
        load_trajectory(
            [tmp_path / "a.dcd", tmp_path / "b.dcd"],
            topology=tmp_path / "t.pdb",
            target="element Li",
            time_step_ps=0.2,
        )
    md_traj[20:].save_dcd(str(tmp_path / "c.dcd"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_trajectory(
            [tmp_path / "a.dcd", tmp_path / "c.dcd"],
            topology=tmp_path / "t.pdb",
            target="element Li",
            time_step_ps=0.2,
        )


# ---------------------------------------------------------------- LAMMPS dumps
def write_lammps_dump(path: Path, traj: Trajectory, scaled: bool) -> None:
    """Write a LAMMPS dump by hand (restricted triclinic box, as LAMMPS writes it)."""
    lines = []
    for frame in range(traj.n_frames):
        a, b, c = traj.lattices[frame]
        lx, xy, ly = a[0], b[0], b[1]
        xz, yz, lz = c[0], c[1], c[2]
        xlo, ylo, zlo = 0.0, 0.0, 0.0
        xlo_b = xlo + min(0.0, xy, xz, xy + xz)
        xhi_b = xlo + lx + max(0.0, xy, xz, xy + xz)
        ylo_b = ylo + min(0.0, yz)
        yhi_b = ylo + ly + max(0.0, yz)
        lines += [
            "ITEM: TIMESTEP",
            str(frame * 100),
            "ITEM: NUMBER OF ATOMS",
            str(traj.n_atoms),
            "ITEM: BOX BOUNDS xy xz yz pp pp pp",
            f"{xlo_b} {xhi_b} {xy}",
            f"{ylo_b} {yhi_b} {xz}",
            f"{zlo} {zlo + lz} {yz}",
            "ITEM: ATOMS id type xs ys zs" if scaled else "ITEM: ATOMS id type x y z",
        ]
        values = traj.fractional_coords()[frame] if scaled else traj.coords[frame]
        for i, (x, y, z) in enumerate(values):
            lines.append(f"{i + 1} {traj.atom_types[i]} {x:.8f} {y:.8f} {z:.8f}")
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("scaled", [False, True])
def test_lammps_dump_scaled_and_cartesian(tmp_path: Path, scaled: bool) -> None:
    traj = brownian_traj(6)
    traj.to_mdtraj()[0].save_pdb(str(tmp_path / "t.pdb"))
    dump = tmp_path / "t.lammpstrj"
    write_lammps_dump(dump, traj, scaled=scaled)
    back = load_trajectory(dump, topology=tmp_path / "t.pdb", target="element Li", time_step_ps=0.2)
    np.testing.assert_allclose(back.lattices, traj.lattices, atol=1e-4)
    np.testing.assert_allclose(back.coords, traj.coords, atol=1e-4)


def test_lammps_dump_without_coordinates(tmp_path: Path) -> None:
    traj = brownian_traj(2)
    traj.to_mdtraj()[0].save_pdb(str(tmp_path / "t.pdb"))
    dump = tmp_path / "t.lammpstrj"
    write_lammps_dump(dump, traj, scaled=False)
    dump.write_text(dump.read_text().replace("id type x y z", "id type vx vy vz"))
    with pytest.raises(TrajectoryError, match="no coordinate columns"):
        load_trajectory(dump, topology=tmp_path / "t.pdb", target="element Li", time_step_ps=1)


def test_md_topology_object_is_accepted(tmp_path: Path) -> None:
    traj = brownian_traj(4)
    traj.to_mdtraj().save_dcd(str(tmp_path / "t.dcd"))
    back = load_trajectory(
        tmp_path / "t.dcd", topology=traj.topology(), target=[2], time_step_ps=0.2
    )
    assert isinstance(traj.topology(), mdtraj.Topology)
    np.testing.assert_array_equal(back.target_index, [2])


def test_npz_chunks_of_one_run_must_share_the_targets(tmp_path: Path) -> None:
    traj = brownian_traj(30)
    traj[:12].save(tmp_path / "a.npz")
    second = traj[12:]
    second.target_index = np.array([0])  # another target set in the second chunk
    second.save(tmp_path / "b.npz")
    with pytest.raises(TrajectoryError, match="chunks of one run must share the targets"):
        load_trajectory([tmp_path / "a.npz", tmp_path / "b.npz"])
    # choosing the targets for all chunks joins them
    joined = load_trajectory([tmp_path / "a.npz", tmp_path / "b.npz"], target=[0])
    assert joined.n_frames == 30
