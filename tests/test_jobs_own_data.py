"""`gdynbook train` / `gdynbook analyze` on a system with one known slow process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gdynbook.cli import main
from gdynbook.jobs.own_data import analyze_run, train_run
from gdynbook.koopman import estimate_koopman
from gdynbook.markov import one_hot
from gdynbook.systems.dimers import DimerSimulation, bond_states, simulate_dimers
from gdynbook.trajectory import lag_in_frames, load_trajectory

SETTINGS = DimerSimulation(n_frames=1500, n_replicas=4, seed=3)


@pytest.fixture(scope="module")
def dimer_files(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The dimer system written as DCD + PDB and as traj.npz, one file per replica."""
    folder = tmp_path_factory.mktemp("dimers")
    trajectories = simulate_dimers(SETTINGS)
    dcd, npz = [], []
    for i, traj in enumerate(trajectories):
        md = traj.to_mdtraj()
        md.save_dcd(str(folder / f"run{i}.dcd"))
        dcd.append(str(folder / f"run{i}.dcd"))
        npz.append(str(traj.save(folder / f"run{i}.npz")))
    md[0].save_pdb(str(folder / "top.pdb"))
    return {
        "folder": folder,
        "dcd": dcd,
        "npz": npz,
        "pdb": str(folder / "top.pdb"),
        "trajectories": trajectories,
    }


def reference_model(trajectories: list, lag_frames: int):
    labels = [one_hot(bond_states(t, SETTINGS), 2) for t in trajectories]
    return estimate_koopman(labels, lag_frames, time_step_ps=1.0)


def test_train_and_analyze_from_dcd_recover_the_bond_process(dimer_files, capsys) -> None:
    run = dimer_files["folder"] / "run"
    assert (
        main(
            [
                "train",
                *dimer_files["dcd"],
                "--topology",
                dimer_files["pdb"],
                "--target",
                "element Na",
                "--time-step-ps",
                "1",
                "--n-states",
                "2",
                "--lag-ps",
                "5",
                "--layers",
                "1",
                "--epochs",
                "10",
                "--no-progress",
                "--output",
                str(run),
            ]
        )
        == 0
    )
    assert "gdynbook analyze" in capsys.readouterr().out
    assert main(["analyze", str(run), "--ck-lag-ps", "10", "--bootstrap", "30"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    reference = reference_model(dimer_files["trajectories"], 10)
    # ground truth from the bond lengths, not from the network
    t_ref = reference.timescales()[0]
    assert abs(summary["timescales_ps"][0] - t_ref) < 0.25 * t_ref
    assert summary["timescales_err_ps"][0] > 0
    np.testing.assert_allclose(
        sorted(summary["populations"]), sorted(reference.populations), atol=0.05
    )
    assert summary["vamp2_validation"] > 1.3
    for name in ("implied_timescales.png", "ck_test.png", "eigenvectors.png", "training.png"):
        assert (run / name).stat().st_size > 0
    with np.load(run / "predictions.npz") as stored:
        assert stored["trajectory_000"].shape == (SETTINGS.n_frames, SETTINGS.n_dimers, 2)


def test_a_third_state_finds_no_second_slow_process(dimer_files, tmp_path: Path) -> None:
    trajectories = dimer_files["trajectories"]
    train_run(trajectories, tmp_path, n_states=3, lag_ps=5.0, n_conv=1, n_epochs=10, progress=False)
    # run.json gives back exactly the settings --resume trains with
    from gdynbook.jobs.own_data import read_run_settings, train_settings_from_run

    settings = train_settings_from_run(read_run_settings(tmp_path))
    assert settings["n_states"] == 3 and settings["n_conv"] == 1 and settings["n_epochs"] == 10
    assert settings["lag_ps"] == 5.0 and settings["node_selection"] is None
    summary = analyze_run(tmp_path, ck_lag_ps=10.0, n_bootstrap=0, figures=False)
    slow, second = summary["timescales_ps"][:2]
    assert not second > slow / 3  # NaN or much faster: one slow process, not two


def test_npz_input_and_the_run_directory_is_not_overwritten(dimer_files, capsys) -> None:
    run = dimer_files["folder"] / "npz-run"
    args = [
        "train",
        *dimer_files["npz"][:3],
        "--n-states",
        "2",
        "--lag-ps",
        "5",
        "--layers",
        "1",
        "--epochs",
        "1",
        "--no-progress",
        "--output",
        str(run),
    ]
    assert main(args) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["n_trajectories"] == 3 and config["lag_frames"] == 5
    capsys.readouterr()
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    # a run directory from an incompatible version is refused with a clear message
    config["format"] = 99
    (run / "config.json").write_text(json.dumps(config))
    assert main(["analyze", str(run)]) == 2
    assert "Re-run `gdynbook train`" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--lag-ps", "2.5"], "whole number of frames"),
        (["--lag-ps", "5000"], "lag"),
        (["--target", "element Xe"], "select"),
        (["--n-states", "1"], "outside the allowed range [2"),
        (["--epochs", "-1"], "outside the allowed range [1"),
        (["--lr", "nan"], "not a finite number"),
        (["--cutoff", "0"], "outside the allowed range (0"),
        (["--validation-fraction", "1"], "outside the allowed range [0, 1)"),
        (["--batch-size", "1"], "outside the allowed range [2"),
        (["--graph-atoms", "element Xe"], "selects no atoms"),
    ],
)
def test_clear_errors(dimer_files, tmp_path: Path, capsys, extra, message) -> None:
    args = [
        "train",
        *dimer_files["dcd"][:2],
        "--topology",
        dimer_files["pdb"],
        "--target",
        "element Na",
        "--time-step-ps",
        "1",
        "--n-states",
        "2",
        "--lag-ps",
        "5",
        "--epochs",
        "1",
        "--no-progress",
        "--output",
        str(tmp_path / "r"),
    ]
    for i in range(0, len(extra), 2):
        if extra[i] in args:
            args[args.index(extra[i]) + 1] = extra[i + 1]
        else:
            args += extra[i : i + 2]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # a refused run leaves nothing behind


