"""Figures and views of the PEO/LiTFSI runs: thermodynamics, RDFs, a Li⁺ and its shell.

Each plotting function draws on an axis (or a new figure) and returns it; the numbers
behind them come from :mod:`gdynbook.systems.peo_litfsi.runs`, where tests check them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gdynbook.systems.peo_litfsi.runs import (
    LI_O_SHELL_A,
    PeoLitfsiRun,
    radial_distribution,
    summary,
    thermo,
)


def plot_thermo(runs: Sequence[PeoLitfsiRun]) -> Figure:
    """Temperature (K) and potential energy (kJ/mol) of each production run against time."""
    fig, (ax_t, ax_u) = plt.subplots(1, 2, figsize=(9, 3.0))
    for run in runs:
        rows = thermo(run)
        time_ns = rows[:, 0] / 1000.0
        window = max(1, min(50, rows.shape[0] // 20))
        smooth = np.convolve(rows[:, 3], np.ones(window) / window, mode="valid")
        ax_t.plot(time_ns[window - 1 :], smooth, lw=1, label=run.path.name)
        ax_u.plot(time_ns, rows[:, 1] / 1000.0, lw=0.6)
    ax_t.axhline(run.provenance["temperature_k"], color="0.3", ls=":", lw=1)
    ax_t.set_xlabel("time (ns)")
    ax_t.set_ylabel(f"T (K, {window}-point mean)")
    ax_u.set_xlabel("time (ns)")
    ax_u.set_ylabel("potential energy (MJ/mol)")
    ax_t.legend(frameon=False, fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


@dataclass
class SolvationRdfs:
    """Li⁺-centred RDFs of the runs pooled: r (Å), g(r) and running coordination n(r)."""

    r_a: np.ndarray
    g: dict[str, np.ndarray]
    n: dict[str, np.ndarray]

    def coordination_at(self, cutoff_a: float = LI_O_SHELL_A) -> dict[str, float]:
        """n(r) at the first-shell cutoff for each partner."""
        index = int(np.searchsorted(self.r_a, cutoff_a)) - 1
        return {name: float(values[index]) for name, values in self.n.items()}

    def peak_a(self, name: str) -> float:
        """Position of the highest g(r) peak of one partner, Å."""
        return float(self.r_a[np.argmax(self.g[name])])


def solvation_rdfs(
    runs: Sequence[PeoLitfsiRun], r_max_a: float = 8.0, stride: int = 1
) -> SolvationRdfs:
    """Li–O(ether), Li–O(TFSI) and Li–N(TFSI) RDFs averaged over runs (equal weights)."""
    partners = {
        "O (PEO)": lambda run: run.ether_o_index,
        "O (TFSI)": lambda run: run.tfsi_o_index,
        "N (TFSI)": lambda run: run.tfsi_n_index,
    }
    g: dict[str, np.ndarray] = {}
    n: dict[str, np.ndarray] = {}
    r_a = np.empty(0)
    for name, group in partners.items():
        parts = [
            radial_distribution(run.traj[::stride], run.li_index, group(run), r_max_a)
            for run in runs
        ]
        r_a = parts[0][0]
        g[name] = np.mean([p[1] for p in parts], axis=0)
        n[name] = np.mean([p[2] for p in parts], axis=0)
    return SolvationRdfs(r_a, g, n)


def plot_rdfs(rdfs: SolvationRdfs, cutoff_a: float = LI_O_SHELL_A) -> Figure:
    """g(r) (left) and running coordination n(r) (right) around Li⁺."""
    fig, (ax_g, ax_n) = plt.subplots(1, 2, figsize=(9, 3.2))
    for name in rdfs.g:
        ax_g.plot(rdfs.r_a, rdfs.g[name], lw=1.2, label=name)
        ax_n.plot(rdfs.r_a, rdfs.n[name], lw=1.2, label=name)
    for ax in (ax_g, ax_n):
        ax.axvline(cutoff_a, color="0.5", ls=":", lw=1)
        ax.set_xlabel("distance from Li⁺ (Å)")
    ax_g.set_ylabel("g(r)")
    ax_g.set_yscale("symlog", linthresh=1.0)
    ax_g.set_ylim(bottom=0)
    ax_n.set_ylabel("n(r): atoms within r")
    ax_n.set_ylim(0, 10)
    ax_g.legend(frameon=False)
    fig.tight_layout()
    return fig


def stationarity_table(runs: Sequence[PeoLitfsiRun]) -> list[dict[str, Any]]:
    """Per run: density, ether-O and TFSI-O per Li⁺ and the fraction of Li⁺ with TFSI in
    the first shell, for the first and the second half, and TFSI switches per Li⁺ per ns.
    """
    rows = []
    for run in runs:
        numbers = summary(run)
        row: dict[str, Any] = {"run": run.path.name, "ns": round(numbers["duration_ns"], 2)}
        for key, label in (
            ("density_g_cm3", "ρ (g/cm³)"),
            ("ether_o_per_li", "ether O"),
            ("tfsi_o_per_li", "TFSI O"),
            ("fraction_li_with_tfsi", "Li with TFSI"),
        ):
            row[f"{label} 1st half"] = numbers[f"first_half_{key}"]
            row[f"{label} 2nd half"] = numbers[f"second_half_{key}"]
        row["TFSI switches /Li/ns"] = numbers["tfsi_switches_per_li_per_ns"]
        row["T (K)"] = numbers["temperature_k"]
        rows.append(row)
    return rows


@dataclass
class ShellSnapshot:
    """Whole molecules near one Li⁺ in one frame, centred on the Li⁺ (Å).

    Attributes
    ----------
    atom_index : numpy.ndarray
        Atom indices in the run's topology.
    coords : numpy.ndarray, shape (n, 3)
        Coordinates relative to the Li⁺, molecules kept whole.
    role : numpy.ndarray of str
        ``"Li"``, ``"ether O (shell)"``, ``"TFSI O (shell)"``, ``"PEO"``, ``"TFSI"`` or
        ``"other ion"``.
    bonds : numpy.ndarray, shape (n_bonds, 2)
        Bonded pairs, as positions in :attr:`atom_index`.
    """

    atom_index: np.ndarray
    coords: np.ndarray
    role: np.ndarray
    bonds: np.ndarray
    li: int
    frame: int


def li_shell_snapshot(
    run: PeoLitfsiRun, li: int, frame: int, radius_a: float = 5.0
) -> ShellSnapshot:
    """Heavy atoms of the molecules that reach within ``radius_a`` of one Li⁺.

    PEO chains are cut to the atoms within 1.6 × ``radius_a``, so a 20-unit chain does
    not fill the picture; hydrogens are left out.

    Parameters
    ----------
    run : PeoLitfsiRun
    li : int
        Which Li⁺ (0 … n_Li − 1).
    frame : int
        Frame number.
    radius_a : float
        Molecules with an atom within this distance are shown, Å.
    """
    coords = run.traj.coords[frame].astype(np.float64)
    lengths = np.diag(run.traj.lattices[frame])
    centre_atom = int(run.li_index[li])
    delta = coords - coords[centre_atom]
    delta -= lengths * np.round(delta / lengths)
    distance = np.linalg.norm(delta, axis=1)
    near_molecules = np.unique(run.residue_index[distance < radius_a])
    chosen = np.isin(run.residue_index, near_molecules) & (run.traj.atom_types != 1)
    peo = np.array([run.residue_names[r] == "PEO" for r in run.residue_index])
    chosen &= ~peo | (distance < 1.6 * radius_a)
    atom_index = np.flatnonzero(chosen)
    # keep molecules whole in the picture: bonded atoms follow their partner's image
    position = np.full(run.traj.n_atoms, -1)
    position[atom_index] = np.arange(atom_index.size)
    local = delta[atom_index]
    pairs = position[run.bonds]
    pairs = pairs[(pairs >= 0).all(axis=1)]
    for _ in range(8):  # a few sweeps make every bonded neighbour the nearest image
        step = local[pairs[:, 1]] - local[pairs[:, 0]]
        jump = np.round(step / lengths) * lengths
        if not jump.any():
            break
        local[pairs[:, 1]] -= jump
    shell = distance < LI_O_SHELL_A
    role = np.where(peo, "PEO", "TFSI").astype(object)
    role[run.li_index] = "other ion"
    role[run.ether_o_index[shell[run.ether_o_index]]] = "ether O (shell)"
    role[run.tfsi_o_index[shell[run.tfsi_o_index]]] = "TFSI O (shell)"
    role[centre_atom] = "Li"
    return ShellSnapshot(atom_index, local, role[atom_index].astype(str), pairs, li, frame)


_ROLE_STYLE = {
    "Li": ("#7b2cbf", 160),
    "ether O (shell)": ("#d62828", 90),
    "TFSI O (shell)": ("#f77f00", 90),
    "PEO": ("#8d99ae", 18),
    "TFSI": ("#2a9d8f", 30),
    "other ion": ("#c77dff", 60),
}


def plot_li_shell(snapshot: ShellSnapshot, ax: Axes | None = None) -> Axes:
    """Static 3D picture of a Li⁺ and its shell (first-shell O enlarged)."""
    if ax is None:
        fig = plt.figure(figsize=(5, 4.5))
        ax = fig.add_subplot(projection="3d")
    for a, b in snapshot.bonds:
        ax.plot(*snapshot.coords[[a, b]].T, color="0.55", lw=0.8)
    for role, (colour, size) in _ROLE_STYLE.items():
        mask = snapshot.role == role
        if mask.any():
            xyz = snapshot.coords[mask]
            ax.scatter(
                *xyz.T,
                s=size,
                c=colour,
                label=f"{role} ({mask.sum()})",
                depthshade=True,
                edgecolors="k",
                linewidths=0.2,
            )
    ax.set_xlabel("x (Å)")
    ax.set_ylabel("y (Å)")
    ax.set_zlabel("z (Å)")
    ax.legend(frameon=False, fontsize=7, loc="upper left")
    ax.set_title(f"Li⁺ {snapshot.li}, frame {snapshot.frame}")
    return ax


def view_li_shell(run: PeoLitfsiRun, snapshot: ShellSnapshot, backend: str = "py3dmol") -> Any:
    """A 3D view of the same atoms (ball and stick; the Li⁺ as a large purple sphere).

    ``backend`` as in :func:`gdynbook.viewer.view_trajectory`: ``"py3dmol"`` (default,
    the ``[notebooks]`` extra) or ``"nglview"`` (the ``[viewer]`` extra).
    """
    import mdtraj

    from gdynbook.viewer import BACKENDS, notebook_nglview, view_molecules

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}.")
    topology = mdtraj.load_topology(str(run.path / "topology.pdb"))
    subset = topology.subset(snapshot.atom_index)
    li_position = int(np.flatnonzero(snapshot.role == "Li")[0])
    if backend == "py3dmol":
        numbers = np.array([atom.element.atomic_number for atom in subset.atoms])
        return view_molecules(
            numbers, snapshot.coords, highlight=li_position, backend_caller="view_li_shell"
        )
    nglview = notebook_nglview("view_li_shell")
    frame = mdtraj.Trajectory(snapshot.coords[None] / 10.0, subset)
    view = nglview.show_mdtraj(frame)
    view.clear_representations()
    view.add_ball_and_stick(selection="not _Li", radius=0.15)
    view.add_spacefill(selection=f"@{li_position}", radius=0.8, color="purple")
    view.center(selection=f"@{li_position}")
    return view


def plot_screen(rows: Sequence[Any], verdict: Any) -> Figure:
    """The force-field screen against its anchors and the rule, one panel per criterion
    (grey bands and bars: what the rule allows).

    Density (with the allowed band around the anchor), Li–O coordination (4–6),
    the fraction of TFSI⁻ touching a Li⁺ (≤ 0.25), and ln(D_Li/D_TFSI) − ln R_exp (the
    ranking; 0 is experiment). The chosen setting is drawn filled, the others open.

    Parameters
    ----------
    rows : sequence of :class:`~gdynbook.systems.peo_litfsi.screen.ScreenRow`
    verdict : :class:`~gdynbook.systems.peo_litfsi.screen.Verdict`
    """
    from gdynbook.systems.peo_litfsi.screen import (
        COORDINATION_RANGE,
        DENSITY_TOLERANCE,
        PAIRING_LIMIT,
    )

    fig, axes = plt.subplots(1, 4, figsize=(12.0, 3.2))
    x = np.arange(len(rows))
    names = [row.name for row in rows]
    filled = ["C0" if row.name == verdict.chosen else "none" for row in rows]
    panels = [
        ("density (g/cm³); grey: anchor ± allowed", [row.density for row in rows], None),
        ("Li–O coordination", [row.coordination for row in rows], COORDINATION_RANGE),
        (
            "TFSI⁻ touching a Li⁺",
            [row.fraction_tfsi_touching_li for row in rows],
            (0, PAIRING_LIMIT),
        ),
        (
            "ln(D_Li/D_TFSI) − ln R_exp",
            [np.log(row.d_ratio) - np.log(row.anchor()["ratio"]) for row in rows],
            None,
        ),
    ]
    for ax, (label, values, band) in zip(axes, panels, strict=True):
        ax.scatter(x, values, s=50, facecolors=filled, edgecolors="C0", zorder=3)
        if band is not None:
            ax.axhspan(*band, color="0.9", zorder=0, label="allowed")
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
        ax.set_xlim(-0.5, len(rows) - 0.5)
        ax.set_title(label, fontsize=9)
    # density: each row's own anchor (it depends on EO:Li) and allowed band
    for k, row in enumerate(rows):
        anchor = row.anchor()
        allowed = DENSITY_TOLERANCE * anchor["density"] + anchor["density_err"]
        axes[0].errorbar(k, anchor["density"], yerr=allowed, fmt="_", color="0.5", capsize=4)
    errors = [row.ln_ratio_err for row in rows]
    axes[3].errorbar(x, panels[3][1], yerr=errors, fmt="none", ecolor="C0", capsize=3)
    axes[3].axhline(0.0, color="0.5", ls="--", lw=1)
    fig.tight_layout()
    return fig


def plot_equilibration_traces(traces: dict[str, dict[str, np.ndarray]]) -> Figure:
    """Pairing and chain residence of the Li⁺ through each build's anneal (shaded, 500 K)
    and NPT stage, one line per build.

    Left: the fraction of Li⁺ with a TFSI O in the first shell; right: the fraction still
    held by the chain that held them at the first trace frame.

    Parameters
    ----------
    traces : dict
        Build name → :func:`~gdynbook.systems.peo_litfsi.diagnostics.equilibration_trace`.
    """
    fig, (ax_pair, ax_chain) = plt.subplots(1, 2, figsize=(10.0, 3.2), sharex=True)
    for k, (name, trace) in enumerate(traces.items()):
        time_ns = trace["time_ps"] / 1000.0
        ax_pair.plot(time_ns, trace["fraction_li_with_tfsi"], color=f"C{k}", lw=1, label=name)
        ax_chain.plot(time_ns, trace["fraction_li_on_start_chain"], color=f"C{k}", lw=1)
    first = next(iter(traces.values()))
    anneal = first["time_ps"][first["stage"] == "anneal"] / 1000.0
    for ax in (ax_pair, ax_chain):
        if anneal.size:
            ax.axvspan(anneal.min(), anneal.max(), color="0.92", zorder=0)
        ax.set_xlabel("time since the build (ns); shaded: 500 K anneal")
        ax.set_ylim(-0.02, 1.02)
    ax_pair.set_ylabel("Li⁺ with a TFSI⁻ in the shell")
    ax_chain.set_ylabel("Li⁺ still on their first chain")
    ax_pair.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
