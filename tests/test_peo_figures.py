"""The PEO/LiTFSI figures draw what the data say (the shipped chosen screen build)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from tests.conftest import chosen_screen_build

BUILD = chosen_screen_build()
pytestmark = pytest.mark.skipif(BUILD is None, reason="no decided PEO/LiTFSI screen shipped")


@pytest.fixture(scope="module")
def run():
    from gdynbook.systems.peo_litfsi.runs import load_run

    return load_run(BUILD, verify_checksums=False)


def test_shell_snapshot_matches_the_first_shell_count(run) -> None:
    from gdynbook.systems.peo_litfsi.figures import li_shell_snapshot
    from gdynbook.systems.peo_litfsi.runs import first_shell_counts

    ether = first_shell_counts(run.traj, run.li_index, run.ether_o_index)
    tfsi = first_shell_counts(run.traj, run.li_index, run.tfsi_o_index)
    frame, li = (int(v) for v in np.argwhere(tfsi > 0)[0])
    snapshot = li_shell_snapshot(run, li, frame)
    assert np.count_nonzero(snapshot.role == "ether O (shell)") == ether[frame, li]
    assert np.count_nonzero(snapshot.role == "TFSI O (shell)") == tfsi[frame, li]
    centre = np.flatnonzero(snapshot.role == "Li")
    assert centre.size == 1
    np.testing.assert_allclose(snapshot.coords[centre[0]], 0.0, atol=1e-9)
    assert (run.traj.atom_types[snapshot.atom_index] != 1).all()  # heavy atoms only
    # molecules are drawn whole: every bond is short in the picture
    bond_lengths = np.linalg.norm(
        snapshot.coords[snapshot.bonds[:, 0]] - snapshot.coords[snapshot.bonds[:, 1]], axis=1
    )
    assert snapshot.bonds.shape[0] > 10 and bond_lengths.max() < 2.2


def test_rdf_coordination_agrees_with_direct_counts(run) -> None:
    from gdynbook.systems.peo_litfsi.figures import plot_rdfs, solvation_rdfs
    from gdynbook.systems.peo_litfsi.runs import first_shell_counts

    rdfs = solvation_rdfs([run], r_max_a=6.0)
    counts = rdfs.coordination_at(2.8)
    direct = first_shell_counts(run.traj, run.li_index, run.ether_o_index).mean()
    assert counts["O (PEO)"] == pytest.approx(direct, abs=0.02)
    assert 1.9 < rdfs.peak_a("O (PEO)") < 2.25
    figure = plot_rdfs(rdfs)
    assert len(figure.axes[0].lines) == 3 + 1  # three partners and the cutoff line


def test_stationarity_table_has_both_halves(run) -> None:
    from gdynbook.systems.peo_litfsi.figures import plot_thermo, stationarity_table

    (row,) = stationarity_table([run])
    assert row["run"] == BUILD.name and row["ns"] == pytest.approx(1.0)
    assert 4 < row["ether O 1st half"] < 7 and 4 < row["ether O 2nd half"] < 7
    assert len(plot_thermo([run]).axes) == 2
