"""What a PEO/LiTFSI trajectory can and cannot carry: Li⁺ chain residence, fixed labels,
pairing, sub-diffusion, chain size.

A learned Li⁺ "state" means something only if Li⁺ actually change state within the data.
These diagnostics ask that of the data themselves, before any network is trained:

* :func:`li_chain` — which chain holds a Li⁺ (the one with most ether O in its first
  shell) in every frame; :func:`~gdynbook.systems.peo_litfsi.runs.durable_changes`
  counts changes that last;
* :func:`between_ion_fraction` — how much of a per-frame Li⁺ quantity's variance lies
  *between* ions (a fixed label per ion) rather than within each ion's time series,
  beside :func:`switching_baseline`, what a label that truly switches with lifetime t
  would leave in a run of length T;
* :func:`~gdynbook.systems.peo_litfsi.shells.chain_end_distance` — how far (in EO units
  along the chain) a Li⁺'s ether O sit from the nearest chain end;
* :func:`msd_exponent` — the local slope of log MSD against log t (1: diffusive);
* :func:`radius_of_gyration` — chain size, to compare with the box length;
* :func:`li_diagnostics` — all of them for one run, with pairing and cluster fractions;
  :func:`diagnostics_per_build` and :func:`interval_over_builds` — for independent
  builds, with intervals over them (:func:`diagnostics_over_builds` does both).

Units: Å, ps.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gdynbook.systems.peo_litfsi.runs import (
    LI_O_SHELL_A,
    PeoLitfsiRun,
    durable_changes,
    durable_switches,
    pair_distances,
)
from gdynbook.systems.peo_litfsi.shells import chain_end_distance, ether_oxygen_layout


# ---------------------------------------------------------------------- chain residence
def li_chain(
    li_o_distances: np.ndarray, o_chain: np.ndarray, cutoff_a: float = LI_O_SHELL_A
) -> np.ndarray:
    """The chain holding each Li⁺ in each frame.

    Parameters
    ----------
    li_o_distances : numpy.ndarray, shape (n_frames, n_li, n_o)
        Li⁺–ether O distances, Å (minimum image).
    o_chain : numpy.ndarray of int, shape (n_o,)
        Chain number of each ether O.
    cutoff_a : float
        First-shell radius, Å.

    Returns
    -------
    numpy.ndarray of int, shape (n_frames, n_li)
        The chain with the most ether O within ``cutoff_a`` (ties: the chain of the
        nearest of them); −1 where no ether O is within the shell.
    """
    distances = np.asarray(li_o_distances, dtype=np.float64)
    o_chain = np.asarray(o_chain, dtype=np.int64)
    if distances.ndim != 3 or distances.shape[-1] != o_chain.size:
        raise ValueError(
            "li_o_distances must be (n_frames, n_li, n_o) with n_o = len(o_chain); got "
            f"{distances.shape} and {o_chain.size} chain numbers."
        )
    inside = distances < cutoff_a
    n_chains = int(o_chain.max()) + 1
    counts = np.zeros((*distances.shape[:2], n_chains), dtype=np.int64)
    for chain in range(n_chains):
        counts[..., chain] = inside[..., o_chain == chain].sum(axis=-1)
    best = counts.max(axis=-1)
    # ties: prefer the chain of the nearest shell O (a tiny tie-breaking bonus)
    nearest = np.where(inside, distances, np.inf).argmin(axis=-1)
    bonus = np.zeros_like(counts, dtype=np.float64)
    np.put_along_axis(bonus, o_chain[nearest][..., None], 0.5, axis=-1)
    label = np.argmax(counts + bonus, axis=-1)
    return np.where(best > 0, label, -1)


# ---------------------------------------------------------------------- fixed labels
def between_ion_fraction(values: np.ndarray) -> float:
    """Share of the variance of a per-frame, per-ion quantity that lies between ions.

    ``var(per-ion time means) / var(all values)`` (population variances): 0 when every
    ion samples the same distribution over the run, 1 when each ion keeps its own fixed
    value. NaN frames are ignored.

    Parameters
    ----------
    values : numpy.ndarray, shape (n_frames, n_ions)
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] < 2:
        raise ValueError(f"values must be (n_frames, n_ions ≥ 2), got shape {values.shape}.")
    total = np.nanvar(values)
    if not np.isfinite(total) or total == 0:
        return float("nan")
    counts = np.sum(np.isfinite(values), axis=0)
    seen = counts > 0  # an ion without a single finite value carries no weight
    means = np.nansum(values[:, seen], axis=0) / counts[seen]
    grand = np.sum(means * counts[seen]) / counts.sum()
    between = np.sum(counts[seen] * (means - grand) ** 2) / counts.sum()
    return float(between / total)


