"""Shared fixtures for gdynbook's unit tests."""

from __future__ import annotations

import numpy as np
import pytest

from gdynbook.trajectory import Trajectory


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point the cache at a fresh temporary directory for every test."""
    monkeypatch.setenv("GDYNBOOK_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


def triclinic_lattice() -> np.ndarray:
    """A right-handed triclinic cell (Å) in the standard orientation DCD/LAMMPS use."""
    return np.array([[7.0, 0.0, 0.0], [1.5, 6.5, 0.0], [-1.0, 0.8, 8.0]])


@pytest.fixture
def small_traj() -> Trajectory:
    """Five frames, four atoms (Li, S, S, O), triclinic cell, wrapped coordinates."""
    rng = np.random.default_rng(7)
    lattice = triclinic_lattice()
    frac = rng.random((5, 4, 3))
    coords = frac @ lattice
    return Trajectory(
        coords=coords,
        lattices=np.repeat(lattice[None], 5, axis=0),
        atom_types=np.array([3, 16, 16, 8]),
        target_index=np.array([0]),
        time_step_ps=0.5,
    )


def finished_screen_builds() -> list:
    """Folders of the shipped screen builds whose production is finished, in name order."""
    import json

    from gdynbook import data

    root = data.data_dir() / "peo_litfsi"
    return [
        p.parent
        for p in sorted(root.glob("screen/*/provenance.json"))
        if json.loads(p.read_text()).get("complete")
    ]


def chosen_screen_build():
    """Folder of the screen build whose setting the production uses (the shipped verdict's
    choice), or None before the screen is decided."""
    import json

    from gdynbook import data

    root = data.data_dir() / "peo_litfsi" / "screen"
    verdict = root / "screen.json"
    if not verdict.is_file():
        return None
    chosen = json.loads(verdict.read_text())["verdict"].get("chosen")
    return None if chosen is None else root / chosen
