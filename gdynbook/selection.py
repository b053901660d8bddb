"""Choosing the number of states by held-out score.

VAMP-2 can only grow with more states on the data a model was trained on; on held-out
data a state that describes nothing new stops paying. :class:`CrossValidation` holds the
held-out scores of each candidate number of states on each held-out unit (a run, a
build) and keeps a state only when its paired gain is clear.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class CrossValidation:
    """Held-out VAMP-2 per candidate number of states and held-out run.

    Attributes
    ----------
    rows : list of dict
        ``n_states``, ``test_run``, ``vamp2_test``, ``vamp2_validation`` and, with
        several seeds per fold, ``seed``: the score of a (candidate, held-out run) is
        then the mean over its seeds.
    memberships : dict
        Optionally, the held-out run's memberships of each fit, keyed by
        ``(n_states, test_run, seed)``, each (frames, n_targets, n_states): what the
        per-fold reports are computed from.
    """

    rows: list[dict[str, float]] = field(default_factory=list)
    memberships: dict[tuple[int, int, int], np.ndarray] = field(default_factory=dict, repr=False)

    def table(self) -> tuple[list[int], list[int], np.ndarray]:
        """Candidates, held-out runs and the (candidates, runs) array of held-out VAMP-2
        (mean over seeds where a fold was trained with several)."""
        ns = sorted({int(r["n_states"]) for r in self.rows})
        runs = sorted({int(r["test_run"]) for r in self.rows})
        scores: dict[tuple[int, int], list[float]] = {}
        for r in self.rows:
            scores.setdefault((int(r["n_states"]), int(r["test_run"])), []).append(
                float(r["vamp2_test"])
            )
        missing = [(n, k) for n in ns for k in runs if (n, k) not in scores]
        if missing:
            raise ValueError(
                f"no held-out score for (n_states, test_run) {missing}: every candidate "
                "needs every fold."
            )
        return ns, runs, np.array([[np.mean(scores[(n, k)]) for k in runs] for n in ns])

    def survivors(self, standard_errors: float = 1.0) -> list[int]:
        """Candidates worth more seeds: the smallest, and every n whose paired gain over
        n − 1 exceeds ``standard_errors`` standard errors, with that n − 1 (so the gain
        can be paired again on the same seeds)."""
        ns = self.table()[0]
        keep = {ns[0]}
        for n, (gain, sem) in self.per_state_gain().items():
            if np.isfinite(sem) and gain > standard_errors * sem and gain > 0:
                keep |= {n, ns[ns.index(n) - 1]}
        return sorted(keep)

    @staticmethod
    def _mean_and_sem(values: np.ndarray) -> tuple[float, float]:
        sem = values.std(ddof=1) / np.sqrt(values.size) if values.size > 1 else np.nan
        return float(values.mean()), float(sem)

    def scores(self) -> dict[int, tuple[float, float]]:
        """Mean held-out VAMP-2 and its standard error per number of states."""
        ns, _, values = self.table()
        return {n: self._mean_and_sem(row) for n, row in zip(ns, values, strict=True)}

    def per_state_gain(self) -> dict[int, tuple[float, float]]:
        """Held-out VAMP-2 gain of n states over n − 1, paired by held-out run (mean, s.e.)."""
        ns, _, values = self.table()
        return {ns[i]: self._mean_and_sem(values[i] - values[i - 1]) for i in range(1, len(ns))}

    def choose(self) -> int:
        """The most states whose paired gain over one state fewer exceeds two standard
        errors, going up from the smallest candidate (stop at the first gain that does not).

        A state is kept only when held-out runs reward it clearly; VAMP-2 can only grow
        with more states on the training data, so the held-out gain is the test.
        """
        chosen = self.table()[0][0]
        for n, (gain, sem) in self.per_state_gain().items():
            if np.isfinite(sem) and gain > 2 * sem and gain > 0:
                chosen = n
            else:
                break
        return chosen


def lockbox_index(names: list[str]) -> int:
    """Which build is the lockbox: the one whose name sorts last (the highest-numbered
    of zero-padded ``build-NN``), fixed before any data exist.

    Raises
    ------
    ValueError
        With fewer than three builds (a lockbox and at least two folds), or repeated names.
    """
    if len(set(names)) != len(names):
        raise ValueError(f"build names repeat: {names}.")
    if len(names) < 3:
        raise ValueError(
            f"{len(names)} build(s): a lockbox and leave-one-build-out folds need at least "
            "three (one set aside, two to cross-validate)."
        )
    return max(range(len(names)), key=lambda i: names[i])
