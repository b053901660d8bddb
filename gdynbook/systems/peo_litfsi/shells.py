"""Li⁺ first shells in PEO/LiTFSI, and a non-learned reference model built from them.

:func:`shell_descriptors` counts, per frame and Li⁺, what binds it: ether O and the
chains they belong to, TFSI⁻ oxygens and anions, and where along its chain the Li⁺ sits
(:func:`ether_oxygen_layout` numbers the ether O along their chains,
:func:`chain_end_distance` measures the shell's distance from a chain end).
:func:`li_descriptors` gives the two inputs of the reference model of the builds
(:mod:`~gdynbook.systems.peo_litfsi.reference_model`).
:func:`reference_labels` turns two of these into core-set labels — TFSI⁻ in the shell or
not, chain end or chain middle — the yardstick of the older runs' chapters.
:func:`state_shell_table` and :func:`most_typical_samples` describe learned states by
their shells.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from gdynbook.markov import milestone
from gdynbook.systems.peo_litfsi.runs import LI_O_SHELL_A, PeoLitfsiRun, pair_distances
from gdynbook.transference import Coordination

#: Names of the four reference states, in label order.
REFERENCE_STATES = ("PEO, chain middle", "PEO, chain end", "TFSI, chain middle", "TFSI, chain end")


@dataclass
class ShellDescriptors:
    """What surrounds each Li⁺ in each frame, arrays of shape (n_frames, n_li).

    Attributes
    ----------
    ether_o, tfsi_o : numpy.ndarray of int
        Ether and TFSI⁻ oxygens within the shell cutoff.
    chains, anions : numpy.ndarray of int
        Distinct PEO chains and TFSI⁻ ions those oxygens belong to.
    end_distance : numpy.ndarray of int
        EO units between the ether O nearest to the Li⁺ and the nearer end of its chain
        (0: the first or last ether O of a chain).
    nearest_tfsi_o_a : numpy.ndarray
        Distance to the nearest TFSI⁻ oxygen, Å.
    chain_end_eo : numpy.ndarray
        Mean distance (EO units) of the shell's ether O from the nearest chain end
        (:func:`chain_end_distance`); NaN without an ether O in the shell.
    """

    ether_o: np.ndarray
    tfsi_o: np.ndarray
    chains: np.ndarray
    anions: np.ndarray
    end_distance: np.ndarray
    nearest_tfsi_o_a: np.ndarray
    chain_end_eo: np.ndarray


def ether_oxygen_layout(run: PeoLitfsiRun) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chain number, position along the chain and chain length of every ether O."""
    residue = run.residue_index[run.ether_o_index]
    chains, o_chain = np.unique(residue, return_inverse=True)
    position = np.empty(run.ether_o_index.size, dtype=np.int64)
    length = np.empty(run.ether_o_index.size, dtype=np.int64)
    for chain in range(chains.size):
        members = np.flatnonzero(o_chain == chain)  # topology order = order along the chain
        position[members] = np.arange(members.size)
        length[members] = members.size
    return o_chain, position, length


def chain_end_distance(
    li_o_distances: np.ndarray,
    o_position: np.ndarray,
    o_chain_length: np.ndarray,
    cutoff_a: float = LI_O_SHELL_A,
) -> np.ndarray:
    """Mean distance (EO units along the chain) of a Li⁺'s shell O from the nearest end.

    Parameters
    ----------
    li_o_distances : numpy.ndarray, shape (n_frames, n_li, n_o)
    o_position : numpy.ndarray of int, shape (n_o,)
        Index of each ether O along its chain, 0 … n − 1.
    o_chain_length : numpy.ndarray of int, shape (n_o,)
        Number of ether O on that O's chain.
    cutoff_a : float
        First-shell radius, Å.

    Returns
    -------
    numpy.ndarray, shape (n_frames, n_li)
        NaN where no ether O is within the shell.
    """
    o_position = np.asarray(o_position, dtype=np.float64)
    from_end = np.minimum(o_position, np.asarray(o_chain_length) - 1 - o_position)
    inside = np.asarray(li_o_distances) < cutoff_a
    n_inside = inside.sum(axis=-1)
    total = (inside * from_end).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_inside > 0, total / np.maximum(n_inside, 1), np.nan)