def switching_baseline(lifetime_ps: float, duration_ps: float) -> float:
    """Between-ion fraction expected from a label that switches with lifetime t.

    For a stationary two-valued label with exponential correlation e^{−|s|/t} observed
    over T, the variance of its time mean over the variance of the label is
    (2t/T)[1 − (t/T)(1 − e^{−T/t})]; ions switching independently leave that share of
    the variance between ions by chance alone.
    """
    if lifetime_ps <= 0 or duration_ps <= 0:
        raise ValueError("lifetime_ps and duration_ps must be positive.")
    ratio = lifetime_ps / duration_ps
    return float(2 * ratio * (1 - ratio * (1 - np.exp(-1 / ratio))))


# ---------------------------------------------------------------------- transport, size
def msd_exponent(lags_ps: np.ndarray, msd_a2: np.ndarray, window_ps: tuple[float, float]) -> float:
    """Slope of log MSD against log t over ``window_ps`` (1: diffusive, < 1: sub-diffusive).

    Raises
    ------
    ValueError
        If fewer than two lags fall in the window.
    """
    lags = np.asarray(lags_ps, dtype=np.float64)
    msd = np.asarray(msd_a2, dtype=np.float64)
    keep = (lags >= window_ps[0]) & (lags <= window_ps[1]) & (msd > 0)
    if keep.sum() < 2:
        raise ValueError(
            f"fewer than two lags lie in the window {window_ps} ps: use a longer trajectory "
            "or a wider window."
        )
    return float(np.polyfit(np.log(lags[keep]), np.log(msd[keep]), 1)[0])


def radius_of_gyration(coords: np.ndarray, groups: Sequence[np.ndarray]) -> np.ndarray:
    """Radius of gyration of each group of atoms (equal weights), Å.

    Parameters
    ----------
    coords : numpy.ndarray, shape (n_frames, n_atoms, 3)
        Unwrapped coordinates (a chain must be whole), Å.
    groups : sequence of index arrays
        Atoms of each chain.

    Returns
    -------
    numpy.ndarray, shape (n_frames, n_groups)
    """
    coords = np.asarray(coords, dtype=np.float64)
    out = np.empty((coords.shape[0], len(groups)))
    for k, atoms in enumerate(groups):
        x = coords[:, np.asarray(atoms)]
        centred = x - x.mean(axis=1, keepdims=True)
        out[:, k] = np.sqrt(np.mean(np.sum(centred**2, axis=-1), axis=1))
    return out


