"""PEO/LiTFSI builder and force field, checked against hand computations."""

from __future__ import annotations

import itertools

import numpy as np
import openmm
import openmm.unit as unit
import pytest

from gdynbook.systems.peo_litfsi.builder import (
    Box,
    Composition,
    build_box,
    dihedral,
    make_lithium,
    make_peo_chain,
    make_tfsi,
)
from gdynbook.systems.peo_litfsi.forcefield import (
    ATOM_TYPES,
    dihedral_parameters,
    scaled_charge,
)
from gdynbook.systems.peo_litfsi.system import (
    FORCE_GROUPS,
    bonded_topology,
    create_system,
)

COULOMB_KJ_MOL_A = 1389.35457  # e²/(4πε₀) in kJ/mol·Å


def energy(system, coords_a: np.ndarray, groups: set[str] | None = None) -> float:
    """Potential energy (kJ/mol) of ``coords_a`` (Å) on the Reference platform."""
    integrator = openmm.VerletIntegrator(0.001)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(coords_a * 0.1)
    mask = -1 if groups is None else sum(1 << FORCE_GROUPS[g] for g in groups)
    state = context.getState(getEnergy=True, groups=mask)
    return state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)


def small_box(molecules) -> Box:
    return Box(molecules=molecules, box_length=60.0, composition=Composition(), seed=0)


# ---------------------------------------------------------------- builder
def test_default_composition_and_neutrality() -> None:
    box = build_box(seed=3)
    comp = box.composition
    assert 10 <= comp.eo_per_li <= 16
    residues = [m.residue for m in box.molecules]
    assert residues.count("PEO") == comp.n_chains
    assert residues.count("LI") == residues.count("TFS") == comp.n_salt
    assert box.n_atoms == comp.n_chains * (7 * comp.n_ethylene_oxide + 9) + comp.n_salt * 16
    assert sum(m.charge for m in box.molecules) == pytest.approx(0.0, abs=1e-9)
    assert sum(scaled_charge(t) for t in box.types) == pytest.approx(0.0, abs=1e-9)
    assert box.density == pytest.approx(0.3)
    for molecule in box.molecules:
        if molecule.residue == "PEO":
            assert molecule.charge == pytest.approx(0.0, abs=1e-12)
        elif molecule.residue == "TFS":
            assert molecule.charge == pytest.approx(-1.0)
        else:
            assert molecule.charge == pytest.approx(1.0)


def test_no_overlaps_between_molecules_periodic() -> None:
    box = build_box(seed=4)
    coords = box.coords
    owner = np.concatenate([np.full(m.n_atoms, i) for i, m in enumerate(box.molecules)])
    delta = coords[:, None, :] - coords[None, :, :]
    delta -= box.box_length * np.round(delta / box.box_length)
    distance = np.linalg.norm(delta, axis=-1)
    other = owner[:, None] != owner[None, :]
    assert distance[other].min() >= 2.0


def test_connectivity_and_bond_lengths() -> None:
    rng = np.random.default_rng(0)
    chain = make_peo_chain(20, rng)
    assert chain.n_atoms == 149
    assert [ATOM_TYPES[t].element for t in chain.types].count("O") == 21
    assert len(chain.bonds) == chain.n_atoms - 1  # a tree: linear chain plus H
    degree = np.bincount(np.array(chain.bonds).ravel(), minlength=chain.n_atoms)
    for atom_type, d in zip(chain.types, degree, strict=True):
        assert d == {"C3O": 4, "CSO": 4, "OY": 2, "HY": 1}[atom_type]
    for i, j in chain.bonds:
        length = np.linalg.norm(chain.coords[i] - chain.coords[j])
        assert 1.05 < length < 1.56
    heavy = [i for i, t in enumerate(chain.types) if t != "HY"]
    backbone = chain.coords[heavy]
    far = np.linalg.norm(backbone[:, None] - backbone[None], axis=-1)
    i, j = np.triu_indices(len(heavy), k=4)
    assert far[i, j].min() >= 3.4 - 1e-9  # self-avoiding walk
    tfsi = make_tfsi()
    assert tfsi.n_atoms == 15 and len(tfsi.bonds) == 14
    s_atoms = [i for i, t in enumerate(tfsi.types) if t == "SBT"]
    assert len(s_atoms) == 2


