"""Plot functions draw the data they are given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gdynbook.plots import plot_msd, plot_path  # noqa: E402
from gdynbook.trajectory import Trajectory  # noqa: E402


def test_plot_path_draws_the_atom_and_cell(small_traj: Trajectory) -> None:
    ax = plot_path(small_traj, atom=0, plane=(0, 2), label="Li")
    path, cell = ax.lines
    np.testing.assert_allclose(path.get_xdata(), small_traj.coords[:, 0, 0])
    np.testing.assert_allclose(path.get_ydata(), small_traj.coords[:, 0, 2])
    a = small_traj.lattices[0][0]
    np.testing.assert_allclose(cell.get_xdata()[:2], [0.0, a[0]])
    assert ax.get_xlabel() == "x (Å)" and ax.get_ylabel() == "z (Å)"
    plt.close("all")


def test_plot_msd_reference_line() -> None:
    lags = np.array([1.0, 2.0, 4.0])
    ax = plot_msd(lags, np.array([6.1, 11.8, 24.5]), diffusion_a2_per_ps=1.0)
    data, reference = ax.lines
    np.testing.assert_allclose(reference.get_ydata(), [6.0, 12.0, 24.0])
    np.testing.assert_allclose(data.get_ydata(), [6.1, 11.8, 24.5])
    plt.close("all")
