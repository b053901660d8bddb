"""PEO/LiTFSI diagnostics on synthetic data with known answers, then on a shipped run."""

from __future__ import annotations

import numpy as np
import pytest

from gdynbook.markov import simulate_markov_chain
from gdynbook.systems.peo_litfsi.diagnostics import (
    between_ion_fraction,
    durable_changes,
    li_chain,
    li_diagnostics,
    msd_exponent,
    radius_of_gyration,
    switching_baseline,
)
from gdynbook.systems.peo_litfsi.shells import chain_end_distance, ether_oxygen_layout


def test_li_chain_takes_the_chain_with_most_shell_oxygens() -> None:
    o_chain = np.array([0, 0, 1, 1, 1])
    far = 9.0
    distances = np.full((2, 3, 5), far)
    distances[0, 0, [0, 1, 2]] = [2.1, 2.2, 2.0]  # two O of chain 0, one (nearer) of chain 1
    distances[0, 2, [0, 3]] = [2.5, 2.0]  # a tie: the nearer O's chain wins
    distances[1, 0, [2, 3, 4]] = 2.3  # all three O of chain 1
    distances[1, 2, [1, 4]] = [2.0, 2.6]  # tie, chain 0 nearer
    labels = li_chain(distances, o_chain, cutoff_a=2.8)
    np.testing.assert_array_equal(labels, [[0, -1, 1], [1, -1, 0]])
    with pytest.raises(ValueError, match="n_o"):
        li_chain(distances[..., :4], o_chain)


def test_durable_changes_ignore_short_stays_and_unknown_frames() -> None:
    series = np.array([0, 0, 0, 1, 0, 0, 0, 2, 2, 2, -1, -1, 2, 2, 2, 1, 1])
    flicker = np.array([0, 1] * 8 + [0])
    labels = np.stack([series, flicker, np.zeros_like(series)], axis=1)
    np.testing.assert_array_equal(durable_changes(labels, 3), [1, 0, 0])
    # min 1: 0,1,0,2,(−1),2,1 -> 0→1, 1→0, 0→2, 2→1: four changes
    np.testing.assert_array_equal(durable_changes(labels, 1), [4, 16, 0])
    with pytest.raises(ValueError, match="min_frames"):
        durable_changes(labels, 0)


def test_between_ion_fraction_limits_and_a_known_mixture() -> None:
    rng = np.random.default_rng(0)
    fixed = np.tile(np.arange(10.0), (200, 1))  # every ion keeps its own value
    assert between_ion_fraction(fixed) == pytest.approx(1.0)
    offsets = rng.normal(0, 2.0, size=400)  # between-ion variance 4
    noisy = offsets + rng.normal(0, 1.0, size=(5000, 400))  # within-ion variance 1
    expected = offsets.var() / (offsets.var() + 1.0)
    assert between_ion_fraction(noisy) == pytest.approx(expected, abs=0.01)
    noisy[:10, 3] = np.nan  # missing frames are ignored
    assert between_ion_fraction(noisy) == pytest.approx(expected, abs=0.01)
    # an ion that is never observed carries no weight (and raises no warning)
    import warnings

    reference = between_ion_fraction(np.delete(noisy, 7, axis=1))
    noisy[:, 7] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert between_ion_fraction(noisy) == pytest.approx(reference, rel=1e-12)
    with pytest.raises(ValueError, match="n_ions"):
        between_ion_fraction(np.ones((10, 1)))


@pytest.mark.parametrize("lifetime_frames", [5.0, 40.0, 200.0])
def test_switching_baseline_matches_a_simulated_switching_label(lifetime_frames: float) -> None:
    """Ions whose label switches independently (correlation time t) leave the predicted
    share of variance between ions."""
    n_frames, n_ions = 500, 3000
    switch = (1 - np.exp(-1 / lifetime_frames)) / 2  # symmetric chain: λ = 1 − 2p = e^{−1/t}
    transitions = np.array([[1 - switch, switch], [switch, 1 - switch]])
    runs = simulate_markov_chain(transitions, n_frames, n_trajectories=n_ions, seed=1)
    labels = np.stack(runs, axis=1).astype(float)
    measured = between_ion_fraction(labels)
    predicted = switching_baseline(lifetime_frames, n_frames)
    assert measured == pytest.approx(predicted, rel=0.08)
    # t = 400 ps in T = 2.5 ns: 2·0.16·(1 − 0.16·(1 − e^−6.25)) = 0.2689 (by hand)
    assert switching_baseline(400.0, 2500.0) == pytest.approx(0.2689, abs=1e-4)


