"""The ``gdynbook`` command line (also ``python -m gdynbook``).

Every subcommand takes ``--output DIR`` (alias ``--out``) and ``--help``. Later
subcommands (``toy``, ``simulate``, ``train``, ``analyze``) register themselves in
``SUBCOMMANDS`` with a function that adds their arguments and one that runs them.

Errors a user can fix (:class:`ValueError`, :class:`FileNotFoundError`,
:class:`FileExistsError`) are printed as one line and give exit status 2; anything
else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gdynbook import __version__

EXIT_CODES = (
    "exit status: 0 success; 1 a failed acceptance check (gdynbook toy); 2 an input or "
    "option error (the message names it); 130 / 143 interrupted by SIGINT / SIGTERM after "
    "saving a checkpoint (gdynbook train: continue with --resume RUN_DIR)"
)


@dataclass(frozen=True)
class Subcommand:
    """One ``gdynbook`` subcommand."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def add_output_argument(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """Add the ``--output DIR`` / ``--out DIR`` option every subcommand has."""
    parser.add_argument(
        "--output",
        "--out",
        dest="output",
        type=Path,
        default=None if default is None else Path(default),
        required=default is None,
        metavar="DIR",
        help="directory to write results to" + ("" if default is None else f" (default {default})"),
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into DIR even if it already holds results",
    )


def prepare_output_dir(output: Path, overwrite: bool, marker_files: Sequence[str]) -> Path:
    """Create ``output`` and refuse to overwrite earlier results unless asked to.

    Raises
    ------
    FileExistsError
        If any of ``marker_files`` exists in ``output`` and ``overwrite`` is false.
    """
    existing = [name for name in marker_files if (output / name).exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{output} already holds {', '.join(existing)}: choose another --output or "
            "pass --overwrite."
        )
    output.mkdir(parents=True, exist_ok=True)
    return output


# ---------------------------------------------------------------------- convert
def _add_convert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="TRAJ",
        help="trajectory file, or several chunk files of one run in order "
        "(traj.npz or any format mdtraj reads)",
    )
    parser.add_argument("--topology", "--top", default=None, help="topology file (e.g. PDB)")
    parser.add_argument(
        "--target",
        default=None,
        help="target atoms: mdtraj selection, e.g. 'element Li', or comma-separated indices",
    )
    parser.add_argument(
        "--time-step-ps",
        type=bounded(float, 0, low_open=True),
        default=None,
        help="time between frames in ps, when the file does not carry it",
    )
    add_output_argument(parser)


def _parse_target(text: str | None) -> str | list[int] | None:
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    if all(p.lstrip("-").isdigit() for p in parts if p):
        return [int(p) for p in parts if p]
    return text


def _run_convert(args: argparse.Namespace) -> int:
    from gdynbook.trajectory import load_trajectory

    traj = load_trajectory(
        args.paths,
        topology=args.topology,
        target=_parse_target(args.target),
        time_step_ps=args.time_step_ps,
    )
    output = prepare_output_dir(args.output, args.overwrite, ["traj.npz"])
    path = traj.save(output / "traj.npz")
    summary = {
        "n_frames": traj.n_frames,
        "n_atoms": traj.n_atoms,
        "n_targets": traj.n_targets,
        "time_step_ps": traj.time_step_ps,
        "wrapped": traj.wrapped,
        "path": str(path),
    }
    print(json.dumps(summary, indent=2))
    return 0


# ---------------------------------------------------------------------- simulate
def _add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("system", choices=["peo-litfsi"], help="which system to simulate")
    parser.add_argument(
        "--resume", action="store_true", help="continue the simulation already in --output"
    )
    parser.add_argument(
        "--preset",
        choices=["full", "smoke"],
        default="full",
        help="full: the shipped data set's protocol; smoke: a seconds-long test",
    )
    parser.add_argument(
        "--runs", type=bounded(int, 1), default=None, help="number of production runs"
    )
    parser.add_argument(
        "--production-ps",
        type=bounded(float, 0, low_open=True),
        default=None,
        help="length of each production run, ps",
    )
    parser.add_argument(
        "--temperature-k",
        type=bounded(float, 0, low_open=True),
        default=None,
        help="temperature, K",
    )
    parser.add_argument("--seed", type=bounded(int, 0), default=None, help="master random seed")
    parser.add_argument("--platform", default="CPU", help="OpenMM platform: CPU, CUDA, ...")
    parser.add_argument(
        "--threads",
        type=bounded(int, 1),
        default=1,
        help="CPU threads (default 1, leaving the other cores free)",
    )
    parser.add_argument(
        "--max-hours",
        type=bounded(float, 0, low_open=True),
        default=None,
        help="stop cleanly after the chunk that passes this wall-clock time",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--time-step-check-ps",
        type=bounded(float, 0, low_open=True),
        default=None,
        metavar="PS",
        help="instead of production: compare 2 fs/natural masses with the production time "
        "step from the equilibrated state, PS ps each (needs --resume)",
    )
    parser.add_argument(
        "--campaign",
        type=Path,
        default=None,
        metavar="FILE",
        help="run (or, with --resume, continue) every build listed in a campaign file, "
        "one after another, each in DIR/<build name>",
    )
    add_output_argument(parser)


def _run_simulate(args: argparse.Namespace) -> int:
    from gdynbook.systems.peo_litfsi.md import PeoLitfsiSimulation, Protocol

    if args.overwrite:
        raise ValueError(
            "simulate never overwrites finished chunks: remove the output directory first, "
            "or continue it with --resume."
        )
    if args.campaign is not None:
        return _run_campaign(args)
    protocol = None
    if not args.resume:
        protocol = Protocol.smoke() if args.preset == "smoke" else Protocol()
        for name, value in (
            ("n_runs", args.runs),
            ("production_ps", args.production_ps),
            ("temperature_k", args.temperature_k),
            ("seed", args.seed),
        ):
            if value is not None:
                setattr(protocol, name, value)
        protocol.validate()
        if (args.output / "protocol.json").exists():
            raise FileExistsError(
                f"{args.output} already holds a simulation: pass --resume to continue it."
            )
    if args.resume and any(
        v is not None for v in (args.runs, args.production_ps, args.temperature_k, args.seed)
    ):
        raise ValueError("--resume continues with the stored protocol; drop the other options.")
    simulation = PeoLitfsiSimulation(
        args.output,
        protocol,
        platform=args.platform,
        threads=args.threads,
        resume=args.resume,
        max_wall_hours=args.max_hours,
        progress=not args.no_progress,
    )
    if args.time_step_check_ps is not None:
        if not args.resume:
            raise ValueError("--time-step-check-ps works on an equilibrated run: add --resume.")
        summary = simulation.validate_time_step(args.time_step_check_ps)
        print(json.dumps(summary, indent=2) if summary else "stopped early")
        return 0
    finished = simulation.run()
    print("finished" if finished else "stopped early (resume with --resume)")
    return 0


def _run_campaign(args: argparse.Namespace) -> int:
    from gdynbook.systems.peo_litfsi.campaign import read_campaign, run_campaign

    given = [
        name
        for name, value in (
            ("--runs", args.runs),
            ("--production-ps", args.production_ps),
            ("--temperature-k", args.temperature_k),
            ("--seed", args.seed),
            ("--time-step-check-ps", args.time_step_check_ps),
        )
        if value is not None
    ]
    if given or args.preset != "full":
        raise ValueError(
            "with --campaign every parameter comes from the campaign file; drop "
            + ", ".join(given or ["--preset"])
            + "."
        )
    if not args.campaign.is_file():
        raise FileNotFoundError(f"campaign file {args.campaign} does not exist.")
    builds = read_campaign(args.campaign)  # refuses a bad file before anything runs
    started = [b.name for b in builds if (args.output / b.name / "protocol.json").exists()]
    if started and not args.resume:
        raise FileExistsError(
            f"{args.output} already holds builds of this campaign ({', '.join(started)}): "
            "pass --resume to continue them."
        )
    finished = run_campaign(
        args.campaign,
        args.output,
        platform=args.platform,
        threads=args.threads,
        max_wall_hours=args.max_hours,
        progress=not args.no_progress,
    )
    print(
        "campaign finished"
        if finished
        else "not every build is finished (stopped early, or another process is running one): "
        "continue with --resume"
    )
    return 0


# ---------------------------------------------------------------------- train / analyze
def bounded(
    kind: type,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> Callable[[str], Any]:
    """An argparse ``type`` that parses ``kind`` and refuses values outside a range."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if isinstance(value, float) and not np_isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
            hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
            raise argparse.ArgumentTypeError(
                f"{text} is outside the allowed range {lo or '(−∞'}, {hi or '∞)'}"
            )
        return value

    parse.__name__ = kind.__name__
    return parse