def shell_descriptors(run: PeoLitfsiRun, cutoff_a: float = LI_O_SHELL_A) -> ShellDescriptors:
    """Count the first shell of every Li⁺ in every frame of a run."""
    ether_d = pair_distances(run.traj, run.li_index, run.ether_o_index)
    tfsi_d = pair_distances(run.traj, run.li_index, run.tfsi_o_index)
    chain_of_o = run.residue_index[run.ether_o_index]
    peo = Coordination.from_contacts(ether_d < cutoff_a, chain_of_o)
    tfsi = Coordination.from_contacts(tfsi_d < cutoff_a, run.residue_index[run.tfsi_o_index])
    _, position, length = ether_oxygen_layout(run)
    nearest = np.argmin(ether_d, axis=-1)
    end_distance = np.minimum(position[nearest], length[nearest] - 1 - position[nearest])
    return ShellDescriptors(
        ether_o=peo.atoms,
        tfsi_o=tfsi.atoms,
        chains=peo.molecules,
        anions=tfsi.molecules,
        end_distance=end_distance,
        nearest_tfsi_o_a=tfsi_d.min(axis=-1),
        chain_end_eo=chain_end_distance(ether_d, position, length, cutoff_a),
    )


def li_descriptors(
    run: PeoLitfsiRun, cutoff_a: float = LI_O_SHELL_A
) -> tuple[np.ndarray, np.ndarray]:
    """The two non-learned Li⁺ descriptors of the reference model, per frame and Li⁺
    (:mod:`~gdynbook.systems.peo_litfsi.reference_model`).

    Returns
    -------
    tfsi_contact : numpy.ndarray of bool, shape (n_frames, n_li)
        Whether a TFSI O lies within ``cutoff_a`` (Å) of the Li⁺.
    chain_end_distance : numpy.ndarray, shape (n_frames, n_li)
        Mean distance (EO units) of the Li⁺'s shell ether O from the nearest chain end;
        NaN without an ether O in the shell (:func:`chain_end_distance`).
    """
    shells = shell_descriptors(run, cutoff_a)
    return shells.tfsi_o > 0, shells.chain_end_eo


def reference_labels(
    shells: ShellDescriptors,
    contact_core_a: float = 2.6,
    free_core_a: float = 3.4,
    end_core: int = 1,
    middle_core: int = 4,
) -> np.ndarray:
    """Core-set labels of four reference states (see :data:`REFERENCE_STATES`).

    Two coordinates, each milestoned separately: TFSI⁻ contact (core: a TFSI⁻ O within
    ``contact_core_a``; free core: none within ``free_core_a``) and position along the
    chain (end core: nearest ether O at most ``end_core`` EO units from a chain end;
    middle core: at least ``middle_core`` units). Between cores, a Li⁺ keeps its last
    core, so rattling at a boundary is not a transition.

    Returns
    -------
    numpy.ndarray of int, shape (n_frames, n_li)
        2 × contact + end, or −1 before both coordinates have reached a core.
    """
    contact = np.where(
        shells.nearest_tfsi_o_a < contact_core_a,
        1,
        np.where(shells.nearest_tfsi_o_a > free_core_a, 0, -1),
    )
    end = np.where(
        shells.end_distance <= end_core, 1, np.where(shells.end_distance >= middle_core, 0, -1)
    )
    contact, end = milestone(contact), milestone(end)
    return np.where((contact >= 0) & (end >= 0), 2 * contact + end, -1)


#: Columns of :func:`state_shell_table`, in order.
STATE_COLUMNS = (
    "ether O",
    "TFSI O",
    "PEO chains",
    "TFSI⁻ ions",
    "EO units from chain end",
    "net charge within 5 Å",
    "ions in cluster",
    "cluster charge",
    "in a negative cluster",
)

