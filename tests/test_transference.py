"""Transference numbers, charge integrals, coordination and clusters on cases with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gdynbook.trajectory import Trajectory, TrajectoryError
from gdynbook.transference import (
    FormalCharges,
    _minimum_image_vectors,
    cation_current_by_group,
    charge_integral,
    coordination,
    displacement_correlations,
    formal_charges,
    ion_centre_positions,
    ion_clusters,
    onsager_coefficients,
    state_average,
    transference_number,
)

#: the screen build of the chosen setting (38 LiTFSI)
RUN = Path(__file__).resolve().parents[1] / "data" / "peo_litfsi" / "screen" / "q0.7-eo8"


def brownian(rng: np.random.Generator, n_frames: int, n: int, d_a2_ps: float, dt_ps: float):
    """Unwrapped random walks with diffusion coefficient D (Å²/ps): (n_frames, n, 3)."""
    steps = rng.normal(scale=np.sqrt(2 * d_a2_ps * dt_ps), size=(n_frames, n, 3))
    steps[0] = rng.uniform(0, 20, size=(n, 3))
    return np.cumsum(steps, axis=0)


def test_independent_walkers_give_full_equal_to_ideal() -> None:
    rng = np.random.default_rng(1)
    d_plus, d_minus, n_pairs = 0.2, 0.1, 10
    cations = [brownian(rng, 1000, n_pairs, d_plus, 1.0) for _ in range(40)]
    anions = [brownian(rng, 1000, n_pairs, d_minus, 1.0) for _ in range(40)]
    coefficients = onsager_coefficients(cations, anions, 1.0, fit_window_ps=(5, 50))
    # independent ions: L₊₊ = N D₊, L₋₋ = N D₋ (as L V k_B T), L₊₋ = 0
    assert coefficients.d_plus == pytest.approx(d_plus, rel=0.03)
    assert coefficients.d_minus == pytest.approx(d_minus, rel=0.03)
    assert abs(coefficients.l_pp - n_pairs * d_plus) < 4 * coefficients.l_pp_err
    assert abs(coefficients.l_mm - n_pairs * d_minus) < 4 * coefficients.l_mm_err
    assert abs(coefficients.l_pm) < 4 * coefficients.l_pm_err
    result = transference_number(cations, anions, 1.0, lag_ps=50, n_blocks=1)
    expected = d_plus / (d_plus + d_minus)
    assert result.ideal == pytest.approx(expected, abs=0.02)
    assert 0 < result.full_err < 0.1
    assert abs(result.full - expected) < 4 * result.full_err


def test_rigid_negative_clusters_make_full_t_plus_negative() -> None:
    """Free Li⁺ (slow), rigid Li(TFSI)₂⁻ clusters (fast) and free TFSI⁻, electroneutral.

    With n_f free Li (D_f), n_c clusters (D_c) and n_a free anions (D_a), n_f = n_c + n_a:
    L₊₊ = n_f D_f + n_c D_c, L₋₋ = n_a D_a + 4 n_c D_c, L₊₋ = 2 n_c D_c, so
    t₊ = (n_f D_f − n_c D_c) / (n_f D_f + n_c D_c + n_a D_a), while the ideal value uses
    D₊ = (n_f D_f + n_c D_c)/(n_f + n_c) and D₋ = (n_a D_a + 2 n_c D_c)/(n_a + 2 n_c).
    """
    n_f, n_c, n_a = 10, 8, 2
    d_f, d_c, d_a = 0.01, 0.1, 0.05
    rng = np.random.default_rng(2)
    cations, anions = [], []
    for _ in range(30):
        free_li = brownian(rng, 2000, n_f, d_f, 1.0)
        clusters = brownian(rng, 2000, n_c, d_c, 1.0)
        free_anion = brownian(rng, 2000, n_a, d_a, 1.0)
        offset = np.array([2.0, 0.0, 0.0])  # the two anions sit on either side of the Li
        cations.append(np.concatenate([free_li, clusters], axis=1))
        anions.append(np.concatenate([free_anion, clusters + offset, clusters - offset], axis=1))
    result = transference_number(cations, anions, 1.0, lag_ps=40, n_blocks=1)
    full = (n_f * d_f - n_c * d_c) / (n_f * d_f + n_c * d_c + n_a * d_a)
    d_plus = (n_f * d_f + n_c * d_c) / (n_f + n_c)
    d_minus = (n_a * d_a + 2 * n_c * d_c) / (n_a + 2 * n_c)
    assert full == pytest.approx(-0.7)
    assert result.ideal == pytest.approx(d_plus / (d_plus + d_minus), abs=0.03)
    assert result.ideal > 0.3
    assert result.full < 0
    assert abs(result.full - full) < 4 * result.full_err
    assert result.full_err < 0.15


def test_solvent_frame_is_the_linear_transform_of_the_barycentric_one() -> None:
    """Momentum balance fixes the solvent's drift: M_s ΔR_s = −(m₊ΔR₊ + m₋ΔR₋).

    In the solvent frame ΔR'₊ = aΔR₊ + bΔR₋ and ΔR'₋ = cΔR₊ + dΔR₋ with a = 1 + N m₊/M_s,
    b = N m₋/M_s, c = N m₊/M_s, d = 1 + N m₋/M_s; the coefficients transform bilinearly.
    """
    rng = np.random.default_rng(3)
    n, m_plus, m_minus, m_solvent = 6, 6.94, 280.1, 8000.0
    cations = [brownian(rng, 600, n, 0.05, 2.0) for _ in range(4)]
    anions = [brownian(rng, 600, n, 0.02, 2.0) for _ in range(4)]
    solvent = [
        -(m_plus * c.sum(1) + m_minus * a.sum(1)) / m_solvent
        for c, a in zip(cations, anions, strict=True)
    ]
    window = (10.0, 100.0)
    bary = onsager_coefficients(cations, anions, 2.0, fit_window_ps=window)
    moved = onsager_coefficients(
        cations, anions, 2.0, frame="solvent", solvent_positions=solvent, fit_window_ps=window
    )
    a, b = 1 + n * m_plus / m_solvent, n * m_minus / m_solvent
    c, d = n * m_plus / m_solvent, 1 + n * m_minus / m_solvent
    lpp, lmm, lpm = bary.l_pp, bary.l_mm, bary.l_pm
    assert moved.l_pp == pytest.approx(a * a * lpp + b * b * lmm + 2 * a * b * lpm, rel=1e-9)
    assert moved.l_mm == pytest.approx(c * c * lpp + d * d * lmm + 2 * c * d * lpm, rel=1e-9)
    assert moved.l_pm == pytest.approx(a * c * lpp + b * d * lmm + (a * d + b * c) * lpm, rel=1e-9)
    # the heavy anion drags the solvent: the frames differ clearly here
    assert abs(moved.l_pm - bary.l_pm) > 0.1 * abs(bary.l_pp)


def test_onsager_rejects_bad_input() -> None:
    rng = np.random.default_rng(0)
    cations = brownian(rng, 100, 4, 0.1, 1.0)
    with pytest.raises(ValueError, match="only\\s+spans"):
        onsager_coefficients(cations, cations, 1.0, fit_window_ps=(10, 500))
    with pytest.raises(ValueError, match="1:1 salt"):
        onsager_coefficients(cations, cations[:, :3], 1.0)
    with pytest.raises(ValueError, match="solvent_positions"):
        onsager_coefficients(cations, cations, 1.0, frame="solvent")
    with pytest.raises(ValueError, match="n_frames, n_ions, 3"):
        onsager_coefficients(cations[0], cations[0], 1.0)
    broken = cations.copy()
    broken[5, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        onsager_coefficients(broken, cations, 1.0)


def _hand_system(coords: np.ndarray, box_a: float, molecules, charges, masses=None):
    n_atoms = coords.shape[-2]
    traj = Trajectory(
        coords=coords if coords.ndim == 3 else coords[None],
        lattices=np.eye(3) * box_a,
        atom_types=np.full(n_atoms, 8),
        target_index=[0],
        time_step_ps=1.0,
    )
    masses = np.ones(n_atoms) if masses is None else np.asarray(masses, float)
    ions = FormalCharges(
        [np.asarray(m) for m in molecules], np.asarray(charges), masses, ["ion"] * len(charges)
    )
    return traj, ions


def test_charge_integral_of_a_hand_placed_configuration() -> None:
    box = 30.0
    li = [1.0, 1.0, 1.0]
    coords = np.array(
        [
            li,
            [4.0 - 0.5, 1.0, 1.0],  # anion A: centre 3 Å from the Li (two atoms)
            [4.0 + 0.5, 1.0, 1.0],
            [1.0, 1.0, 1.0 - 6.0 + box - 0.5],  # anion B: centre 6 Å away, across the face
            [1.0, 1.0, 1.0 - 6.0 + box + 0.5],
            [1.0, 9.0, 1.0],  # a second Li 8 Å away
            [1.0, 1.0, 5.0],  # a neutral atom (not an ion)
        ]
    )
    traj, ions = _hand_system(coords, box, [[0], [1, 2], [3, 4], [5]], [1, -1, -1, 1])
    radii = [2.5, 4.0, 7.0, 8.2, 9.0]
    result = charge_integral(traj, ions, ions.cation, radii)
    assert result.shape == (1, 2, 5)
    # the first Li: itself, A at 3 Å, B at 6 Å (through the face), the other Li at 8 Å
    np.testing.assert_array_equal(result[0, 0], [1, 0, -1, 0, 0])
    # the second Li: itself, the first Li at 8 Å, A at √(9+64) = 8.5 Å, B at √(36+64) = 10 Å
    np.testing.assert_array_equal(result[0, 1], [1, 1, 1, 2, 1])
    with pytest.raises(TrajectoryError, match="half the cell"):
        charge_integral(traj, ions, ions.cation, [16.0])


def test_minimum_image_matches_brute_force_in_a_triclinic_cell() -> None:
    rng = np.random.default_rng(5)
    lattice = np.array([[20.0, 0, 0], [9.0, 18.0, 0], [-6.0, 5.0, 19.0]])
    origins = rng.uniform(-30, 30, size=(1, 7, 3))
    points = rng.uniform(-30, 30, size=(1, 9, 3))
    vectors = _minimum_image_vectors(origins, points, lattice[None], 6.0)
    images = np.stack(np.meshgrid(*[np.arange(-4, 5)] * 3, indexing="ij"), -1).reshape(-1, 3)
    shifts = images @ lattice
    for a in range(7):
        for b in range(9):
            candidates = points[0, b] - origins[0, a] + shifts
            best = np.min(np.linalg.norm(candidates, axis=-1))
            assert np.linalg.norm(vectors[0, a, b]) == pytest.approx(best, abs=1e-9)


def test_coordination_counts_atoms_and_molecules() -> None:
    box = 25.0
    coords = np.array(
        [
            [10.0, 10.0, 10.0],  # Li
            [12.0, 10.0, 10.0],  # chain 0
            [10.0, 12.0, 10.0],  # chain 0
            [10.0, 10.0, 12.5],  # chain 0
            [8.0, 10.0, 10.0],  # chain 1
            [10.0, 7.5, 10.0],  # chain 1
            [10.0, 10.0, 7.0],  # chain 2, 3 Å: outside
        ]
    )
    traj, _ = _hand_system(coords, box, [[0]], [1])
    result = coordination(traj, [0], np.arange(1, 7), np.array([0, 0, 0, 1, 1, 2]), 2.8)
    assert result.atoms.tolist() == [[5]] and result.molecules.tolist() == [[2]]
    with pytest.raises(ValueError, match="one molecule number"):
        coordination(traj, [0], np.arange(1, 7), np.array([0, 1]))


def test_ion_clusters_of_a_hand_placed_configuration() -> None:
    box = 40.0
    coords = np.array(
        [
            [5.0, 5.0, 5.0],  # Li 0, with anions A and B
            [7.0, 5.0, 5.0],  # A (two atoms, first touches Li 0)
            [9.0, 5.0, 5.0],
            [3.0, 5.0, 5.0],  # B
            [1.0, 5.0, 5.0],
            [20.0, 20.0, 20.0],  # Li 1, paired with C
            [22.2, 20.0, 20.0],  # C
            [24.0, 20.0, 20.0],
            [30.0, 30.0, 30.0],  # Li 2, free
            [5.0, 30.0, 5.0],  # D, free
            [5.0, 32.0, 5.0],
        ]
    )
    molecules = [[0], [1, 2], [3, 4], [5], [6, 7], [8], [9, 10]]
    charges = [1, -1, -1, 1, -1, 1, -1]
    traj, ions = _hand_system(coords, box, molecules, charges)
    clusters = ion_clusters(traj, ions, cutoff_a=2.8)
    assert clusters.net_charge[0].tolist() == [-1, -1, -1, 0, 0, 1, -1]
    assert clusters.size[0].tolist() == [3, 3, 3, 2, 2, 1, 1]
    assert clusters.label[0, 0] == clusters.label[0, 1] == clusters.label[0, 2]
    assert clusters.composition_counts(ions.cation) == pytest.approx(
        {(1, 2): 1 / 3, (1, 1): 1 / 3, (1, 0): 1 / 3}
    )


def test_state_average_weights_by_membership() -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(size=(50, 4))
    crisp = rng.integers(0, 3, size=(50, 4))
    probabilities = np.eye(3)[crisp]
    averages = state_average(values, probabilities)
    for state in range(3):
        assert averages[state] == pytest.approx(values[crisp == state].mean())
    soft = rng.dirichlet(np.ones(3), size=(50, 4))
    brute = [np.sum(soft[..., s] * values) / np.sum(soft[..., s]) for s in range(3)]
    np.testing.assert_allclose(state_average(values, soft), brute)
    with pytest.raises(ValueError, match="same frames"):
        state_average(values[:10], soft)


def test_ion_crossing_the_box_unwraps_without_jumps() -> None:
    box = 12.0
    frames = 40
    start = np.array([[10.0, 6.0, 6.0], [11.0, 6.0, 6.0], [10.5, 7.0, 6.0]])  # a 3-atom anion
    li = np.array([[2.0, 2.0, 2.0]])
    solvent = np.array([[6.0, 2.0, 9.0]])
    velocity = np.array([0.4, 0.1, 0.0])  # Å per frame: crosses x = 12 after ~5 frames
    coords = np.stack([np.concatenate([li, start + f * velocity, solvent]) for f in range(frames)])
    coords = coords - box * np.floor(coords / box)  # wrapped, the anion split across the face
    traj = Trajectory(coords, np.eye(3) * box, [3, 8, 8, 8, 6], [0], 1.0)
    assert traj.wrapped
    ions = FormalCharges(
        [np.array([0]), np.array([1, 2, 3])],
        np.array([1, -1]),
        np.array([6.94, 16.0, 16.0, 16.0, 12.0]),
        ["Li", "X"],
    )
    cations, anions, solvents, systems = ion_centre_positions([traj], ions)
    steps = np.diff(anions[0][:, 0], axis=0)
    np.testing.assert_allclose(steps, np.tile(velocity, (frames - 1, 1)), atol=1e-9)
    np.testing.assert_allclose(np.diff(cations[0], axis=0), 0, atol=1e-9)
    assert anions[0][-1, 0, 0] > box  # it went on past the face


@pytest.mark.skipif(not (RUN / "topology.pdb").is_file(), reason="no shipped PEO/LiTFSI run")
def test_formal_charges_of_the_peo_litfsi_topology() -> None:
    import mdtraj

    topology = mdtraj.load_topology(str(RUN / "topology.pdb"))
    ions = formal_charges(topology)
    assert ions.cation.size == 38 and ions.anion.size == 38
    assert set(ions.names) == {"Li", "C2F6NO4S2"}
    assert all(len(ions.molecules[i]) == 15 for i in ions.anion)
    assert ions.charges.sum() == 0
    peo_only = topology.subset(topology.select("resname PEO"))
    with pytest.raises(TrajectoryError, match="no ion"):
        formal_charges(peo_only)


def test_displacement_correlations_match_explicit_loops() -> None:

    rng = np.random.default_rng(11)
    cation = rng.normal(size=(12, 3, 3)).cumsum(axis=0)
    anion = rng.normal(size=(12, 3, 3)).cumsum(axis=0)
    lags = [1, 4, 7]
    result = displacement_correlations(cation, anion, lags)
    for k, lag in enumerate(lags):
        pp = mm = pm = sp = sm = 0.0
        origins = 12 - lag
        for t in range(origins):
            dc = cation[t + lag] - cation[t]
            da = anion[t + lag] - anion[t]
            pp += dc.sum(0) @ dc.sum(0)
            mm += da.sum(0) @ da.sum(0)
            pm += dc.sum(0) @ da.sum(0)
            sp += np.sum(dc * dc) / 3
            sm += np.sum(da * da) / 3
        expected = np.array([pp, mm, pm, sp, sm]) / origins
        np.testing.assert_allclose(result[:, k], expected)
    with pytest.raises(ValueError, match="lags must lie"):
        displacement_correlations(cation, anion, [12])


def test_intervals_over_builds_hold_the_known_answer() -> None:
    """Six independent 'builds' of free walkers: the t intervals of L₊₊, L₋₋, L₊₋ hold
    N·D₊, N·D₋ and 0, the jackknife intervals of t₊ hold D₊/(D₊ + D₋), and the values
    are those of the pooled coefficients."""
    from gdynbook.transference import transference_from_coefficients, transference_over_units

    rng = np.random.default_rng(5)
    d_plus, d_minus, n_pairs = 0.2, 0.1, 10
    cations = [brownian(rng, 1500, n_pairs, d_plus, 1.0) for _ in range(6)]
    anions = [brownian(rng, 1500, n_pairs, d_minus, 1.0) for _ in range(6)]
    coefficients = onsager_coefficients(cations, anions, 1.0, fit_window_ps=(5, 50))
    assert coefficients.samples.shape == (6, 5)  # one row per build
    result = transference_over_units(coefficients.samples, confidence=0.99)
    for name, truth in (("l_pp", n_pairs * d_plus), ("l_mm", n_pairs * d_minus), ("l_pm", 0.0)):
        assert result[name].low <= truth <= result[name].high, name
        assert result[name].n_units == 6
    expected = d_plus / (d_plus + d_minus)
    pooled = transference_from_coefficients(coefficients)
    for name in ("ideal", "full"):
        assert result[name].method == "jackknife"
        assert result[name].low <= expected <= result[name].high, name
    assert result["ideal"].value == pytest.approx(pooled.ideal)
    assert result["full"].value == pytest.approx(pooled.full)
    with pytest.raises(ValueError, match="n_units, 5"):
        transference_over_units(coefficients.samples[:, :4])


def test_the_current_of_cations_in_rigid_clusters_is_negative_and_the_terms_add_up() -> None:
    """The rigid-cluster model above, split by group: free Li⁺ carry n_f D_f of
    L₊₊ − L₊₋, Li⁺ inside Li(TFSI)₂⁻ carry −n_c D_c (each drags two anions along)."""
    n_f, n_c, n_a = 10, 8, 2
    d_f, d_c, d_a = 0.01, 0.1, 0.05
    rng = np.random.default_rng(5)
    weights = np.zeros((2000, n_f + n_c, 2))
    weights[:, :n_f, 0] = 1.0
    weights[:, n_f:, 1] = 1.0
    terms, totals = [], []
    for _ in range(30):
        clusters = brownian(rng, 2000, n_c, d_c, 1.0)
        cation = np.concatenate([brownian(rng, 2000, n_f, d_f, 1.0), clusters], axis=1)
        offset = np.array([2.0, 0.0, 0.0])
        anion = np.concatenate(
            [brownian(rng, 2000, n_a, d_a, 1.0), clusters + offset, clusters - offset], axis=1
        )
        terms.append(cation_current_by_group(cation, anion, weights, 1.0, (4.0, 40.0)))
        one = onsager_coefficients(cation, anion, 1.0, fit_window_ps=(4.0, 40.0))
        totals.append(one.l_pp - one.l_pm)
    terms = np.array(terms)
    # the groups add up to L₊₊ − L₊₋ of the same trajectory, exactly
    np.testing.assert_allclose(terms.sum(axis=1), totals, rtol=1e-9)
    mean, sem = terms.mean(axis=0), terms.std(axis=0, ddof=1) / np.sqrt(len(terms))
    assert abs(mean[0] - n_f * d_f) < 4 * sem[0] and abs(mean[1] + n_c * d_c) < 4 * sem[1]
    assert mean[1] < 0 < mean[0]


def test_the_current_by_group_matches_explicit_loops_and_refuses_bad_weights() -> None:
    rng = np.random.default_rng(6)
    cation, anion = brownian(rng, 40, 3, 0.1, 1.0), brownian(rng, 40, 3, 0.1, 1.0)
    weights = rng.dirichlet(np.ones(2), size=(40, 3))
    result = cation_current_by_group(cation, anion, weights, 1.0, (2.0, 6.0))
    lags = np.arange(2, 7)
    for g in range(2):
        series = []
        for lag in lags:
            values = []
            for t0 in range(40 - lag):
                dq = (cation[t0 + lag] - cation[t0]).sum(0) - (anion[t0 + lag] - anion[t0]).sum(0)
                # every step of every cation, credited by its weight at the step's start
                moved = sum(
                    weights[s, i, g] * (cation[s + 1, i] - cation[s, i])
                    for s in range(t0, t0 + lag)
                    for i in range(3)
                )
                values.append(moved @ dq)
            series.append(np.mean(values))
        assert result[g] == pytest.approx(np.polyfit(lags, series, 1)[0] / 6, rel=1e-9)
    with pytest.raises(ValueError, match="sum to one"):
        cation_current_by_group(cation, anion, weights * 0.5, 1.0, (2.0, 6.0))
    with pytest.raises(ValueError, match="n_frames, n_cations, n_groups"):
        cation_current_by_group(cation, anion, weights[:, :2], 1.0, (2.0, 6.0))


def test_cations_that_switch_are_credited_with_what_they_carry_in_each_group() -> None:
    """Independent cations switch between a slow (D = 0.01) and a fast (D = 0.1 Å²/ps)
    state every ~50 frames on average, far faster than the fit window: each state
    carries N p_g D_g of L₊₊ − L₊₋ (self terms only), not its population's share."""
    from gdynbook.markov import simulate_markov_chain

    n, d = 40, np.array([0.01, 0.1])
    switching = np.array([[0.98, 0.02], [0.02, 0.98]])
    rng = np.random.default_rng(8)
    terms = []
    for replica in range(12):
        states = np.stack(simulate_markov_chain(switching, 3000, n, seed=replica), axis=1)
        # the step from frame s to s + 1 is drawn in the state at s
        steps = np.zeros((3000, n, 3))
        steps[1:] = rng.normal(size=(2999, n, 3)) * np.sqrt(2 * d[states[:-1]])[..., None]
        cation = np.cumsum(steps, axis=0)
        anion = brownian(rng, 3000, n, 0.05, 1.0)
        weights = np.eye(2)[states]
        terms.append(cation_current_by_group(cation, anion, weights, 1.0, (300.0, 900.0)))
    terms = np.array(terms)
    mean, sem = terms.mean(axis=0), terms.std(axis=0, ddof=1) / np.sqrt(len(terms))
    expected = n * 0.5 * d  # [0.2, 2.0]; frozen origin weights would give ~[1.1, 1.1]
    assert (np.abs(mean - expected) < 4 * sem + 0.02 * expected).all()
