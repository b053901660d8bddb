"""The nglview helper: a widget of the trajectory, and the Colab widget switch."""

from __future__ import annotations

import sys
import types

import pytest

from gdynbook.trajectory import Trajectory

nglview = pytest.importorskip("nglview")


def test_view_has_every_frame_and_turns_on_colab_widgets(monkeypatch, small_traj: Trajectory):
    from gdynbook.viewer import view_trajectory

    calls = []
    output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append(True))
    colab = types.ModuleType("google.colab")
    colab.output = output
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    view = view_trajectory(small_traj, frames=slice(0, 3))
    assert view.max_frame == 2
    assert calls == [True]
