"""Graphs on disk: equal to the in-memory graphs, chunks reused, workers equal to none."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from gdynbook.cache import atomic_array_directory
from gdynbook.graph_store import CHUNK_FIELDS, build_graph_store, default_chunk_frames
from gdynbook.graphs import GraphError, build_graphs
from gdynbook.model import GDyNet, collate_graphs
from gdynbook.systems.fcc_sites import simulate_site_hopping
from gdynbook.train import fit
from gdynbook.trajectory import Trajectory


@pytest.fixture(scope="module")
def hopping() -> Trajectory:
    return simulate_site_hopping(400, seed=3)[0]


def liquid(n_frames: int = 12, n_atoms: int = 300, seed: int = 0) -> Trajectory:
    """Random atoms in a 20 Å triclinic box: the per-frame (large cell) path."""
    rng = np.random.default_rng(seed)
    lattice = np.array([[20.0, 0.0, 0.0], [2.0, 19.0, 0.0], [-1.0, 1.5, 21.0]])
    coords = rng.random((n_frames, n_atoms, 3)) @ lattice
    types = np.where(np.arange(n_atoms) % 3 == 0, 8, 6)
    return Trajectory(coords, np.repeat(lattice[None], n_frames, 0), types, np.arange(5), 1.0)


def assert_same_graphs(a, b) -> None:
    for name in CHUNK_FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("which", ["toy", "liquid"])
def test_chunked_graphs_equal_the_in_memory_graphs(hopping, which: str) -> None:
    traj = hopping[:100] if which == "toy" else liquid()
    options = dict(n_neighbors=8, cutoff=6.0, n_conv=2, progress=False)
    whole = build_graphs(traj, **options, use_cache=False)
    store = build_graph_store(traj, **options, chunk_frames=7 if which == "toy" else 5)
    assert store.n_chunks > 1 and store.n_frames == traj.n_frames
    assert_same_graphs(store.in_memory(), whole)
    # frames in any order, across chunks, repeated: the rows of those frames in that order
    frames = np.array([traj.n_frames - 1, 0, 6, 7, 3, 3, traj.n_frames - 2])
    counts, rows = store.gather(frames)
    expected_counts, expected_rows = whole.gather(frames)
    np.testing.assert_array_equal(counts, expected_counts)
    for name, values in expected_rows.items():
        np.testing.assert_array_equal(rows[name], values, err_msg=name)
    for f in (0, 6, 7, traj.n_frames - 1):
        for name, values in whole.frame(f).items():
            np.testing.assert_array_equal(store.frame(f)[name], values)
    # chunks are read-only memory maps, not loaded copies
    assert isinstance(store.chunk(0).nbr_index, np.memmap)
    assert not store.chunk(0).nbr_index.flags.writeable


def test_a_batch_from_disk_equals_a_batch_from_memory(hopping) -> None:
    traj = hopping[:60]
    options = dict(n_neighbors=8, cutoff=6.0, n_conv=2, progress=False)
    items = np.array([[0, 59], [1, 2], [0, 3], [1, 40], [0, 20]])
    disk = collate_graphs(
        [build_graph_store(t, **options, chunk_frames=16) for t in (traj, traj[5:])], items
    )
    memory = collate_graphs(
        [build_graphs(t, **options, use_cache=False) for t in (traj, traj[5:])], items
    )
    for name, values in memory.__dict__.items():
        torch.testing.assert_close(getattr(disk, name), values, rtol=0, atol=0)


def test_a_longer_trajectory_reuses_the_chunks_it_shares(hopping) -> None:
    options = dict(n_neighbors=8, cutoff=6.0, n_conv=2, progress=False, chunk_frames=32)
    short = build_graph_store(hopping[:100], **options)  # chunks 0–31, 32–63, 64–95, 96–99
    stamps = {d: (Path(d) / "nbr_index.npy").stat().st_mtime_ns for d in short.directories}
    longer = build_graph_store(hopping[:200], **options)
    assert longer.directories[:3] == short.directories[:3]
    assert longer.directories[3] != short.directories[3]  # 96–127 is not 96–99
    for d in short.directories[:3]:
        assert (Path(d) / "nbr_index.npy").stat().st_mtime_ns == stamps[d], "rewritten"
    # a changed frame rebuilds its chunk only
    changed = hopping[:100]
    changed.coords[40, 0] += 0.3
    rebuilt = build_graph_store(changed, **options)
    assert [a == b for a, b in zip(rebuilt.directories, short.directories, strict=True)] == [
        True,
        False,
        True,
        True,
    ]


def test_workers_build_the_same_chunks(hopping, tmp_path, monkeypatch) -> None:
    traj = hopping[:200]
    options = dict(n_neighbors=8, cutoff=6.0, n_conv=2, progress=False, chunk_frames=40)
    in_process = build_graph_store(traj, **options, workers=0).in_memory()
    monkeypatch.setenv("GDYNBOOK_CACHE_DIR", str(tmp_path / "other-cache"))
    by_workers = build_graph_store(traj, **options, workers=2)
    assert str(tmp_path / "other-cache") in by_workers.directories[0]
    assert_same_graphs(by_workers.in_memory(), in_process)


def test_the_store_pickles_as_folder_names(hopping) -> None:
    store = build_graph_store(
        hopping, n_neighbors=8, cutoff=6.0, n_conv=2, progress=False, chunk_frames=64
    )
    store.gather(np.arange(10))  # opens a chunk
    text = pickle.dumps(store)
    assert len(text) < 4_000 + 200 * store.n_chunks  # no graph arrays inside
    copy = pickle.loads(text)
    np.testing.assert_array_equal(
        copy.gather(np.arange(300))[1]["nbr_index"], store.gather(np.arange(300))[1]["nbr_index"]
    )


def test_a_refused_chunk_is_never_written(tmp_path) -> None:
    traj = liquid(n_frames=6)
    # frame 4: every other atom half a cell away from target 0, which is left alone
    traj.coords[4, 1:] = traj.coords[4, 0] + 10.0
    with pytest.raises(GraphError, match="frame 4: target atom 0 has 0 neighbours"):
        build_graph_store(
            traj,
            n_neighbors=4,
            cutoff=4.0,
            n_conv=1,
            progress=False,
            chunk_frames=3,
            min_neighbors=1,
        )
    from gdynbook.config import cache_dir

    written = list((cache_dir() / "graph-chunks").iterdir())
    assert len(written) == 1 and all((p / "meta.json").is_file() for p in written)
    assert not any(p.name.startswith(".") for p in written), "a temporary folder was left"


def test_an_interrupted_array_directory_leaves_nothing(tmp_path) -> None:
    def arrays():
        yield "good", np.arange(5)
        raise KeyboardInterrupt

    class Failing(dict):
        def items(self):
            return arrays()

    with pytest.raises(KeyboardInterrupt):
        atomic_array_directory(tmp_path / "chunk", Failing(), {"n": 1})
    assert list(tmp_path.iterdir()) == []
    atomic_array_directory(tmp_path / "chunk", {"a": np.arange(3)}, {"n": 1})
    assert np.load(tmp_path / "chunk" / "a.npy", mmap_mode="r").tolist() == [0, 1, 2]


def test_default_chunk_frames() -> None:
    assert default_chunk_frames(33) == 4096
    assert default_chunk_frames(1000) == 512
    assert default_chunk_frames(10**6) == 64


def test_training_with_loader_workers_equals_training_without(hopping) -> None:
    def train(workers: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        model = GDyNet(n_states=2, n_neighbors=8, n_conv=2, atom_fea_len=8, h_fea_len=8)
        fit(
            model,
            [hopping[:300], hopping[100:]],
            lag_frames=4,
            n_epochs=2,
            batch_size=64,
            lr=1e-3,
            device="cpu",
            progress=False,
            patience=None,
            workers=workers,
        )
        return {k: v.clone() for k, v in model.state_dict().items()}

    alone, with_workers = train(0), train(2)
    for name, value in alone.items():
        torch.testing.assert_close(with_workers[name], value, rtol=0, atol=0, msg=name)


def test_negative_workers_are_refused(hopping) -> None:
    with pytest.raises(ValueError, match="workers"):
        build_graph_store(hopping[:20], progress=False, workers=-1)
    with pytest.raises(ValueError, match="workers"):
        fit(
            GDyNet(n_states=2),
            [hopping[:100]],
            lag_frames=2,
            n_epochs=1,
            workers=-1,
            progress=False,
        )