def np_isfinite(value: float) -> bool:
    import math

    return math.isfinite(value)


def parse_frames(text: str) -> tuple[int | None, int | None]:
    """``START:STOP`` (either may be empty) → (start, stop)."""
    parts = text.split(":")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not START:STOP (e.g. 1000:50000 or :20000)")
    try:
        start, stop = (int(p) if p.strip() else None for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: START and STOP must be integers") from None
    if (start is not None and start < 0) or (stop is not None and stop <= (start or 0)):
        raise argparse.ArgumentTypeError(f"{text!r} needs 0 ≤ START < STOP")
    return start, stop


def add_reading_arguments(parser: argparse.ArgumentParser) -> None:
    """``--frames START:STOP``, ``--stride N`` and ``--float32``: what is read of each file."""
    parser.add_argument(
        "--frames",
        type=parse_frames,
        default=None,
        metavar="START:STOP",
        help="read only frames START ≤ i < STOP of each run (either may be left empty)",
    )
    parser.add_argument(
        "--stride",
        type=bounded(int, 1),
        default=1,
        help="read every N-th frame (the time step grows by N), ≥ 1",
    )
    parser.add_argument(
        "--float32",
        action="store_true",
        help="keep coordinates in single precision (half the memory)",
    )


#: Options of ``train`` that --resume takes from the run directory instead.
_TRAIN_SETTINGS = (
    "frames",
    "stride",
    "float32",
    "paths",
    "n_states",
    "lag_ps",
    "topology",
    "target",
    "time_step_ps",
    "node_selection",
    "n_neighbors",
    "cutoff",
    "n_conv",
    "atom_fea_len",
    "h_fea_len",
    "n_epochs",
    "batch_size",
    "lr",
    "pairs_per_epoch",
    "validation_fraction",
    "seed",
    "backend",
)


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.epilog = EXIT_CODES
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        default=[],
        metavar="TRAJ",
        help="trajectory files: each is one independent run of the same system "
        "(traj.npz or any format mdtraj reads)",
    )
    parser.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="continue an interrupted run from its last checkpoint, with the files and "
        "settings stored in RUN_DIR/run.json (give no other settings)",
    )
    parser.add_argument(
        "--n-states", type=bounded(int, 2), default=None, help="number of states, ≥ 2 (required)"
    )
    parser.add_argument(
        "--lag-ps",
        type=bounded(float, 0, low_open=True),
        default=None,
        help="training lag τ in ps, > 0, a whole number of frames (required; a modelling choice)",
    )
    parser.add_argument("--topology", "--top", default=None, help="topology file (e.g. PDB)")
    parser.add_argument(
        "--target", default=None, help="target atoms: mdtraj selection or comma-separated indices"
    )
    parser.add_argument(
        "--time-step-ps",
        type=bounded(float, 0, low_open=True),
        default=None,
        help="time between frames in ps, > 0, when not in the file",
    )
    add_reading_arguments(parser)
    # Encoder options carry GDyNetConfig's field names (dest); the older spellings stay
    # as aliases.
    parser.add_argument(
        "--node-selection",
        "--graph-atoms",
        dest="node_selection",
        default="all",
        help="graph nodes besides the targets: all, heavy (no H), an mdtraj selection or "
        "comma-separated indices",
    )
    parser.add_argument(
        "--n-neighbors",
        "--neighbors",
        dest="n_neighbors",
        type=bounded(int, 1),
        default=12,
        help="neighbours per atom (M), ≥ 1",
    )
    parser.add_argument(
        "--cutoff",
        type=bounded(float, 0, low_open=True),
        default=7.0,
        help="neighbour cutoff in Å, > 0",
    )
    parser.add_argument(
        "--n-conv",
        "--layers",
        dest="n_conv",
        type=bounded(int, 1),
        default=3,
        help="graph convolutions, ≥ 1",
    )
    parser.add_argument(
        "--atom-fea-len",
        "--features",
        dest="atom_fea_len",
        type=bounded(int, 1),
        default=16,
        help="node feature width, ≥ 1",
    )
    parser.add_argument(
        "--h-fea-len",
        dest="h_fea_len",
        type=bounded(int, 1),
        default=16,
        help="readout hidden width, ≥ 1",
    )
    parser.add_argument(
        "--n-epochs",
        "--epochs",
        dest="n_epochs",
        type=bounded(int, 1),
        default=20,
        help="training epochs, ≥ 1",
    )
    parser.add_argument(
        "--batch-size", type=bounded(int, 2), default=256, help="pairs per step, ≥ 2"
    )
    parser.add_argument(
        "--lr",
        type=bounded(float, 0, 1, low_open=True),
        default=5e-3,
        help="learning rate, in (0, 1]",
    )
    parser.add_argument(
        "--pairs-per-epoch",
        type=bounded(int, 2),
        default=None,
        help="random pairs per epoch, ≥ 2 (default: all)",
    )
    parser.add_argument(
        "--validation-fraction",
        type=bounded(float, 0, 1, high_open=True),
        default=0.1,
        help="share held out for validation, in [0, 1)",
    )
    parser.add_argument("--seed", type=bounded(int, 0), default=0, help="random seed, ≥ 0")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda")
    parser.add_argument("--backend", choices=["torch", "dgl"], default="torch")
    parser.add_argument(
        "--checkpoint-minutes",
        type=bounded(float, 0, low_open=True),
        default=10.0,
        help="also checkpoint within an epoch after this many minutes, > 0",
    )
    parser.add_argument(
        "--workers",
        type=bounded(int, 0),
        default=0,
        help="processes that build the graphs and load batches, ≥ 0 (0: none; the result "
        "does not depend on it)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--output",
        "--out",
        dest="output",
        type=Path,
        default=None,
        metavar="DIR",
        help="the run directory to create (required unless --resume)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into DIR even if it already holds results",
    )


