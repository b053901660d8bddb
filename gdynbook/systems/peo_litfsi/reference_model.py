"""A hand-made reference for the learned Li⁺ states: sets from two non-learned descriptors.

The analysis plan (``reference/peo_analysis_plan.md``) compares GDyNet with a Markov
model on crisp states anyone could define without a network: whether a TFSI O touches the
Li⁺ (within 2.8 Å), times how far the Li⁺ sits from the nearest chain end (EO units along the chain,
:func:`~gdynbook.systems.peo_litfsi.shells.chain_end_distance`) in terciles — six
sets. The tercile edges and the merging of rare sets are fixed on the training builds and
then applied unchanged to a held-out build, so its score is a held-out score too.

One detail the plan leaves open is fixed here: in a frame without an ether O in the shell
the distance is undefined; the Li⁺ keeps the distance of its last frame that had one (of
its first such frame before that; 0 EO if it never has one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

N_TERCILES = 3


def fill_missing_distance(distance: np.ndarray) -> np.ndarray:
    """Distance from a chain end with NaN frames filled per Li⁺ (rule above).

    Parameters
    ----------
    distance : numpy.ndarray, shape (n_frames, n_li)
        EO units; NaN where no ether O is in the shell.
    """
    values = np.array(distance, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"distance must have shape (n_frames, n_li), got {values.shape}.")
    for li in range(values.shape[1]):
        column = values[:, li]
        finite = np.flatnonzero(np.isfinite(column))
        if finite.size == 0:
            column[:] = 0.0
            continue
        # index of the last finite frame at or before each frame (the first one before it)
        last = np.maximum.accumulate(np.where(np.isfinite(column), np.arange(column.size), -1))
        column[:] = column[np.where(last >= 0, last, finite[0])]
    return values


def tercile_edges(distances: Sequence[np.ndarray]) -> np.ndarray:
    """The two edges (EO units) that cut the pooled distances of the given builds into
    thirds, after :func:`fill_missing_distance` — the values the sets are assigned on."""
    pooled = np.concatenate([fill_missing_distance(d).ravel() for d in distances])
    if pooled.size == 0:
        raise ValueError("no chain-end distance in these builds.")
    return np.quantile(pooled, [1 / 3, 2 / 3])


@dataclass(frozen=True)
class DescriptorSets:
    """Tercile edges and the merged sets, fixed on training builds.

    Attributes
    ----------
    edges : numpy.ndarray, shape (2,)
        Chain-end distance tercile edges, EO units.
    labels : numpy.ndarray of int, shape (6,)
        Final set of each raw set 3·contact + tercile (consecutive from 0).
    """

    edges: np.ndarray
    labels: np.ndarray

    @property
    def n_states(self) -> int:
        return int(self.labels.max()) + 1

    def raw_sets(self, tfsi_contact: np.ndarray, distance: np.ndarray) -> np.ndarray:
        """3·contact + tercile per frame and Li⁺, shape (n_frames, n_li)."""
        contact = np.asarray(tfsi_contact, dtype=bool)
        filled = fill_missing_distance(distance)
        if contact.shape != filled.shape:
            raise ValueError(
                f"tfsi_contact {contact.shape} and distance {filled.shape} differ in shape."
            )
        tercile = np.searchsorted(self.edges, filled, side="right")
        return N_TERCILES * contact.astype(np.int64) + tercile

    def states(self, tfsi_contact: np.ndarray, distance: np.ndarray) -> np.ndarray:
        """The merged set per frame and Li⁺."""
        return self.labels[self.raw_sets(tfsi_contact, distance)]

    def memberships(self, tfsi_contact: np.ndarray, distance: np.ndarray) -> np.ndarray:
        """One-hot memberships, shape (n_frames, n_li, n_states)."""
        return np.eye(self.n_states)[self.states(tfsi_contact, distance)]


def fit_descriptor_sets(
    tfsi_contact: Sequence[np.ndarray],
    distance: Sequence[np.ndarray],
    min_fraction: float = 0.01,
) -> DescriptorSets:
    """Edges and merged sets from the training builds.

    A set holding less than ``min_fraction`` of the frames joins its neighbour in
    distance within the same contact class (the next tercile up; the last joins the one
    below), until no set is that rare or a class is a single set.

    Parameters
    ----------
    tfsi_contact, distance : list of numpy.ndarray, each (n_frames, n_li)
        Per training build.
    """
    edges = tercile_edges(distance)
    provisional = DescriptorSets(edges, np.arange(2 * N_TERCILES))
    raw = np.concatenate(
        [provisional.raw_sets(c, d).ravel() for c, d in zip(tfsi_contact, distance, strict=True)]
    )
    counts = np.bincount(raw, minlength=2 * N_TERCILES).astype(float)
    owner = np.arange(2 * N_TERCILES)  # raw set → raw set that now holds it
    for contact in (0, 1):
        members = [N_TERCILES * contact + k for k in range(N_TERCILES)]
        while len(members) > 1:
            held = {m: counts[owner == m].sum() for m in members}
            rare = [m for m in members if held[m] < min_fraction * counts.sum()]
            if not rare:
                break
            victim = rare[0]
            position = members.index(victim)
            target = members[position + 1] if position + 1 < len(members) else members[-2]
            owner[owner == victim] = target
            members.remove(victim)
    _, labels = np.unique(owner, return_inverse=True)
    return DescriptorSets(edges, labels.astype(np.int64))
