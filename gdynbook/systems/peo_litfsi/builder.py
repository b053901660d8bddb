"""Build a PEO/LiTFSI box from scratch: chains, ions, random insertion.

Pure numpy, no external packing tool:

* PEO chains CH₃–(O–CH₂–CH₂)ₙ–O–CH₃ are grown atom by atom from internal
  coordinates, with gauche-biased O–C–C–O and trans-biased C–O torsions, rejecting a
  backbone atom that comes closer than 3.4 Å to an earlier one (a self-avoiding walk);
  hydrogens are added geometrically.
* TFSI⁻ is built from its z-matrix (bond lengths, angles and dihedrals of the CL&P
  geometry, Canongia Lopes & Pádua, J. Phys. Chem. B 108, 16893 (2004)).
* Molecules are inserted at random positions and orientations into a cubic box at low
  density (default 0.3 g/cm³), rejecting any contact closer than 2.0 Å, periodic
  images included. The MD protocol then compresses the box.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from gdynbook.systems.peo_litfsi.forcefield import ATOM_TYPES

AVOGADRO = 6.02214076e23


@dataclass
class Molecule:
    """One molecule: atom types, names, bonds and coordinates.

    Attributes
    ----------
    residue : str
        Residue name (``PEO``, ``TFS`` or ``LI``).
    types : list of str
        Force-field atom type of each atom (keys of ``ATOM_TYPES``).
    names : list of str
        Atom names, unique within the molecule.
    bonds : list of tuple of int
        Bonded pairs, 0-based within the molecule.
    coords : numpy.ndarray, shape (n_atoms, 3)
        Coordinates, Å; whole (not wrapped).
    """

    residue: str
    types: list[str]
    names: list[str]
    bonds: list[tuple[int, int]]
    coords: np.ndarray

    @property
    def n_atoms(self) -> int:
        return len(self.types)

    @property
    def mass(self) -> float:
        """Molar mass, g/mol."""
        return float(sum(ATOM_TYPES[t].mass for t in self.types))

    @property
    def charge(self) -> float:
        """Net unscaled charge, e."""
        return float(sum(ATOM_TYPES[t].charge for t in self.types))


@dataclass
class Composition:
    """What goes into the box.

    Attributes
    ----------
    n_chains : int
        Number of PEO chains.
    n_ethylene_oxide : int
        EO units per chain (CH₃–(O–CH₂–CH₂)ₙ–O–CH₃ has n + 1 ether O).
    n_salt : int
        Number of LiTFSI ion pairs.
    """

    n_chains: int = 10
    n_ethylene_oxide: int = 20
    n_salt: int = 16

    @property
    def eo_per_li(self) -> float:
        """EO:Li ratio (EO units per Li⁺)."""
        return self.n_chains * self.n_ethylene_oxide / self.n_salt


@dataclass
class Box:
    """A built system: molecules in a cubic periodic box."""

    molecules: list[Molecule]
    box_length: float  # Å
    composition: Composition
    seed: int
    info: dict = field(default_factory=dict)

    @property
    def coords(self) -> np.ndarray:
        """All coordinates, Å, shape (n_atoms, 3)."""
        return np.concatenate([m.coords for m in self.molecules], axis=0)

    @property
    def types(self) -> list[str]:
        return [t for m in self.molecules for t in m.types]

    @property
    def n_atoms(self) -> int:
        return sum(m.n_atoms for m in self.molecules)

    @property
    def density(self) -> float:
        """Density, g/cm³."""
        mass_g = sum(m.mass for m in self.molecules) / AVOGADRO
        return mass_g / (self.box_length**3 * 1e-24)


# ---------------------------------------------------------------------- geometry
def place_atom(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, bond: float, angle_deg: float, torsion_deg: float
) -> np.ndarray:
    """Position of atom d with |cd| = bond, angle b–c–d and dihedral a–b–c–d (Å, degrees)."""
    angle = np.radians(angle_deg)
    torsion = np.radians(torsion_deg)
    bc = c - b
    bc /= np.linalg.norm(bc)
    normal = np.cross(b - a, bc)
    normal /= np.linalg.norm(normal)
    in_plane = np.cross(normal, bc)
    local = np.array(
        [
            -bond * np.cos(angle),
            bond * np.sin(angle) * np.cos(torsion),
            bond * np.sin(angle) * np.sin(torsion),
        ]
    )
    return c + local[0] * bc + local[1] * in_plane + local[2] * normal


def dihedral(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> float:
    """Dihedral angle a–b–c–d in degrees, in (−180, 180]."""
    b0, b1, b2 = a - b, c - b, d - c
    b1 = b1 / np.linalg.norm(b1)
    v = b0 - np.dot(b0, b1) * b1
    w = b2 - np.dot(b2, b1) * b1
    return float(np.degrees(np.arctan2(np.dot(np.cross(b1, v), w), np.dot(v, w))))


# ---------------------------------------------------------------------- TFSI
#: z-matrix of TFSI⁻: (type, bond-to, length Å, angle-to, angle deg, dihedral-to, deg),
#: references 1-based as in the CL&P geometry (JPCB 108, 16893 (2004)).
TFSI_ZMATRIX: list[tuple[str, int, float, int, float, int, float]] = [
    ("CBT", 0, 0.0, 0, 0.0, 0, 0.0),
    ("F1", 1, 1.332, 0, 0.0, 0, 0.0),
    ("F1", 1, 1.332, 2, 107.1, 0, 0.0),
    ("F1", 1, 1.332, 2, 107.1, 3, 120.0),
    ("SBT", 1, 1.818, 2, 111.8, 3, -120.0),
    ("NBT", 5, 1.700, 1, 102.6, 3, 60.0),
    ("OBT", 5, 1.443, 1, 102.6, 6, 120.0),
    ("OBT", 5, 1.443, 1, 102.6, 6, -120.0),
    ("SBT", 6, 1.700, 5, 120.0, 1, 90.0),
    ("OBT", 9, 1.443, 6, 102.6, 5, -30.0),
    ("OBT", 9, 1.443, 6, 102.6, 5, -150.0),
    ("CBT", 9, 1.818, 6, 102.6, 5, 90.0),
    ("F1", 12, 1.332, 9, 107.1, 6, 60.0),
    ("F1", 12, 1.332, 9, 107.1, 6, -60.0),
    ("F1", 12, 1.332, 9, 107.1, 6, 180.0),
]


def zmatrix_to_cartesian(
    zmatrix: list[tuple[str, int, float, int, float, int, float]],
) -> np.ndarray:
    """Cartesian coordinates (Å) from a z-matrix with 1-based references."""
    coords = np.zeros((len(zmatrix), 3))
    for i, (_, ib, bond, ia, angle, it, torsion) in enumerate(zmatrix):
        if i == 0:
            continue
        if i == 1:
            coords[i] = coords[ib - 1] + [bond, 0.0, 0.0]
            continue
        if i == 2:
            b, c = coords[ia - 1], coords[ib - 1]
            direction = (b - c) / np.linalg.norm(b - c)
            theta = np.radians(angle)
            perpendicular = np.array([-direction[1], direction[0], 0.0])
            coords[i] = c + bond * (np.cos(theta) * direction + np.sin(theta) * perpendicular)
            continue
        coords[i] = place_atom(coords[it - 1], coords[ia - 1], coords[ib - 1], bond, angle, torsion)
    return coords


def make_tfsi() -> Molecule:
    """One TFSI⁻ anion (15 atoms) centred at the origin."""
    coords = zmatrix_to_cartesian(TFSI_ZMATRIX)
    types = [row[0] for row in TFSI_ZMATRIX]
    bonds = [(row[1] - 1, i) for i, row in enumerate(TFSI_ZMATRIX) if i > 0]
    counts: dict[str, int] = {}
    names = []
    for t in types:
        element = ATOM_TYPES[t].element
        counts[element] = counts.get(element, 0) + 1
        names.append(f"{element}{counts[element]}")
    return Molecule("TFS", types, names, bonds, coords - coords.mean(axis=0))


def make_lithium() -> Molecule:
    """One Li⁺ cation."""
    return Molecule("LI", ["Li"], ["LI"], [], np.zeros((1, 3)))


# ---------------------------------------------------------------------- PEO
_CO_BOND, _CC_BOND, _CH_BOND = 1.410, 1.529, 1.090
_TETRAHEDRAL = 109.5


def _backbone_torsion(rng: np.random.Generator, central: tuple[str, str]) -> float:
    """Sample a backbone torsion: O–C–C–O gauche-biased, torsions about C–O trans-biased."""
    if central == ("C", "C"):
        choice = rng.choice([60.0, -60.0, 180.0], p=[0.4, 0.4, 0.2])
    else:
        choice = rng.choice([180.0, 75.0, -75.0], p=[0.8, 0.1, 0.1])
    return float(choice + rng.normal(0.0, 10.0))


def make_peo_chain(
    n_ethylene_oxide: int,
    rng: np.random.Generator,
    min_backbone_distance: float = 3.4,
    max_attempts: int = 200,
) -> Molecule:
    """Grow one CH₃–(O–CH₂–CH₂)ₙ–O–CH₃ chain as a self-avoiding walk.

    Parameters
    ----------
    n_ethylene_oxide : int
        Number n of EO units.
    rng : numpy.random.Generator
        Random source (torsions, restarts).
    min_backbone_distance : float
        Smallest allowed distance, Å, between a new backbone atom and any backbone
        atom more than three bonds away.
    max_attempts : int
        Tries per backbone atom before the chain is restarted.

    Returns
    -------
    Molecule
        The chain: 3n + 3 heavy atoms and 4n + 6 H (149 atoms for n = 20).
    """
    if n_ethylene_oxide < 1:
        raise ValueError("a PEO chain needs at least one EO unit.")
    elements = ["C"] + ["O", "C", "C"] * n_ethylene_oxide + ["O", "C"]
    n_backbone = len(elements)
    for _restart in range(100):
        backbone = np.zeros((n_backbone, 3))
        backbone[1] = [_CO_BOND, 0.0, 0.0]
        theta = np.radians(180.0 - _TETRAHEDRAL)
        backbone[2] = backbone[1] + _CO_BOND * np.array([np.cos(theta), np.sin(theta), 0.0])
        ok = True
        for i in range(3, n_backbone):
            bond = _CC_BOND if elements[i] == "C" and elements[i - 1] == "C" else _CO_BOND
            for _attempt in range(max_attempts):
                torsion = _backbone_torsion(rng, (elements[i - 2], elements[i - 1]))
                candidate = place_atom(
                    backbone[i - 3], backbone[i - 2], backbone[i - 1], bond, _TETRAHEDRAL, torsion
                )
                if i < 4 or np.min(np.linalg.norm(backbone[: i - 3] - candidate, axis=1)) >= (
                    min_backbone_distance
                ):
                    backbone[i] = candidate
                    break
            else:
                ok = False
                break
        if ok:
            break
    else:  # pragma: no cover - practically unreachable for sensible lengths
        raise RuntimeError("could not grow a self-avoiding PEO chain; try another seed.")

    types: list[str] = []
    names: list[str] = []
    coords: list[np.ndarray] = []
    bonds: list[tuple[int, int]] = []
    heavy_index: list[int] = []
    counts = {"C": 0, "O": 0, "H": 0}

    def add(atom_type: str, position: np.ndarray) -> int:
        element = ATOM_TYPES[atom_type].element
        counts[element] += 1
        types.append(atom_type)
        names.append(f"{element}{counts[element]}")
        coords.append(position)
        return len(types) - 1

    for i, element in enumerate(elements):
        if element == "O":
            atom_type = "OY"
        elif i in (0, n_backbone - 1):
            atom_type = "C3O"
        else:
            atom_type = "CSO"
        heavy_index.append(add(atom_type, backbone[i]))
        if i > 0:
            bonds.append((heavy_index[i - 1], heavy_index[i]))
    for i, element in enumerate(elements):
        if element != "C":
            continue
        carbon = backbone[i]
        if i in (0, n_backbone - 1):  # methyl: three H staggered about the C–O bond
            step = 1 if i == 0 else -1
            oxygen, beyond = backbone[i + step], backbone[i + 2 * step]
            for torsion in (60.0, 180.0, 300.0):
                h = place_atom(beyond, oxygen, carbon, _CH_BOND, _TETRAHEDRAL, torsion)
                bonds.append((heavy_index[i], add("HY", h)))
        else:  # methylene: two H in the plane bisecting the heavy-atom angle
            u1 = backbone[i - 1] - carbon
            u2 = backbone[i + 1] - carbon
            u1 /= np.linalg.norm(u1)
            u2 /= np.linalg.norm(u2)
            away = -(u1 + u2)
            away /= np.linalg.norm(away)
            perpendicular = np.cross(u1, u2)
            perpendicular /= np.linalg.norm(perpendicular)
            half = np.radians(_TETRAHEDRAL / 2)
            for sign in (1.0, -1.0):
                h = carbon + _CH_BOND * (np.cos(half) * away + sign * np.sin(half) * perpendicular)
                bonds.append((heavy_index[i], add("HY", h)))
    xyz = np.array(coords)
    return Molecule("PEO", types, names, bonds, xyz - xyz.mean(axis=0))


# ---------------------------------------------------------------------- packing
def _periodic_contacts(
    new: np.ndarray, placed_tree: cKDTree | None, box_length: float, min_distance: float
) -> bool:
    """Whether ``new`` (Å) comes closer than ``min_distance`` to placed atoms or to
    periodic images of itself."""
    wrapped = np.mod(new, box_length)
    if (
        placed_tree is not None
        and placed_tree.query_ball_point(wrapped, min_distance, return_length=True).any()
    ):
        return True
    own = cKDTree(wrapped, boxsize=box_length)
    for i, j in own.query_pairs(min_distance):
        if np.linalg.norm(new[i] - new[j]) > min_distance + 1e-9:
            return True  # close only through a periodic image
    return False


def build_box(
    composition: Composition | None = None,
    density_g_cm3: float = 0.3,
    seed: int = 0,
    min_distance: float = 2.0,
    max_tries: int = 5_000,
) -> Box:
    """Build a PEO/LiTFSI box at low density by random insertion.

    Parameters
    ----------
    composition : Composition, optional
        Numbers of chains, EO units per chain and ion pairs (default 10 × 20 EO,
        16 LiTFSI: EO:Li = 12.5).
    density_g_cm3 : float
        Density of the initial box, g/cm³; the MD protocol compresses it.
    seed : int
        Seed for chain growth and insertion.
    min_distance : float
        Smallest allowed distance between atoms of different molecules, Å.
    max_tries : int
        Insertion attempts per molecule before giving up.

    Returns
    -------
    Box
        Molecules in insertion order regrouped as chains, then Li⁺, then TFSI⁻.
    """
    composition = composition or Composition()
    rng = np.random.default_rng(seed)
    chains = [
        make_peo_chain(composition.n_ethylene_oxide, rng) for _ in range(composition.n_chains)
    ]
    lithium = [make_lithium() for _ in range(composition.n_salt)]
    anions = [make_tfsi() for _ in range(composition.n_salt)]
    total_mass = sum(m.mass for m in chains + lithium + anions)
    volume_a3 = total_mass / AVOGADRO / density_g_cm3 * 1e24
    box_length = volume_a3 ** (1.0 / 3.0)

    placed_coords = np.empty((0, 3))
    tree: cKDTree | None = None
    insertion_order = chains + anions + lithium  # largest first
    for molecule in insertion_order:
        for _try in range(max_tries):
            rotation = Rotation.random(random_state=rng)
            candidate = rotation.apply(molecule.coords) + rng.random(3) * box_length
            if not _periodic_contacts(candidate, tree, box_length, min_distance):
                molecule.coords = candidate
                placed_coords = np.concatenate([placed_coords, np.mod(candidate, box_length)])
                tree = cKDTree(placed_coords, boxsize=box_length)
                break
        else:
            raise RuntimeError(
                f"could not insert a {molecule.residue} molecule after {max_tries} tries: "
                "lower density_g_cm3 or min_distance."
            )
    molecules = chains + lithium + anions
    return Box(molecules=molecules, box_length=box_length, composition=composition, seed=seed)