# ---------------------------------------------------------------- force field
def test_parameter_counts_follow_the_bond_graph() -> None:
    box = small_box([make_peo_chain(3, np.random.default_rng(1)), make_tfsi(), make_lithium()])
    bonds, angles, dihedrals = bonded_topology(box)
    degree = np.bincount(np.array(bonds).ravel(), minlength=box.n_atoms)
    assert len(angles) == sum(d * (d - 1) // 2 for d in degree)
    assert len(dihedrals) == sum((degree[b] - 1) * (degree[c] - 1) for b, c in bonds)
    system = create_system(box, periodic=False, constrain_hydrogen_bonds=True)
    n_h_bonds = sum(1 for i, j in bonds if "HY" in (box.types[i], box.types[j]))
    assert system.getNumConstraints() == n_h_bonds
    forces = {type(f).__name__: f for f in system.getForces()}
    assert forces["HarmonicBondForce"].getNumBonds() == len(bonds) - n_h_bonds
    assert forces["HarmonicAngleForce"].getNumAngles() == len(angles)
    n_terms = sum(
        sum(
            v != 0
            for v in dihedral_parameters(*[ATOM_TYPES[box.types[x]].bond_class for x in quad])
        )
        for quad in dihedrals
    )
    assert forces["PeriodicTorsionForce"].getNumTorsions() == n_terms
    total = sum(
        forces["NonbondedForce"].getParticleParameters(i)[0]._value for i in range(box.n_atoms)
    )
    assert total == pytest.approx(0.0, abs=1e-9)


def test_torsion_energy_matches_opls_formula() -> None:
    chain = make_peo_chain(3, np.random.default_rng(5))
    box = small_box([chain, make_tfsi()])
    coords = box.coords
    _, _, dihedrals = bonded_topology(box)
    expected = 0.0
    for quad in dihedrals:
        v1, v2, v3, v4 = dihedral_parameters(*[ATOM_TYPES[box.types[x]].bond_class for x in quad])
        phi = np.radians(dihedral(*coords[list(quad)]))
        expected += 0.5 * (
            v1 * (1 + np.cos(phi))
            + v2 * (1 - np.cos(2 * phi))
            + v3 * (1 + np.cos(3 * phi))
            + v4 * (1 - np.cos(4 * phi))
        )
    system = create_system(box, periodic=False)
    assert energy(system, coords, {"dihedrals"}) == pytest.approx(expected, rel=1e-9)


def pair_energy(types_i, types_j, coords_i, coords_j, scale_coulomb=1.0, scale_lj=1.0) -> float:
    """Coulomb (scaled ion charges) + geometric-mixing LJ between two sets of atoms, kJ/mol."""
    total = 0.0
    for ti, ri in zip(types_i, coords_i, strict=True):
        for tj, rj in zip(types_j, coords_j, strict=True):
            r = np.linalg.norm(ri - rj)
            a, b = ATOM_TYPES[ti], ATOM_TYPES[tj]
            sigma, eps = np.sqrt(a.sigma * b.sigma), np.sqrt(a.epsilon * b.epsilon)
            total += scale_coulomb * COULOMB_KJ_MOL_A * scaled_charge(ti) * scaled_charge(tj) / r
            total += scale_lj * 4 * eps * ((sigma / r) ** 12 - (sigma / r) ** 6)
    return total


@pytest.mark.parametrize("mixing", ["li-geometric", "exact"])
def test_li_tfsi_interaction_energy_by_hand(mixing: str) -> None:
    lithium, tfsi = make_lithium(), make_tfsi()
    oxygen = tfsi.coords[tfsi.types.index("OBT")]
    lithium.coords = (oxygen + 2.1 * oxygen / np.linalg.norm(oxygen))[None]
    box = small_box([lithium, tfsi])
    system = create_system(box, periodic=False, lj_mixing=mixing)
    both = energy(system, box.coords)
    apart = box.coords.copy()
    apart[0] += 1e9  # effectively infinite separation (Coulomb residue ~1e-6 kJ/mol)
    interaction = both - energy(system, apart)
    expected = pair_energy(lithium.types, tfsi.types, lithium.coords, tfsi.coords)
    assert interaction == pytest.approx(expected, rel=1e-6)
    assert interaction < -150  # a contact ion pair binds strongly


def test_intramolecular_exclusions_and_14_scaling_by_hand() -> None:
    tfsi = make_tfsi()
    box = small_box([tfsi])
    # "exact": every LJ pair geometric, so the hand sum applies to 1-5 pairs too.
    system = create_system(box, periodic=False, lj_mixing="exact")
    bonds, angles, dihedrals = bonded_topology(box)
    excluded = {tuple(sorted(b)) for b in bonds} | {tuple(sorted((a, c))) for a, _, c in angles}
    pairs_14 = {tuple(sorted((a, d))) for a, _, _, d in dihedrals} - excluded
    expected = 0.0
    for i, j in itertools.combinations(range(tfsi.n_atoms), 2):
        if (i, j) in excluded:
            continue
        scale = 0.5 if (i, j) in pairs_14 else 1.0
        expected += pair_energy(
            [tfsi.types[i]], [tfsi.types[j]], tfsi.coords[[i]], tfsi.coords[[j]], scale, scale
        )
    got = energy(system, tfsi.coords, {"nonbonded", "lj_custom"})
    assert got == pytest.approx(expected, rel=1e-6)


def test_li_split_equals_exact_all_pairs_plus_arithmetic_error() -> None:
    """Split (arithmetic NonbondedForce + exact Li custom force) minus exact all-pairs LJ
    must equal, pair by pair, the arithmetic-minus-geometric LJ of the non-Li pairs."""
    box = build_box(Composition(n_chains=3, n_ethylene_oxide=6, n_salt=4), 0.6, seed=2)
    cutoff = min(9.0, 0.49 * box.box_length)
    coords = box.coords
    kwargs = dict(cutoff_a=cutoff, dispersion_correction=False)
    split = energy(
        create_system(box, lj_mixing="li-geometric", **kwargs), coords, {"nonbonded", "lj_custom"}
    )
    exact = energy(
        create_system(box, lj_mixing="exact", **kwargs), coords, {"nonbonded", "lj_custom"}
    )
    bonds, angles, dihedrals = bonded_topology(box)
    skip = (
        {tuple(sorted(b)) for b in bonds}
        | {tuple(sorted((a, c))) for a, _, c in angles}
        | {tuple(sorted((a, d))) for a, _, _, d in dihedrals}
    )
    sigma = np.array([ATOM_TYPES[t].sigma for t in box.types])
    eps = np.array([ATOM_TYPES[t].epsilon for t in box.types])
    is_li = np.array([t == "Li" for t in box.types])
    i, j = np.triu_indices(box.n_atoms, k=1)
    keep = ~(is_li[i] | is_li[j]) & ~np.array([(a, b) in skip for a, b in zip(i, j, strict=True)])
    i, j = i[keep], j[keep]
    delta = coords[i] - coords[j]
    delta -= box.box_length * np.round(delta / box.box_length)
    r = np.linalg.norm(delta, axis=1)
    inside = r < cutoff
    i, j, r = i[inside], j[inside], r[inside]
    e_ij = np.sqrt(eps[i] * eps[j])

    def lj(s: np.ndarray) -> np.ndarray:
        return 4 * e_ij * ((s / r) ** 12 - (s / r) ** 6)

    difference = np.sum(lj((sigma[i] + sigma[j]) / 2) - lj(np.sqrt(sigma[i] * sigma[j])))
    assert split - exact == pytest.approx(difference, rel=1e-6, abs=1e-6)
    # and the split really is different from plain arithmetic mixing for Li pairs
    plain = energy(
        create_system(box, lj_mixing="arithmetic", **kwargs), coords, {"nonbonded", "lj_custom"}
    )
    assert abs(plain - split) > 1e-3


def test_omitted_li_long_range_correction_is_negligible() -> None:
    """The Li LJ long-range correction left out for speed: energy and pressure are tiny."""
    box = build_box(seed=1)
    length_nm = 2.75  # about the production box (1.10 g/cm³)
    coords = box.coords * (length_nm * 10 / box.box_length)
    box = Box(box.molecules, length_nm * 10, box.composition, box.seed)
    system = create_system(box, lj_mixing="li-geometric")
    custom = next(f for f in system.getForces() if isinstance(f, openmm.CustomNonbondedForce))
    assert not custom.getUseLongRangeCorrection()
    with_lrc = create_system(box, lj_mixing="li-geometric")
    force = next(f for f in with_lrc.getForces() if isinstance(f, openmm.CustomNonbondedForce))
    force.setUseLongRangeCorrection(True)
    correction = energy(with_lrc, coords, {"lj_custom"}) - energy(system, coords, {"lj_custom"})
    assert -2.0 < correction < 0.0  # kJ/mol, attractive
    # E_lrc ∝ 1/V, so its pressure is −dE/dV = E/V (kJ/mol/nm³ → bar: × 16.6)
    pressure_bar = abs(correction) / length_nm**3 * 16.6054
    assert pressure_bar < 1.0
    # with a melt's compressibility (~5e-5 / bar) the density shifts by well under 0.01 %
    assert 5e-5 * pressure_bar < 1e-4
