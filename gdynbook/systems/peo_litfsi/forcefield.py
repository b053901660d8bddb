"""Force field for PEO/LiTFSI: OPLS-AA ethers, Åqvist Li⁺ and CL&P TFSI⁻.

Values are transcribed (not copied as files) from the primary sources, as tabulated
in the CL&P force field of Canongia Lopes & Pádua:

* PEO (ethers): OPLS-AA — Jorgensen, Maxwell & Tirado-Rives, J. Am. Chem. Soc. 118,
  11225 (1996); Price, Ostrovsky & Jorgensen / Jorgensen et al., J. Phys. Chem. 100,
  18010 (1996). Alkyl C–H terms from the same OPLS-AA set.
* Li⁺: Åqvist, J. Phys. Chem. 94, 8021 (1990).
* TFSI⁻ (bistriflamide): Canongia Lopes & Pádua, J. Phys. Chem. B 108, 16893 (2004),
  as revised in Phys. Chem. Chem. Phys. 19, 29617 (2017).

Conventions (as in the sources): energies kJ/mol, lengths Å, angles degrees; bond and
angle force constants k in E = k/2 (x − x₀)²; dihedrals in the OPLS Fourier form
E = ½V₁(1+cos φ) + ½V₂(1−cos 2φ) + ½V₃(1+cos 3φ) + ½V₄(1−cos 4φ). Lennard-Jones
parameters mix geometrically (σᵢⱼ = √(σᵢσⱼ), εᵢⱼ = √(εᵢεⱼ)); 1-4 pairs are scaled by
0.5 (both Coulomb and LJ); 1-2 and 1-3 pairs are excluded. Ion charges are scaled by
0.8 (a common mean-field account of electronic polarisation in ionic systems).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AtomType:
    """Non-bonded parameters of one atom type.

    Attributes
    ----------
    name : str
        Type name (as in the CL&P tables).
    bond_class : str
        Class used to look up bonded terms.
    element : str
        Element symbol.
    mass : float
        Mass, g/mol.
    charge : float
        Partial charge before ion scaling, e.
    sigma : float
        LJ σ, Å.
    epsilon : float
        LJ ε, kJ/mol.
    """

    name: str
    bond_class: str
    element: str
    mass: float
    charge: float
    sigma: float
    epsilon: float


ATOM_TYPES: dict[str, AtomType] = {
    t.name: t
    for t in [
        # ethers, OPLS-AA (JACS 118, 11225 (1996); JPC 100, 18010 (1996))
        AtomType("C3O", "CT", "C", 12.011, 0.11, 3.50, 0.27614),  # CH3 bonded to O
        AtomType("CSO", "CT", "C", 12.011, 0.14, 3.50, 0.27614),  # CH2 bonded to O
        AtomType("HY", "HC", "H", 1.008, 0.03, 2.50, 0.12552),
        AtomType("OY", "OY", "O", 15.999, -0.40, 2.90, 0.58576),
        # lithium cation, Åqvist (JPC 94, 8021 (1990))
        AtomType("Li", "Li", "Li", 6.941, 1.00, 2.126, 0.07648),
        # bistriflamide, CL&P (JPCB 108, 16893 (2004))
        AtomType("CBT", "CF", "C", 12.011, 0.35, 3.50, 0.27614),
        AtomType("SBT", "SB", "S", 32.066, 1.02, 3.55, 1.04600),
        AtomType("NBT", "NB", "N", 14.000, -0.66, 3.25, 0.71128),
        AtomType("OBT", "OB", "O", 15.999, -0.53, 3.15, 0.83736),
        AtomType("F1", "FB", "F", 18.998, -0.16, 3.118, 0.25540),
    ]
}

#: Atom types whose charges are scaled by :data:`ION_CHARGE_SCALE`.
ION_TYPES = frozenset({"Li", "CBT", "SBT", "NBT", "OBT", "F1"})
ION_CHARGE_SCALE = 0.8
COULOMB_14_SCALE = 0.5
LJ_14_SCALE = 0.5

#: Bonds by class pair: (r₀ Å, k kJ/mol/Å²). C–H bonds are constrained in the sources.
BONDS: dict[tuple[str, str], tuple[float, float]] = {
    ("CT", "HC"): (1.090, 2845.0),
    ("CT", "CT"): (1.529, 2242.0),
    ("CT", "OY"): (1.410, 2677.8),
    ("CF", "FB"): (1.323, 3698.0),
    ("CF", "SB"): (1.818, 1950.0),
    ("OB", "SB"): (1.437, 5331.0),
    ("NB", "SB"): (1.570, 3137.0),
}

#: Angles by class triple (central class in the middle): (θ₀ deg, k kJ/mol/rad²).
ANGLES: dict[tuple[str, str, str], tuple[float, float]] = {
    ("CT", "CT", "HC"): (110.7, 313.8),
    ("HC", "CT", "HC"): (107.8, 276.1),
    ("CT", "CT", "OY"): (109.5, 418.4),
    ("HC", "CT", "OY"): (109.5, 292.9),
    ("CT", "OY", "CT"): (109.5, 502.1),
    ("FB", "CF", "FB"): (107.1, 781.0),
    ("FB", "CF", "SB"): (111.7, 694.0),
    ("OB", "SB", "OB"): (118.5, 969.0),
    ("CF", "SB", "OB"): (102.6, 870.0),
    ("NB", "SB", "OB"): (113.6, 789.0),
    ("CF", "SB", "NB"): (103.5, 764.0),
    ("SB", "NB", "SB"): (125.6, 671.0),
}

#: Proper dihedrals by class quadruple: OPLS (V₁, V₂, V₃, V₄) kJ/mol.
DIHEDRALS: dict[tuple[str, str, str, str], tuple[float, float, float, float]] = {
    ("HC", "CT", "CT", "HC"): (0.0, 0.0, 1.2552, 0.0),
    ("CT", "CT", "OY", "CT"): (2.7196, -1.0460, 2.8033, 0.0),
    ("OY", "CT", "CT", "OY"): (-2.3012, 0.0, 0.0, 0.0),
    ("CT", "OY", "CT", "HC"): (0.0, 0.0, 3.1798, 0.0),
    ("HC", "CT", "CT", "OY"): (0.0, 0.0, 1.9581, 0.0),
    ("OB", "SB", "CF", "FB"): (0.0, 0.0, 1.4510, 0.0),
    ("NB", "SB", "CF", "FB"): (0.0, 0.0, 1.3220, 0.0),
    ("OB", "SB", "NB", "SB"): (0.0, 0.0, -0.0150, 0.0),
    ("SB", "NB", "SB", "CF"): (32.7730, -10.4200, -3.1950, 0.0),
}


def scaled_charge(type_name: str, ion_charge_scale: float = ION_CHARGE_SCALE) -> float:
    """Return the charge used in simulations, e.

    Parameters
    ----------
    type_name : str
        Atom type (a key of ``ATOM_TYPES``).
    ion_charge_scale : float
        Factor applied to the charges of Li⁺ and TFSI⁻ atoms (default 0.8, the shipped
        model; 0.7–0.8 are the usual electronic-continuum corrections). Ether charges
        are never scaled.
    """
    if not 0.0 < ion_charge_scale <= 1.0:
        raise ValueError(f"ion_charge_scale must lie in (0, 1], got {ion_charge_scale}.")
    atom_type = ATOM_TYPES[type_name]
    scale = ion_charge_scale if type_name in ION_TYPES else 1.0
    return atom_type.charge * scale


def bond_parameters(class_a: str, class_b: str) -> tuple[float, float]:
    """Return (r₀ Å, k kJ/mol/Å²) for a bond between two classes."""
    key = tuple(sorted((class_a, class_b)))
    if key not in BONDS:
        raise KeyError(f"no bond parameters for {class_a}-{class_b}")
    return BONDS[key]  # type: ignore[index]


def angle_parameters(a: str, b: str, c: str) -> tuple[float, float]:
    """Return (θ₀ deg, k kJ/mol/rad²) for the angle a–b–c (b central)."""
    for key in ((a, b, c), (c, b, a)):
        if key in ANGLES:
            return ANGLES[key]
    raise KeyError(f"no angle parameters for {a}-{b}-{c}")


def dihedral_parameters(a: str, b: str, c: str, d: str) -> tuple[float, float, float, float]:
    """Return OPLS (V₁, V₂, V₃, V₄) kJ/mol for the dihedral a–b–c–d."""
    for key in ((a, b, c, d), (d, c, b, a)):
        if key in DIHEDRALS:
            return DIHEDRALS[key]
    raise KeyError(f"no dihedral parameters for {a}-{b}-{c}-{d}")