def test_chain_end_distance_and_layout_arithmetic() -> None:
    distances = np.full((1, 2, 5), 9.0)
    distances[0, 0, [1, 2]] = 2.0  # positions 1 and 2 of a 5-O chain: 1 and 2 from an end
    np.testing.assert_allclose(
        chain_end_distance(distances, np.arange(5), np.full(5, 5)), [[1.5, np.nan]]
    )


def test_msd_exponent_and_radius_of_gyration() -> None:
    lags = np.geomspace(1, 1000, 40)
    assert msd_exponent(lags, 3.0 * lags**0.73, (200, 500)) == pytest.approx(0.73)
    with pytest.raises(ValueError, match="window"):
        msd_exponent(lags, lags, (2000, 3000))
    n, spacing = 11, 1.5
    rod = np.zeros((2, n, 3))
    rod[:, :, 0] = np.arange(n) * spacing
    expected = spacing * np.sqrt((n**2 - 1) / 12)
    np.testing.assert_allclose(radius_of_gyration(rod, [np.arange(n)]), expected)


@pytest.fixture(scope="module")
def shipped_run():
    """The screen build of the chosen setting: 6 chains of 50 EO units, 38 LiTFSI, 1 ns."""
    from gdynbook.systems.peo_litfsi.runs import load_run
    from tests.conftest import chosen_screen_build

    folder = chosen_screen_build()
    if folder is None:
        pytest.skip("no decided screen shipped")
    return load_run(folder)


def test_ether_oxygens_are_in_chain_order(shipped_run) -> None:
    o_chain, position, length = ether_oxygen_layout(shipped_run)
    coords = shipped_run.traj.coords[0, shipped_run.ether_o_index]
    for chain in np.unique(o_chain):
        members = np.flatnonzero(o_chain == chain)
        np.testing.assert_array_equal(position[members], np.arange(members.size))
        gaps = np.linalg.norm(np.diff(coords[members], axis=0), axis=1)
        assert gaps.max() < 4.0  # O–C–C–O neighbours along an unwrapped chain
    assert set(length) == {51}  # 50 EO units: 51 ether O per chain


def test_diagnostics_of_the_shipped_run_agree_with_independent_counts(shipped_run) -> None:
    from gdynbook.systems.peo_litfsi.runs import first_shell_counts, tfsi_in_shell

    values = li_diagnostics(shipped_run)
    assert values["fraction_li_with_tfsi"] == pytest.approx(tfsi_in_shell(shipped_run).mean())
    ether = first_shell_counts(shipped_run.traj, shipped_run.li_index, shipped_run.ether_o_index)
    assert values["ether_o_per_li"] == pytest.approx(ether.mean())
    assert 4.0 <= values["ether_o_per_li"] + values["tfsi_o_per_li"] <= 7.0
    # chain changes are rare at 423 K within 1 ns
    assert values["fraction_li_changed_chain"] <= 0.3
    assert 0 < values["msd_exponent_li"] < 1.2 and values["d_ratio"] > 0
    assert 0 < values["rg_over_box"] < 1
    assert 0 <= values["baseline_tfsi"] <= values["baseline_chain_end"] <= 1
    if values["chain_residence_is_lower_bound"]:
        observed = shipped_run.li_index.size * shipped_run.traj.n_frames * 5.0
        assert values["chain_residence_ps"] == pytest.approx(observed)


