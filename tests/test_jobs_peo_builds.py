"""The analysis plan as code, end to end on four small 'builds' of switching dimers."""

from __future__ import annotations

import numpy as np
import pytest

from gdynbook.jobs.peo import PeoTraining
from gdynbook.jobs.peo_builds import BuildPlan, learn_from_builds
from gdynbook.systems.dimers import DimerSimulation, simulate_dimers
from tests.conftest import finished_screen_builds


@pytest.fixture(scope="module")
def builds():
    runs = simulate_dimers(DimerSimulation(n_frames=400, n_replicas=4, seed=3))
    return runs, ["build-02", "build-00", "build-03", "build-01"]


def small_plan_and_training():
    plan = BuildPlan(
        candidates=(2, 3),
        lag_ladder_ps=(2.0, 4.0, 8.0, 16.0),
        lag_states=(2,),
        coarse_seeds=(0,),
        extra_seeds=(1,),
        ensemble_seeds=(0, 1),
        ck_steps=2,
        n_bootstrap=20,
    )
    training = PeoTraining(
        lag_ps=4.0,
        n_conv=1,
        n_neighbors=4,
        cutoff=8.0,
        atom_fea_len=8,
        h_fea_len=8,
        node_selection=None,
        n_epochs=3,
        patience=1,
        batch_size=64,
    )
    return plan, training


def dimer_descriptors(runs):
    """A fixed per-dimer "distance", shifted by 10·k in build k (so set edges depend on
    which builds they were fitted on), and a switching contact (the target's x above the
    box middle)."""
    descriptors = [np.tile(np.arange(8.0) + 10.0 * k, (r.n_frames, 1)) for k, r in enumerate(runs)]
    reference_inputs = [
        (r.coords[:, r.target_index, 0] > r.lattices[:, None, 0, 0] / 2, d)
        for r, d in zip(runs, descriptors, strict=True)
    ]
    return descriptors, reference_inputs


@pytest.fixture(scope="module")
def plan_result(builds):
    """The plan on the four dimer builds, once for every test of this module."""
    import torch

    torch.set_num_threads(1)
    runs, names = builds
    plan, training = small_plan_and_training()
    descriptors, reference_inputs = dimer_descriptors(runs)
    return learn_from_builds(
        runs,
        names,
        plan=plan,
        training=training,
        descriptors=descriptors,
        reference_inputs=reference_inputs,
        device="cpu",
        progress=False,
    )