def _node_selection(text: str, topology: Any) -> str | list[int] | None:
    if text == "all":
        return None
    if text == "heavy":
        return "heavy"
    parsed = _parse_target(text)
    if isinstance(parsed, list):
        return parsed
    if topology is None:
        raise ValueError(
            f"--node-selection {text!r} is an mdtraj selection and needs a topology (--topology); "
            "or use all, heavy or indices."
        )
    import mdtraj

    top = topology if isinstance(topology, mdtraj.Topology) else mdtraj.load_topology(topology)
    try:
        selected = top.select(text)
    except Exception as exc:  # noqa: BLE001 - mdtraj raises several types
        raise ValueError(
            f"--node-selection {text!r} is not a valid mdtraj selection ({exc})."
        ) from exc
    if selected.size == 0:
        raise ValueError(f"--node-selection {text!r} selects no atoms.")
    return [int(i) for i in selected]


def _run_train(args: argparse.Namespace) -> int:
    from gdynbook.jobs.own_data import (
        CONFIG,
        PREDICTIONS,
        RUN_SETTINGS,
        load_with_options,
        read_run_settings,
        train_run,
        train_settings_from_run,
    )

    parser_defaults = argparse.ArgumentParser()
    _add_train_arguments(parser_defaults)
    if args.resume is not None:
        given = [
            name
            for name in _TRAIN_SETTINGS
            if getattr(args, name) != parser_defaults.get_default(name)
        ]
        if given or args.output is not None:
            raise ValueError(
                "--resume takes the files and settings stored in RUN_DIR/run.json; drop "
                + ", ".join(
                    f"--{n.replace('_', '-')}"
                    for n in given + (["output"] if args.output is not None else [])
                )
                + "."
            )
        stored = read_run_settings(args.resume)
        output = args.resume
        options = stored["load_options"]
        paths = [Path(p) for p in stored["sources"] or []]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise FileNotFoundError(
                f"--resume: the run's trajectory files are gone: {', '.join(missing)}."
            )
        settings = train_settings_from_run(stored)
    else:
        if not args.paths:
            raise ValueError("give the trajectory files to train on (or --resume RUN_DIR).")
        for name in ("n_states", "lag_ps", "output"):
            if getattr(args, name) is None:
                raise ValueError(f"--{name.replace('_', '-')} is required.")
        output = args.output
        existing = [n for n in (PREDICTIONS, CONFIG, RUN_SETTINGS) if (output / n).exists()]
        if existing and not args.overwrite:
            raise FileExistsError(
                f"{output} already holds {', '.join(existing)}: choose another --output, pass "
                "--overwrite, or continue an interrupted run with --resume."
            )
        node_selection = _node_selection(args.node_selection, args.topology)
        # the graph's atoms are chosen while reading: the others never reach memory
        options = {
            "topology": None if args.topology is None else str(Path(args.topology).resolve()),
            "target": _parse_target(args.target),
            "time_step_ps": args.time_step_ps,
            "frames": None if args.frames is None else list(args.frames),
            "stride": args.stride,
            "atoms": node_selection,
            "float32": args.float32,
        }
        paths = [p.resolve() for p in args.paths]
        settings = dict(
            n_states=args.n_states,
            lag_ps=args.lag_ps,
            n_neighbors=args.n_neighbors,
            cutoff=args.cutoff,
            n_conv=args.n_conv,
            atom_fea_len=args.atom_fea_len,
            h_fea_len=args.h_fea_len,
            node_selection=None,
            n_epochs=args.n_epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            pairs_per_epoch=args.pairs_per_epoch,
            validation_fraction=args.validation_fraction,
            seed=args.seed,
            backend=args.backend,
        )
    from contextlib import nullcontext

    from gdynbook import distributed

    trajectories = [load_with_options(path, options) for path in paths]
    # under torchrun (WORLD_SIZE > 1) every process trains on its share of each batch
    # with the exact, all-reduced VAMP loss; one process writes
    launched = distributed.init_from_environment(args.device)
    with distributed.data_parallel() if launched else nullcontext():
        config = train_run(
            trajectories,
            output,
            **settings,
            device=args.device,
            sources=[str(p) for p in paths],
            load_options=options,
            resume=args.resume is not None,
            handle_signals=True,
            checkpoint_every_s=args.checkpoint_minutes * 60.0,
            progress=not args.no_progress and distributed.rank() == 0,
            workers=args.workers,
        )
        distributed.barrier()
        lead = distributed.rank() == 0
    if launched:
        import torch.distributed as dist

        dist.destroy_process_group()
    if not lead:
        return 0
    score = config["vamp2_validation"]
    print(
        f"trained {config['n_states']} states at τ = {config['lag_ps']:g} ps on "
        f"{config['n_trajectories']} trajectories; validation VAMP-2 = "
        + (f"{score:.3f}" if score is not None else "n/a")
    )
    print(f"written to {output}; next: gdynbook analyze {output}")
    return 0


