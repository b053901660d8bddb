"""A Markov jump model of one Li in an fcc S cell: sites, hops and a known answer.

The conventional cubic cell of an fcc sublattice (4 S) has 8 tetrahedral and 4
octahedral holes. Every tetrahedral hole shares faces with all 4 octahedral holes and
every octahedral hole with all 8 tetrahedral ones, so with escape probabilities per frame
p_TO (tet → any oct) and p_OT (oct → any tet) the Li hops on a complete bipartite
site graph. Positions are the hole centres plus Gaussian thermal noise. It is not MD —
the toy chapters simulate that — but its two site types and their exact populations
π_tet = p_OT/(p_TO + p_OT) make a fast, honest test of an encoder.
"""

from __future__ import annotations

import numpy as np

from gdynbook.trajectory import Trajectory

#: Fractional positions of the 4 S of the conventional fcc cell.
FCC_SITES = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]], dtype=float)
#: Tetrahedral holes (±¼ combinations) and octahedral holes.
TET_SITES = np.array([[x, y, z] for x in (0.25, 0.75) for y in (0.25, 0.75) for z in (0.25, 0.75)])
OCT_SITES = np.array([[0.5, 0.5, 0.5], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]], dtype=float)


def simulate_site_hopping(
    n_frames: int,
    p_tet_to_oct: float = 0.02,
    p_oct_to_tet: float = 0.1,
    lattice_constant: float = 5.7,
    li_noise: float = 0.15,
    s_noise: float = 0.08,
    time_step_ps: float = 0.5,
    seed: int = 0,
) -> tuple[Trajectory, np.ndarray]:
    """Simulate Li hopping between the holes of one fcc S cell.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    p_tet_to_oct, p_oct_to_tet : float
        Probability per frame to leave a tetrahedral (octahedral) hole, landing in a
        random hole of the other kind.
    lattice_constant : float
        Cubic cell edge, Å.
    li_noise, s_noise : float
        Standard deviation of the Gaussian displacement of Li and S, Å.
    time_step_ps : float
        Time between frames, ps.
    seed : int

    Returns
    -------
    traj : Trajectory
        Atom 0 is the Li (the target), atoms 1–4 are S.
    site_type : numpy.ndarray of int, shape (n_frames,)
        0 when the Li sits in a tetrahedral hole, 1 in an octahedral one.
    """
    rng = np.random.default_rng(seed)
    pi_tet = p_oct_to_tet / (p_tet_to_oct + p_oct_to_tet)
    site_type = np.empty(n_frames, dtype=np.int64)
    site_type[0] = 0 if rng.random() < pi_tet else 1
    leave = rng.random(n_frames)
    for t in range(1, n_frames):
        p = p_tet_to_oct if site_type[t - 1] == 0 else p_oct_to_tet
        site_type[t] = 1 - site_type[t - 1] if leave[t] < p else site_type[t - 1]
    which = np.where(site_type == 0, rng.integers(0, 8, n_frames), rng.integers(0, 4, n_frames))
    # a new hole is drawn only when the Li hops; it stays in its hole otherwise
    changed = np.concatenate([[True], site_type[1:] != site_type[:-1]])
    which = which[np.maximum.accumulate(np.where(changed, np.arange(n_frames), 0))]
    centres = np.where(site_type[:, None] == 0, TET_SITES[which % 8], OCT_SITES[which % 4])
    lattice = np.eye(3) * lattice_constant
    li = centres @ lattice + rng.normal(0.0, li_noise, (n_frames, 3))
    sulfur = FCC_SITES @ lattice + rng.normal(0.0, s_noise, (n_frames, 4, 3))
    coords = np.concatenate([li[:, None, :], sulfur], axis=1)
    traj = Trajectory(coords, lattice, np.array([3, 16, 16, 16, 16]), [0], time_step_ps)
    return traj.wrap(), site_type
