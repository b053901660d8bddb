"""The gdynbook command line: help, convert, errors and the output directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gdynbook.cli import build_parser, main
from gdynbook.trajectory import Trajectory, load_trajectory


def test_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "convert" in out and "predict" in out
    assert "130 / 143" in out and "1 a failed acceptance check" in out  # exit codes
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "(default: 12)" in out and "≥ 1" in out  # defaults and ranges shown
    assert main(["train", "--n-states", "x"]) == 2
    assert "'x' is not an integer" in capsys.readouterr().err


def test_every_subcommand_takes_output_and_out() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for name, sub in subparsers.choices.items():
        options = {s for action in sub._actions for s in action.option_strings}
        assert {"--output", "--out", "--help"} <= options, name


def test_python_dash_m_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gdynbook", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("gdynbook ")


def test_convert_writes_traj_npz_and_refuses_to_overwrite(
    tmp_path: Path, small_traj: Trajectory, capsys: pytest.CaptureFixture[str]
) -> None:
    source = small_traj.save(tmp_path / "in.npz")
    out = tmp_path / "run"
    assert main(["convert", str(source), "--target", "element S", "--out", str(out)]) == 0
    converted = load_trajectory(out / "traj.npz")
    np.testing.assert_array_equal(converted.target_index, [1, 2])
    before = (out / "traj.npz").read_bytes()
    assert main(["convert", str(source), "--output", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "traj.npz").read_bytes() == before
    assert (
        main(["convert", str(source), "--target", "0,3", "--output", str(out), "--overwrite"]) == 0
    )
    np.testing.assert_array_equal(load_trajectory(out / "traj.npz").target_index, [0, 3])


def test_convert_bad_input_writes_nothing(
    tmp_path: Path, small_traj: Trajectory, capsys: pytest.CaptureFixture[str]
) -> None:
    source = small_traj.save(tmp_path / "in.npz")
    out = tmp_path / "run"
    assert main(["convert", str(source), "--target", "element Na", "--out", str(out)]) == 2
    assert "matches no atom" in capsys.readouterr().err
    assert not out.exists()


def test_peo_refuses_bad_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["peo", "--states", "1", "--output", str(tmp_path / "a")]) == 2
    assert "outside the allowed range [2" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    assert main(["peo", "--epochs", "0", "--output", str(tmp_path / "b")]) == 2
    assert "--epochs" in capsys.readouterr().err
    empty = tmp_path / "no-runs"
    empty.mkdir()
    assert main(["peo", "--data", str(empty), "--output", str(tmp_path / "c")]) == 2
    assert "needs" in capsys.readouterr().err


def test_encoder_options_use_the_config_names_and_keep_the_old_spellings() -> None:
    from gdynbook.cli import build_parser
    from gdynbook.model import GDyNetConfig

    parser = build_parser()
    base = ["train", "t.npz", "--n-states", "2", "--lag-ps", "5", "--out", "r"]
    new = parser.parse_args(
        [
            *base,
            "--n-conv",
            "2",
            "--n-neighbors",
            "9",
            "--atom-fea-len",
            "8",
            "--node-selection",
            "heavy",
            "--n-epochs",
            "3",
        ]
    )
    old = parser.parse_args(
        [
            *base,
            "--layers",
            "2",
            "--neighbors",
            "9",
            "--features",
            "8",
            "--graph-atoms",
            "heavy",
            "--epochs",
            "3",
        ]
    )
    assert vars(new) == vars(old)
    fields = set(GDyNetConfig.__dataclass_fields__)
    for name in ("n_conv", "n_neighbors", "atom_fea_len", "h_fea_len", "cutoff", "node_selection"):
        assert name in fields and hasattr(new, name)
    assert new.n_epochs == 3


def test_notebooks_copies_every_chapter_and_can_leave_out_solutions(tmp_path: Path, capsys):
    import json

    import yaml

    from gdynbook import data

    root = Path(__file__).resolve().parents[1]
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    chapters = {
        Path(c["file"]).name + ".ipynb"
        for part in toc["parts"]
        for c in part["chapters"]
        if c["file"].startswith("book/")
    }
    assert main(["notebooks", "--output", str(tmp_path / "a")]) == 0
    assert {p.name for p in (tmp_path / "a").glob("*.ipynb")} == chapters
    assert main(["notebooks", "--output", str(tmp_path / "a")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    # the wheel lists the same chapters, one by one
    listed = {
        line.split('"')[1].split("/")[-1]
        for line in (root / "pyproject.toml").read_text().splitlines()
        if line.startswith('"book/')
    }
    assert listed == chapters
    # a solution cell is left out on request
    fake = tmp_path / "book"
    fake.mkdir()
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {"tags": ["solution"]},
                "source": "42",
                "outputs": [],
                "execution_count": None,
            },
            {"cell_type": "markdown", "metadata": {}, "source": "keep"},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (fake / "x.ipynb").write_text(json.dumps(notebook))
    original = data.chapters_dir
    data.chapters_dir = lambda: fake
    try:
        data.copy_chapters(tmp_path / "b", solutions=False)
    finally:
        data.chapters_dir = original
    kept = json.loads((tmp_path / "b" / "x.ipynb").read_text())["cells"]
    assert [c["source"] for c in kept] == ["keep"]


def test_driven_refuses_bad_forces_before_writing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "driven"
    assert main(["driven", "--forces", "0.5,abc", "--output", str(out)]) == 2
    assert "numbers in kT/Å" in capsys.readouterr().err
    assert main(["driven", "--forces", "0,1", "--output", str(out)]) == 2
    assert "(0, 5]" in capsys.readouterr().err
    assert not out.exists()
