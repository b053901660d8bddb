"""Measured transference numbers of PEO/LiTFSI, to set beside the simulated ones.

Two kinds of measurement, two reference frames:

* the **ideal** t₊ = D_Li/(D_Li + D_TFSI) from PFG-NMR self-diffusion coefficients
  (uncorrelated ions; compare with the ideal t₊ of the simulation);
* the **electrochemical** t₊⁰ (the Balsara–Newman steady-state method, or concentrated-
  solution theory), defined relative to the solvent's velocity: compare with the
  simulation's solvent-frame t₊ (Shao et al., J. Am. Chem. Soc. 144, 7583 (2022)). Its
  sign at EO:Li 8–12 is contested between groups: negative over part of the salt window
  in Pesko et al., J. Electrochem. Soc. 164, E3569 (2017) and 165, A3186 (2018);
  positive throughout in Edman et al., J. Phys. Chem. B 104, 3476 (2000).

Every entry says how its number was checked: the paper's own abstract (quoted), or a
third party's reading of a figure (``andthum/lintf2_ether_ana_postproc`` on GitHub),
which is all that could be read here. Temperatures are those of the measurements,
358–363 K, below the 423 K of our builds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: The ideal t₊ from PFG-NMR self-diffusion (a quantity of the anchors).
IDEAL = "ideal t₊ (PFG-NMR)"
#: The electrochemical t₊⁰, relative to the solvent (a quantity of the anchors).
ELECTROCHEMICAL = "t₊⁰ (electrochemical, solvent frame)"


@dataclass(frozen=True)
class TransferenceAnchor:
    """One measured value or range of a transference number.

    Attributes
    ----------
    quantity : str
        :data:`IDEAL` or :data:`ELECTROCHEMICAL`.
    low, high : float
        The value (``low == high``) or the range reported; for a range over salt
        concentrations, its ends.
    eo_per_li : str
        The salt content it applies to (EO units per Li⁺, or a range).
    temperature_k : float or None
        Temperature of the measurement, K (None: not given where it was read).
    method : str
    source : str
        Key in the book's bibliography (``reference/references.bib``).
    verified : str
        How the number was read: ``"abstract"`` (the paper's own words) or
        ``"figure reading (third party)"``.
    note : str
    """

    quantity: str
    low: float
    high: float
    eo_per_li: str
    temperature_k: float | None
    method: str
    source: str
    verified: str
    note: str = ""


#: Pesko et al. 2017, Fig. 1 at r = 0.08 (third-party reading), cm²/s.
PESKO_2017_D_LI_CM2_S = 7.59e-8
PESKO_2017_D_TFSI_CM2_S = 3.08e-7

#: Every measured transference number of PEO/LiTFSI used in the book, with how it was read.
T_PLUS_ANCHORS: tuple[TransferenceAnchor, ...] = (
    TransferenceAnchor(
        IDEAL,
        0.198,
        0.198,
        "12.5",
        363.0,
        "PFG-NMR, PEO 5 kg/mol",
        "pesko2017negative",
        "figure reading (third party)",
        "D_Li 7.59e-8, D_TFSI 3.08e-7 cm²/s (Fig. 1, r = 0.08)",
    ),
    TransferenceAnchor(
        IDEAL,
        0.178,
        0.178,
        "8.3",
        363.0,
        "PFG-NMR, PEO 5 kg/mol",
        "pesko2017negative",
        "figure reading (third party)",
        "r = 0.12",
    ),
    TransferenceAnchor(
        IDEAL,
        0.26,
        0.26,
        "12.5",
        363.0,
        "PFG-NMR",
        "timachova2015effect",
        "figure reading (third party)",
        "r = 0.08; the reading labels the PEO ~4 kg/mol",
    ),
    TransferenceAnchor(
        IDEAL,
        0.144,
        0.144,
        "12",
        358.0,
        "PFG-NMR, high-molecular-weight PEO",
        "oradd2002diffusion",
        "figure reading (third party)",
        "Fig. 4",
    ),
    TransferenceAnchor(
        IDEAL,
        0.121,
        0.121,
        "8",
        358.0,
        "PFG-NMR, high-molecular-weight PEO",
        "oradd2002diffusion",
        "figure reading (third party)",
        "Fig. 4",
    ),
    TransferenceAnchor(
        IDEAL,
        1 / 6,
        1 / 6,
        "5–50",
        None,
        "PFG-NMR",
        "oradd2002diffusion",
        "abstract",
        "'D_Li = 0.2 D_TFSI' for all salt contents studied",
    ),
    TransferenceAnchor(
        ELECTROCHEMICAL,
        0.17,
        0.60,
        "≈ 5–30",
        358.0,
        "concentrated-solution theory",
        "edman2000transport",
        "abstract",
        "'0.17 ± 0.17 to 0.60 ± 0.03' over 742–2982 mol/m³; which value belongs to which "
        "concentration is not in the abstract",
    ),
    TransferenceAnchor(
        ELECTROCHEMICAL,
        -0.8,
        0.7,
        "whole salt window",
        None,
        "Balsara–Newman steady state (and current interrupt)",
        "pesko2018comparing",
        "abstract",
        "'vary from 0.7 to −0.8' over the salt window; negative at intermediate and high salt",
    ),
)


def ideal_transference(d_li: float, d_tfsi: float) -> float:
    """t₊ of uncorrelated ions, D_Li/(D_Li + D_TFSI) (any one unit for both)."""
    if not (d_li > 0 and d_tfsi > 0):
        raise ValueError(f"diffusion coefficients must be positive, got {d_li}, {d_tfsi}.")
    return d_li / (d_li + d_tfsi)


def anchor_table(quantity: str | None = None) -> Any:
    """The anchors as a :class:`pandas.DataFrame`, one row each (``quantity`` filters)."""
    import pandas as pd

    rows = [asdict(a) for a in T_PLUS_ANCHORS if quantity in (None, a.quantity)]
    if not rows:
        raise KeyError(f"no anchor for {quantity!r}: use {IDEAL!r} or {ELECTROCHEMICAL!r}.")
    return pd.DataFrame(rows)
