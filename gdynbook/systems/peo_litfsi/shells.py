"""Li⁺ first shells in PEO/LiTFSI, and a non-learned reference model built from them.

:func:`shell_descriptors` counts, per frame and Li⁺, what binds it: ether O and the
chains they belong to, TFSI⁻ oxygens and anions, and where along its chain the Li⁺ sits.
:func:`reference_labels` turns two of these into core-set labels — TFSI⁻ in the shell or
not, chain end or chain middle — whose Markov model is the yardstick for learned states.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """

    ether_o: np.ndarray
    tfsi_o: np.ndarray
    chains: np.ndarray
    anions: np.ndarray
    end_distance: np.ndarray
    nearest_tfsi_o_a: np.ndarray


def shell_descriptors(run: PeoLitfsiRun, cutoff_a: float = LI_O_SHELL_A) -> ShellDescriptors:
    """Count the first shell of every Li⁺ in every frame of a run."""
    ether_d = pair_distances(run.traj, run.li_index, run.ether_o_index)
    tfsi_d = pair_distances(run.traj, run.li_index, run.tfsi_o_index)
    chain_of_o = run.residue_index[run.ether_o_index]
    peo = Coordination.from_contacts(ether_d < cutoff_a, chain_of_o)
    tfsi = Coordination.from_contacts(tfsi_d < cutoff_a, run.residue_index[run.tfsi_o_index])
    position = np.zeros(run.ether_o_index.size, dtype=np.int64)
    last = np.zeros(run.ether_o_index.size, dtype=np.int64)
    for chain in np.unique(chain_of_o):
        members = np.flatnonzero(chain_of_o == chain)  # topology order runs along the chain
        position[members] = np.arange(members.size)
        last[members] = members.size - 1
    nearest = np.argmin(ether_d, axis=-1)
    end_distance = np.minimum(position[nearest], last[nearest] - position[nearest])
    return ShellDescriptors(
        ether_o=peo.atoms,
        tfsi_o=tfsi.atoms,
        chains=peo.molecules,
        anions=tfsi.molecules,
        end_distance=end_distance,
        nearest_tfsi_o_a=tfsi_d.min(axis=-1),
    )


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