def test_unknown_format_non_periodic_file_and_missing_run(tmp_path: Path, capsys) -> None:
    odd = tmp_path / "run.xyz123"
    odd.write_text("not a trajectory\n")
    assert (
        main(
            [
                "train",
                str(odd),
                "--n-states",
                "2",
                "--lag-ps",
                "1",
                "--target",
                "0",
                "--output",
                str(tmp_path / "a"),
            ]
        )
        == 2
    )
    assert "unknown trajectory format" in capsys.readouterr().err
    import mdtraj

    top = mdtraj.Topology()
    chain = top.add_chain()
    for name in ("Na", "Cl"):
        residue = top.add_residue(name, chain)
        top.add_atom(name, mdtraj.element.get_by_symbol(name), residue)
    mdtraj.Trajectory(np.random.default_rng(0).random((20, 2, 3)), top).save_pdb(
        str(tmp_path / "gas.pdb")
    )  # no unit cell
    assert (
        main(
            [
                "train",
                str(tmp_path / "gas.pdb"),
                "--n-states",
                "2",
                "--lag-ps",
                "1",
                "--target",
                "0",
                "--time-step-ps",
                "1",
                "--output",
                str(tmp_path / "b"),
            ]
        )
        == 2
    )
    assert "cell" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path / "nothing")]) == 2
    assert "gdynbook train" in capsys.readouterr().err


