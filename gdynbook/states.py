"""From soft network outputs to states a reader can name, and scoring them against labels.

A VAMP score does not change when the network's outputs χ(x) are replaced by any
invertible affine map of them, so training fixes the *span* of the states, not the
states themselves. For two states a trained softmax may, for instance, put p₁ ≈ 0.01 in
one basin and p₁ ≈ 0.56 in the other: the same Koopman eigenvalues, a perfect
separation, but probabilities that do not read as memberships and a stationary vector
of K that is not the population of either basin.

:func:`fit_simplex` picks the representative whose corners are the most extreme
frames — the inner-simplex algorithm of PCCA+ (Weber & Galliat, ZIB report 02-12, 2002;
Deuflhard & Weber, Linear Algebra Appl. 398, 161 (2005)). Frames at a corner belong
wholly to one state, frames between corners are mixtures. The map is linear, so
timescales are unchanged; populations and memberships become meaningful.

:func:`match_states` pairs the learned states with reference labels (the network does
not know which reference state it calls "0"), and :func:`state_recall` scores them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from gdynbook.koopman import ProbabilityInput, as_trajectory_list


@dataclass
class SimplexMap:
    """Affine map from network outputs to memberships of the states.

    Attributes
    ----------
    vertices : numpy.ndarray, shape (n_states, n_states)
        Row k: the network output at the corner of state k.
    vertex_frames : numpy.ndarray of int, shape (n_states,)
        Index (into the flattened samples) of each corner's extreme sample.
    """

    vertices: np.ndarray
    vertex_frames: np.ndarray

    @property
    def n_states(self) -> int:
        return int(self.vertices.shape[0])

    def transform(self, probs: ProbabilityInput) -> list[np.ndarray]:
        """Memberships (…, n_states) of each trajectory's frames: barycentric coordinates
        of the outputs in the simplex of the corners, negative parts clipped, rows
        summing to one."""
        inverse = np.linalg.inv(self.vertices)
        out = []
        for run in as_trajectory_list(probs):
            memberships = np.clip(run @ inverse, 0.0, None)
            memberships /= np.maximum(memberships.sum(axis=-1, keepdims=True), 1e-300)
            out.append(memberships)
        return out


def fit_simplex(probs: ProbabilityInput, tail: float = 0.01) -> SimplexMap:
    """Corners of the states among the samples (inner-simplex algorithm of PCCA+).

    The first corner is the sample farthest from the mean; each further one is the
    sample farthest from the affine hull of those already chosen. A single extreme
    sample is an outlier of its state's cloud, which would leave the state's typical
    frames short of full membership; so each corner is then moved to the mean of the
    ``tail`` fraction of samples nearest to its extreme sample (memberships beyond it
    are clipped). Corners are ordered so that corner k is where the network's own
    output k is largest, which keeps the state numbering of the network.

    Parameters
    ----------
    probs : array or list of arrays
        Network outputs, (frames, n_states) or (frames, n_targets, n_states) per
        trajectory; all samples of all trajectories are used.
    tail : float
        Fraction of the samples averaged into each corner (0: the extreme sample
        itself, the plain inner-simplex algorithm).

    Raises
    ------
    ValueError
        When the outputs do not span n_states − 1 dimensions (some states are never
        distinguished): train longer or ask for fewer states.
    """
    runs = as_trajectory_list(probs)
    samples = np.concatenate([run.reshape(-1, run.shape[-1]) for run in runs]).astype(np.float64)
    n_states = samples.shape[1]
    if not 0 <= tail < 1.0 / n_states:
        raise ValueError(f"tail must be in [0, 1/n_states), got {tail}.")
    centred = samples - samples.mean(axis=0)
    chosen = [int(np.argmax(np.einsum("ij,ij->i", centred, centred)))]
    basis = np.zeros((0, n_states))
    spread = float(np.sqrt(np.max(np.einsum("ij,ij->i", centred, centred))))
    for _ in range(n_states - 1):
        offsets = samples - samples[chosen[0]]
        residual = offsets - (offsets @ basis.T) @ basis
        distance = np.einsum("ij,ij->i", residual, residual)
        best = int(np.argmax(distance))
        if np.sqrt(distance[best]) <= 1e-6 * max(spread, 1e-12):
            raise ValueError(
                f"the outputs span fewer than {n_states - 1} dimensions, so {n_states} states "
                "cannot be told apart: train longer, or ask for fewer states."
            )
        direction = residual[best] / np.linalg.norm(residual[best])
        basis = np.vstack([basis, direction])
        chosen.append(best)
    n_tail = max(1, int(round(tail * samples.shape[0])))
    vertices = np.empty((n_states, n_states))
    for k, extreme in enumerate(chosen):
        distance = np.einsum("ij,ij->i", samples - samples[extreme], samples - samples[extreme])
        nearest = np.argpartition(distance, n_tail - 1)[:n_tail]
        vertices[k] = samples[nearest].mean(axis=0)
    if abs(np.linalg.det(vertices)) < 1e-12:
        raise ValueError(
            f"the corners of the {n_states} states coincide after averaging the tails: "
            "train longer, ask for fewer states, or use a smaller tail."
        )
    # keep the network's numbering: corner k is where output k is largest
    rows, columns = linear_sum_assignment(-vertices)
    order = np.empty(n_states, dtype=np.int64)
    order[columns] = rows
    return SimplexMap(vertices=vertices[order], vertex_frames=np.asarray(chosen)[order])


def crisp_states(memberships: ProbabilityInput) -> list[np.ndarray]:
    """The most probable state of every sample (argmax of the memberships)."""
    return [np.argmax(run, axis=-1) for run in as_trajectory_list(memberships)]


def confusion_matrix(predicted: np.ndarray, reference: np.ndarray, n_states: int) -> np.ndarray:
    """Counts C[r, p] of samples with reference label r and predicted label p.

    Samples whose reference label is negative (unknown) are ignored.
    """
    predicted = np.asarray(predicted).reshape(-1)
    reference = np.asarray(reference).reshape(-1)
    if predicted.shape != reference.shape:
        raise ValueError(
            f"predicted ({predicted.size}) and reference ({reference.size}) labels differ "
            "in number."
        )
    known = reference >= 0
    counts = np.zeros((n_states, n_states), dtype=np.int64)
    np.add.at(counts, (reference[known], predicted[known]), 1)
    return counts


def match_states(predicted: np.ndarray, reference: np.ndarray, n_states: int) -> np.ndarray:
    """The relabelling of predicted states that best agrees with the reference.

    Returns ``mapping`` such that ``mapping[p]`` is the reference label matched to
    predicted state p (a permutation maximising the summed recall).
    """
    counts = confusion_matrix(predicted, reference, n_states).astype(float)
    recall = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    rows, columns = linear_sum_assignment(-recall)
    mapping = np.empty(n_states, dtype=np.int64)
    mapping[columns] = rows
    return mapping


def state_recall(
    predicted: np.ndarray, reference: np.ndarray, n_states: int
) -> tuple[np.ndarray, np.ndarray]:
    """Recall of every reference state after the best relabelling.

    Returns
    -------
    recall : numpy.ndarray, shape (n_states,)
        Fraction of samples of reference state r that the matched predicted state
        holds (NaN for a reference state with no samples).
    mapping : numpy.ndarray of int
        See :func:`match_states`.

    The balanced accuracy is ``recall.mean()``: 1 for a perfect match, 1/n_states for
    labels unrelated to the reference.
    """
    mapping = match_states(predicted, reference, n_states)
    relabelled = mapping[np.asarray(predicted)]
    counts = confusion_matrix(relabelled, reference, n_states).astype(float)
    totals = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(totals > 0, np.diag(counts) / totals, np.nan)
    return recall, mapping


def membership_recall(
    memberships: np.ndarray, reference: np.ndarray, mapping: np.ndarray
) -> np.ndarray:
    """Membership-weighted recall: the mean membership of the matched state, per reference state.

    Unlike the argmax recall of :func:`state_recall`, a frame that sits halfway
    between two states (membership 0.5) counts as half right, whichever way noise tips
    its argmax. A model whose states do not distinguish the reference states scores
    about 1/n_states however its ambiguous frames happen to be assigned.

    Parameters
    ----------
    memberships : numpy.ndarray, shape (n_samples, n_states)
    reference : numpy.ndarray of int, shape (n_samples,)
        Reference labels (negative: unknown, ignored).
    mapping : numpy.ndarray of int
        mapping[k]: the reference state matched to state k (from :func:`state_recall`).
    """
    memberships = np.asarray(memberships, dtype=float).reshape(-1, len(mapping))
    reference = np.asarray(reference).reshape(-1)
    if memberships.shape[0] != reference.shape[0]:
        raise ValueError(
            f"{memberships.shape[0]} membership rows but {reference.shape[0]} reference labels."
        )
    state_of = np.argsort(mapping)  # reference state r → model state
    recall = np.full(len(mapping), np.nan)
    for r in range(len(mapping)):
        rows = reference == r
        if rows.any():
            recall[r] = memberships[rows, state_of[r]].mean()
    return recall
