"""Time-lagged pairs over independent trajectories, and train/validation/test splits.

A sample is a pair of frames (t, t + τ) of one trajectory; pairs never cross from one
trajectory to another. Splits are made of whole trajectories when there are at least
three, otherwise of contiguous time blocks of each trajectory — never of random frames,
which would put nearly identical neighbouring frames on both sides of the split.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from gdynbook.trajectory import Trajectory, check_trajectory_list


@dataclass(frozen=True)
class Segment:
    """Frames ``start`` … ``stop - 1`` of trajectory ``trajectory``."""

    trajectory: int
    start: int
    stop: int

    @property
    def n_frames(self) -> int:
        return self.stop - self.start


class TrajectoryDataset:
    """Independent trajectories split into training, validation and test segments.

    Parameters
    ----------
    trajectories : list of Trajectory
        Independent runs of one system (a single Trajectory is accepted).
    validation_fraction, test_fraction : float
        Shares of the data held out.
    seed : int
        Seed for choosing which whole trajectories are held out.
    """

    def __init__(
        self,
        trajectories: Sequence[Trajectory] | Trajectory,
        validation_fraction: float = 0.1,
        test_fraction: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.trajectories = check_trajectory_list(trajectories)
        if (
            not 0 <= validation_fraction < 1
            or not 0 <= test_fraction < 1
            or (validation_fraction + test_fraction >= 1)
        ):
            raise ValueError("validation_fraction and test_fraction must be in [0, 1) and sum < 1.")
        self.validation_fraction = validation_fraction
        self.test_fraction = test_fraction
        n = len(self.trajectories)
        self.splits: dict[str, list[Segment]] = {"train": [], "validation": [], "test": []}
        if n >= 3:
            order = np.random.default_rng(seed).permutation(n)
            n_test = int(round(test_fraction * n)) if test_fraction > 0 else 0
            n_val = int(round(validation_fraction * n)) if validation_fraction > 0 else 0
            n_test = max(n_test, 1) if test_fraction > 0 else 0
            n_val = max(n_val, 1) if validation_fraction > 0 else 0
            if n_test + n_val >= n:
                raise ValueError(f"{n} trajectories cannot be split into train/validation/test.")
            for index in order[:n_test]:
                self.splits["test"].append(
                    Segment(int(index), 0, self.trajectories[index].n_frames)
                )
            for index in order[n_test : n_test + n_val]:
                self.splits["validation"].append(
                    Segment(int(index), 0, self.trajectories[index].n_frames)
                )
            for index in sorted(order[n_test + n_val :]):
                self.splits["train"].append(
                    Segment(int(index), 0, self.trajectories[index].n_frames)
                )
            self.split_by = "trajectories"
        else:
            for index, traj in enumerate(self.trajectories):
                n_frames = traj.n_frames
                train_end = int(round((1 - validation_fraction - test_fraction) * n_frames))
                val_end = int(round((1 - test_fraction) * n_frames))
                self.splits["train"].append(Segment(index, 0, train_end))
                if validation_fraction > 0:
                    self.splits["validation"].append(Segment(index, train_end, val_end))
                if test_fraction > 0:
                    self.splits["test"].append(Segment(index, val_end, n_frames))
            self.split_by = "time blocks"

    @classmethod
    def from_segments(
        cls,
        trajectories: Sequence[Trajectory],
        splits: dict[str, list[Segment]],
        split_by: str = "explicit segments",
    ) -> TrajectoryDataset:
        """A dataset with the segments chosen by the caller (e.g. whole held-out runs).

        Parameters
        ----------
        trajectories : list of Trajectory
        splits : dict
            ``"train"`` (required), ``"validation"`` and ``"test"`` lists of
            :class:`Segment`; segments may not overlap.
        split_by : str
            How the split was made, for the record.
        """
        dataset = cls.__new__(cls)
        dataset.trajectories = check_trajectory_list(trajectories)
        dataset.splits = {
            name: list(splits.get(name, [])) for name in ("train", "validation", "test")
        }
        if not dataset.splits["train"]:
            raise ValueError("from_segments needs at least one training segment.")
        taken: dict[int, list[tuple[int, int]]] = {}
        for segments in dataset.splits.values():
            for seg in segments:
                if not 0 <= seg.trajectory < len(dataset.trajectories):
                    raise ValueError(f"segment {seg} names a trajectory that does not exist.")
                if not 0 <= seg.start < seg.stop <= dataset.trajectories[seg.trajectory].n_frames:
                    raise ValueError(f"segment {seg} lies outside its trajectory's frames.")
                for start, stop in taken.get(seg.trajectory, []):
                    if seg.start < stop and start < seg.stop:
                        raise ValueError(f"segment {seg} overlaps another segment.")
                taken.setdefault(seg.trajectory, []).append((seg.start, seg.stop))
        total = sum(t.n_frames for t in dataset.trajectories)
        dataset.validation_fraction = (
            sum(seg.n_frames for seg in dataset.splits["validation"]) / total
        )
        dataset.test_fraction = sum(seg.n_frames for seg in dataset.splits["test"]) / total
        dataset.split_by = split_by
        return dataset

    @property
    def time_step_ps(self) -> float:
        return self.trajectories[0].time_step_ps

    def pairs(self, split: str, lag_frames: int) -> np.ndarray:
        """All (trajectory, t) with t and t + τ inside one segment of ``split``.

        Returns
        -------
        numpy.ndarray of int64, shape (n_pairs, 2)
        """
        if lag_frames < 1:
            raise ValueError(f"lag_frames must be at least 1, got {lag_frames}.")
        rows = [
            np.stack(
                [
                    np.full(seg.n_frames - lag_frames, seg.trajectory),
                    np.arange(seg.start, seg.stop - lag_frames),
                ],
                axis=1,
            )
            for seg in self.splits[split]
            if seg.n_frames > lag_frames
        ]
        if not rows:
            return np.zeros((0, 2), dtype=np.int64)
        return np.concatenate(rows).astype(np.int64)

    def check_lag(self, lag_frames: int) -> None:
        """Refuse a lag that leaves no training pairs, with the numbers to fix it."""
        longest = max(seg.n_frames for seg in self.splits["train"])
        if lag_frames >= longest:
            raise ValueError(
                f"a lag of {lag_frames} frames ({lag_frames * self.time_step_ps:g} ps) is not "
                f"shorter than the longest training segment ({longest} frames). Use a shorter "
                "lag, longer trajectories, or a smaller held-out fraction."
            )


def batches(
    pairs: np.ndarray, batch_size: int, rng: np.random.Generator | None
) -> Iterator[np.ndarray]:
    """Yield index batches of ``pairs`` (shuffled when ``rng`` is given)."""
    order = rng.permutation(len(pairs)) if rng is not None else np.arange(len(pairs))
    for start in range(0, len(pairs), batch_size):
        yield pairs[order[start : start + batch_size]]
