"""The toy Li/fcc-S system: potential shape, dynamics, ground-truth labels."""

from __future__ import annotations

import numpy as np
import pytest

from gdynbook.systems.fcc_sites import FCC_SITES, OCT_SITES, TET_SITES
from gdynbook.systems.toy import (
    BOLTZMANN_KJ_MOL_K,
    ToyPotential,
    ToySimulation,
    core_set_labels,
    energy_and_forces,
    li_energy,
    polyhedron_labels,
    simulate_toy,
)

A = 5.7
POT = ToyPotential()
KT = BOLTZMANN_KJ_MOL_K * 600


def li_hessian(point: np.ndarray, step: float = 1e-3) -> np.ndarray:
    hessian = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            values = []
            for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                x = point.copy()
                x[i] += si * step
                x[j] += sj * step
                values.append(li_energy(x, POT))
            hessian[i, j] = (values[0] - values[1] - values[2] + values[3]) / (4 * step**2)
    return hessian


@pytest.mark.parametrize("centre", [TET_SITES[0], TET_SITES[5], OCT_SITES[0], OCT_SITES[3]])
def test_holes_are_minima(centre) -> None:
    point = centre * A
    _, forces = energy_and_forces(
        np.concatenate([point[None, None], FCC_SITES[None] * A], axis=1), POT
    )
    assert np.abs(forces[0, 0]).max() < 1e-8  # symmetric: no force on the Li
    assert np.linalg.eigvalsh(li_hessian(point)).min() > 1.0  # kJ/mol/Å², positive


def test_barrier_between_tet_and_oct() -> None:
    tet, octa = TET_SITES[0] * A, OCT_SITES[0] * A
    path = tet + np.linspace(0, 1, 201)[:, None] * (octa - tet)
    energy = li_energy(path, POT) / KT
    top = int(np.argmax(energy))
    assert 0 < top < 200
    assert energy[top] - energy[0] > 3.0 and energy[top] - energy[-1] > 1.5
    assert energy[-1] > energy[0]  # the tetrahedral hole is lower


def test_forces_are_minus_the_gradient() -> None:
    rng = np.random.default_rng(0)
    positions = np.concatenate(
        [rng.random((3, 1, 3)) * A, FCC_SITES[None] * A + 0.1 * rng.normal(size=(3, 4, 3))], axis=1
    )
    _, forces = energy_and_forces(positions, POT)
    step = 1e-5
    for atom in range(5):
        for axis in range(3):
            plus, minus = positions.copy(), positions.copy()
            plus[:, atom, axis] += step
            minus[:, atom, axis] -= step
            numeric = -(energy_and_forces(plus, POT)[0] - energy_and_forces(minus, POT)[0]) / (
                2 * step
            )
            np.testing.assert_allclose(forces[:, atom, axis], numeric, rtol=1e-5, atol=1e-5)
    # Newton's third law: the pair forces cancel; only the tethers act on the total
    tether = POT.tether_k * (positions[:, 1:] - FCC_SITES * A)
    np.testing.assert_allclose(forces.sum(axis=1), -tether.sum(axis=1), atol=1e-8)


def test_polyhedron_labels_of_known_points() -> None:
    points = np.concatenate([TET_SITES, OCT_SITES]) * A
    np.testing.assert_array_equal(polyhedron_labels(points), [0] * 8 + [1] * 4)
    # the shared face: just on either side
    tet, octa = TET_SITES[0] * A, OCT_SITES[0] * A
    face = (FCC_SITES[1] + FCC_SITES[2] + FCC_SITES[3]) / 3 * A
    direction = (octa - tet) / np.linalg.norm(octa - tet)
    assert polyhedron_labels(face - 0.01 * direction)[0] == 0
    assert polyhedron_labels(face + 0.01 * direction)[0] == 1
    # volume fractions: tetrahedra fill 1/3 of fcc space
    grid = np.stack(np.meshgrid(*[np.arange(20) + 0.5] * 3, indexing="ij"), -1) / 20 * A
    assert polyhedron_labels(grid.reshape(-1, 3)).mean() == pytest.approx(2 / 3, abs=0.01)


def test_core_set_labels_ignore_recrossing() -> None:
    tet, octa = TET_SITES[0] * A, OCT_SITES[0] * A
    face = (FCC_SITES[1] + FCC_SITES[2] + FCC_SITES[3]) / 3 * A
    path = np.array([tet, face, tet, face + 0.3 * (octa - face), octa, face, tet])
    site, hole = core_set_labels(path)
    np.testing.assert_array_equal(site, [0, 0, 0, 0, 1, 1, 0])
    assert hole[0] == 0 and hole[4] == 8