def test_li_descriptors_match_the_shell_counts_and_the_chain_positions(shipped_run) -> None:
    from gdynbook.systems.peo_litfsi.runs import tfsi_in_shell
    from gdynbook.systems.peo_litfsi.shells import li_descriptors

    run = shipped_run
    contact, distance = li_descriptors(run)
    np.testing.assert_array_equal(contact, tfsi_in_shell(run))
    # by hand on a few frames: the ether O of each chain in order, ends at 0 and n − 1
    o_index = run.ether_o_index
    chains = run.residue_index[o_index]
    for frame in (0, run.traj.n_frames // 2, run.traj.n_frames - 1):
        coords = run.traj.coords[frame]
        lengths = np.diag(run.traj.lattices[frame])
        for li_pos, li in enumerate(run.li_index):
            delta = coords[o_index] - coords[li]
            delta -= lengths * np.round(delta / lengths)
            inside = np.flatnonzero(np.linalg.norm(delta, axis=1) < 2.8)
            if inside.size == 0:
                assert np.isnan(distance[frame, li_pos])
                continue
            from_end = []
            for o in inside:
                members = np.flatnonzero(chains == chains[o])  # topology order = chain order
                k = int(np.flatnonzero(members == o)[0])
                from_end.append(min(k, members.size - 1 - k))
            assert distance[frame, li_pos] == pytest.approx(np.mean(from_end))


def test_diagnostics_over_builds_tabulate_each_build_and_a_t_interval() -> None:
    from scipy import stats

    from gdynbook.systems.peo_litfsi.diagnostics import diagnostics_over_builds
    from gdynbook.systems.peo_litfsi.runs import load_run
    from tests.conftest import finished_screen_builds

    finished = [p for p in finished_screen_builds() if p.name.endswith("-eo12")]
    if len(finished) < 2:
        pytest.skip("needs two finished shipped builds")
    builds = [load_run(p) for p in finished[:2]]
    per_build, over = diagnostics_over_builds(builds)
    assert list(per_build.index) == [p.name for p in finished[:2]]
    direct = li_diagnostics(builds[1])
    assert per_build.iloc[1]["TFSI O per Li⁺"] == direct["tfsi_o_per_li"]
    column = per_build["ether O per Li⁺"].to_numpy()
    assert over.loc["ether O per Li⁺", "mean"] == pytest.approx(column.mean())
    half = stats.t.ppf(0.975, 1) * column.std(ddof=1) / np.sqrt(2)
    assert over.loc["ether O per Li⁺", "±"] == pytest.approx(half)
    assert (over["builds"] <= 2).all()
    with pytest.raises(ValueError, match="at least two"):
        diagnostics_over_builds(builds[:1])


def test_a_kept_diagnostics_record_reads_back_the_same_table(tmp_path) -> None:
    import pandas as pd

    from gdynbook.systems.peo_litfsi.diagnostics import (
        load_diagnostics_record,
        save_diagnostics_record,
    )

    table = pd.DataFrame(
        {"ns": [2.5, 2.5], "D Li⁺ / D TFSI⁻": [1.3, np.nan]}, index=["run-00", "run-01"]
    )
    table.index.name = "build"
    path = save_diagnostics_record(table, tmp_path / "record.json", "two runs", "abc123")
    back, about = load_diagnostics_record(path)
    pd.testing.assert_frame_equal(back, table)
    assert about == {"description": "two runs", "source_commit": "abc123"}


def test_interval_over_builds_needs_two_builds_and_skips_missing_values() -> None:
    import pandas as pd
    from scipy import stats

    from gdynbook.systems.peo_litfsi.diagnostics import interval_over_builds

    table = pd.DataFrame({"a": [1.0, 2.0, 4.0], "b": [1.0, np.nan, np.nan]})
    over = interval_over_builds(table)
    values = np.array([1.0, 2.0, 4.0])
    half = stats.t.ppf(0.975, 2) * values.std(ddof=1) / np.sqrt(3)
    assert over.loc["a", "mean"] == pytest.approx(values.mean())
    assert over.loc["a", "±"] == pytest.approx(half)
    assert over.loc["a", "builds"] == 3
    assert over.loc["b", "mean"] == 1.0 and np.isnan(over.loc["b", "±"])
    assert over.loc["b", "builds"] == 1
    with pytest.raises(ValueError, match="at least two"):
        interval_over_builds(table.iloc[:1])
