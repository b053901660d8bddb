"""Milestoning and the Li⁺ shell descriptors behind the reference model."""

from __future__ import annotations

import numpy as np
import pytest

from gdynbook import data
from gdynbook.markov import milestone
from gdynbook.systems.peo_litfsi.shells import ShellDescriptors, reference_labels
from tests.conftest import chosen_screen_build, finished_screen_builds

RUN = chosen_screen_build() or data.data_dir() / "peo_litfsi" / "screen" / "none"


def test_milestone_keeps_the_last_core() -> None:
    labels = np.array([-1, 0, -1, 1, -1, -1, 0])
    np.testing.assert_array_equal(milestone(labels), [-1, 0, 0, 1, 1, 1, 0])
    two = np.stack([labels, labels[::-1]], axis=1)
    result = milestone(two)
    np.testing.assert_array_equal(result[:, 0], [-1, 0, 0, 1, 1, 1, 0])
    np.testing.assert_array_equal(result[:, 1], [0, 0, 0, 1, 1, 0, 0])


def test_reference_labels_combine_contact_and_chain_position() -> None:
    nearest = np.array([[5.0], [2.4], [3.0], [3.6], [2.5]])  # free, contact, keep, free, contact
    end = np.array([[6], [6], [0], [2], [1]])  # middle, middle, end, keep, end
    shells = ShellDescriptors(
        ether_o=np.zeros((5, 1)),
        tfsi_o=np.zeros((5, 1)),
        chains=np.ones((5, 1)),
        anions=np.zeros((5, 1)),
        end_distance=end,
        nearest_tfsi_o_a=nearest,
        chain_end_eo=end.astype(float),
    )
    labels = reference_labels(shells)[:, 0]
    # (contact, end): (0,0) (1,0) (1,1) (0,1) (1,1) → 2·contact + end
    np.testing.assert_array_equal(labels, [0, 2, 3, 1, 3])


@pytest.mark.skipif(not (RUN / "chunk-0000.xtc").is_file(), reason="no shipped run")
def test_shell_descriptors_of_a_shipped_run() -> None:
    from gdynbook.systems.peo_litfsi.runs import load_run
    from gdynbook.systems.peo_litfsi.shells import shell_descriptors

    run = load_run(RUN, verify_checksums=False)
    part = run.traj[:50]
    run.traj = part
    shells = shell_descriptors(run)
    assert shells.ether_o.shape == (50, 38)
    assert shells.end_distance.min() >= 0 and shells.end_distance.max() <= 25
    assert (shells.chains[shells.ether_o > 0] >= 1).all()
    assert (shells.chains <= shells.ether_o).all() and (shells.anions <= shells.tfsi_o).all()
    # topology order runs along each chain: neighbouring ether O are one O–C–C–O apart
    chain = run.residue_index[run.ether_o_index]
    first = run.ether_o_index[chain == chain[0]]
    steps = np.linalg.norm(np.diff(part.coords[0, first], axis=0), axis=-1)
    assert first.size == 51 and steps.max() < 3.9 and steps.min() > 2.2  # Li⁺ pinch O–O to 2.4