#: Radii of the charge profile of :func:`state_shell_table`, Å.
CHARGE_PROFILE_RADII_A = np.round(np.arange(1.5, 10.01, 0.25), 2)


@dataclass
class StateShellTable:
    """What binds the Li⁺ of each learned state, per build and over builds.

    Attributes
    ----------
    columns : tuple of str
        :data:`STATE_COLUMNS`.
    per_build : numpy.ndarray, shape (n_builds, n_states, n_columns)
        Membership-weighted means within each build.
    mean, half_width : numpy.ndarray, shape (n_states, n_columns)
        Mean over builds and the half-width of its Student-t interval (n − 1 degrees of
        freedom; NaN with one build).
    population : numpy.ndarray, shape (n_builds, n_states)
        Mean membership of each state in each build.
    charge_radii_a : numpy.ndarray, shape (n_radii,)
        Radii of the charge profile, Å.
    charge_profile : numpy.ndarray, shape (n_builds, n_states, n_radii)
        Net formal charge within each radius of the Li⁺, membership-weighted per build.
    charge_profile_mean, charge_profile_half_width : numpy.ndarray, (n_states, n_radii)
        Over builds, as ``mean`` and ``half_width``.
    """

    columns: tuple[str, ...]
    per_build: np.ndarray
    mean: np.ndarray
    half_width: np.ndarray
    population: np.ndarray
    charge_radii_a: np.ndarray
    charge_profile: np.ndarray
    charge_profile_mean: np.ndarray
    charge_profile_half_width: np.ndarray

    def frame(self, state_names: list[str] | None = None) -> Any:
        """The mean over builds with its half-width, one row per state, as a
        :class:`pandas.DataFrame` (columns ``<column>`` and ``<column> ±``)."""
        import pandas as pd

        names = state_names or [f"state {k}" for k in range(self.mean.shape[0])]
        data: dict[str, Any] = {"population": self.population.mean(axis=0)}
        for c, column in enumerate(self.columns):
            data[column] = self.mean[:, c]
            data[f"{column} ±"] = self.half_width[:, c]
        return pd.DataFrame(data, index=pd.Index(names, name="state"))


