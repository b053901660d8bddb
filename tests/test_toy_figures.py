"""Figures of the toy chapters draw the numbers they are given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gdynbook.systems.toy_figures import plot_move_counts  # noqa: E402


def test_move_counts_figure_draws_the_local_detailed_balance_reverse() -> None:
    steps = np.arange(-2, 4)
    counts = np.array([1, 30, 900, 500, 200, 20])  # n = −2 … 3
    ax = plot_move_counts(steps, counts, force_kt_per_a=2.0, bin_width_a=1.425)
    forward, seen = ax.containers
    assert [bar.get_height() for bar in forward] == [500, 200, 20]
    assert [bar.get_height() for bar in seen][:2] == [30, 1]
    assert np.isnan(seen[2].get_height())  # −3 never seen: no bar
    expected = ax.lines[0].get_ydata()
    np.testing.assert_allclose(expected, [500, 200, 20] * np.exp(-2.0 * 1.425 * np.arange(1, 4)))
    plt.close(ax.figure)