# ---------------------------------------------------------------------- one run
def li_diagnostics(
    run: PeoLitfsiRun,
    *,
    min_durable_ps: float = 20.0,
    msd_window_ps: tuple[float, float] = (200.0, 500.0),
    cutoff_a: float = LI_O_SHELL_A,
) -> dict[str, Any]:
    """Every diagnostic of one run, as numbers for a table.

    Parameters
    ----------
    run : PeoLitfsiRun
    min_durable_ps : float
        A chain or TFSI change counts when the new situation lasts this long.
    msd_window_ps : tuple of float
        Window of the MSD exponent and of the apparent diffusion coefficients.

    Returns
    -------
    dict
        ``chain_changes_per_li_per_ns``, ``fraction_li_changed_chain``,
        ``tfsi_o_per_li``, ``ether_o_per_li``, ``fraction_li_with_tfsi``,
        ``fraction_tfsi_touching_li``, ``fraction_li_in_negative_clusters``,
        ``tfsi_switches_per_li_per_ns``; ``between_ion_fraction_chain_end`` beside
        ``baseline_chain_end`` (:func:`switching_baseline` with the measured chain
        residence, a lower bound when no Li⁺ changed chain) and
        ``between_ion_fraction_tfsi`` beside ``baseline_tfsi`` (with the correlation
        time of the TFSI in/out indicator, 2p(1 − p) over the switch rate);
        ``msd_exponent_li``, ``msd_exponent_tfsi``, ``d_li_a2_ps``, ``d_tfsi_a2_ps``,
        ``d_ratio``, ``rg_a``, ``rg_over_box``, ``duration_ns``.
    """
    from gdynbook.transference import formal_charges, ion_clusters
    from gdynbook.transport import diffusion_coefficient, mean_squared_displacement

    traj = run.traj
    dt = traj.time_step_ps
    duration_ps = traj.n_frames * dt
    min_frames = max(1, int(round(min_durable_ps / dt)))
    li_o = pair_distances(traj, run.li_index, run.ether_o_index)
    o_chain, position, length = ether_oxygen_layout(run)
    chain = li_chain(li_o, o_chain, cutoff_a)
    changes = durable_changes(chain, min_frames)
    tfsi_o = pair_distances(traj, run.li_index, run.tfsi_o_index) < cutoff_a
    with_tfsi = tfsi_o.any(axis=-1)
    tfsi_residue = run.residue_index[run.tfsi_o_index]
    touched = np.zeros((traj.n_frames, np.unique(tfsi_residue).size), dtype=bool)
    _, tfsi_of_o = np.unique(tfsi_residue, return_inverse=True)
    for k in range(touched.shape[1]):
        touched[:, k] = tfsi_o[:, :, tfsi_of_o == k].any(axis=(1, 2))
    switches = durable_switches(with_tfsi, min_frames)
    end_distance = chain_end_distance(li_o, position, length, cutoff_a)

    import mdtraj

    topology = mdtraj.load_topology(str(run.path / "topology.pdb"))
    charges = formal_charges(topology, run.masses)
    clusters = ion_clusters(traj, charges, cutoff_a)
    li_ions = np.array([i for i in charges.cation])
    negative = clusters.net_charge[:, li_ions] < 0

    lags = np.unique(np.geomspace(1, max(2, traj.n_frames // 2), 24).astype(int))
    lags = lags[lags < traj.n_frames]
    tfsi_centre = run.tfsi_n_index
    msd_li = mean_squared_displacement(traj, lags, run.li_index)
    msd_tfsi = mean_squared_displacement(traj, lags, tfsi_centre)
    lags_ps = lags * dt
    window = (lags_ps >= msd_window_ps[0]) & (lags_ps <= msd_window_ps[1])
    d_li = diffusion_coefficient(lags_ps[window], msd_li[window]) if window.sum() >= 2 else np.nan
    d_tfsi = (
        diffusion_coefficient(lags_ps[window], msd_tfsi[window]) if window.sum() >= 2 else np.nan
    )

    chains = [run.ether_o_index[o_chain == k] for k in range(int(o_chain.max()) + 1)]
    rg = radius_of_gyration(traj.coords, chains)
    box = float(np.mean(np.einsum("fii->fi", traj.lattices)))
    li_ns = run.li_index.size * duration_ps  # Li⁺-ps observed
    p_tfsi = float(with_tfsi.mean())
    n_switch_total = int(switches.sum())
    # correlation time of a two-state indicator: 2 p (1 − p) / (switches per unit time)
    tfsi_lifetime = 2 * p_tfsi * (1 - p_tfsi) * li_ns / n_switch_total if n_switch_total else li_ns
    n_chain_total = int(changes.sum())
    # no durable change at all: the residence is at least the Li⁺-time observed (a bound)
    chain_lifetime = li_ns / n_chain_total if n_chain_total else li_ns
    return {
        "duration_ns": duration_ps / 1000.0,
        "n_li": int(run.li_index.size),
        "chain_changes_per_li_per_ns": float(changes.mean() / (duration_ps / 1000.0)),
        "fraction_li_changed_chain": float(np.mean(changes > 0)),
        "ether_o_per_li": float((li_o < cutoff_a).sum(axis=-1).mean()),
        "tfsi_o_per_li": float(tfsi_o.sum(axis=-1).mean()),
        "fraction_li_with_tfsi": float(with_tfsi.mean()),
        "fraction_tfsi_touching_li": float(touched.mean()),
        "fraction_li_in_negative_clusters": float(negative.mean()),
        "tfsi_switches_per_li_per_ns": float(switches.mean() / (duration_ps / 1000.0)),
        "between_ion_fraction_chain_end": between_ion_fraction(end_distance),
        "chain_residence_ps": float(chain_lifetime),
        "chain_residence_is_lower_bound": n_chain_total == 0,
        "baseline_chain_end": switching_baseline(chain_lifetime, duration_ps),
        "between_ion_fraction_tfsi": between_ion_fraction(with_tfsi.astype(float)),
        "tfsi_correlation_time_ps": float(tfsi_lifetime),
        "baseline_tfsi": switching_baseline(tfsi_lifetime, duration_ps),
        "msd_exponent_li": msd_exponent(lags_ps, msd_li, msd_window_ps),
        "msd_exponent_tfsi": msd_exponent(lags_ps, msd_tfsi, msd_window_ps),
        "d_li_a2_ps": float(d_li),
        "d_tfsi_a2_ps": float(d_tfsi),
        "d_ratio": float(d_li / d_tfsi) if d_tfsi > 0 else float("nan"),
        "rg_a": float(rg.mean()),
        "rg_over_box": float(rg.mean() / box),
    }


# ---------------------------------------------------------------------- equilibration
def equilibration_trace(
    build_dir: str | Path, cutoff_a: float = LI_O_SHELL_A
) -> dict[str, np.ndarray]:
    """Pairing and chain residence through a build's anneal and NPT stages.

    Reads the trace a campaign build writes (``equilibration/trace-*.xtc``: Li⁺, O and N
    every ``equilibration_frame_interval_ps``) and returns, per trace frame:

    * ``time_ps`` and ``stage`` (``"anneal"`` or ``"npt"``);
    * ``tfsi_o_per_li`` and ``fraction_li_with_tfsi`` (TFSI O within ``cutoff_a``);
    * ``fraction_li_on_start_chain``: Li⁺ held by the chain that held them in the first
      trace frame (a Li⁺ with no ether O in its shell counts as not on it);
    * ``chain_changes``: durable chain changes (≥ 2 frames) per Li⁺, over the whole trace.

    Raises
    ------
    FileNotFoundError
        If the build has no trace (made without ``equilibration_frame_interval_ps``).
    """
    import mdtraj

    folder = Path(build_dir) / "equilibration"
    topology_path = folder / "topology-trace.pdb"
    files = sorted(folder.glob("trace-anneal-*.xtc")) + sorted(folder.glob("trace-npt-*.xtc"))
    if not topology_path.is_file() or not files:
        raise FileNotFoundError(
            f"{folder} holds no equilibration trace: the build was made without "
            "equilibration_frame_interval_ps."
        )
    topology = mdtraj.load_topology(str(topology_path))
    li = topology.select("element Li")
    ether = topology.select("resname PEO and element O")
    tfsi_o = topology.select("resname TFS and element O")
    o_chain = np.unique([topology.atom(i).residue.index for i in ether], return_inverse=True)[1]
    times, stages, tfsi_counts, chains = [], [], [], []
    for path in files:
        frames = mdtraj.load(str(path), top=topology)
        stage = "anneal" if "anneal" in path.name else "npt"
        pairs_tfsi = np.array([(a, b) for a in li for b in tfsi_o])
        pairs_ether = np.array([(a, b) for a in li for b in ether])
        d_tfsi = mdtraj.compute_distances(frames, pairs_tfsi, periodic=True) * 10.0
        d_ether = mdtraj.compute_distances(frames, pairs_ether, periodic=True) * 10.0
        n = frames.n_frames
        tfsi_counts.append((d_tfsi.reshape(n, li.size, tfsi_o.size) < cutoff_a).sum(-1))
        chains.append(li_chain(d_ether.reshape(n, li.size, ether.size), o_chain, cutoff_a))
        times.append(np.asarray(frames.time, dtype=np.float64))
        stages += [stage] * n
    tfsi = np.concatenate(tfsi_counts)
    chain = np.concatenate(chains)
    return {
        "time_ps": np.concatenate(times),
        "stage": np.array(stages),
        "tfsi_o_per_li": tfsi.mean(axis=1),
        "fraction_li_with_tfsi": (tfsi > 0).mean(axis=1),
        "fraction_li_on_start_chain": (chain == chain[0][None, :]).mean(axis=1),
        "chain_changes": durable_changes(chain, 2),
    }


# ---------------------------------------------------------------------- over builds
#: The diagnostics :func:`diagnostics_per_build` tabulates, with their labels.
BUILD_DIAGNOSTICS = (
    ("duration_ns", "ns"),
    ("ether_o_per_li", "ether O per Li⁺"),
    ("tfsi_o_per_li", "TFSI O per Li⁺"),
    ("fraction_li_with_tfsi", "Li⁺ with TFSI⁻ in the shell"),
    ("fraction_tfsi_touching_li", "TFSI⁻ touching a Li⁺"),
    ("fraction_li_in_negative_clusters", "Li⁺ in negative clusters"),
    ("tfsi_switches_per_li_per_ns", "TFSI switches /Li⁺/ns"),
    ("tfsi_correlation_time_ps", "TFSI contact correlation time (ps)"),
    ("chain_changes_per_li_per_ns", "chain changes /Li⁺/ns"),
    ("fraction_li_changed_chain", "Li⁺ that changed chain"),
    ("between_ion_fraction_chain_end", "between-ion fraction, chain-end distance"),
    ("baseline_chain_end", "… baseline of a switching label"),
    ("between_ion_fraction_tfsi", "between-ion fraction, TFSI contact"),
    ("baseline_tfsi", "… baseline of a switching contact"),
    ("msd_exponent_li", "MSD exponent Li⁺"),
    ("msd_exponent_tfsi", "MSD exponent TFSI⁻"),
    ("d_li_a2_ps", "D Li⁺ (Å²/ps)"),
    ("d_tfsi_a2_ps", "D TFSI⁻ (Å²/ps)"),
    ("d_ratio", "D Li⁺ / D TFSI⁻"),
    ("rg_over_box", "Rg / box"),
)


def diagnostics_per_build(builds: Sequence[PeoLitfsiRun], **options: Any) -> Any:
    """:func:`li_diagnostics` of every build, one row each.

    Parameters
    ----------
    builds : list of PeoLitfsiRun
        Independent builds (or runs).
    **options
        Passed to :func:`li_diagnostics` (``msd_window_ps`` …).

    Returns
    -------
    pandas.DataFrame
        Index: each build's folder name; the columns of :data:`BUILD_DIAGNOSTICS`.
    """
    import pandas as pd

    rows = {}
    for build in builds:
        values = li_diagnostics(build, **options)
        rows[build.path.name] = {label: values[key] for key, label in BUILD_DIAGNOSTICS}
    per_build = pd.DataFrame.from_dict(rows, orient="index")
    per_build.index.name = "build"
    return per_build


def interval_over_builds(per_build: Any, confidence: float = 0.95) -> Any:
    """Mean of each column of a per-build table with a Student-t interval over builds.

    Parameters
    ----------
    per_build : pandas.DataFrame
        One row per independent build (:func:`diagnostics_per_build`).
    confidence : float
        Two-sided coverage (n − 1 degrees of freedom, n the builds with a finite value).

    Returns
    -------
    pandas.DataFrame
        Index: the columns; ``mean``, ``±`` (half-width; NaN where fewer than two builds
        have a value), ``builds``.

    Raises
    ------
    ValueError
        If the table has fewer than two builds.
    """
    import pandas as pd

    from gdynbook.intervals import t_interval

    if len(per_build) < 2:
        raise ValueError(
            f"{len(per_build)} build(s): an interval over builds needs at least two; show "
            "the per-build table alone until a second build is finished."
        )
    summary = []
    for label in per_build.columns:
        column = per_build[label].to_numpy(dtype=float)
        finite = column[np.isfinite(column)]
        if finite.size >= 2:
            interval = t_interval(finite, confidence)
            summary.append((label, interval.value, interval.half_width, finite.size))
        else:
            summary.append((label, float(np.nanmean(column)), float("nan"), finite.size))
    return pd.DataFrame(summary, columns=["quantity", "mean", "±", "builds"]).set_index("quantity")


def diagnostics_over_builds(
    builds: Sequence[PeoLitfsiRun], confidence: float = 0.95, **options: Any
) -> tuple[Any, Any]:
    """:func:`diagnostics_per_build` and :func:`interval_over_builds` in one call.

    Parameters
    ----------
    builds : list of PeoLitfsiRun
        Independent builds (at least two for an interval).
    confidence : float
        Two-sided coverage of the Student-t intervals (n − 1 degrees of freedom).
    **options
        Passed to :func:`li_diagnostics` (``msd_window_ps`` …).

    Returns
    -------
    per_build : pandas.DataFrame
        One row per build (index: its folder name), the columns of
        :data:`BUILD_DIAGNOSTICS`.
    over_builds : pandas.DataFrame
        Index: those columns; ``mean``, ``±`` (half-width), ``builds``.
    """
    if len(builds) < 2:
        raise ValueError(f"{len(builds)} build(s): an interval over builds needs at least two.")
    per_build = diagnostics_per_build(builds, **options)
    return per_build, interval_over_builds(per_build, confidence)


# ---------------------------------------------------------------------- a kept record
def save_diagnostics_record(
    per_build: Any, path: str | Path, description: str, source_commit: str
) -> Path:
    """Keep a per-build diagnostics table as JSON, with what it was measured on.

    For data that leave the repository (the old runs): the numbers stay citable, and
    ``source_commit`` says where to check the runs out again to re-measure them.

    Parameters
    ----------
    per_build : pandas.DataFrame
        :func:`diagnostics_per_build`.
    path : path
        The JSON file (written atomically).
    description : str
        What was measured, in words.
    source_commit : str
        The git commit that holds the measured trajectories.
    """
    from gdynbook.cache import atomic_write_json

    record = {
        "description": description,
        "source_commit": source_commit,
        "columns": list(per_build.columns),
        "rows": {
            name: [None if not np.isfinite(v) else float(v) for v in row]
            for name, row in zip(per_build.index, per_build.to_numpy(dtype=float), strict=True)
        },
    }
    return atomic_write_json(path, record, indent=1)


def load_diagnostics_record(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Read :func:`save_diagnostics_record`'s file: the table and its description."""
    import json

    import pandas as pd

    record = json.loads(Path(path).read_text())
    table = pd.DataFrame.from_dict(
        {name: [np.nan if v is None else v for v in row] for name, row in record["rows"].items()},
        orient="index",
        columns=record["columns"],
    )
    table.index.name = "build"
    return table, {k: record[k] for k in ("description", "source_commit")}
