"""Mean-squared displacement against the exact result for free Brownian motion."""

from __future__ import annotations

import numpy as np
import pytest

from gdynbook.systems.brownian import simulate_brownian
from gdynbook.trajectory import TrajectoryError
from gdynbook.transport import diffusion_coefficient, mean_squared_displacement
from tests.conftest import triclinic_lattice


def test_msd_matches_six_d_t() -> None:
    diffusion = 0.25  # Å²/ps
    traj = simulate_brownian(
        triclinic_lattice(),
        np.full(64, 3),
        n_frames=2_000,
        time_step_ps=0.05,
        diffusion_a2_per_ps=diffusion,
        seed=11,
        wrapped=False,
    )
    lags = np.array([1, 5, 20, 50])
    msd = mean_squared_displacement(traj, lags)
    exact = 6 * diffusion * lags * traj.time_step_ps
    # 64 atoms x ~2000 origins: the relative standard error is a few per cent at most.
    np.testing.assert_allclose(msd, exact, rtol=0.08)
    fitted = diffusion_coefficient(lags * traj.time_step_ps, msd)
    assert fitted == pytest.approx(diffusion, rel=0.08)


def test_msd_from_wrapped_coordinates_is_refused_and_unwrap_fixes_it() -> None:
    traj = simulate_brownian(
        triclinic_lattice(),
        np.full(16, 3),
        n_frames=3_000,
        time_step_ps=0.1,
        diffusion_a2_per_ps=1.0,
        seed=2,
        wrapped=True,
    )
    with pytest.raises(TrajectoryError, match="unwrap"):
        mean_squared_displacement(traj, [10])
    lags = np.array([100, 1000])
    msd = mean_squared_displacement(traj.unwrap(), lags)
    np.testing.assert_allclose(msd, 6 * 1.0 * lags * 0.1, rtol=0.2)


@pytest.mark.parametrize("lags", [[0], [3_000], []])
def test_msd_lag_out_of_range(lags: list[int]) -> None:
    traj = simulate_brownian(
        triclinic_lattice(),
        np.full(2, 3),
        n_frames=30,
        time_step_ps=0.1,
        diffusion_a2_per_ps=1.0,
        seed=2,
        wrapped=False,
    )
    with pytest.raises(TrajectoryError, match="lags must lie in 1 ... 29"):
        mean_squared_displacement(traj, lags)


def test_brownian_seed_reproduces() -> None:
    kwargs = dict(
        lattice=triclinic_lattice(),
        atom_types=np.full(3, 3),
        n_frames=10,
        time_step_ps=0.1,
        diffusion_a2_per_ps=1.0,
    )
    a = simulate_brownian(**kwargs, seed=5)
    b = simulate_brownian(**kwargs, seed=5)
    c = simulate_brownian(**kwargs, seed=6)
    np.testing.assert_array_equal(a.coords, b.coords)
    assert not np.allclose(a.coords, c.coords)
