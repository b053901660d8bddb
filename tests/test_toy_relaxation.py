"""Prepared starts for the toy system: cores as asked, the start honoured, relaxation seen."""

from __future__ import annotations

import numpy as np
import pytest

from gdynbook.systems.toy import ToySimulation, nearest_hole, simulate_toy
from gdynbook.systems.toy_relaxation import core_frames, simulate_relaxation, start_site_fraction


@pytest.fixture(scope="module")
def equilibrium():
    return simulate_toy(ToySimulation(n_replicas=16, n_frames=100, seed=2), progress=False)


@pytest.mark.parametrize(("start", "is_oct", "core"), [("tet", False, 0.4), ("oct", True, 0.8)])
def test_core_frames_put_the_li_in_the_asked_core(equilibrium, start, is_oct, core) -> None:
    frames = core_frames(equilibrium, start, 50, seed=1)
    assert frames.shape == (50, 5, 3)
    hole, distance = nearest_hole(frames[:, 0], 5.7)
    assert ((hole >= 8) == is_oct).all() and (distance <= core).all()


def test_the_start_is_honoured_and_velocities_are_new(equilibrium) -> None:
    starts = core_frames(equilibrium, "oct", 8, seed=0)
    one_step = ToySimulation(
        n_replicas=8,
        n_frames=3,
        equilibration_ps=0.0,
        time_step_fs=5.0,
        frame_interval_ps=0.005,
        seed=4,
    )
    runs = simulate_toy(one_step, progress=False, start_positions=starts)
    moved = np.array(
        [np.linalg.norm(r.coords[0] - s, axis=-1).max() for r, s in zip(runs, starts, strict=True)]
    )
    assert (moved < 0.2).all() and (moved > 0).all()  # one 5 fs step from the start
    with pytest.raises(ValueError, match="start_positions"):
        simulate_toy(one_step, progress=False, start_positions=starts[:3])


def test_octahedral_starts_relax_towards_equilibrium(equilibrium) -> None:
    both = simulate_relaxation(
        equilibrium, ("oct", "tet"), n_replicas=64, duration_ps=20.0, seed=5, progress=False
    )
    runs = both["oct"]
    assert len(runs) == len(both["tet"]) == 64 and runs[0].n_frames == 40
    tet = start_site_fraction(both["tet"], "tet")
    assert tet[0] > 0.9 and tet[-10:].mean() > 0.65  # from the majority state: little to relax
    fraction = start_site_fraction(runs, "oct")
    # all start octahedral; after several relaxation times (~6 ps) about π_oct ≈ 0.15 are
    assert fraction[0] > 0.85  # the first frame is 0.5 ps after the start
    assert fraction[-10:].mean() < 0.35