def test_out_of_memory_is_explained(dimer_files, tmp_path: Path, monkeypatch) -> None:
    import gdynbook.jobs.rundir

    def exhausted(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(gdynbook.jobs.rundir, "fit", exhausted)
    with pytest.raises(MemoryError, match="smaller --batch-size"):
        train_run(dimer_files["trajectories"][:2], tmp_path, n_states=2, lag_ps=5.0, progress=False)


def test_lag_in_frames() -> None:
    assert lag_in_frames(5.0, 0.5) == 10
    with pytest.raises(ValueError, match="positive"):
        lag_in_frames(0.0, 1.0)


def test_same_seed_same_predictions(dimer_files, tmp_path: Path) -> None:
    from gdynbook.jobs.own_data import load_predictions

    for name in ("a", "b"):
        train_run(
            dimer_files["trajectories"][:3],
            tmp_path / name,
            n_states=2,
            lag_ps=5.0,
            n_conv=1,
            n_epochs=1,
            pairs_per_epoch=500,
            progress=False,
        )
    first, second = load_predictions(tmp_path / "a")[0], load_predictions(tmp_path / "b")[0]
    for x, y in zip(first, second, strict=True):
        np.testing.assert_array_equal(x, y)


def test_train_with_the_dgl_backend(dimer_files, tmp_path: Path, capsys) -> None:
    """`--backend dgl` trains the same layer; its checkpoint predicts the same with torch."""
    import os

    from gdynbook.jobs.own_data import load_predictions
    from gdynbook.model import dgl_available
    from gdynbook.train import load, predict

    if not dgl_available():
        if os.environ.get("CI") == "true":
            pytest.fail("DGL is part of the dev install and must import in CI.")
        pytest.skip("DGL is not installed (optional outside CI).")
    run = tmp_path / "dgl-run"
    assert (
        main(
            [
                "train",
                *dimer_files["npz"][:2],
                "--n-states",
                "2",
                "--lag-ps",
                "5",
                "--layers",
                "2",
                "--epochs",
                "1",
                "--pairs-per-epoch",
                "400",
                "--backend",
                "dgl",
                "--no-progress",
                "--output",
                str(run),
            ]
        )
        == 0
    )
    stored = load_predictions(run)[0]
    model, _ = load(run / "model.pt", backend="torch")
    again = predict(model, dimer_files["trajectories"][:2])
    for x, y in zip(stored, again, strict=True):
        np.testing.assert_allclose(x, y, atol=1e-5)


def test_train_from_scaled_lammps_dumps_matches_npz(dimer_files, tmp_path: Path) -> None:
    """LAMMPS dumps with scaled (fractional) coordinates train like the same data as npz."""
    from gdynbook.jobs.own_data import load_predictions
    from tests.test_trajectory import write_lammps_dump

    dumps = []
    for i, traj in enumerate(dimer_files["trajectories"][:2]):
        dumps.append(str(tmp_path / f"run{i}.lammpstrj"))
        write_lammps_dump(Path(dumps[-1]), traj[:400], scaled=True)
    common = [
        "--n-states",
        "2",
        "--lag-ps",
        "5",
        "--layers",
        "1",
        "--epochs",
        "1",
        "--pairs-per-epoch",
        "300",
        "--no-progress",
    ]
    assert (
        main(
            [
                "train",
                *dumps,
                "--topology",
                dimer_files["pdb"],
                "--target",
                "element Na",
                "--time-step-ps",
                "1",
                *common,
                "--output",
                str(tmp_path / "dump"),
            ]
        )
        == 0
    )
    npz = []
    for i, traj in enumerate(dimer_files["trajectories"][:2]):
        npz.append(str(traj[:400].save(tmp_path / f"run{i}.npz")))
    assert main(["train", *npz, *common, "--output", str(tmp_path / "npz")]) == 0
    for x, y in zip(
        load_predictions(tmp_path / "dump")[0], load_predictions(tmp_path / "npz")[0], strict=True
    ):
        np.testing.assert_allclose(x, y, atol=1e-3)


# ---------------------------------------------------------------------- survive, resume, predict
def _train_command(files: list[str], run: Path, epochs: int = 30) -> list[str]:
    return [
        "train",
        *files,
        "--n-states",
        "2",
        "--lag-ps",
        "5",
        "--n-conv",
        "1",
        "--n-epochs",
        str(epochs),
        "--batch-size",
        "64",
        "--pairs-per-epoch",
        "256",
        "--no-progress",
        "--checkpoint-minutes",
        "0.0001",
        "--output",
        str(run),
    ]


def _subprocess(args: list[str], **kwargs):
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "gdynbook", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _weights(path: Path) -> dict:
    import torch

    return torch.load(path, weights_only=True)["state_dict"]


def test_sigint_saves_a_checkpoint_and_resume_finishes_like_an_uninterrupted_run(
    dimer_files, tmp_path: Path
) -> None:
    import signal
    import time

    import torch

    files = dimer_files["npz"][:2]
    reference = _subprocess(_train_command(files, tmp_path / "reference"))
    run = tmp_path / "run"
    process = _subprocess(_train_command(files, run))
    state = run / "training-state.pt"
    deadline = time.monotonic() + 120
    while not state.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert state.exists(), "training wrote no checkpoint"
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert f"resume with: gdynbook train --resume {run}" in err
    saved = torch.load(state, weights_only=False)  # the last checkpoint is whole
    assert saved["format"] == 1 and not (run / "model.pt").exists()

    resumed = _subprocess(["train", "--resume", str(run), "--no-progress"])
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "trained 2 states" in out
    reference.communicate(timeout=300)
    assert reference.returncode == 0
    ours, theirs = _weights(run / "model.pt"), _weights(tmp_path / "reference" / "model.pt")
    for name in theirs:
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-6, atol=1e-7)


