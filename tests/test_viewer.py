"""3D views: py3Dmol by default (Colab-safe), nglview on request, the Colab widget switch."""

from __future__ import annotations

import re
import sys
import types

import numpy as np
import pytest

from gdynbook.trajectory import Trajectory
from gdynbook.viewer import cell_edges, view_trajectory, xyz_frames


def test_py3dmol_view_animates_every_frame_in_the_cell(small_traj: Trajectory) -> None:
    pytest.importorskip("py3Dmol")
    view = view_trajectory(small_traj, frames=slice(0, 3))
    html = view._make_html()
    text = re.search(r'addModelsAsFrames\("(.*?)","xyz"\)', html).group(1).replace("\\n", "\n")
    assert text.count("gdynbook") == 3  # one XYZ block per frame
    assert text.splitlines()[2].startswith("Li ")  # atom 0, the target
    assert html.count("addLine") == 12  # the cell's edges
    assert '"index": [0]' in html and "animate" in html


def test_xyz_frames_and_cell_edges_are_exact() -> None:
    coords = np.array([[[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]]])
    assert (
        xyz_frames(["Li", "S"], coords)
        == "2\ngdynbook\nLi 0.0000 0.0000 0.0000\nS 1.0000 2.0000 3.0000\n"
    )
    with pytest.raises(ValueError, match="2 symbols for 3 atoms"):
        xyz_frames(["Li", "S"], np.zeros((3, 3)))
    lattice = np.array([[7.0, 0.0, 0.0], [1.5, 6.5, 0.0], [-1.0, 0.8, 8.0]])
    edges = cell_edges(lattice)
    assert len(edges) == 12
    # every edge is parallel to, and as long as, one lattice vector
    for start, end in edges:
        assert any(np.allclose(end - start, row) for row in lattice)
    corners = {tuple(np.round(p, 9)) for edge in edges for p in edge}
    assert len(corners) == 8


def test_missing_py3dmol_names_the_extra(monkeypatch, small_traj: Trajectory) -> None:
    monkeypatch.setitem(sys.modules, "py3Dmol", None)
    with pytest.raises(ImportError, match=r"gdynbook\[notebooks\]"):
        view_trajectory(small_traj)
    with pytest.raises(ValueError, match="backend"):
        view_trajectory(small_traj, backend="vmd")


def test_nglview_view_has_every_frame_and_turns_on_colab_widgets(monkeypatch, small_traj):
    pytest.importorskip("nglview")
    calls = []
    output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append(True))
    colab = types.ModuleType("google.colab")
    colab.output = output
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    view = view_trajectory(small_traj, frames=slice(0, 3), backend="nglview")
    assert view.max_frame == 2
    assert calls == [True]


def test_missing_nglview_names_the_viewer_extra(monkeypatch, small_traj: Trajectory) -> None:
    monkeypatch.setitem(sys.modules, "nglview", None)
    with pytest.raises(ImportError, match=r"gdynbook\[viewer\]"):
        view_trajectory(small_traj, backend="nglview")