def state_shell_table(
    builds: list[PeoLitfsiRun],
    memberships: list[np.ndarray],
    charge_radius_a: float = 5.0,
    confidence: float = 0.95,
    charge_radii_a: np.ndarray | None = None,
) -> StateShellTable:
    """Per learned state: ether O and TFSI O in the shell, PEO chains and TFSI⁻ ions
    they belong to, EO units from a chain end (the mean over the shell's ether O, as in
    :func:`chain_end_distance`; samples without an ether O in the shell are left out of
    that column), the net formal charge within ``charge_radius_a`` of the Li⁺, the Li⁺'s
    ion cluster (:func:`~gdynbook.transference.ion_clusters`: ions in it, its net charge,
    and whether that is negative), and the charge profile over ``charge_radii_a``.

    Charges are counted by whole ions at their centres of mass, the Li⁺ itself included,
    so a radius that cuts through a TFSI⁻ adds no spurious charge; PEO adds none either
    (in the force field each ether O with its two CH₂/CH₃ groups is neutral).

    Each build gives one membership-weighted mean per state; intervals are over builds
    (the independent units), not over the Li⁺ of a box.

    Parameters
    ----------
    builds : list of PeoLitfsiRun
    memberships : list of numpy.ndarray, each (frames, n_li, n_states)
        The builds' memberships (the first frames of a build if shorter).
    charge_radius_a : float
        Radius of the charge count, Å.
    charge_radii_a : numpy.ndarray, optional
        Radii of the charge profile, Å (default :data:`CHARGE_PROFILE_RADII_A`).
    confidence : float
        Two-sided coverage of the intervals.

    Raises
    ------
    ValueError
        If the lists differ in length or memberships do not fit their build.
    """
    import mdtraj

    from gdynbook.intervals import t_interval
    from gdynbook.transference import (
        charge_integral,
        formal_charges,
        ion_clusters,
        state_average,
    )

    if len(builds) != len(memberships) or not builds:
        raise ValueError(
            f"{len(builds)} builds and {len(memberships)} membership arrays: give one per build."
        )
    radii = CHARGE_PROFILE_RADII_A if charge_radii_a is None else np.asarray(charge_radii_a)
    all_radii = np.append(radii, charge_radius_a)
    per_build, population, profiles = [], [], []
    for run, chi in zip(builds, memberships, strict=True):
        chi = np.asarray(chi, dtype=np.float64)
        if chi.ndim != 3 or chi.shape[1] != run.li_index.size or chi.shape[0] > run.traj.n_frames:
            raise ValueError(
                f"{run.path.name}: memberships of shape {chi.shape} do not fit "
                f"{run.traj.n_frames} frames × {run.li_index.size} Li⁺."
            )
        part = replace(run, traj=run.traj[: chi.shape[0]])
        shells = shell_descriptors(part)
        ions = formal_charges(mdtraj.load_topology(str(run.path / "topology.pdb")), run.masses)
        li_ions = np.array([k for k in ions.cation if ions.molecules[k].size == 1])
        charges = charge_integral(part.traj, ions, li_ions, all_radii)
        clusters = ion_clusters(part.traj, ions)
        counts = np.stack(
            [
                shells.ether_o,
                shells.tfsi_o,
                shells.chains,
                shells.anions,
                charges[..., -1],
                clusters.size[:, li_ions],
                clusters.net_charge[:, li_ions],
                clusters.net_charge[:, li_ions] < 0,
            ],
            axis=-1,
        )
        averages = state_average(counts, chi)  # (n_states, 8)
        end_distance = shells.chain_end_eo
        known = np.isfinite(end_distance)
        end_average = state_average(
            np.where(known, end_distance, 0.0)[..., None], chi * known[..., None]
        )
        per_build.append(np.concatenate([averages[:, :4], end_average, averages[:, 4:]], 1))
        population.append(chi.mean(axis=(0, 1)))
        profiles.append(state_average(charges[..., :-1], chi))
    stacked, profile = np.array(per_build), np.array(profiles)

    def over_builds(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        half_width = np.full(values.shape[1:], np.nan)
        if values.shape[0] > 1:
            for index in np.ndindex(*values.shape[1:]):
                half_width[index] = t_interval(values[(slice(None), *index)], confidence).half_width
        return values.mean(axis=0), half_width

    mean, half_width = over_builds(stacked)
    profile_mean, profile_half_width = over_builds(profile)
    return StateShellTable(
        STATE_COLUMNS,
        stacked,
        mean,
        half_width,
        np.array(population),
        radii,
        profile,
        profile_mean,
        profile_half_width,
    )


def most_typical_samples(memberships: list[np.ndarray]) -> list[tuple[int, int, int]]:
    """For each state, the sample with the highest membership in it: what to draw as the
    state's representative shell.

    Parameters
    ----------
    memberships : list of numpy.ndarray, each (frames, n_li, n_states)
        Per build.

    Returns
    -------
    list of (build, frame, li)
        One per state: positions in ``memberships``, the frame and the Li⁺ (its position
        among the build's Li⁺). Ties go to the earliest build, frame and Li⁺.
    """
    if not memberships:
        raise ValueError("no memberships given: pass one (frames, n_li, n_states) per build.")
    n_states = np.shape(memberships[0])[-1]
    best = []
    for state in range(n_states):
        peaks = [float(np.max(np.asarray(chi)[..., state])) for chi in memberships]
        build = int(np.argmax(peaks))
        chi = np.asarray(memberships[build])[..., state]
        frame, li = np.unravel_index(int(np.argmax(chi)), chi.shape)
        best.append((build, int(frame), int(li)))
    return best