# ---------------------------------------------------------------------- predict
def _add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXIT_CODES
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a gdynbook train output")
    parser.add_argument(
        "paths", nargs="+", type=Path, metavar="TRAJ", help="new trajectories of the same system"
    )
    parser.add_argument(
        "--topology", "--top", default=None, help="topology file (default: the run's)"
    )
    parser.add_argument(
        "--target", default=None, help="target atoms (default: the run's selection)"
    )
    parser.add_argument(
        "--time-step-ps",
        type=bounded(float, 0, low_open=True),
        default=None,
        help="time between frames in ps (default: the run's)",
    )
    parser.add_argument(
        "--frames",
        type=parse_frames,
        default=None,
        metavar="START:STOP",
        help="read only frames START ≤ i < STOP of each file",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda")
    add_output_argument(parser)


def _run_predict(args: argparse.Namespace) -> int:
    from gdynbook.jobs.own_data import load_with_options, predict_run, read_run_settings

    stored = read_run_settings(args.run_dir)
    # read like the training files, but whole (the training's frame window is not theirs)
    options = {k: v for k, v in stored.get("load_options", {}).items() if k != "frames"}
    if args.topology is not None:
        options["topology"] = args.topology
    if args.target is not None:
        options["target"] = _parse_target(args.target)
    if args.time_step_ps is not None:
        options["time_step_ps"] = args.time_step_ps
    existing = [n for n in ("memberships.npz", "summary.json") if (args.output / n).exists()]
    if existing and not args.overwrite:
        raise FileExistsError(
            f"{args.output} already holds {', '.join(existing)}: choose another --output or "
            "pass --overwrite."
        )
    if args.frames is not None:
        options["frames"] = list(args.frames)
    trajectories = [load_with_options(path, options) for path in args.paths]
    result = predict_run(args.run_dir, trajectories, args.output, device=args.device)
    for path, populations in zip(args.paths, result["populations"], strict=True):
        print(f"{path}: mean memberships " + " ".join(f"{p:.3f}" for p in populations))
    print(f"written to {args.output}")
    return 0


def _add_analyze_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a gdynbook train output")
    parser.add_argument(
        "--lags-ps",
        type=bounded(float, 0, low_open=True),
        nargs="+",
        default=None,
        help="analysis lags, ps",
    )
    parser.add_argument(
        "--ck-lag-ps",
        type=bounded(float, 0, low_open=True),
        default=None,
        help="lag of the reported model (default: training lag)",
    )
    parser.add_argument("--bootstrap", type=bounded(int, 0), default=100, help="bootstrap samples")
    parser.add_argument("--no-figures", action="store_true", help="write summary.json only")
    parser.add_argument(
        "--output",
        "--out",
        dest="output",
        type=Path,
        default=None,
        metavar="DIR",
        help="where to write summary.json and figures (default: RUN_DIR; an earlier "
        "analysis there is replaced)",
    )


def _run_analyze(args: argparse.Namespace) -> int:
    from gdynbook.jobs.own_data import analyze_run

    summary = analyze_run(
        args.run_dir,
        output=args.output,
        lags_ps=args.lags_ps,
        ck_lag_ps=args.ck_lag_ps,
        n_bootstrap=args.bootstrap,
        figures=not args.no_figures,
    )
    timescales = ", ".join(
        f"{t:.3g} ± {e:.2g}"
        for t, e in zip(summary["timescales_ps"], summary["timescales_err_ps"], strict=True)
    )
    print(f"at τ = {summary['lag_ps']:g} ps: implied timescales (ps) {timescales}")
    print("populations " + " / ".join(f"{p:.3f}" for p in summary["populations"]))
    print(
        f"CK test {'passes' if summary['ck_passes'] else 'FAILS'} "
        f"(largest deviation {summary['ck_max_deviation']:.3f})"
    )
    for hint in summary["hints"]:
        print(f"note: {hint}")
    print(f"written to {(args.output or args.run_dir) / 'summary.json'}")
    return 0


def _add_toy_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--regime",
        choices=["default", "paper"],
        default="default",
        help="default: fast, CPU (~3 min); paper: the paper's regime, 10⁶ frames (GPU)",
    )
    parser.add_argument(
        "--frames",
        type=bounded(int, 1),
        default=None,
        help="total frames over all replicas (fewer: faster)",
    )
    parser.add_argument(
        "--epochs",
        type=bounded(int, 1),
        default=None,
        help="GDyNet training epochs (default 12; the baseline trains 2.5× as many)",
    )
    parser.add_argument(
        "--seed", type=bounded(int, 0), default=0, help="seed of simulation and training"
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda")
    parser.add_argument("--no-figures", action="store_true", help="write summary.json only")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_output_argument(parser, default="toy-results")


def _run_toy(args: argparse.Namespace) -> int:
    from gdynbook.jobs.toy import ToyTraining, run_toy_job

    if args.frames is not None and args.frames <= 0:
        raise ValueError("--frames must be a positive number of frames.")
    output = prepare_output_dir(args.output, args.overwrite, ["summary.json"])
    training = ToyTraining()
    if args.epochs is not None:
        if args.epochs < 1:
            raise ValueError("--epochs must be at least 1.")
        training.n_epochs = args.epochs
        training.baseline_epochs = -(-5 * args.epochs // 2)  # ⌈2.5 × epochs⌉
    summary = run_toy_job(
        output,
        regime=args.regime,
        n_frames=args.frames,
        seed=args.seed,
        device=args.device,
        training=training,
        figures=not args.no_figures,
        progress=not args.no_progress,
    )
    rows = [
        ("lag", f"{summary['lag_ps']:g} ps"),
        (
            "slowest timescale",
            f"GDyNet {summary['gdynet_timescale_ps']:.2f} ± "
            f"{summary['gdynet_timescale_err_ps']:.2f} ps, reference "
            f"{summary['reference_timescale_ps']:.2f} ps",
        ),
        (
            "baseline timescale",
            f"{summary['baseline_timescale_ps']:.1f} ps, slowest site-identity mode "
            f"{summary['reference_identity_timescale_ps']:.1f} ps",
        ),
        (
            "recall",
            f"tetrahedral {summary['tet_recall']:.3f}, octahedral {summary['oct_recall']:.3f}; "
            f"baseline balanced accuracy {summary['baseline_balanced_accuracy']:.3f} "
            f"(argmax {summary['baseline_balanced_accuracy_argmax']:.3f})",
        ),
        (
            "populations",
            "GDyNet "
            + "/".join(f"{p:.3f}" for p in summary["populations"])
            + ", reference "
            + "/".join(f"{p:.3f}" for p in summary["reference_populations"]),
        ),
        (
            "VAMP-2",
            f"GDyNet {summary['gdynet_vamp2']:.3f}, baseline {summary['baseline_vamp2']:.3f}",
        ),
    ]
    for name, value in rows:
        print(f"{name:>20}: {value}")
    failed = [name for name, ok in summary["acceptance"].items() if not ok]
    print(f"{'acceptance':>20}: " + ("all passed" if not failed else "FAILED " + "; ".join(failed)))
    print(f"{'written to':>20}: {output}")
    return 1 if failed else 0


def _add_driven_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--full",
        action="store_true",
        help="full statistics (default: fast without a GPU, full with one; GDYNBOOK_FAST)",
    )
    parser.add_argument(
        "--forces",
        default=None,
        help=(
            "forces on the Li in kT/Å, comma-separated, each in (0, 5] "
            "(default: fast 0.25,0.5,1,2; full 0.25,0.5,1,1.5,2)"
        ),
    )
    parser.add_argument(
        "--seed", type=bounded(int, 0), default=0, help="seed of simulation and training"
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_output_argument(parser, default="driven-results")


def _run_driven(args: argparse.Namespace) -> int:
    from gdynbook.jobs.driven import run_out_of_equilibrium

    forces = None
    if args.forces is not None:
        try:
            forces = tuple(float(text) for text in args.forces.split(","))
        except ValueError as exc:
            raise ValueError(
                f"--forces {args.forces!r}: give numbers in kT/Å separated by commas."
            ) from exc
        if any(not 0 < f <= 5 for f in forces):
            raise ValueError(f"--forces {args.forces!r}: each force must lie in (0, 5] kT/Å.")
    output = prepare_output_dir(args.output, args.overwrite, ["summary.json"])
    summary = run_out_of_equilibrium(
        output,
        fast=False if args.full else None,
        seed=args.seed,
        forces_kt_per_a=forces,
        device=args.device,
        progress=not args.no_progress,
    )
    for name, entry in summary["nonstationary"].items():
        values = ", ".join(
            f"{method} {entry[f'populations_{method}'][1]:.3f}"
            for method in ("nonreversible", "reversible_ml", "symmetrised", "mean_membership")
        )
        print(
            f"{name + ' starts':>14}: oct population {values}; equilibrium "
            f"{entry['reference_populations_learned'][1]:.3f}"
        )
    for entry in summary["driven"]:
        print(
            f"{'f = ' + format(entry['force_kt_per_a'], 'g') + ' kT/Å':>14}: v "
            f"{entry['drift_velocity_A_per_ps']:.4f} ± {entry['drift_velocity_err']:.4f} "
            f"(tilted {entry['drift_velocity_tilted']:.4f}) Å/ps; entropy production counted "
            f"{entry['entropy_production_counted']:.4f}, f·v/kT "
            f"{entry['entropy_production_expected']:.4f}, two-state "
            f"{entry['entropy_production_two_state']:.1e} per ps; T_Li "
            f"{entry['li_temperature_k']:.0f} K"
        )
    mob = summary["mobility_check"]
    print(
        f"{'Einstein':>14}: mobility {mob['mobility']:.4f} ± {mob['mobility_err']:.4f}, "
        f"D/kT {mob['d_over_kT']:.4f} ± {mob['d_over_kT_err']:.4f} Å²/ps"
    )
    failed = [name for name, ok in summary["checks"].items() if not ok]
    print(f"{'checks':>14}: " + ("all passed" if not failed else "FAILED " + "; ".join(failed)))
    print(f"{'written to':>14}: {output}")
    return 1 if failed else 0


def _add_peo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder with the build-NN (or older run-NN) directories (default: the shipped "
        "data/peo_litfsi). Builds are analysed by the registered plan "
        "(reference/peo_analysis_plan.md), which fixes states, lag and seeds",
    )
    parser.add_argument(
        "--states",
        type=bounded(int, 2),
        nargs="+",
        default=None,
        help="run-NN data only: numbers of states to cross-validate (default 2 3 4; one "
        "value: skip cross-validation)",
    )
    parser.add_argument(
        "--seeds",
        type=bounded(int, 0),
        nargs="+",
        default=None,
        help="run-NN data only: ensemble seeds (default 0 1 2)",
    )
    parser.add_argument(
        "--layout",
        choices=["auto", "builds", "runs"],
        default="auto",
        help="analyse the build-NN directories (by the registered plan) or the older run-NN "
        "ones; auto: whichever the folder holds",
    )
    parser.add_argument(
        "--preset",
        choices=["plan", "smoke"],
        default="plan",
        help="builds only: plan = the registered analysis plan; smoke = a minutes-long check "
        "of the pipeline with tiny models (not a result)",
    )
    parser.add_argument(
        "--max-frames",
        type=bounded(int, 10),
        default=None,
        help="builds only: use the first N frames of every build (a quick check, not the plan)",
    )
    parser.add_argument(
        "--no-fit-store",
        action="store_true",
        help="builds only: keep no finished fits. By default every fit is kept in "
        "OUTPUT/fits: the same command started again resumes where it stopped, and a second "
        "process started with the same command (another core, another GPU) shares the work",
    )
    parser.add_argument(
        "--finished-only",
        action="store_true",
        help="builds only: leave out builds whose production is still running (an interim "
        "run while the campaign goes on; the lockbox stays shut)",
    )
    parser.add_argument(
        "--prediction-seeds",
        type=bounded(int, 0),
        nargs="+",
        default=None,
        help="builds only: write the memberships of these seeds of the final ensemble "
        "(default: every seed; the shipped data keep seed 0 to stay small)",
    )
    parser.add_argument(
        "--epochs", type=bounded(int, 1), default=None, help="training epochs (default 15)"
    )
    parser.add_argument(
        "--lag-ps",
        type=bounded(float, 0, low_open=True),
        default=None,
        help="training lag (default 100)",
    )
    parser.add_argument(
        "--max-runs", type=bounded(int, 2), default=None, help="use only the first N finished runs"
    )
    parser.add_argument(
        "--threads",
        type=bounded(int, 1),
        default=None,
        help="torch CPU threads (same seed and thread count: the same numbers)",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_output_argument(parser, default="peo-results")


def _run_peo(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from gdynbook import data
    from gdynbook.jobs.peo import PeoTraining, run_peo_job
    from gdynbook.systems.peo_litfsi.runs import build_directories, run_directories

    root = args.data if args.data is not None else data.data_dir() / "peo_litfsi"
    layout = args.layout
    if layout == "auto":
        has_builds, has_runs = bool(build_directories(root)), bool(run_directories(root))
        if has_builds and has_runs:
            raise ValueError(
                f"{root} holds both build-NN and run-NN directories: say which to analyse "
                "with --layout builds or --layout runs."
            )
        layout = "builds" if has_builds else "runs"
    if layout == "builds":
        return _run_peo_builds(args, root)
    if (
        args.preset != "plan"
        or args.max_frames is not None
        or args.no_fit_store
        or args.prediction_seeds is not None
        or args.finished_only
    ):
        raise ValueError(
            "--preset, --max-frames, --no-fit-store, --prediction-seeds and --finished-only "
            "are for build-NN data (--layout builds)."
        )
    args.states = args.states or [2, 3, 4]
    args.seeds = args.seeds or [0, 1, 2]
    if any(n < 2 for n in args.states):
        raise ValueError("--states must be numbers of states of at least 2.")
    output = prepare_output_dir(args.output, args.overwrite, ["summary.json"])
    training = PeoTraining()
    if args.epochs is not None:
        if args.epochs < 1:
            raise ValueError("--epochs must be at least 1.")
        training = replace(training, n_epochs=args.epochs)
    if args.lag_ps is not None:
        training = replace(training, lag_ps=args.lag_ps)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    summary = run_peo_job(
        root,
        output,
        candidates=args.states,
        seeds=args.seeds,
        n_states=args.states[0] if len(args.states) == 1 else None,
        training=training,
        max_runs=args.max_runs,
        device=args.device,
        progress=not args.no_progress,
    )
    cv = summary["cross_validation"]
    if cv is not None:
        for n, (mean, sem) in cv["scores"].items():
            print(f"{n} states: held-out VAMP-2 {mean:.3f} ± {sem:.3f}")
    print(f"chosen: {summary['n_states']} states at a lag of {training.lag_ps:g} ps")
    agreement = ", ".join(f"{a:.3f}" for a in summary["agreement_with_seed0"])
    print(f"seeds agree with seed {summary['seeds'][0]} on {agreement} of the samples")
    print(f"written to {output}")
    return 0


def _run_peo_builds(args: argparse.Namespace, root: Path) -> int:
    from dataclasses import replace

    from gdynbook.jobs.peo_builds import PLAN_TRAINING, BuildPlan, run_build_job, smoke_plan

    fixed = [
        name
        for name, value in (
            ("--states", args.states),
            ("--seeds", args.seeds),
            ("--lag-ps", args.lag_ps),
            ("--max-runs", args.max_runs),
        )
        if value is not None
    ]
    if fixed:
        raise ValueError(
            f"build-NN data ({root}) are analysed by the registered plan "
            f"(reference/peo_analysis_plan.md) fixes {', '.join(fixed)}; drop them."
        )
    output = prepare_output_dir(args.output, args.overwrite, ["summary.json"])
    if args.preset == "smoke":
        plan, training = smoke_plan()
    else:
        plan, training = BuildPlan(), PLAN_TRAINING
    if args.epochs is not None:
        training = replace(training, n_epochs=args.epochs)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    # anything but the registered plan on its full data is a check: the lockbox stays shut
    check = (
        args.preset == "smoke"
        or args.max_frames is not None
        or args.epochs is not None
        or args.finished_only
    )
    summary = run_build_job(
        root,
        output,
        plan=plan,
        training=training,
        max_frames=args.max_frames,
        open_lockbox=not check,
        device=args.device,
        progress=not args.no_progress,
        keep_fits=not args.no_fit_store,
        prediction_seeds=args.prediction_seeds,
        finished_only=args.finished_only,
    )
    for n, (mean, sem) in summary["cross_validation"]["scores"].items():
        print(f"{n} states: held-out VAMP-2 {mean:.3f} ± {sem:.3f} (folds: builds)")
    print(f"chosen: {summary['n_states']} states at a lag of {summary['lag_ps']:g} ps")
    print(f"reference model: {summary['reference_vamp2']:.3f} (mean held-out VAMP-2 over folds)")
    if check:
        print(
            f"(a check, not the registered plan: the lockbox {summary['lockbox']} stays shut; "
            "do not report these numbers)"
        )
    else:
        lockbox = summary["held_out"][summary["lockbox"]]
        print(
            f"lockbox {summary['lockbox']}: held-out VAMP-2 {lockbox['vamp2']:.3f}, CK test "
            f"{'passes' if lockbox['ck_passes'] else 'fails'}"
        )
    print(f"written to {output} in {summary['wall_time_s']:.0f} s")
    if "fit_wall_time_s" in summary:
        print(
            f"training time of every fit, summed over the processes that ran them: "
            f"{summary['fit_wall_time_s']:.0f} s (kept in {output / 'fits'})"
        )
    return 0


# ---------------------------------------------------------------------- screen
def _add_screen_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--campaign",
        type=Path,
        default=Path("data/peo_litfsi/campaign-screen.json"),
        help="the screen's campaign file (default data/peo_litfsi/campaign-screen.json)",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=Path("data/peo_litfsi"),
        help="the folder the campaign ran into (default data/peo_litfsi)",
    )
    parser.add_argument(
        "--partial",
        action="store_true",
        help="apply the rule to the finished builds only (a preliminary look, not the choice)",
    )
    add_output_argument(parser, default="screen-results")


def _run_screen(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from gdynbook.cache import atomic_write_bytes
    from gdynbook.jobs.rundir import write_json
    from gdynbook.systems.peo_litfsi.screen import (
        production_campaign,
        screen_campaign,
        screen_table,
    )

    rows, verdict, unfinished = screen_campaign(args.campaign, args.root, args.partial)
    table = screen_table(rows, verdict)
    if unfinished:
        table = (
            f"PRELIMINARY: {len(unfinished)} build(s) not finished "
            f"({', '.join(unfinished)}); this is not the choice.\n\n" + table
        )
    print(table)
    args.output.mkdir(parents=True, exist_ok=True)
    write_json(
        args.output / "screen.json",
        {
            "rows": [asdict(row) for row in rows],
            "verdict": asdict(verdict),
            "unfinished": unfinished,
            "final": not unfinished,
        },
    )
    atomic_write_bytes(args.output / "screen.md", (table + "\n").encode())
    if not unfinished:
        campaign = args.output / "campaign-production.json"
        write_json(campaign, production_campaign(args.campaign, verdict.chosen))
        print(
            f"\nThe production campaign for {verdict.chosen} is {campaign}; start it with\n"
            f"  gdynbook simulate peo-litfsi --campaign {campaign} --output {args.root}\n"
            "(the same command again, with --resume, in a second process runs the next "
            "build beside it)."
        )
    print(f"written to {args.output}")
    return 0


# ---------------------------------------------------------------------- notebooks
def _add_notebooks_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-solutions", action="store_true", help="leave out the exercises' solution cells"
    )
    add_output_argument(parser, default="gdynbook-chapters")


def _run_notebooks(args: argparse.Namespace) -> int:
    from gdynbook.data import copy_chapters

    written = copy_chapters(args.output, solutions=not args.no_solutions, overwrite=args.overwrite)
    print(f"{len(written)} chapters written to {args.output}; open them with Jupyter.")
    return 0


SUBCOMMANDS: list[Subcommand] = [
    Subcommand(
        name="simulate",
        help="run (or resume) the MD simulations behind the book's data sets",
        add_arguments=_add_simulate_arguments,
        run=_run_simulate,
    ),
    Subcommand(
        name="train",
        help="train a GDyNet on your own trajectories into a run directory",
        add_arguments=_add_train_arguments,
        run=_run_train,
    ),
    Subcommand(
        name="predict",
        help="apply a trained run's model to new trajectories of the same system",
        add_arguments=_add_predict_arguments,
        run=_run_predict,
    ),
    Subcommand(
        name="analyze",
        help="implied timescales, CK test and populations of a trained run directory",
        add_arguments=_add_analyze_arguments,
        run=_run_analyze,
    ),
    Subcommand(
        name="toy",
        help="the toy system end to end: simulate, train GDyNet and a baseline, analyse",
        add_arguments=_add_toy_arguments,
        run=_run_toy,
    ),
    Subcommand(
        name="driven",
        help="the toy system out of equilibrium: relaxation data and a driven steady state",
        add_arguments=_add_driven_arguments,
        run=_run_driven,
    ),
    Subcommand(
        name="peo",
        help="PEO/LiTFSI: choose the number of Li⁺ states on held-out runs, train a seed ensemble",
        add_arguments=_add_peo_arguments,
        run=_run_peo,
    ),
    Subcommand(
        name="screen",
        help="PEO/LiTFSI: measure the force-field screen's builds and apply the registered rule",
        add_arguments=_add_screen_arguments,
        run=_run_screen,
    ),
    Subcommand(
        name="notebooks",
        help="copy the book's chapter notebooks into a folder, to run them yourself",
        add_arguments=_add_notebooks_arguments,
        run=_run_notebooks,
    ),
    Subcommand(
        name="convert",
        help="read a trajectory (traj.npz or any mdtraj format) and write a gdynbook traj.npz",
        add_arguments=_add_convert_arguments,
        run=_run_convert,
    ),
]


def build_parser() -> argparse.ArgumentParser:
    """Return the ``gdynbook`` argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="gdynbook",
        description="Graph dynamical networks: simulate, train and analyse atomic dynamics.",
        epilog=EXIT_CODES,
    )
    parser.add_argument("--version", action="version", version=f"gdynbook {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for sub in SUBCOMMANDS:
        sub_parser = subparsers.add_parser(sub.name, help=sub.help, description=sub.help)
        sub.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=sub.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or an option argparse refused (2)
        return int(exc.code or 0)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args))
    except (ValueError, FileNotFoundError, FileExistsError, MemoryError) as exc:
        print(f"gdynbook {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        from gdynbook.cache import LockHeld
        from gdynbook.train import TrainingError  # torch is loaded by then

        if not isinstance(exc, TrainingError | LockHeld):
            raise
        print(f"gdynbook {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from gdynbook.train import TrainingInterrupted

        if not isinstance(exc, TrainingInterrupted):
            raise
        run_dir = exc.checkpoint.parent if exc.checkpoint is not None else None
        hint = f"; resume with: gdynbook train --resume {run_dir}" if run_dir else ""
        print(
            f"gdynbook {args.command}: interrupted at epoch {exc.epoch + 1}{hint}", file=sys.stderr
        )
        return exc.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