def test_learn_from_builds_follows_the_plan(builds, plan_result) -> None:
    runs, names = builds
    descriptors, _ = dimer_descriptors(runs)
    summary, probabilities, models, folds = plan_result
    assert summary["lockbox"] == "build-03"
    # the lockbox is never a fold, never scored in cross-validation
    assert {r["test_run"] for r in summary["cross_validation"]["rows"]} == {0, 1, 3}
    assert (
        summary["n_states"] in (2, 3)
        and summary["n_states"] == summary["cross_validation"]["chosen"]
    )
    lag = summary["lag"]["2"]
    assert lag["lags_ps"] == [2.0, 4.0, 8.0, 16.0]
    assert summary["lag_ps"] == (lag["choice"]["lag_ps"] if lag["choice"]["levels_off"] else 4.0)
    assert summary["training"]["lag_ps"] == summary["lag_ps"]
    report = summary["held_out"]["build-03"]
    assert report["vamp2"] > 1.0 and isinstance(report["ck_passes"], bool)
    # the pooled summary is one model (the final seed 0) on all four builds
    from gdynbook.jobs.peo import held_out_vamp2

    lag_frames = round(summary["lag_ps"] / runs[0].time_step_ps)
    pooled = summary["pooled"]
    assert set(pooled) == set(report)
    assert pooled["vamp2"] == pytest.approx(held_out_vamp2(probabilities[0], lag_frames))
    # every development build is reported from the fold that held it out: its report is
    # score is the cross-validation fit's held-out score at the chosen n (seed 0)
    assert summary["held_out_role"] == {
        "build-02": "fold",
        "build-00": "fold",
        "build-03": "lockbox",
        "build-01": "fold",
    }
    for name in ("build-00", "build-01", "build-02"):
        assert summary["held_out"][name]["vamp2"] > 1.0
    fold_rows = [
        r
        for r in summary["cross_validation"]["rows"]
        if r["n_states"] == summary["n_states"] and r["seed"] == 0
    ]
    for row in fold_rows:
        name = names[row["test_run"]]
        assert summary["held_out"][name]["vamp2"] == pytest.approx(row["vamp2_test"])
    # ... and its whole report follows from the fold memberships the plan hands back
    from gdynbook.jobs.peo import held_out_build_report

    plan, _ = small_plan_and_training()
    assert sorted(folds) == ["build-00", "build-01", "build-02"]
    for name, memberships in folds.items():
        run = runs[names.index(name)]
        assert memberships.shape == (run.n_frames, run.n_targets, summary["n_states"])
        again = held_out_build_report(
            memberships, lag_frames, runs[0].time_step_ps, plan.ck_steps, plan.n_bootstrap
        )
        assert again == summary["held_out"][name]
    # the reference model: sets fixed without the build they score
    reference = summary["reference"]
    assert set(reference["held_out"]) == set(names)
    for entry in reference["held_out"].values():
        assert 1 <= entry["n_sets"] <= 6 and len(entry["edges_eo"]) == 2
        assert entry["vamp2"] >= 1.0 - 1e-9
    # edges fitted on the development builds other than the one scored (positions: the
    # lockbox build-03 is position 2; development positions 0, 1, 3)
    for scored, fitted_on in ((2, (0, 1, 3)), (0, (1, 3)), (1, (0, 3)), (3, (0, 1))):
        edges = np.quantile(
            np.concatenate([descriptors[i].ravel() for i in fitted_on]), [1 / 3, 2 / 3]
        )
        np.testing.assert_allclose(reference["held_out"][names[scored]]["edges_eo"], edges)
    assert summary["lockbox_opened"] is True
    assert reference["mean_fold_vamp2"] == pytest.approx(
        np.mean([reference["held_out"][n]["vamp2"] for n in ("build-00", "build-01", "build-02")])
    )
    assert len(probabilities) == 2 == len(models) and len(probabilities[0]) == 4
    for per_build in probabilities[0]:
        assert per_build.shape == (400, 8, summary["n_states"])
    assert set(summary["seed_agreement"]) == set(names)
    fractions = summary["between_ion_variance_fraction"]["build-00"]
    assert fractions["descriptor"] == pytest.approx(1.0)
    assert 0.0 <= fractions["learned"] <= 1.0 and 0.0 < fractions["baseline"] < 1.0
    assert all(1 <= e <= 3 for e in summary["epochs"]["cross_validation"])
    # the final model on the development builds: one Koopman estimate, pooled over every
    # Li⁺ series of builds 0-2 (positions 0, 1, 3), sets the timescales and the baseline
    from gdynbook.koopman import estimate_koopman
    from gdynbook.systems.peo_litfsi.diagnostics import switching_baseline

    lag_frames = round(summary["lag_ps"] / runs[0].time_step_ps)
    series = [p[:, [k]] for i in (0, 1, 3) for p in [probabilities[0][i]] for k in range(8)]
    direct = estimate_koopman(series, lag_frames, time_step_ps=runs[0].time_step_ps, warn=False)
    t1 = direct.timescales()[0]
    stored = summary["timescales_ps"]["value"][0]
    if np.isfinite(t1):
        assert stored == pytest.approx(t1)
        lifetime = max(t1, summary["lag_ps"])
    else:
        assert stored is None
        lifetime = summary["lag_ps"]
    assert fractions["baseline"] == pytest.approx(
        switching_baseline(lifetime, 400 * runs[0].time_step_ps)
    )
    per_build = np.array(summary["populations"]["per_build"])
    assert per_build.shape == (3, summary["n_states"])
    np.testing.assert_allclose(per_build.sum(axis=1), 1.0)
    assert summary["timescales_ps"]["lockbox"]["value"] == report["timescales_ps"]
    # strata of the per-dimer descriptor: build k's dimers sit at 10 k … 10 k + 7, so
    # the terciles split the 32 reported dimers by build
    strata = summary["strata"]
    assert sum(strata["n_li"]) == 32 and len(strata["populations"]) == 3
    for row in strata["populations"]:
        assert sum(row) == pytest.approx(1.0)
    from gdynbook.jobs.peo_tables import strata_table

    shown = strata_table(summary)
    assert shown["Li⁺"].sum() == 32 and shown.index[0].startswith("< ")
    np.testing.assert_allclose(shown[[f"state {k}" for k in range(summary["n_states"])]].sum(1), 1)
    with pytest.raises(KeyError, match="no strata"):
        strata_table({"strata": None})