def test_state_shell_table_of_a_known_split_matches_direct_counts() -> None:
    """Memberships that are the TFSI contact itself (state 1: a TFSI O within 2.8 Å):
    state 0 has no TFSI O by construction, state 1 at least one; every per-build entry
    equals the plain mean over that build's samples of the state, counted here directly,
    and the interval is Student t over builds."""

    import mdtraj
    from scipy import stats

    from gdynbook.systems.peo_litfsi.runs import load_run, pair_distances
    from gdynbook.systems.peo_litfsi.shells import state_shell_table
    from gdynbook.transference import formal_charges, ion_clusters

    finished = finished_screen_builds()
    if len(finished) < 2:
        pytest.skip("needs two finished shipped builds")
    from dataclasses import replace

    from gdynbook.systems.peo_litfsi.shells import li_descriptors

    builds = [load_run(p) for p in finished[:2]]
    builds = [replace(b, traj=b.traj[::4]) for b in builds]  # every 20 ps: enough here
    memberships, direct = [], []
    for run in builds:
        ether_in = pair_distances(run.traj, run.li_index, run.ether_o_index) < 2.8
        tfsi_in = pair_distances(run.traj, run.li_index, run.tfsi_o_index) < 2.8
        chain_of = run.residue_index[run.ether_o_index]
        anion_of = run.residue_index[run.tfsi_o_index]
        chains = np.array([[np.unique(chain_of[row]).size for row in f] for f in ether_in])
        anions = np.array([[np.unique(anion_of[row]).size for row in f] for f in tfsi_in])
        # net formal charge within 5 Å: Li⁺ atoms (+1, the centre included) and TFSI⁻
        # centres of mass (−1), minimum image in the cubic box
        coords = run.traj.coords.astype(np.float64)
        tfsi = [np.flatnonzero(run.residue_index == r) for r in np.unique(anion_of)]
        centres = np.stack(
            [
                np.einsum("fak,a->fk", coords[:, a], run.masses[a]) / run.masses[a].sum()
                for a in tfsi
            ],
            axis=1,
        )
        box = run.traj.lattices[:, 0, 0][:, None, None, None]

        def within(points, box=box, coords=coords, run=run):
            delta = points[:, None, :, :] - coords[:, run.li_index][:, :, None, :]
            delta -= box * np.round(delta / box)
            return (np.linalg.norm(delta, axis=-1) <= 5.0).sum(-1)

        charge = within(coords[:, run.li_index]) - within(centres)
        contact = tfsi_in.any(-1)
        # the Li⁺'s cluster (ion_clusters is tested on its own)
        ions = formal_charges(mdtraj.load_topology(str(run.path / "topology.pdb")), run.masses)
        clusters = ion_clusters(run.traj, ions)
        size, net = clusters.size[:, ions.cation], clusters.net_charge[:, ions.cation]
        _, end = li_descriptors(run)
        rows = []
        for state in (~contact, contact):
            known = state & np.isfinite(end)
            rows.append(
                [
                    ether_in.sum(-1)[state].mean(),
                    tfsi_in.sum(-1)[state].mean(),
                    chains[state].mean(),
                    anions[state].mean(),
                    end[known].mean(),
                    charge[state].mean(),
                    size[state].mean(),
                    net[state].mean(),
                    (net[state] < 0).mean(),
                ]
            )
        memberships.append(np.eye(2)[contact.astype(int)])
        direct.append(rows)
    table = state_shell_table(builds, memberships, charge_radii_a=[1.5, 5.0, 9.0])
    np.testing.assert_allclose(table.per_build, np.array(direct), rtol=1e-10)
    # the profile: the Li⁺ alone within 1.5 Å, the 5 Å column at 5 Å
    np.testing.assert_allclose(table.charge_profile[:, :, 0], 1.0)
    np.testing.assert_allclose(table.charge_profile[:, :, 1], table.per_build[:, :, 5])
    # a Li⁺ without a TFSI O in its shell sits alone in its cluster (but for a rare TFSI
    # N or F within 2.8 Å), with charge +1
    np.testing.assert_allclose(table.per_build[:, 0, 6:], [[1.0, 1.0, 0.0]] * 2, atol=0.05)
    assert (table.per_build[:, 1, 6] >= 2).all() and (table.per_build[:, 1, 7] <= 0).all()
    shown = table.frame(["free", "paired"])
    assert shown.loc["paired", "TFSI O"] == table.mean[1, 1]
    assert shown.loc["free", "ions in cluster ±"] == table.half_width[0, 6]
    assert (table.per_build[:, 0, 1] == 0).all()
    assert (table.per_build[:, 1, 1] >= 1).all() and (table.per_build[:, 1, 3] >= 1).all()
    # a Li⁺ without TFSI⁻ in its 2.8 Å shell mostly keeps +1 within 5 Å; with one, ≤ 0
    assert (table.per_build[:, 0, 5] > table.per_build[:, 1, 5]).all()
    sem = table.per_build.std(axis=0, ddof=1) / np.sqrt(2)
    np.testing.assert_allclose(table.half_width, stats.t.ppf(0.975, 1) * sem, rtol=1e-10)
    np.testing.assert_allclose(table.population[:, 1], [m[..., 1].mean() for m in memberships])
    with pytest.raises(ValueError, match="one per build"):
        state_shell_table(builds, memberships[:1])
    with pytest.raises(ValueError, match="do not fit"):
        state_shell_table(builds[:1], [memberships[0][:, :3]])


def test_most_typical_samples_find_each_states_peak() -> None:
    from gdynbook.systems.peo_litfsi.shells import most_typical_samples

    rng = np.random.default_rng(0)
    builds = [rng.dirichlet(np.ones(3), size=(20, 4)) * 0.5 for _ in range(2)]
    builds[1][7, 2] = [0.0, 0.01, 0.99]  # state 2's peak: build 1, frame 7, Li⁺ 2
    builds[0][3, 1] = [0.98, 0.01, 0.01]  # state 0's: build 0, frame 3, Li⁺ 1
    found = most_typical_samples(builds)
    assert found[0] == (0, 3, 1) and found[2] == (1, 7, 2)
    b, f, li = found[1]
    assert builds[b][f, li, 1] == max(chi[..., 1].max() for chi in builds)
    with pytest.raises(ValueError, match="no memberships"):
        most_typical_samples([])
