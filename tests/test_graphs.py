"""Periodic neighbour lists against brute-force image enumeration and a known crystal."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from gdynbook import graphs
from gdynbook.graphs import GaussianDistance, GraphError, build_graphs, neighbor_lists
from gdynbook.trajectory import Trajectory
from tests.conftest import triclinic_lattice

FCC_A = 5.7
FCC_S = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]) * FCC_A


def brute_force(coords, lattice, n_neighbors, cutoff, reach=4):
    """All images within ``reach`` cells, all distances, M smallest within the cutoff."""
    shifts = np.array(list(itertools.product(range(-reach, reach + 1), repeat=3))) @ lattice
    out = []
    for i, r in enumerate(coords):
        found = []
        for j, s in enumerate(coords):
            d = np.linalg.norm(s + shifts - r, axis=1)
            for value in d:
                if 1e-8 < value <= cutoff or (j != i and value <= cutoff):
                    found.append((value, j))
        found.sort()
        out.append(found[:n_neighbors])
    return out


@pytest.mark.parametrize("lattice", [np.eye(3) * FCC_A, triclinic_lattice()])
@pytest.mark.parametrize("force_tree", [False, True])
def test_matches_brute_force(lattice, force_tree, monkeypatch) -> None:
    if force_tree:
        monkeypatch.setattr(graphs, "_BRUTE_FORCE_LIMIT", 0)
    rng = np.random.default_rng(3)
    coords = rng.random((6, 3)) @ lattice
    # 6.9 Å: the triclinic a vector is exactly 7 Å long, an ill-posed tie at the cutoff
    index, distance, mask = neighbor_lists(coords, lattice, n_neighbors=25, cutoff=6.9)
    expected = brute_force(coords, lattice, 25, 6.9)
    for i, rows in enumerate(expected):
        n = len(rows)
        assert mask[i].sum() == n
        np.testing.assert_allclose(distance[i, :n], [d for d, _ in rows], atol=1e-9)
        assert np.all(np.diff(distance[i, :n]) >= -1e-12)
        # atoms agree up to ties in distance
        for d in np.unique(np.round(distance[i, :n], 8)):
            ours = sorted(index[i, :n][np.isclose(distance[i, :n], d, atol=1e-8)])
            theirs = sorted(j for dd, j in rows if abs(dd - d) < 1e-8)
            if len(theirs) == len(ours):
                assert ours == theirs


def _all_images_sorted(coords, lattice, centers, candidates, cutoff, reach=1):
    """Brute force: distances to every image of every candidate within ``reach`` cells."""
    shifts = np.array(list(itertools.product(range(-reach, reach + 1), repeat=3))) @ lattice
    images = (coords[candidates][:, None, :] + shifts[None]).reshape(-1, 3)
    atom = np.repeat(candidates, len(shifts))
    rows = []
    for i in centers:
        dist = np.linalg.norm(images - coords[i], axis=1)
        dist[((atom == i) & (dist < 1e-8)) | (dist > cutoff)] = np.inf
        rows.append(np.sort(dist))
    return np.array(rows)


def test_two_pass_search_is_exact_in_a_clustered_system(monkeypatch) -> None:
    """A dense cluster in a sparse box: the first search radius comes from the mean
    density, so isolated atoms find too few neighbours within it and are searched again
    with the cutoff. Both passes together must equal brute force."""
    rng = np.random.default_rng(7)
    lattice = triclinic_lattice() * 2.5
    centre = np.array([0.5, 0.5, 0.5]) @ lattice
    cluster = centre + rng.normal(scale=2.0, size=(400, 3))
    sparse = rng.random((40, 3)) @ lattice
    coords = np.concatenate([cluster, sparse])
    reaches = []
    tree_neighbors = graphs._tree_neighbors

    def spy(*args, **kwargs):
        reaches.append(args[4])
        return tree_neighbors(*args, **kwargs)

    monkeypatch.setattr(graphs, "_tree_neighbors", spy)
    monkeypatch.setattr(graphs, "_BRUTE_FORCE_LIMIT", 0)
    candidates = np.arange(0, len(coords), 2)  # every other atom may be a neighbour
    for centers in (np.arange(len(coords)), candidates):
        reaches.clear()
        index, distance, mask = neighbor_lists(
            coords, lattice, 8, 6.5, centers=centers, candidates=candidates
        )
        assert reaches[0] < 6.5 and reaches[-1] == 6.5, "the second pass did not run"
        shifts = np.array(list(itertools.product((-1, 0, 1), repeat=3))) @ lattice
        for row, i in enumerate(centers):  # each neighbour has an image at its distance
            for j, d in zip(index[row][mask[row]], distance[row][mask[row]], strict=True):
                assert j in candidates
                gaps = np.abs(np.linalg.norm(coords[j] + shifts - coords[i], axis=1) - d)
                assert gaps.min() < 1e-9
        expected = _all_images_sorted(coords, lattice, centers, candidates, 6.5)[:, :8]
        np.testing.assert_allclose(distance, expected, atol=1e-9)
        np.testing.assert_array_equal(mask, np.isfinite(expected))
        assert (~mask).any(), "some isolated atoms have fewer than 8 within the cutoff"


def test_wrapped_and_unwrapped_give_the_same_graph() -> None:
    lattice = triclinic_lattice()
    rng = np.random.default_rng(4)
    coords = rng.random((8, 3)) @ lattice
    shifted = (
        coords
        + rng.integers(-3, 4, size=(8, 1)) * lattice[0]
        + rng.integers(-2, 3, size=(8, 1)) * lattice[2]
    )
    a = neighbor_lists(coords, lattice, 12, 6.0)
    b = neighbor_lists(shifted, lattice, 12, 6.0)
    np.testing.assert_allclose(a[1], b[1], atol=1e-9)
    np.testing.assert_array_equal(a[2], b[2])


def test_fcc_crystal_shells_include_self_images() -> None:
    index, distance, mask = neighbor_lists(FCC_S, np.eye(3) * FCC_A, n_neighbors=18, cutoff=7.0)
    # 12 nearest neighbours at a/sqrt(2), then 6 at a: the atom's own periodic images
    np.testing.assert_allclose(distance[:, :12], FCC_A / np.sqrt(2), atol=1e-9)
    np.testing.assert_allclose(distance[:, 12:18], FCC_A, atol=1e-9)
    for i in range(4):
        assert set(index[i, 12:18]) == {i}
    # a Li in a tetrahedral hole: 4 S at a*sqrt(3)/4
    li = np.array([[0.25, 0.25, 0.25]]) * FCC_A
    coords = np.vstack([li, FCC_S])
    _, dist, _ = neighbor_lists(
        coords, np.eye(3) * FCC_A, 4, 7.0, centers=[0], candidates=[1, 2, 3, 4]
    )
    np.testing.assert_allclose(dist[0], FCC_A * np.sqrt(3) / 4, atol=1e-9)


def test_pad_and_mask_when_few_neighbours() -> None:
    coords = np.array([[0.0, 0, 0], [1.5, 0, 0]])
    index, distance, mask = neighbor_lists(coords, np.eye(3) * 20.0, n_neighbors=5, cutoff=3.0)
    assert mask.tolist() == [[True, False, False, False, False]] * 2
    assert distance[0, 0] == pytest.approx(1.5)
    assert np.isinf(distance[0, 1:]).all()


@pytest.mark.parametrize(
    ("coords", "lattice", "message"),
    [
        (np.zeros((3, 2)), np.eye(3), "shape"),
        (np.zeros((3, 3)), np.zeros((3, 3)), "volume"),
        (np.full((3, 3), np.nan), np.eye(3), "NaN"),
    ],
)
def test_bad_frames(coords, lattice, message) -> None:
    with pytest.raises(GraphError, match=message):
        neighbor_lists(coords, lattice)


def toy_traj(n_frames: int = 6, seed: int = 0) -> Trajectory:
    rng = np.random.default_rng(seed)
    li = (0.25 + 0.05 * rng.normal(size=(n_frames, 1, 3))) * FCC_A
    s = FCC_S[None] + 0.05 * rng.normal(size=(n_frames, 4, 3))
    return Trajectory(
        np.concatenate([li, s], axis=1), np.eye(3) * FCC_A, [3, 16, 16, 16, 16], [0], 0.1
    )


def test_build_graphs_hops_and_order() -> None:
    traj = toy_traj()
    g = build_graphs(traj, n_neighbors=8, cutoff=7.0, n_conv=2, progress=False, use_cache=False)
    assert g.n_frames == traj.n_frames
    for f in range(g.n_frames):
        frame = g.frame(f)
        assert frame["node_atom"][0] == 0 and frame["hops"][0] == 0
        assert set(frame["node_atom"]) == set(range(5))
        # leaves (hop == n_conv) have no neighbour rows; others have full rows
        has_rows = frame["nbr_mask"].any(axis=1)
        np.testing.assert_array_equal(has_rows, frame["hops"] < 2)
        index, distance, mask = neighbor_lists(traj.coords[f], traj.lattices[f], 8, 7.0)
        for row, atom in enumerate(frame["node_atom"]):
            if frame["hops"][row] < 2:
                np.testing.assert_allclose(frame["nbr_distance"][row], distance[atom], rtol=1e-6)
                np.testing.assert_array_equal(
                    frame["node_atom"][frame["nbr_index"][row]], index[atom]
                )


def test_node_selection_and_far_atoms_left_out() -> None:
    rng = np.random.default_rng(5)
    lattice = np.eye(3) * 30.0
    coords = rng.random((1, 40, 3)) * 30.0
    coords[0, 0] = [15.0, 15.0, 15.0]
    traj = Trajectory(coords, lattice, np.where(np.arange(40) % 2, 1, 8), [0], 1.0)
    heavy = np.flatnonzero(traj.atom_types > 1)
    g = build_graphs(
        traj,
        n_neighbors=4,
        cutoff=12.0,
        n_conv=1,
        node_selection=heavy,
        progress=False,
        use_cache=False,
    )
    frame = g.frame(0)
    assert set(frame["node_atom"][1:]) <= set(heavy)
    # the target and its neighbours (1 hop), nothing else
    neighbours = frame["node_atom"][frame["nbr_index"][0][frame["nbr_mask"][0]]]
    assert frame["node_atom"].size == 1 + np.unique(neighbours).size
    assert frame["node_atom"].size < 21


def test_too_few_neighbours_is_a_clear_error() -> None:
    traj = Trajectory(np.array([[[0.0, 0, 0], [9.0, 9, 9]]]), np.eye(3) * 30, [3, 8], [0], 1.0)
    with pytest.raises(GraphError, match="has 0 neighbours within 5.0 Å"):
        build_graphs(traj, n_neighbors=4, cutoff=5.0, progress=False, use_cache=False)


def test_graph_cache_round_trip() -> None:
    traj = toy_traj(4)
    first = build_graphs(traj, 8, 7.0, 2, progress=False)
    second = build_graphs(traj, 8, 7.0, 2, progress=False)
    for key in ("node_offsets", "node_atom", "nbr_index", "nbr_distance", "nbr_mask", "hops"):
        np.testing.assert_array_equal(getattr(first, key), getattr(second, key))
    assert second.n_conv == 2 and second.cutoff == 7.0


def test_gaussian_distance() -> None:
    expand = GaussianDistance(cutoff=7.0, step=0.2)
    assert expand.n_features == 36
    features = expand(torch.tensor([0.0, 1.0, 6.99]))
    assert features.shape == (3, 36)
    assert features[1, 5].item() == pytest.approx(1.0)  # centre at 1.0 Å
    assert features[1, 6].item() == pytest.approx(np.exp(-1.0))


@pytest.mark.parametrize(
    ("selection", "n_conv", "n_neighbors"),
    [(None, 2, 9), (np.array([1, 2, 5, 6]), 2, 9), (None, 1, 3), (None, 3, 2)],
)
def test_batched_small_cell_path_equals_per_frame_path(
    monkeypatch, selection, n_conv, n_neighbors
) -> None:
    """The vectorised small-cell builder and the per-frame search give the same graphs,
    including frames where few neighbours leave some atoms unreached."""
    rng = np.random.default_rng(8)
    lattice = triclinic_lattice()
    coords = rng.random((30, 7, 3)) @ lattice + rng.integers(-1, 2, (30, 7, 1)) * lattice[0]
    traj = Trajectory(coords, lattice, [3, 16, 16, 8, 8, 1, 1], [0, 3], 0.5)
    kwargs = dict(
        n_neighbors=n_neighbors,
        cutoff=6.0,
        n_conv=n_conv,
        node_selection=selection,
        progress=False,
        use_cache=False,
    )
    batched = build_graphs(traj, **kwargs)
    monkeypatch.setattr(graphs, "_SMALL_CELL_LIMIT", 0)
    per_frame = build_graphs(traj, **kwargs)
    for key in ("node_offsets", "node_atom", "nbr_index", "nbr_mask", "hops"):
        np.testing.assert_array_equal(getattr(batched, key), getattr(per_frame, key), key)
    np.testing.assert_allclose(batched.nbr_distance, per_frame.nbr_distance, atol=1e-5)


def test_smallest_stable_equals_a_stable_full_sort_with_ties_and_padding() -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        values = rng.integers(0, 5, (3, 4, int(rng.integers(1, 30)))).astype(float)
        values[rng.random(values.shape) < 0.3] = np.inf
        k = int(rng.integers(1, 12))
        expected = np.argsort(values, axis=-1, kind="stable")[..., :k]
        np.testing.assert_array_equal(graphs._smallest_stable(values, k), expected)


@pytest.mark.parametrize("n_conv", [1, 2])
def test_restricting_to_atoms_near_the_targets_changes_nothing(monkeypatch, n_conv) -> None:
    """In a large triclinic cell, only atoms within n_conv × cutoff of a target enter
    the search; the graphs must equal those of a search over every atom."""
    rng = np.random.default_rng(12)
    lattice = triclinic_lattice() * 5.0
    n_atoms = 1200
    coords = rng.random((4, n_atoms, 3)) @ lattice
    coords += rng.integers(-2, 3, (4, n_atoms, 1)) * lattice[1]  # unwrapped images
    traj = Trajectory(coords, lattice, np.full(n_atoms, 8), [0, 5, 17], 0.5)
    kwargs = dict(n_neighbors=8, cutoff=4.0, n_conv=n_conv, progress=False, use_cache=False)
    inverse = np.linalg.inv(lattice)
    assert np.all(n_conv * 4.0 * np.linalg.norm(inverse, axis=0) < 0.5)  # filter is active
    restricted = build_graphs(traj, **kwargs)
    kept = graphs._near_targets(
        traj.coords[0], lattice, traj.target_index, np.arange(n_atoms), n_conv * 4.0
    )
    assert kept.size < n_atoms / 2
    monkeypatch.setattr(
        graphs, "_near_targets", lambda coords, lattice, targets, candidates, radius: candidates
    )
    everything = build_graphs(traj, **kwargs)
    for key in ("node_offsets", "node_atom", "nbr_index", "nbr_mask", "hops"):
        np.testing.assert_array_equal(getattr(restricted, key), getattr(everything, key), key)
    np.testing.assert_allclose(restricted.nbr_distance, everything.nbr_distance)


@pytest.mark.parametrize("seed", range(5))
def test_near_targets_keeps_every_atom_within_the_radius(seed) -> None:
    """The binned filter is conservative: brute force over images finds no atom within
    the radius of a target that the filter dropped, however the atoms are unwrapped."""
    rng = np.random.default_rng(seed)
    lattice = triclinic_lattice() * 4.0
    coords = rng.random((3000, 3)) @ lattice + rng.integers(-3, 4, (3000, 1)) * lattice[2]
    targets = rng.choice(3000, size=3, replace=False)
    candidates = np.arange(0, 3000, 3)
    kept = set(graphs._near_targets(coords, lattice, targets, candidates, 5.0).tolist())
    shifts = np.array(list(itertools.product((-4, -3, -2, -1, 0, 1, 2, 3, 4), repeat=3)))
    images = shifts @ lattice
    for t in targets:
        delta = coords[candidates] - coords[t]
        nearest = np.linalg.norm(delta[:, None, :] + images[None], axis=-1).min(axis=1)
        assert set(candidates[nearest <= 5.0].tolist()) <= kept
    assert len(kept) < candidates.size / 2, "the filter keeps too much to be tested"
