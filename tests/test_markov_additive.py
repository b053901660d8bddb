"""The displacement-tilted Koopman matrix and counted entropy production, checked on a
biased walk on a two-sublattice chain whose drift, diffusion and entropy production
follow in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from gdynbook.markov import one_hot
from gdynbook.markov_additive import (
    counted_entropy_production,
    scaled_cgf,
    tilted_transport,
    two_state_entropy_production,
)

SPACING = 1.4  # Å between neighbouring sites (A and B alternate)
STEP_PS = 0.5
#: per step: from A, right / left; from B, right / left (every hop changes sublattice)
HOPS = {0: (0.10, 0.04), 1: (0.15, 0.06)}


def exact_transfer(lam: float) -> np.ndarray:
    (a_right, a_left), (b_right, b_left) = HOPS[0], HOPS[1]
    return np.array(
        [
            [
                1 - a_right - a_left,
                a_right * np.exp(lam * SPACING) + a_left * np.exp(-lam * SPACING),
            ],
            [
                b_right * np.exp(lam * SPACING) + b_left * np.exp(-lam * SPACING),
                1 - b_right - b_left,
            ],
        ]
    )


def exact_cgf(lam: float) -> float:
    """Λ(λ) from the closed-form largest eigenvalue of the 2 × 2 tilted matrix."""
    m = exact_transfer(lam)
    trace, det = m[0, 0] + m[1, 1], m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
    return float(np.log((trace + np.sqrt(trace**2 - 4 * det)) / 2) / STEP_PS)


def exact_answers() -> tuple[float, float, float]:
    h = 1e-4
    values = [exact_cgf(k * h) for k in (-1, 0, 1)]
    v = (values[2] - values[0]) / (2 * h)
    d = (values[2] - 2 * values[1] + values[0]) / h**2 / 2
    m = exact_transfer(0.0)
    pi = np.array([m[1, 0], m[0, 1]]) / (m[1, 0] + m[0, 1])
    sigma = 0.0
    for forward, backward in (
        (pi[0] * HOPS[0][0], pi[1] * HOPS[1][1]),  # A→B right vs B→A left
        (pi[0] * HOPS[0][1], pi[1] * HOPS[1][0]),  # A→B left vs B→A right
    ):
        sigma += (forward - backward) * np.log(forward / backward) / STEP_PS
    return v, d, sigma


def walk(n_runs: int, n_steps: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    site = np.zeros((n_runs, n_steps), dtype=np.int64)
    site[:, 0] = rng.integers(0, 2, n_runs)
    for t in range(1, n_steps):
        now = site[:, t - 1]
        right = np.array([HOPS[s % 2][0] for s in (0, 1)])[now % 2]
        left = np.array([HOPS[s % 2][1] for s in (0, 1)])[now % 2]
        u = rng.random(n_runs)
        site[:, t] = now + np.where(u < right, 1, np.where(u < right + left, -1, 0))
    memberships = [one_hot(s % 2, 2) for s in site]
    positions = [s * SPACING for s in site.astype(float)]
    return memberships, positions


@pytest.fixture(scope="module")
def data():
    return walk(256, 2000, seed=0)


def test_tilted_drift_and_diffusion_match_the_closed_form(data) -> None:
    v_exact, d_exact, _ = exact_answers()
    memberships, positions = data
    v, d = tilted_transport(memberships, positions, lag_frames=1, time_step_ps=STEP_PS)
    direct = np.mean([(x[-1] - x[0]) / ((len(x) - 1) * STEP_PS) for x in positions])
    assert v == pytest.approx(v_exact, rel=0.03)
    assert v == pytest.approx(direct, rel=1e-3)  # Λ′(0) is the mean displacement rate
    assert d == pytest.approx(d_exact, rel=0.05)
    # Λ(0) = 0: the tilted matrix at λ = 0 is a Koopman matrix (largest eigenvalue one)
    from gdynbook.markov_additive import lagged_displacements

    chi_0, chi_t, moved = lagged_displacements(memberships, positions, 1)
    assert abs(scaled_cgf(chi_0, chi_t, moved, 0.0, STEP_PS)) < 1e-12


def test_counted_entropy_production_matches_the_closed_form(data) -> None:
    _, _, sigma_exact = exact_answers()
    memberships, positions = data
    sigma = counted_entropy_production(memberships, positions, 1, STEP_PS, bin_width_a=SPACING)
    assert sigma == pytest.approx(sigma_exact, rel=0.05)
    assert sigma_exact > 0.01  # the walk is driven


def test_two_states_carry_no_entropy_production(data) -> None:
    from gdynbook.koopman import estimate_koopman

    memberships, _ = data
    model = estimate_koopman(memberships, 1, time_step_ps=STEP_PS)
    assert abs(two_state_entropy_production(model.koopman_matrix, STEP_PS)) < 1e-12
    # but three states on a ring with a current do
    ring = np.array([[0.8, 0.15, 0.05], [0.05, 0.8, 0.15], [0.15, 0.05, 0.8]])
    assert two_state_entropy_production(ring, 1.0) > 0.1


def test_mismatched_inputs_are_refused(data) -> None:
    memberships, positions = data
    with pytest.raises(ValueError, match="one position series"):
        tilted_transport(memberships, positions[:-1], 1, STEP_PS)
    with pytest.raises(ValueError, match="longer than the lag"):
        tilted_transport([m[:3] for m in memberships], [x[:3] for x in positions], 5, STEP_PS)


def test_the_fluctuation_symmetry_gives_the_entropy_production(data) -> None:
    """On the walk (one cycle of affinity ln(0.10·0.15 / (0.04·0.06)) per two sites) the
    second zero of Λ is minus the affinity per Å, and −λ*·v is the closed-form σ."""
    from scipy.optimize import brentq

    from gdynbook.markov_additive import tilted_entropy_production

    v_exact, _, sigma_exact = exact_answers()
    affinity = np.log(HOPS[0][0] * HOPS[1][0] / (HOPS[0][1] * HOPS[1][1])) / (2 * SPACING)
    exact_root = brentq(exact_cgf, -3 * affinity, -0.3 * affinity)
    assert exact_root == pytest.approx(-affinity, rel=1e-6)  # the symmetry, exactly
    assert affinity * v_exact == pytest.approx(sigma_exact, rel=1e-6)
    memberships, positions = data
    sigma, root = tilted_entropy_production(memberships, positions, 1, STEP_PS)
    assert root == pytest.approx(-affinity, rel=0.05)
    assert sigma == pytest.approx(sigma_exact, rel=0.06)
    # no drift, no second root
    still = [np.zeros(200) for _ in range(4)]
    flat = [one_hot(np.arange(200) % 2, 2) for _ in range(4)]
    assert np.isnan(tilted_entropy_production(flat, still, 1, STEP_PS)[0])


def test_move_counts_count_each_lagged_displacement() -> None:
    from gdynbook.markov_additive import move_counts

    runs = [np.array([0.0, 1.4, 2.8, 1.4, 1.5]), np.array([0.0, -1.3]), np.array([5.0])]
    steps, counts = move_counts(runs, 1, SPACING)
    # moves of the first run: +1, +1, −1, 0 (0.1 Å is a vibration); the second: −1;
    # the third is shorter than the lag
    assert steps.tolist() == [-1, 0, 1]
    assert counts.tolist() == [2, 1, 2]
    steps, counts = move_counts(runs, 2, SPACING)
    assert steps.tolist() == [-2, -1, 0, 1, 2]
    # 2.8 − 0 → +2; 1.4 − 1.4 → 0; 1.5 − 2.8 = −1.3 Å → −1
    assert counts.tolist() == [0, 1, 1, 0, 1]
