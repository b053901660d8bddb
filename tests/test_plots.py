"""Plot functions draw the data they are given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

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


def test_koopman_plots_show_the_numbers() -> None:
    from gdynbook.koopman import ck_test, estimate_koopman, implied_timescales
    from gdynbook.markov import one_hot, simulate_markov_chain
    from gdynbook.plots import (
        plot_ck_test,
        plot_eigenvectors,
        plot_implied_timescales,
        plot_populations,
    )

    transition = np.array([[0.95, 0.05, 0.0], [0.02, 0.96, 0.02], [0.0, 0.1, 0.9]])
    probs = [one_hot(s, 3) for s in simulate_markov_chain(transition, 3000, 4, seed=1)]
    its = implied_timescales(probs, [1, 2, 4], time_step_ps=0.5, n_bootstrap=10)
    ax = plot_implied_timescales(its)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), its.timescales_ps[:, 0])
    ck = ck_test(probs, 2, 3, time_step_ps=0.5, n_bootstrap=10)
    fig = plot_ck_test(ck, labels=["a", "b", "c"])
    assert len(fig.axes) == 9
    estimated_line = fig.axes[1].lines[1]
    np.testing.assert_allclose(estimated_line.get_ydata()[1:], ck.estimated[:, 0, 1])
    model = estimate_koopman(probs, 2, time_step_ps=0.5)
    bars = plot_populations(model).patches
    np.testing.assert_allclose([b.get_height() for b in bars], model.populations)
    fig = plot_eigenvectors(model)
    assert len(fig.axes) == 2
    plt.close("all")


def test_transference_figures_draw_every_series() -> None:
    from gdynbook.plots import plot_charge_integral, plot_displacement_correlations

    radii = np.linspace(1, 8, 15)
    ax = plot_charge_integral(radii, {"a": np.ones(15), "b": np.zeros(15)})
    assert len(ax.lines) == 2 + 2  # two curves and the 0 / +1 guides
    ax = plot_charge_integral(radii, {"a": np.ones(15)}, half_widths={"a": np.full(15, 0.1)})
    (band,) = ax.collections
    lows = band.get_paths()[0].vertices[:, 1]
    assert lows.min() == pytest.approx(0.9) and lows.max() == pytest.approx(1.1)
    lags = np.array([5.0, 10.0, 50.0])
    runs = [np.abs(np.random.default_rng(k).normal(size=(5, 3))) + 1 for k in range(3)]
    fig = plot_displacement_correlations(lags, runs, (10.0, 50.0))
    self_ax, collective_ax = fig.axes
    assert len(self_ax.lines) == 3
    assert len(collective_ax.lines) == 3 * (3 + 1) + 1  # thin + mean per series, zero line
    np.testing.assert_allclose(collective_ax.lines[3].get_ydata(), np.mean(runs, 0)[0])


def test_cross_validation_plot_shows_the_mean_of_held_out_runs() -> None:
    from gdynbook.plots import plot_cross_validation, plot_training_histories

    rows = [
        {"n_states": n, "test_run": run, "vamp2_test": 1.0 + 0.1 * n + 0.01 * run}
        for n in (2, 3, 4)
        for run in range(3)
    ]
    ax = plot_cross_validation(rows, chosen=3)
    assert len(ax.lines) >= 3 + 1 + 1  # one line per run, the mean and the chosen marker
    mean_line = [line for line in ax.lines if line.get_color() == "C0"][0]
    np.testing.assert_allclose(mean_line.get_ydata(), [1.21, 1.31, 1.41])
    histories = [{"train_score": [1.0, 1.2], "validation_score": [1.0, 1.1]}] * 2
    assert len(plot_training_histories(histories, ["a", "b"]).lines) == 4


def build_summary() -> dict:
    names = ["build-00", "build-01", "build-02"]
    return {
        "builds": names,
        "lockbox": "build-02",
        "held_out": {n: {"vamp2": 1.5 + 0.1 * k} for k, n in enumerate(names)},
        "reference": {"held_out": {n: {"vamp2": 1.2 + 0.1 * k} for k, n in enumerate(names)}},
        "between_ion_variance_fraction": {
            n: {"learned": 0.6 - 0.1 * k, "baseline": 0.3, "descriptor": None if k else 0.9}
            for k, n in enumerate(names)
        },
    }


def test_held_out_builds_draws_each_model_per_build_and_marks_the_lockbox() -> None:
    from gdynbook.plots import plot_held_out_builds

    ax = plot_held_out_builds(build_summary())
    bars = [p for p in ax.patches if p.get_width() < 0.5]
    gdynet = [p.get_height() for p in bars if p.get_facecolor() == ax.patches[0].get_facecolor()]
    reference = [p.get_height() for p in bars if p.get_x() > round(p.get_x()) - 1e-9]
    assert gdynet == pytest.approx([1.5, 1.6, 1.7])  # left of each tick, in build order
    assert reference == pytest.approx([1.2, 1.3, 1.4])  # right of each tick
    shaded = [p for p in ax.patches if p.get_width() >= 0.99]
    assert len(shaded) == 1 and shaded[0].get_x() == pytest.approx(1.5)
    plt.close("all")


def test_label_fractions_draws_three_bars_per_build() -> None:
    from gdynbook.plots import plot_label_fractions

    ax = plot_label_fractions(build_summary())
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 9
    assert heights[:3] == pytest.approx([0.6, 0.5, 0.4])
    assert np.isnan(heights[7]) and heights[6] == pytest.approx(0.9)
    plt.close("all")


def test_build_figures_leave_out_a_shut_lockbox() -> None:
    from gdynbook.plots import plot_held_out_builds, plot_label_fractions

    summary = build_summary()
    del summary["held_out"]["build-02"], summary["between_ion_variance_fraction"]["build-02"]
    ax = plot_held_out_builds(summary)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["build-00", "build-01"]
    assert not [p for p in ax.patches if p.get_width() >= 0.99]  # nothing shaded
    assert len(plot_label_fractions(summary).patches) == 6
    plt.close("all")