def test_bad_build_lists_are_refused(builds) -> None:
    runs, names = builds
    with pytest.raises(ValueError, match="one per build"):
        learn_from_builds(runs, names[:3])
    with pytest.raises(ValueError, match="at least three"):
        learn_from_builds(runs[:2], names[:2])


def test_transference_from_builds_takes_one_sample_per_build_in_both_frames() -> None:
    """On shipped builds: each build's sample is recomputed by hand (ion centres against
    the system's or the PEO's centre of mass, united-atom masses, slopes over 10-30 % of
    the build), and the coefficient intervals are Student t over builds."""

    from scipy import stats

    from gdynbook.jobs.peo_builds import transference_from_builds
    from gdynbook.systems.peo_litfsi.runs import load_run

    finished = finished_screen_builds()
    if len(finished) < 2:
        pytest.skip("needs two finished shipped builds")
    builds = [load_run(p) for p in finished[:2]]
    # memberships: TFSI contact or not (any split works; the terms must add up)
    from gdynbook.systems.peo_litfsi.runs import tfsi_in_shell

    contact = [np.eye(2)[tfsi_in_shell(b).astype(int)] for b in builds]
    summary = transference_from_builds(builds, n_bootstrap=10, memberships=contact)
    assert summary["builds"] == [p.name for p in finished[:2]]
    for k, build in enumerate(builds):
        coords = build.traj.coords.astype(np.float64)
        masses = build.masses
        tfsi = [
            np.flatnonzero(build.residue_index == r)
            for r in np.unique(build.residue_index[build.tfsi_n_index])
        ]
        anion = np.stack(
            [
                np.einsum("fnk,n->fk", coords[:, atoms], masses[atoms]) / masses[atoms].sum()
                for atoms in tfsi
            ],
            axis=1,
        )
        cation = coords[:, build.li_index]
        peo = np.isin(np.arange(masses.size), np.concatenate([build.li_index, *tfsi]), invert=True)
        centre = {
            "barycentric": np.einsum("fnk,n->fk", coords, masses) / masses.sum(),
            "solvent": np.einsum("fnk,n->fk", coords[:, peo], masses[peo]) / masses[peo].sum(),
        }
        span = (build.traj.n_frames - 1) * build.traj.time_step_ps
        first = max(1, round(0.1 * span / build.traj.time_step_ps))
        lags = np.arange(first, round(0.3 * span / build.traj.time_step_ps) + 1)
        for frame, reference in centre.items():
            c, a = cation - reference[:, None], anion - reference[:, None]
            dp = [c.sum(1)[lag:] - c.sum(1)[:-lag] for lag in lags]
            dm = [a.sum(1)[lag:] - a.sum(1)[:-lag] for lag in lags]
            l_pm = [np.mean(np.sum(x * y, -1)) for x, y in zip(dp, dm, strict=True)]
            d_plus = [np.mean(np.sum((c[lag:] - c[:-lag]) ** 2, -1)) for lag in lags]
            t = lags * build.traj.time_step_ps
            sample = summary[frame]["samples"][k]
            assert sample[2] == pytest.approx(np.polyfit(t, l_pm, 1)[0] / 6, rel=1e-8)
            assert sample[3] == pytest.approx(np.polyfit(t, d_plus, 1)[0] / 6, rel=1e-8)
    for frame in ("barycentric", "solvent"):
        units = np.array(summary[frame]["samples"])
        for column, name in enumerate(("l_pp", "l_mm", "l_pm", "d_plus", "d_minus")):
            interval = summary[frame][name]
            sem = units[:, column].std(ddof=1) / np.sqrt(len(units))
            assert interval["value"] == pytest.approx(units[:, column].mean())
            assert interval["half_width"] == pytest.approx(stats.t.ppf(0.975, len(units) - 1) * sem)
        # the current split by group adds up to each build's L₊₊ − L₊₋
        sample = np.array(summary[frame]["samples"])
        for key in ("negative_clusters", "by_state", "by_state_and_cluster"):
            terms = np.array(summary[frame][key]["samples"])
            np.testing.assert_allclose(terms.sum(axis=1), sample[:, 0] - sample[:, 2], rtol=1e-6)
            # a share only where L₊₊ − L₊₋ is clearly not zero over the builds
            total = sample[:, 0] - sample[:, 2]
            half = stats.t.ppf(0.975, len(total) - 1) * total.std(ddof=1) / np.sqrt(len(total))
            if abs(total.mean()) > half:
                assert sum(summary[frame][key]["share"]) == pytest.approx(1.0)
            else:
                assert summary[frame][key]["share"] is None
        # the crossed split adds up to each of its margins
        crossed = np.array(summary[frame]["by_state_and_cluster"]["samples"]).reshape(2, 2, 2)
        by_state = np.array(summary[frame]["by_state"]["samples"])
        by_cluster = np.array(summary[frame]["negative_clusters"]["samples"])
        np.testing.assert_allclose(crossed.sum(axis=2), by_state, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(crossed.sum(axis=1), by_cluster, rtol=1e-6, atol=1e-12)
        assert summary[frame]["by_state_and_cluster"]["groups"][1] == "state 0, not"
    # sub-diffusive or diffusive, never ballistic, over 10-30 % of 1 ns
    for key in ("li", "tfsi"):
        assert all(0.2 < e < 1.3 for e in summary["msd_exponent"][key])
    with pytest.raises(ValueError, match="at least two independent builds"):
        transference_from_builds(builds[:1])
    with pytest.raises(ValueError, match="one per build"):
        transference_from_builds(builds, memberships=contact[:1])


def split_shipped_builds(root, n_builds: int = 4):
    """Stand-in builds for wiring tests: the finished shipped EO:Li 12.5 screen builds cut
    into halves (chunks 0-1 and 2-3), each half its own build-NN folder."""
    import json
    import shutil

    # stand-ins must be one system: the EO:Li 12.5 screen builds (24 Li⁺ each)
    sources = [p for p in finished_screen_builds() if p.name.endswith("-eo12")]
    made = []
    for source in sources:
        provenance = json.loads((source / "provenance.json").read_text())
        chunks = provenance["chunks"]
        half = len(chunks) // 2
        for part in (chunks[:half], chunks[half:]):
            if len(made) == n_builds:
                return made
            folder = root / f"build-{len(made):02d}"
            folder.mkdir(parents=True)
            shutil.copy(source / "topology.pdb", folder)
            for record in part:
                shutil.copy(source / record["file"], folder)
            (folder / "provenance.json").write_text(
                json.dumps({**provenance, "chunks": part, "total_frames": 50 * len(part)})
            )
            made.append(folder)
    return made


def test_run_build_job_writes_what_the_chapters_read(tmp_path) -> None:
    import json
    from dataclasses import replace

    import torch

    from gdynbook.jobs.peo import load_ensemble
    from gdynbook.jobs.peo_builds import run_build_job, smoke_plan

    made = split_shipped_builds(tmp_path / "builds")
    if len(made) < 4:
        pytest.skip("needs two finished shipped builds")
    torch.set_num_threads(1)
    plan, training = smoke_plan()
    plan = replace(plan, ensemble_seeds=(0, 1))
    training = replace(training, batch_size=64)
    with pytest.raises(ValueError, match="prediction_seeds"):
        run_build_job(tmp_path / "builds", tmp_path / "bad", plan=plan, prediction_seeds=[5])
    summary = run_build_job(
        tmp_path / "builds",
        tmp_path / "out",
        plan=plan,
        training=training,
        max_frames=60,
        device="cpu",
        progress=False,
        prediction_seeds=[0],
    )
    stored = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (
        stored["builds"] == [f"build-{k:02d}" for k in range(4)] and stored["lockbox"] == "build-03"
    )
    for key in (
        "n_states",
        "lag_ps",
        "held_out",
        "timescales_ps",
        "populations",
        "between_ion_variance_fraction",
        "seed_agreement",
        "reference_vamp2",
        "transference",
    ):
        assert key in stored, key
    assert set(stored["held_out"]) == set(stored["builds"])
    for report in stored["held_out"].values():
        assert {"vamp2", "ck_max_deviation", "ck_half_width", "ck_passes"} <= set(report)
    assert stored["frames"] == [60] * 4
    populations = np.array(stored["populations"]["per_build"])
    assert populations.shape == (3, stored["n_states"])
    np.testing.assert_allclose(populations.sum(axis=1), 1.0)
    assert stored["transference"]["builds"] == stored["builds"]
    assert stored["reference_vamp2"] == summary["reference"]["mean_fold_vamp2"]
    # the stored memberships are what the chapters load
    _, probabilities = load_ensemble(tmp_path / "out")
    assert sorted(probabilities) == [0] == stored["prediction_seeds"]  # seed 0 only kept
    assert probabilities[0][0].shape == (60, 24, stored["n_states"])
    assert (tmp_path / "out" / "gdynet-seed1.pt").is_file()
    assert set(stored["seed_agreement"]["build-00"]) and stored["seeds"] == [0, 1]
    # each development build's fold memberships: its held-out report follows from them
    from gdynbook.jobs.peo import held_out_build_report
    from gdynbook.jobs.peo_builds import load_fold_memberships

    folds = load_fold_memberships(tmp_path / "out")
    assert sorted(folds) == ["build-00", "build-01", "build-02"]
    assert stored["fold_memberships"]["builds"] == sorted(folds)
    lag_frames = round(stored["lag_ps"] / stored["time_step_ps"])
    for name, memberships in folds.items():
        again = held_out_build_report(
            memberships, lag_frames, stored["time_step_ps"], plan.ck_steps, plan.n_bootstrap
        )
        assert again["vamp2"] == pytest.approx(stored["held_out"][name]["vamp2"], rel=1e-5)
    assert "lockbox" in stored["timescales_ps"] and stored["lockbox_opened"] is True
    # the chapters' tables of the stored summary
    from gdynbook.jobs.peo_tables import timescale_table, transference_table

    times = timescale_table(stored)
    assert list(times.columns) == [
        "development",
        "low",
        "high",
        "lockbox",
        "lockbox low",
        "lockbox high",
    ]
    assert len(times) == stored["n_states"] - 1
    lockbox_t = stored["held_out"]["build-03"]["timescales_ps"][0]
    assert times.loc[1, "lockbox"] == pytest.approx(
        np.nan if lockbox_t is None else lockbox_t, nan_ok=True
    )
    moved = transference_table(stored)
    units = np.array(stored["transference"]["solvent"]["samples"])
    assert (moved["builds"] == 4).all()
    assert moved.loc["D₊ (Å²/ps)", "solvent"] == pytest.approx(units[:, 3].mean())
    pooled = units.mean(axis=0)
    # t₊ ideal = D₊ / (D₊ + D₋) for equal ion numbers, of the means over builds
    assert moved.loc["ideal t₊", "solvent"] == pytest.approx(pooled[3] / (pooled[3] + pooled[4]))
    assert (moved[["barycentric ±", "solvent ±"]] > 0).all().all()
    by_state = stored["transference"]["solvent"]["by_state"]
    assert len(by_state["groups"]) == stored["n_states"]
    terms = np.array(by_state["samples"])
    assert terms.shape == (4, stored["n_states"])
    from gdynbook.jobs.peo_tables import current_share_table

    shares = current_share_table(stored)
    np.testing.assert_allclose(shares["solvent"], terms.mean(axis=0))
    if shares["barycentric share"].notna().all():
        assert shares["barycentric share"].sum() == pytest.approx(1.0)
    assert list(current_share_table(stored, "negative_clusters").index) == [
        "in a negative cluster",
        "not",
    ]
    with pytest.raises(KeyError, match="no 'by_state' split"):
        current_share_table({"barycentric": {}, "solvent": {}})
    # an unfinished build: the lockbox is not opened on partial data
    provenance = json.loads((made[1] / "provenance.json").read_text())
    (made[1] / "provenance.json").write_text(json.dumps({**provenance, "complete": False}))
    with pytest.raises(ValueError, match="build-01 are not finished"):
        run_build_job(tmp_path / "builds", tmp_path / "again", plan=plan, training=training)
    assert not (tmp_path / "again").exists()
    # an interim run on the finished builds only: build-01 is left out, the lockbox shut
    with pytest.raises(ValueError, match="keeps it shut"):
        run_build_job(
            tmp_path / "builds", tmp_path / "again", plan=plan, finished_only=True
        )
    interim = run_build_job(
        tmp_path / "builds",
        tmp_path / "interim",
        plan=plan,
        training=training,
        max_frames=60,
        open_lockbox=False,
        finished_only=True,
        device="cpu",
        progress=False,
    )
    assert interim["builds"] == ["build-00", "build-02", "build-03"]
    assert interim["lockbox"] == "build-03" and interim["lockbox_opened"] is False
    assert interim["finished_only"] is True and "build-03" not in interim["held_out"]
    provenance = json.loads((made[2] / "provenance.json").read_text())
    (made[2] / "provenance.json").write_text(json.dumps({**provenance, "complete": False}))
    with pytest.raises(ValueError, match="an interim run needs three"):
        run_build_job(
            tmp_path / "builds", tmp_path / "two", plan=plan, open_lockbox=False,
            finished_only=True,
        )


def test_peo_command_runs_the_plan_on_builds(tmp_path, capsys) -> None:
    import json

    import torch

    from gdynbook.cli import main

    made = split_shipped_builds(tmp_path / "builds")
    if len(made) < 4:
        pytest.skip("needs two finished shipped builds")
    torch.set_num_threads(1)
    base = ["peo", "--data", str(tmp_path / "builds"), "--device", "cpu", "--no-progress"]
    assert main([*base, "--states", "2", "--output", str(tmp_path / "a")]) == 2
    assert "fixes --states" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    command = [*base, "--preset", "smoke", "--max-frames", "60", "--output", str(tmp_path / "b")]
    assert main(command) == 0
    printed = capsys.readouterr().out
    assert "the lockbox build-03 stays shut" in printed and "held-out VAMP-2" in printed
    stored = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert stored["lockbox"] == "build-03" and stored["max_frames"] == 60
    assert "training time of every fit" in printed and stored["fit_wall_time_s"] > 0
    # one file per distinct fit: the lag model is the ensemble's seed 0 when the plan kept
    # the starting lag and chose its number of states (the same key, trained once)
    n_fits = len(list((tmp_path / "b" / "fits").glob("*.pt")))
    n_rows = len(stored["cross_validation"]["rows"])
    assert n_rows + len(stored["seeds"]) <= n_fits <= n_rows + 1 + len(stored["seeds"])
    assert "build-03" not in stored["held_out"] and stored["lockbox_opened"] is False
    # a shut lockbox: the model is applied to it nowhere in what is written
    assert stored["predicted_builds"] == ["build-00", "build-01", "build-02"]
    with np.load(tmp_path / "b" / "predictions.npz") as stored_predictions:
        assert not [k for k in stored_predictions.files if k.endswith("build-03")]
    for frame in ("barycentric", "solvent"):
        assert stored["transference"][frame]["by_state"]["builds"] == stored["predicted_builds"]
        assert stored["transference"][frame]["negative_clusters"]["builds"] == stored["builds"]
    from gdynbook.jobs.peo import load_ensemble

    _, shut = load_ensemble(tmp_path / "b")
    assert len(shut[0]) == 3
    assert main([*base, "--max-runs", "3", "--output", str(tmp_path / "c")]) == 2
    assert "--max-runs" in capsys.readouterr().err
    # old runs beside the builds: say which
    import shutil

    from gdynbook import data

    shutil.copytree(
        data.data_dir() / "peo_litfsi" / "screen" / "q0.8-eo12", tmp_path / "builds" / "run-00"
    )
    assert main([*base, "--output", str(tmp_path / "d")]) == 2
    assert "--layout builds or --layout runs" in capsys.readouterr().err


def test_a_shut_lockbox_is_neither_scored_nor_reported(builds) -> None:
    import torch

    torch.set_num_threads(1)
    runs, names = builds
    plan, training = small_plan_and_training()
    descriptors, reference_inputs = dimer_descriptors(runs)
    summary, _, _, _ = learn_from_builds(
        runs,
        names,
        plan=plan,
        training=training,
        descriptors=descriptors,
        reference_inputs=reference_inputs,
        open_lockbox=False,
        device="cpu",
        progress=False,
    )
    assert summary["lockbox"] == "build-03" and summary["lockbox_opened"] is False
    for part in (
        summary["held_out"],
        summary["held_out_role"],
        summary["reference"]["held_out"],
        summary["seed_agreement"],
        summary["between_ion_variance_fraction"],
    ):
        assert set(part) == {"build-00", "build-01", "build-02"}


def test_the_chapter_tables_show_what_the_plan_reported(builds, plan_result) -> None:
    """Each table's cells against a computation from the summary's raw parts."""
    from gdynbook.jobs.peo_tables import cross_validation_table, held_out_table

    summary, _, _, _ = plan_result
    table = cross_validation_table(summary)
    rows = summary["cross_validation"]["rows"]
    ns = sorted({r["n_states"] for r in rows})
    assert list(table.index) == ns and table["chosen"].sum() == 1
    assert table.index[table["chosen"]][0] == summary["n_states"]
    folds = sorted({r["test_run"] for r in rows})
    assert (table["folds"] == len(folds)).all() and summary["builds"].index(
        summary["lockbox"]
    ) not in folds  # no fold
    by_fold = {
        n: np.array(
            [
                np.mean(
                    [r["vamp2_test"] for r in rows if r["n_states"] == n and r["test_run"] == k]
                )
                for k in folds
            ]
        )
        for n in ns
    }
    for n in ns:
        assert table.loc[n, "held-out VAMP-2"] == pytest.approx(by_fold[n].mean())
        assert table.loc[n, "s.e."] == pytest.approx(by_fold[n].std(ddof=1) / np.sqrt(len(folds)))
        assert table.loc[n, "epochs (max)"] == max(r["epochs"] for r in rows if r["n_states"] == n)
    difference = by_fold[ns[1]] - by_fold[ns[0]]
    assert table.loc[ns[1], "gain over n−1"] == pytest.approx(difference.mean())
    # the job's own gain (CrossValidation.per_state_gain) agrees with the table's pairing
    gain, sem = summary["cross_validation"]["gain"][str(ns[1])]
    assert table.loc[ns[1], "gain over n−1"] == pytest.approx(gain)
    assert table.loc[ns[1], "gain / s.e."] == pytest.approx(gain / sem)
    assert np.isnan(table.loc[ns[0], "gain over n−1"])

    held = held_out_table(summary)
    assert list(held.index) == summary["builds"]
    assert held.loc["build-03", "role"] == "lockbox"
    assert (held.drop(index="build-03")["role"] == "fold").all()
    for name in summary["builds"]:
        report = summary["held_out"][name]
        assert held.loc[name, "VAMP-2"] == report["vamp2"]
        assert held.loc[name, "CK passes"] == report["ck_passes"]
        assert (
            held.loc[name, "descriptor VAMP-2"] == (summary["reference"]["held_out"][name]["vamp2"])
        )
        assert held.loc[name, "seed agreement"] == min(summary["seed_agreement"][name])
        assert held.loc[name, "fixed label: learned"] == pytest.approx(
            summary["between_ion_variance_fraction"][name]["learned"]
        )
        low, value, high = (held.loc[name, k] for k in ("t₁ low", "t₁ (ps)", "t₁ high"))
        if np.isfinite(value):
            assert value == report["timescales_ps"][0] and low <= high


def test_a_closed_lockbox_leaves_no_row_and_missing_timescales_show_as_gaps() -> None:
    from gdynbook.jobs.peo_tables import held_out_table, timescale_table

    report = {
        "vamp2": 1.4,
        "ck_max_deviation": 0.02,
        "ck_half_width": None,
        "ck_passes": True,
        "timescales_ps": [None],
        "timescales_lower_ps": [None],
        "timescales_upper_ps": [None],
    }
    summary = {
        "builds": ["build-00", "build-01"],
        "held_out": {"build-00": report},
        "held_out_role": {"build-00": "fold"},
    }
    table = held_out_table(summary)
    assert list(table.index) == ["build-00"]
    assert np.isnan(table.loc["build-00", "t₁ (ps)"]) and np.isnan(
        table.loc["build-00", "CK half-width"]
    )
    assert np.isnan(table.loc["build-00", "descriptor VAMP-2"])
    times = timescale_table(
        {"timescales_ps": {"value": [80.0, None], "lower": [60.0, None], "upper": [120.0, None]}}
    )
    assert list(times.columns) == ["development", "low", "high"]
    assert times.loc[1, "development"] == 80.0 and np.isnan(times.loc[2, "development"])


def test_the_lag_ladder_figure_draws_what_the_plan_measured(plan_result) -> None:
    import matplotlib.pyplot as plt

    from gdynbook.plots import plot_lag_ladder

    summary, _, _, _ = plan_result
    fig = plot_lag_ladder(summary)
    (ax,) = fig.axes  # the plan here trains one two-state model for the lag
    entry = summary["lag"]["2"]
    line = ax.lines[0]
    np.testing.assert_allclose(line.get_xdata(), entry["lags_ps"])
    expected = [np.nan if row[0] is None else row[0] for row in entry["timescales_ps"]]
    np.testing.assert_allclose(line.get_ydata(), expected)
    assert ax.lines[-1].get_xdata()[0] == summary["lag_ps"]  # the chosen lag
    plt.close(fig)


def test_the_plan_resumes_from_its_stored_fits(builds, tmp_path, monkeypatch) -> None:
    """Run the plan with a fit store, then again with training disabled: every fit comes
    from the store and the summary is the same."""
    import torch

    from gdynbook.jobs import peo
    from gdynbook.jobs.fit_store import FitStore

    torch.set_num_threads(1)
    runs, names = builds
    plan, training = small_plan_and_training()
    store = FitStore(tmp_path / "fits")
    options = dict(plan=plan, training=training, device="cpu", progress=False, store=store)
    first, *_ = learn_from_builds(runs, names, **options)
    n_fits = len(list(store.folder.glob("*.pt")))
    n_rows = len(first["cross_validation"]["rows"])
    assert n_rows + len(plan.ensemble_seeds) <= n_fits <= n_rows + 1 + len(plan.ensemble_seeds)

    def no_training(*args, **kwargs):
        raise AssertionError("a stored fit was trained again")

    monkeypatch.setattr(peo, "train_model", no_training)
    second, *_ = learn_from_builds(runs, names, **options)
    assert second["cross_validation"]["rows"] == first["cross_validation"]["rows"]
    import json

    for key in ("held_out", "lag", "timescales_ps", "n_states", "lag_ps", "epochs"):
        # as JSON: NaN timescales compare equal as text
        assert json.dumps(second[key], sort_keys=True) == json.dumps(first[key], sort_keys=True)


def test_json_numbers_turn_nan_into_null_at_any_depth() -> None:
    import json

    from gdynbook.jobs.rundir import json_numbers

    values = json_numbers(np.array([[1.5, np.nan], [np.inf, 2.0]]))
    assert values == [[1.5, None], [None, 2.0]] and json.dumps(values)
    assert json_numbers(np.array([])) == [] and json_numbers(np.float32(3.0)) == 3.0
