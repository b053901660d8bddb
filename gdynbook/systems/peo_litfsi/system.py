"""Turn a built :class:`~gdynbook.systems.peo_litfsi.builder.Box` into an OpenMM system.

OpenMM's ``NonbondedForce`` combines Lennard-Jones σ arithmetically, but OPLS-AA and
CL&P mix geometrically. For most pairs here the σ error of arithmetic mixing is at most
~1.5 %; for Li–S it is 3.3 %, and Li⁺ solvation is the subject of the book. So Li⁺ gets
ε = 0 in ``NonbondedForce`` and its LJ terms are carried by a ``CustomNonbondedForce``
restricted to the interaction group {Li} × {all} with exact geometric mixing (cheap:
only Li pairs). ``lj_mixing="exact"`` instead puts *all* LJ pairs into a geometric
custom force, for validation (about 4× slower). 1-4 pairs are exceptions with exact
geometric parameters in both cases.

OpenMM units: nm, kJ/mol, ps; the force-field tables are in Å and converted here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from gdynbook.systems.peo_litfsi.builder import Box
from gdynbook.systems.peo_litfsi.forcefield import (
    ATOM_TYPES,
    COULOMB_14_SCALE,
    ION_CHARGE_SCALE,
    LJ_14_SCALE,
    angle_parameters,
    bond_parameters,
    dihedral_parameters,
    scaled_charge,
)

if TYPE_CHECKING:  # pragma: no cover
    import openmm
    import openmm.app

ANGSTROM_TO_NM = 0.1

#: Force groups, for energy decomposition.
FORCE_GROUPS = {"bonds": 0, "angles": 1, "dihedrals": 2, "nonbonded": 3, "lj_custom": 4}

_LJ_EXPRESSION = (
    "4*epsilon*((sigma/r)^12-(sigma/r)^6); "
    "sigma=sqrt(sigma1*sigma2); epsilon=sqrt(epsilon1*epsilon2)"
)


def _require_openmm() -> None:
    try:
        import openmm  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "OpenMM is needed to simulate PEO/LiTFSI: pip install 'gdynbook[md]' "
            "(or 'openmm[cuda12]' on a GPU machine)."
        ) from exc


def bonded_topology(
    box: Box,
) -> tuple[list[tuple[int, int]], list[tuple[int, int, int]], list[tuple[int, int, int, int]]]:
    """Bonds, angles and proper dihedrals of the whole box (global 0-based indices)."""
    bonds: list[tuple[int, int]] = []
    offset = 0
    for molecule in box.molecules:
        bonds += [(i + offset, j + offset) for i, j in molecule.bonds]
        offset += molecule.n_atoms
    neighbours: dict[int, set[int]] = {}
    for i, j in bonds:
        neighbours.setdefault(i, set()).add(j)
        neighbours.setdefault(j, set()).add(i)
    angles = []
    for centre, around in neighbours.items():
        ordered = sorted(around)
        for a_pos, a in enumerate(ordered):
            for c in ordered[a_pos + 1 :]:
                angles.append((a, centre, c))
    dihedrals = []
    for b, c in bonds:
        for a in sorted(neighbours[b] - {c}):
            for d in sorted(neighbours[c] - {b}):
                if a != d:
                    dihedrals.append((a, b, c, d))
    return bonds, angles, dihedrals


def openmm_topology(box: Box) -> openmm.app.Topology:
    """An OpenMM topology (residues, elements, bonds, periodic box) for PDB output."""
    _require_openmm()
    import openmm.app as app
    import openmm.unit as unit

    topology = app.Topology()
    chain_ids = {"PEO": "A", "LI": "B", "TFS": "C"}
    chains = {}
    atoms = []
    for molecule in box.molecules:
        if molecule.residue not in chains:
            chains[molecule.residue] = topology.addChain(chain_ids.get(molecule.residue))
        residue = topology.addResidue(molecule.residue, chains[molecule.residue])
        local = [
            topology.addAtom(name, app.Element.getBySymbol(ATOM_TYPES[t].element), residue)
            for name, t in zip(molecule.names, molecule.types, strict=True)
        ]
        atoms += local
        for i, j in molecule.bonds:
            topology.addBond(local[i], local[j])
    topology.setPeriodicBoxVectors(np.eye(3) * box.box_length * ANGSTROM_TO_NM * unit.nanometer)
    return topology


def subset_topology(topology: openmm.app.Topology, atoms: np.ndarray) -> openmm.app.Topology:
    """A copy of ``topology`` holding only ``atoms`` (sorted indices) and their bonds.

    Chains and residues keep their order and names; residues left empty are dropped.
    Used to write the heavy-atom topology that matches heavy-atom XTC frames.
    """
    _require_openmm()
    import openmm.app as app

    keep = set(int(i) for i in atoms)
    if len(keep) != len(atoms) or list(atoms) != sorted(keep):
        raise ValueError("atoms must be sorted, unique indices.")
    subset = app.Topology()
    new_atom = {}
    for chain in topology.chains():
        new_chain = None
        for residue in chain.residues():
            kept = [atom for atom in residue.atoms() if atom.index in keep]
            if not kept:
                continue
            if new_chain is None:
                new_chain = subset.addChain(chain.id)
            new_residue = subset.addResidue(residue.name, new_chain, residue.id)
            for atom in kept:
                new_atom[atom.index] = subset.addAtom(atom.name, atom.element, new_residue)
    for bond in topology.bonds():
        if bond[0].index in keep and bond[1].index in keep:
            subset.addBond(new_atom[bond[0].index], new_atom[bond[1].index])
    subset.setPeriodicBoxVectors(topology.getPeriodicBoxVectors())
    return subset


def create_system(
    box: Box,
    *,
    cutoff_a: float = 10.0,
    lj_mixing: Literal["li-geometric", "exact", "arithmetic"] = "li-geometric",
    hydrogen_mass: float | None = None,
    constrain_hydrogen_bonds: bool = True,
    periodic: bool = True,
    dispersion_correction: bool = True,
    ion_charge_scale: float = ION_CHARGE_SCALE,
) -> openmm.System:
    """Build the OpenMM ``System`` of a PEO/LiTFSI box.

    Parameters
    ----------
    box : Box
        The built system.
    cutoff_a : float
        Real-space cutoff of Coulomb (PME) and LJ, Å.
    lj_mixing : {"li-geometric", "exact", "arithmetic"}
        ``"li-geometric"`` (default): Li⁺ LJ exactly geometric in a custom force, the
        rest arithmetic in ``NonbondedForce``. ``"exact"``: every LJ pair geometric in
        a custom force (validation). ``"arithmetic"``: plain ``NonbondedForce``.
    hydrogen_mass : float, optional
        Hydrogen mass repartitioning: H atoms get this mass (amu), taken from the
        bonded heavy atom. ``None`` keeps natural masses.
    constrain_hydrogen_bonds : bool
        Constrain C–H bond lengths (as the OPLS-AA sources do).
    periodic : bool
        PME and periodic cutoffs; ``False`` gives a non-periodic system with no
        cutoff (for small hand-checkable tests).
    dispersion_correction : bool
        Add the analytic long-range LJ correction (periodic only). With
        ``"li-geometric"`` it covers every pair except those of Li⁺, whose correction
        (a constant under 1 kJ/mol and 1 bar for the default box) is left out for speed.
    ion_charge_scale : float
        Factor on the Li⁺ and TFSI⁻ charges (default 0.8).

    Returns
    -------
    openmm.System
    """
    _require_openmm()
    import openmm

    types = box.types
    n_atoms = len(types)
    system = openmm.System()
    masses = np.array([ATOM_TYPES[t].mass for t in types])
    bonds, angles, dihedrals = bonded_topology(box)
    if hydrogen_mass is not None:
        for i, j in bonds:
            for h, heavy in ((i, j), (j, i)):
                if ATOM_TYPES[types[h]].element == "H":
                    transfer = hydrogen_mass - masses[h]
                    masses[h] += transfer
                    masses[heavy] -= transfer
    for mass in masses:
        system.addParticle(float(mass))
    if periodic:
        length_nm = box.box_length * ANGSTROM_TO_NM
        system.setDefaultPeriodicBoxVectors(
            openmm.Vec3(length_nm, 0, 0), openmm.Vec3(0, length_nm, 0), openmm.Vec3(0, 0, length_nm)
        )

    bond_force = openmm.HarmonicBondForce()
    for i, j in bonds:
        r0, k = bond_parameters(ATOM_TYPES[types[i]].bond_class, ATOM_TYPES[types[j]].bond_class)
        is_ch = "H" in (ATOM_TYPES[types[i]].element, ATOM_TYPES[types[j]].element)
        if constrain_hydrogen_bonds and is_ch:
            system.addConstraint(i, j, r0 * ANGSTROM_TO_NM)
        else:
            bond_force.addBond(i, j, r0 * ANGSTROM_TO_NM, k / ANGSTROM_TO_NM**2)
    angle_force = openmm.HarmonicAngleForce()
    for a, b, c in angles:
        classes = [ATOM_TYPES[types[x]].bond_class for x in (a, b, c)]
        theta0, k = angle_parameters(*classes)
        angle_force.addAngle(a, b, c, np.radians(theta0), k)
    torsion_force = openmm.PeriodicTorsionForce()
    for a, b, c, d in dihedrals:
        classes = [ATOM_TYPES[types[x]].bond_class for x in (a, b, c, d)]
        for periodicity, (v, phase) in enumerate(
            zip(dihedral_parameters(*classes), (0.0, np.pi, 0.0, np.pi), strict=True), start=1
        ):
            if v != 0.0:
                torsion_force.addTorsion(a, b, c, d, periodicity, phase, v / 2.0)

    nonbonded = openmm.NonbondedForce()
    sigma_nm = np.array([ATOM_TYPES[t].sigma for t in types]) * ANGSTROM_TO_NM
    epsilon = np.array([ATOM_TYPES[t].epsilon for t in types])
    charges = np.array([scaled_charge(t, ion_charge_scale) for t in types])
    is_li = np.array([t == "Li" for t in types])
    for i in range(n_atoms):
        in_nonbonded = lj_mixing == "arithmetic" or (lj_mixing == "li-geometric" and not is_li[i])
        nonbonded.addParticle(
            float(charges[i]), float(sigma_nm[i]), float(epsilon[i]) if in_nonbonded else 0.0
        )
    pairs_14 = {tuple(sorted((a, d))) for a, _, _, d in dihedrals}
    excluded = {tuple(sorted(b)) for b in bonds} | {tuple(sorted((a, c))) for a, _, c in angles}
    pairs_14 -= excluded  # in rings a 1-4 pair can also be 1-3; not the case here
    for i, j in sorted(excluded):
        nonbonded.addException(i, j, 0.0, 0.1, 0.0)
    for i, j in sorted(pairs_14):
        nonbonded.addException(
            i,
            j,
            COULOMB_14_SCALE * charges[i] * charges[j],
            float(np.sqrt(sigma_nm[i] * sigma_nm[j])),
            LJ_14_SCALE * float(np.sqrt(epsilon[i] * epsilon[j])),
        )
    if periodic:
        nonbonded.setNonbondedMethod(openmm.NonbondedForce.PME)
        nonbonded.setCutoffDistance(cutoff_a * ANGSTROM_TO_NM)
        nonbonded.setUseDispersionCorrection(dispersion_correction)
        nonbonded.setEwaldErrorTolerance(5e-4)
    else:
        nonbonded.setNonbondedMethod(openmm.NonbondedForce.NoCutoff)

    forces = [
        (bond_force, "bonds"),
        (angle_force, "angles"),
        (torsion_force, "dihedrals"),
        (nonbonded, "nonbonded"),
    ]
    if lj_mixing != "arithmetic":
        custom = openmm.CustomNonbondedForce(_LJ_EXPRESSION)
        custom.addPerParticleParameter("sigma")
        custom.addPerParticleParameter("epsilon")
        for i in range(n_atoms):
            custom.addParticle([float(sigma_nm[i]), float(epsilon[i])])
        for i, j in sorted(excluded | pairs_14):
            custom.addExclusion(i, j)
        if lj_mixing == "li-geometric":
            li_atoms = set(np.nonzero(is_li)[0].tolist())
            custom.addInteractionGroup(li_atoms, set(range(n_atoms)))
        if periodic:
            custom.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffPeriodic)
            custom.setCutoffDistance(cutoff_a * ANGSTROM_TO_NM)
            # The analytic long-range correction of a CustomNonbondedForce costs OpenMM's
            # CPU platform ~60 % of a step here. For the 16-Li group it is a constant of
            # under 1 kJ/mol (under 1 bar: a density change below 0.01 %), so it is left
            # out; all other LJ pairs keep NonbondedForce's dispersion correction.
            custom.setUseLongRangeCorrection(dispersion_correction and lj_mixing == "exact")
        else:
            custom.setNonbondedMethod(openmm.CustomNonbondedForce.NoCutoff)
        forces.append((custom, "lj_custom"))
    for force, group in forces:
        force.setForceGroup(FORCE_GROUPS[group])
        system.addForce(force)
    return system
