"""Ground truth of the toy system: what the simulation itself says about tet/oct.

Core-set labels of the Li (tetrahedral or octahedral hole, a label changing only on
entering a core), the two-state Markov model of those labels at a lag, the escape
rates and the exact spectrum of the 12-hole model. The toy job and the toy chapters
score learned states against this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdynbook.koopman import KoopmanModel, estimate_koopman
from gdynbook.markov import one_hot
from gdynbook.systems.toy import (
    core_set_labels,
    exact_hole_spectrum,
    nearest_hole,
    two_state_rates,
)
from gdynbook.trajectory import Trajectory


@dataclass
class ToyReference:
    """What the simulation says, from core-set labels of the held-out replicas.

    Attributes
    ----------
    labels : list of numpy.ndarray
        0 tetrahedral / 1 octahedral per frame, from the first core frame on.
    in_core : list of numpy.ndarray of bool
        Frames inside a core set (where recall is scored).
    first_frame : list of int
        Frames dropped at the start of each replica (before any core).
    model : KoopmanModel
        Two-state Markov model of the labels at the lag.
    k_tet_to_oct, k_oct_to_tet : float
        Escape rates, ps⁻¹.
    spectrum : dict
        Decay rates of the 12-hole model (:func:`~gdynbook.systems.toy.exact_hole_spectrum`).
    n_oct_visits : int
        Entries into an octahedral core.
    """

    labels: list[np.ndarray]
    in_core: list[np.ndarray]
    first_frame: list[int]
    model: KoopmanModel
    k_tet_to_oct: float
    k_oct_to_tet: float
    spectrum: dict[str, float]
    n_oct_visits: int

    @property
    def timescale_ps(self) -> float:
        """Relaxation time of the two-state (occupancy) process, ps."""
        return float(self.model.timescales()[0])

    @property
    def identity_timescale_ps(self) -> float:
        """Slowest site-identity mode of the 12-hole model, 1/min(k_TO, k_OT), ps."""
        return 1.0 / min(self.spectrum["tet_identity"], self.spectrum["oct_identity"])

    @property
    def populations(self) -> np.ndarray:
        """(tetrahedral, octahedral) stationary populations."""
        return self.model.populations

    def trim(self, runs: list[np.ndarray]) -> list[np.ndarray]:
        """Drop from per-replica arrays the frames before the first core visit."""
        return [run[start:] for run, start in zip(runs, self.first_frame, strict=True)]


def toy_reference(trajectories: list[Trajectory], lag_frames: int) -> ToyReference:
    """Core-set labels, the two-state Markov model and the 12-hole rates of ``trajectories``."""
    labels, in_core, first_frame = [], [], []
    a = float(trajectories[0].lattices[0][0, 0])
    for traj in trajectories:
        li = traj.coords[:, traj.target_index[0]]
        site_type, _ = core_set_labels(li, a)
        index, distance = nearest_hole(li, a)
        core = np.where(index < 8, distance <= 0.4, distance <= 0.8)
        known = np.flatnonzero(site_type >= 0)
        start = int(known[0]) if known.size else traj.n_frames
        labels.append(site_type[start:])
        in_core.append(core[start:])
        first_frame.append(start)
    model = estimate_koopman(
        [one_hot(run, 2) for run in labels if run.size > lag_frames],
        lag_frames,
        time_step_ps=trajectories[0].time_step_ps,
    )
    k_to, k_ot = two_state_rates(model.koopman_matrix, model.lag_ps)
    return ToyReference(
        labels=labels,
        in_core=in_core,
        first_frame=first_frame,
        model=model,
        k_tet_to_oct=float(k_to),
        k_oct_to_tet=float(k_ot),
        spectrum=exact_hole_spectrum(k_to, k_ot),
        n_oct_visits=sum(_oct_entries(run) for run in labels),
    )


def _oct_entries(site_type: np.ndarray) -> int:
    """Entries into an octahedral core in one replica's core-set labels (−1: unknown)."""
    known = site_type[site_type >= 0]
    return int(((np.diff(known) != 0) & (known[1:] == 1)).sum())


def count_oct_visits(trajectories: list[Trajectory]) -> int:
    """Entries of the Li into an octahedral core set, summed over replicas."""
    return sum(
        _oct_entries(
            core_set_labels(traj.coords[:, traj.target_index[0]], float(traj.lattices[0][0, 0]))[0]
        )
        for traj in trajectories
    )