def test_simulation_reproducible_independent_and_stable() -> None:
    settings = ToySimulation(n_replicas=4, n_frames=20, equilibration_ps=1.0, seed=3)
    first = simulate_toy(settings, progress=False)
    second = simulate_toy(settings, progress=False)
    assert len(first) == 4
    for a_run, b_run in zip(first, second, strict=True):
        np.testing.assert_array_equal(a_run.coords, b_run.coords)
    assert not np.allclose(first[0].coords, first[1].coords)  # replicas differ
    assert first[0].time_step_ps == 0.5 and first[0].wrapped is False
    sulfur = np.concatenate([run.coords[:, 1:] for run in first])
    displacement = sulfur - FCC_SITES * A
    displacement -= A * np.round(displacement / A)
    # tethered S vibrate around their sites: rms about sqrt(kT/k) per direction
    rms = np.sqrt((displacement**2).mean())
    assert rms == pytest.approx(np.sqrt(KT / POT.tether_k), rel=0.4)


def test_eight_images_equal_all_images() -> None:
    """The 8-corner image set gives the same energy as summing over 125 images."""
    rng = np.random.default_rng(1)
    positions = np.concatenate(
        [rng.random((50, 1, 3)) * A, FCC_SITES[None] * A + 0.2 * rng.normal(size=(50, 4, 3))],
        axis=1,
    )
    # and the symmetric points, where Li–S vectors have exact zero components
    special = np.concatenate([TET_SITES, OCT_SITES]) * A
    positions = np.concatenate(
        [
            positions,
            np.concatenate([special[:, None], np.broadcast_to(FCC_SITES * A, (12, 4, 3))], axis=1),
        ]
    )
    energy, _ = energy_and_forces(positions, POT)
    shifts = (
        np.array([[i, j, k] for i in range(-2, 3) for j in range(-2, 3) for k in range(-2, 3)]) * A
    )
    delta = positions[:, :1, None, :] - positions[:, 1:, None, :] + shifts[None, None]
    pair, _ = POT.pair(np.linalg.norm(delta, axis=-1))
    tether = positions[:, 1:] - FCC_SITES * A
    tether -= A * np.round(tether / A)
    expected = pair.sum(axis=(1, 2)) + 0.5 * POT.tether_k * (tether**2).sum(axis=(1, 2))
    np.testing.assert_allclose(energy, expected, rtol=1e-10, atol=1e-9)


def test_default_regime_two_state_kinetics() -> None:
    """The default regime: tet-favoured (~85/15) with a 5–10 ps slow relaxation."""
    from gdynbook.koopman import implied_timescales
    from gdynbook.markov import one_hot

    runs = simulate_toy(ToySimulation(n_replicas=64, n_frames=300, seed=11), progress=False)
    labels = [core_set_labels(run.coords[:, 0])[0] for run in runs]
    labels = [lab[np.argmax(lab >= 0) :] for lab in labels]
    oct_fraction = np.mean(np.concatenate(labels) == 1)
    assert 0.10 < oct_fraction < 0.22
    its = implied_timescales(
        [one_hot(lab, 2) for lab in labels], [2, 8], time_step_ps=0.5, n_bootstrap=0
    )
    assert np.all((its.timescales_ps[:, 0] > 4.0) & (its.timescales_ps[:, 0] < 10.0))


def test_twelve_hole_spectrum_is_complete_bipartite() -> None:
    from gdynbook.systems.toy import exact_hole_spectrum, hole_rate_matrix

    k_to, k_ot = 0.03, 0.17
    rates = np.sort(-np.linalg.eigvals(hole_rate_matrix(k_to, k_ot)).real)
    spectrum = exact_hole_spectrum(k_to, k_ot)
    expected = np.sort(
        [0.0, spectrum["occupancy"]]
        + [spectrum["tet_identity"]] * 7
        + [spectrum["oct_identity"]] * 3
    )
    np.testing.assert_allclose(rates, expected, atol=1e-12)


def test_two_state_rates_from_a_transition_matrix() -> None:
    from scipy.linalg import expm

    from gdynbook.systems.toy import two_state_rates

    k_to, k_ot = 0.03, 0.17
    generator = np.array([[-k_to, k_to], [k_ot, -k_ot]])
    assert two_state_rates(expm(generator * 2.0), 2.0) == pytest.approx((k_to, k_ot))
