"""The driven toy system: the force does what it should, and the direct transport
measurements recover a drift and a diffusion coefficient that are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from gdynbook.systems.toy import ToySimulation, simulate_toy
from gdynbook.systems.toy_driven import axis_diffusion, drift_velocity, mobility, simulate_driven
from gdynbook.trajectory import Trajectory


def brownian(n_replicas: int, n_frames: int, drift: float, diffusion: float, seed: int):
    """Li-only walks along x with known drift (Å/ps) and D (Å²/ps), 0.5 ps frames."""
    rng = np.random.default_rng(seed)
    dt = 0.5
    steps = drift * dt + rng.normal(0, np.sqrt(2 * diffusion * dt), (n_replicas, n_frames))
    out = []
    for r in range(n_replicas):
        coords = np.zeros((n_frames, 1, 3))
        coords[:, 0, 0] = np.cumsum(steps[r])
        out.append(Trajectory(coords, np.eye(3) * 50.0, [3], [0], dt, wrapped=False))
    return out


def test_direct_drift_and_diffusion_recover_known_values() -> None:
    runs = brownian(64, 400, drift=0.05, diffusion=0.08, seed=1)
    v, v_err = drift_velocity(runs)
    d, d_err = axis_diffusion(runs, window_ps=10.0)
    assert abs(v - 0.05) < 3 * v_err and v_err < 0.01
    assert abs(d - 0.08) < 3 * d_err + 0.004 and d_err < 0.01


def test_mobility_is_the_weighted_slope_through_the_origin() -> None:
    slope, err = mobility(np.array([0.25, 0.5]), np.array([0.015, 0.030]), np.array([1e-3, 1e-3]))
    assert slope == pytest.approx(0.06) and err > 0


def test_zero_force_is_the_equilibrium_simulation() -> None:
    settings = ToySimulation(n_replicas=4, n_frames=20, seed=3)
    plain = simulate_toy(settings, progress=False)
    driven = simulate_driven(0.0, 4, 10.0, settings, seed=3, progress=False)
    for a, b in zip(plain, driven.trajectories, strict=True):
        np.testing.assert_array_equal(a.coords, b.coords)


def test_a_force_makes_the_li_drift_along_it() -> None:
    run = simulate_driven(2.0, 32, 40.0, seed=4, progress=False)
    v, err = drift_velocity(run.trajectories)
    assert v > 5 * err > 0
    sideways, side_err = drift_velocity(run.trajectories, axis=1)
    assert abs(sideways) < 4 * side_err
    # the thermostat keeps the Li at the bath temperature (2,560 samples: ±2 %)
    assert abs(run.li_temperature_k.mean() - 600.0) < 0.06 * 600.0
    with pytest.raises(ValueError, match="finite"):
        simulate_driven(float("nan"), 2, 5.0, progress=False)


def test_many_forces_in_one_run_each_act_on_their_replicas() -> None:
    from gdynbook.systems.toy import langevin_replicas
    from gdynbook.systems.toy_driven import simulate_driven_many

    still, pushed = simulate_driven_many((0.0, 2.0), 24, 40.0, seed=6, progress=False)
    assert (still.force_kt_per_a, pushed.force_kt_per_a) == (0.0, 2.0)
    v0, e0 = drift_velocity(still.trajectories)
    v2, e2 = drift_velocity(pushed.trajectories)
    assert abs(v0) < 4 * e0 and v2 > 5 * e2
    with pytest.raises(ValueError, match="one finite force per replica"):
        langevin_replicas(
            ToySimulation(n_replicas=3, n_frames=2), False, li_forces_kt_per_a=np.zeros(2)
        )
