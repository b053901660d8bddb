"""The original GDyNets data: the downloader on local files (never the network), and the
appendix chapter with and without the files."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest

from gdynbook import original_data
from gdynbook.original_data import OriginalDataError, check_format, download_original
from gdynbook.systems.toy import ToySimulation, simulate_toy

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def li2s_like(tmp_path_factory) -> Path:
    """A small file in the record's format (no time step stored), from our toy system."""
    run = simulate_toy(ToySimulation(n_replicas=1, n_frames=3000, seed=4), progress=False)[0]
    path = tmp_path_factory.mktemp("source") / "li2s-traj.npz"
    np.savez(
        path,
        traj_coords=run.coords,
        lattices=run.lattices,
        atom_types=run.atom_types,
        target_index=run.target_index,
    )
    return path


def test_download_from_a_local_url_checks_the_format(li2s_like, tmp_path) -> None:
    got = download_original("li2s-traj.npz", tmp_path, url=li2s_like.as_uri(), progress=False)
    assert got == tmp_path / "li2s-traj.npz" and got.read_bytes() == li2s_like.read_bytes()
    assert check_format(got)["traj_coords"] == (3000, 5, 3)
    assert original_data.available(["li2s-traj.npz", "siau-traj.npz"], tmp_path) == [
        "li2s-traj.npz"
    ]
    # present already: checked, not downloaded again
    assert download_original("li2s-traj.npz", tmp_path, url="file:///nonexistent") == got


def test_a_bad_download_is_never_kept(tmp_path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"<html>not found</html>")
    out = tmp_path / "data"
    with pytest.raises(OriginalDataError, match="download again"):
        download_original("siau-traj.npz", out, url=junk.as_uri(), progress=False)
    assert not (out / "siau-traj.npz").exists() and list(out.iterdir()) == []
    wrong = tmp_path / "wrong.npz"
    np.savez(
        wrong,
        traj_coords=np.zeros((4, 3, 3)),
        lattices=np.eye(3),
        atom_types=np.ones(2, int),
        target_index=np.array([0]),
    )
    with pytest.raises(OriginalDataError, match=r"atom_types has shape \(2,\), not \(3,\)"):
        download_original("siau-traj.npz", out, url=wrong.as_uri(), progress=False)
    assert not (out / "siau-traj.npz").exists()
    with pytest.raises(KeyError, match="not a file of the record"):
        download_original("li3s.npz", out)


def test_a_known_checksum_is_checked(li2s_like, tmp_path, monkeypatch) -> None:
    entry = original_data.ORIGINAL_FILES["li2s-traj.npz"]
    right = hashlib.sha256(li2s_like.read_bytes()).hexdigest()
    monkeypatch.setitem(
        original_data.ORIGINAL_FILES, "li2s-traj.npz", dataclasses.replace(entry, sha256="0" * 64)
    )
    with pytest.raises(OriginalDataError, match="sha256"):
        download_original("li2s-traj.npz", tmp_path, url=li2s_like.as_uri(), progress=False)
    monkeypatch.setitem(
        original_data.ORIGINAL_FILES,
        "li2s-traj.npz",
        dataclasses.replace(entry, sha256=right, size_bytes=li2s_like.stat().st_size),
    )
    assert download_original("li2s-traj.npz", tmp_path, url=li2s_like.as_uri(), progress=False)


def test_every_entry_says_what_is_confirmed() -> None:
    for name, entry in original_data.ORIGINAL_FILES.items():
        assert entry.url.endswith("/" + name) and entry.url.startswith("https://")
        assert "not confirmed" in entry.confirmed  # sizes and checksums are unconfirmed
        assert (entry.sha256 is None) == (entry.size_bytes is None)
    assert original_data.ORIGINAL_FILES["li2s-traj.npz"].time_step_ps == 0.1


def _run_appendix(folder: Path, monkeypatch) -> str:
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv(original_data.DATA_ENV, str(folder))
    monkeypatch.setenv("GDYNBOOK_FAST", "1")
    notebook = nbformat.read(ROOT / "book" / "11_original_data.ipynb", as_version=4)
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT / "book")}},
    ).execute()
    return "\n".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
    )


def test_the_appendix_without_the_files_says_what_it_would_compute(tmp_path, monkeypatch):
    text = _run_appendix(tmp_path / "empty", monkeypatch)
    assert "li2s-traj.npz is not in" in text and "would" in text


def test_the_appendix_with_a_file_runs_its_heavy_cells(li2s_like, tmp_path, monkeypatch):
    folder = tmp_path / "with-file"
    folder.mkdir()
    (folder / "li2s-traj.npz").write_bytes(li2s_like.read_bytes())
    text = _run_appendix(folder, monkeypatch)
    assert "slowest implied timescale" in text and "is not in" not in text