def test_resume_refuses_changed_data_and_new_settings(dimer_files, tmp_path: Path, capsys):
    import shutil

    files = [str(shutil.copy(f, tmp_path / Path(f).name)) for f in dimer_files["npz"][:2]]
    run = tmp_path / "run"
    assert main(_train_command(files, run, epochs=1)) == 0
    assert main(["train", "--resume", str(run), "--n-epochs", "5"]) == 2
    assert "drop --n-epochs" in capsys.readouterr().err
    traj = load_trajectory(files[0])
    traj.coords[:] += 0.01
    traj.save(files[0])
    assert main(["train", "--resume", str(run), "--no-progress"]) == 2
    assert "the trajectory files' contents" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_predict_reproduces_training_memberships_and_refuses_another_system(
    dimer_files, tmp_path: Path, capsys
) -> None:
    from gdynbook.jobs.own_data import load_predictions, predict_run
    from gdynbook.states import SimplexMap

    files = dimer_files["npz"][:3]
    run = tmp_path / "run"
    assert main(_train_command(files[:2], run, epochs=2)) == 0
    capsys.readouterr()
    out = tmp_path / "new"
    assert main(["predict", str(run), *files, "--output", str(out)]) == 0
    assert "mean memberships" in capsys.readouterr().out
    probabilities, dt, _ = load_predictions(run)
    with np.load(run / "simplex.npz") as values:
        simplex = SimplexMap(values["vertices"], values["vertex_frames"])
    expected = simplex.transform(probabilities)
    with np.load(out / "memberships.npz") as stored:
        for i in range(2):
            np.testing.assert_allclose(stored[f"memberships_{i:03d}"], expected[i], atol=1e-6)
            np.testing.assert_allclose(
                stored[f"time_ps_{i:03d}"], np.arange(expected[i].shape[0]) * dt
            )
        assert stored["memberships_002"].shape[-1] == 2  # a trajectory training never saw
    summary = json.loads((out / "summary.json").read_text())
    assert np.allclose([sum(p) for p in summary["populations"]], 1.0)
    # the Python entry point takes Trajectory objects too
    result = predict_run(run, [load_trajectory(files[0])])
    np.testing.assert_allclose(result["memberships"][0], expected[0], atol=1e-6)
    other = load_trajectory(files[0])
    other.atom_types[0] = 8  # an O where the model saw another element
    with pytest.raises(ValueError, match="atomic number"):
        predict_run(run, [other])
    fewer = load_trajectory(files[0], target=[0])
    with pytest.raises(ValueError, match="target atoms differ"):
        predict_run(run, [fewer])
    # the same system from DCD + PDB: accepted at the training time step, refused at another
    dcd = [dimer_files["dcd"][0], "--topology", dimer_files["pdb"], "--target", "element Na"]
    assert (
        main(["predict", str(run), *dcd, "--time-step-ps", "1", "--output", str(tmp_path / "y")])
        == 0
    )
    with np.load(tmp_path / "y" / "memberships.npz") as stored:
        # DCD keeps single-precision coordinates: agreement to ~1e-4, not 1e-6
        np.testing.assert_allclose(stored["memberships_000"], expected[0], atol=1e-4)
    assert (
        main(["predict", str(run), *dcd, "--time-step-ps", "2", "--output", str(tmp_path / "x")])
        == 2
    )
    assert "2 ps between frames, the model was trained on 1 ps" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_train_reads_only_the_selected_frames_and_graph_atoms(dimer_files, tmp_path: Path):
    run = tmp_path / "run"
    args = [
        "train",
        *dimer_files["dcd"][:2],
        "--topology",
        dimer_files["pdb"],
        "--target",
        "element Na",
        "--time-step-ps",
        "1",
        "--n-states",
        "2",
        "--lag-ps",
        "10",
        "--n-conv",
        "1",
        "--n-epochs",
        "1",
        "--no-progress",
        "--frames",
        "20:420",
        "--stride",
        "2",
        "--float32",
        "--node-selection",
        "not index 15",
        "--cutoff",
        "12",
        "--n-neighbors",
        "4",
        "--output",
        str(run),
    ]
    assert main(args) == 0
    stored = json.loads((run / "run.json").read_text())
    assert stored["load_options"]["frames"] == [20, 420] and stored["load_options"]["stride"] == 2
    assert stored["encoder"]["node_selection"] is None  # applied while reading instead
    config = json.loads((run / "config.json").read_text())
    full = load_trajectory(
        dimer_files["dcd"][0], topology=dimer_files["pdb"], target="element Na", time_step_ps=1.0
    )
    assert full.target_index.max() < 15  # the last atom is a B (Cl): not a target
    assert config["frames"] == [200, 200] and config["time_step_ps"] == 2.0
    assert config["n_atoms"] == full.n_atoms - 1 and config["lag_frames"] == 5
    # predict reads new files with the same atoms and stride, but whole (the training's
    # frame window is not theirs) unless --frames says otherwise
    n_new = load_trajectory(
        dimer_files["dcd"][2], topology=dimer_files["pdb"], target="element Na", time_step_ps=1.0
    ).n_frames
    assert main(["predict", str(run), dimer_files["dcd"][2], "--output", str(tmp_path / "p")]) == 0
    with np.load(tmp_path / "p" / "memberships.npz") as stored_arrays:
        assert stored_arrays["memberships_000"].shape[0] == len(range(0, n_new, 2))
    assert (
        main(
            [
                "predict",
                str(run),
                dimer_files["dcd"][2],
                "--frames",
                "20:420",
                "--output",
                str(tmp_path / "q"),
            ]
        )
        == 0
    )
    with np.load(tmp_path / "q" / "memberships.npz") as stored_arrays:
        assert stored_arrays["memberships_000"].shape[0] == 200
    assert main([*args[:-1], str(tmp_path / "bad"), "--frames", "5:5"]) == 2


def test_overwrite_removes_the_earlier_results_before_training(dimer_files, tmp_path, monkeypatch):
    import gdynbook.jobs.own_data as own_data
    from gdynbook.train import TrainingError

    run = tmp_path / "run"
    assert main(_train_command(dimer_files["npz"][:2], run, epochs=1)) == 0
    assert (run / "model.pt").exists() and (run / "predictions.npz").exists()

    def diverges(*args, **kwargs):
        raise TrainingError("the VAMP2 loss became nan in epoch 1: lower the learning rate")

    monkeypatch.setattr(own_data, "train_seeded", diverges)
    assert (
        main(
            [
                *_train_command(dimer_files["npz"][:2], run, epochs=1),
                "--overwrite",
                "--n-states",
                "3",
            ]
        )
        == 2
    )
    # the old model and predictions do not outlive the settings that replaced them
    assert not (run / "model.pt").exists() and not (run / "predictions.npz").exists()
    assert json.loads((run / "run.json").read_text())["n_states"] == 3
