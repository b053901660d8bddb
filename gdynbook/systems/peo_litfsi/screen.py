"""The force-field screen: measure each screen build, apply the pre-registered rule.

The rule is written on the data page (``reference/data.md``, "New PEO/LiTFSI data") before
any screen build reached its measurement stage; :func:`apply_rule` is that rule as code,
tested on made-up rows, so the choice cannot drift once the numbers are in:

1. reject a setting whose density is more than 3 % plus the anchor's uncertainty away from
   the density anchor;
2. reject one whose Li–O coordination (ether + TFSI O within 2.8 Å) lies outside 4–6;
3. reject one where more than 0.25 of the TFSI⁻ touch a Li⁺ (pairing anchor 0.10 + 0.15);
4. rank the others by ``abs(ln R_MD − ln R_exp)``, R = D_Li/D_TFSI; if the best two lie
   within one combined standard error of ln R, take the one with more Li⁺ per box;
5. if every setting is rejected, take the one with the smallest largest relative miss, and
   say so.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Anchors from the data page, by EO:Li (rounded): density at 423 K (g/cm³) with its
#: uncertainty, and R_exp = D_Li/D_TFSI (PFG-NMR, 358–363 K).
ANCHORS: dict[int, dict[str, float]] = {
    12: {"density": 1.171, "density_err": 0.059, "ratio": 0.246},
    8: {"density": 1.230, "density_err": 0.022, "ratio": 0.171},
}
DENSITY_TOLERANCE = 0.03
COORDINATION_RANGE = (4.0, 6.0)
PAIRING_LIMIT = 0.10 + 0.15


@dataclass
class ScreenRow:
    """What the rule needs of one screen build."""

    name: str
    eo_per_li: float
    n_li: int
    density: float
    coordination: float
    fraction_tfsi_touching_li: float
    d_ratio: float
    ln_ratio_err: float = float("nan")
    extra: dict[str, Any] = field(default_factory=dict)

    def anchor(self) -> dict[str, float]:
        key = min(ANCHORS, key=lambda r: abs(r - self.eo_per_li))
        return ANCHORS[key]


@dataclass
class Verdict:
    """The outcome of the rule for every row, and the chosen setting."""

    chosen: str
    all_rejected: bool
    rejected: dict[str, list[str]]
    distance: dict[str, float]
    misses: dict[str, float]


def _misses(row: ScreenRow) -> tuple[list[str], float]:
    """Reasons to reject a row, and its largest relative miss over the three criteria."""
    anchor = row.anchor()
    reasons = []
    allowed = DENSITY_TOLERANCE * anchor["density"] + anchor["density_err"]
    density_off = abs(row.density - anchor["density"])
    if density_off > allowed:
        reasons.append(
            f"density {row.density:.3f} g/cm³ is {density_off:.3f} from the anchor "
            f"{anchor['density']:.3f} (allowed {allowed:.3f})"
        )
    low, high = COORDINATION_RANGE
    if not low <= row.coordination <= high:
        reasons.append(f"Li–O coordination {row.coordination:.2f} outside {low:g}–{high:g}")
    if row.fraction_tfsi_touching_li > PAIRING_LIMIT:
        reasons.append(
            f"{row.fraction_tfsi_touching_li:.2f} of TFSI⁻ touch a Li⁺ (limit {PAIRING_LIMIT:.2f})"
        )
    relative = max(
        density_off / allowed,
        max(low - row.coordination, row.coordination - high, 0.0) / (high - low) + 1.0
        if not low <= row.coordination <= high
        else 0.0,
        row.fraction_tfsi_touching_li / PAIRING_LIMIT,
    )
    return reasons, relative


def apply_rule(rows: list[ScreenRow]) -> Verdict:
    """The pre-registered selection rule (module docstring) applied to the screen rows.

    Raises
    ------
    ValueError
        If there are no rows or a row has a non-positive D ratio.
    """
    if not rows:
        raise ValueError("no screen builds to choose from.")
    rejected, misses, distance = {}, {}, {}
    for row in rows:
        reasons, worst = _misses(row)
        rejected[row.name] = reasons
        misses[row.name] = worst
        if not row.d_ratio > 0:
            raise ValueError(f"{row.name}: D_Li/D_TFSI must be positive, got {row.d_ratio}.")
        distance[row.name] = abs(math.log(row.d_ratio) - math.log(row.anchor()["ratio"]))
    kept = [row for row in rows if not rejected[row.name]]
    if not kept:
        chosen = min(rows, key=lambda row: misses[row.name]).name
        return Verdict(chosen, True, rejected, distance, misses)
    kept.sort(key=lambda row: distance[row.name])
    chosen = kept[0]
    if len(kept) > 1:
        second = kept[1]
        combined = math.hypot(chosen.ln_ratio_err, second.ln_ratio_err)
        if np.isfinite(combined) and distance[second.name] - distance[chosen.name] <= combined:
            chosen = max(chosen, second, key=lambda row: row.n_li)
    return Verdict(chosen.name, False, rejected, distance, misses)


def measure_build(build_dir: str | os.PathLike[str], n_blocks: int = 5) -> ScreenRow:
    """Measure one screen build (its NPT density and its NVT production run).

    ``ln_ratio_err`` is the standard error of ln(D_Li/D_TFSI) over ``n_blocks`` time
    blocks of the production run.
    """
    from gdynbook.systems.peo_litfsi.diagnostics import li_diagnostics
    from gdynbook.systems.peo_litfsi.runs import load_run

    folder = Path(build_dir)
    equilibration = json.loads((folder / "equilibration" / "equilibration.json").read_text())
    run = load_run(folder)
    values = li_diagnostics(run)
    block = run.traj.n_frames // n_blocks
    logs = []
    for k in range(n_blocks):
        part = _sub_run(run, slice(k * block, (k + 1) * block))
        try:
            ratio = li_diagnostics(part, msd_window_ps=(50.0, 0.4 * block * run.traj.time_step_ps))[
                "d_ratio"
            ]
        except ValueError:
            continue
        if ratio > 0:
            logs.append(math.log(ratio))
    err = float(np.std(logs, ddof=1) / np.sqrt(len(logs))) if len(logs) > 1 else float("nan")
    composition = run.provenance["composition"]
    return ScreenRow(
        name=folder.name,
        eo_per_li=float(run.provenance["eo_per_li"]),
        n_li=int(composition["n_salt"]),
        density=float(equilibration["npt_density_g_cm3_mean"]),
        coordination=values["ether_o_per_li"] + values["tfsi_o_per_li"],
        fraction_tfsi_touching_li=values["fraction_tfsi_touching_li"],
        d_ratio=values["d_ratio"],
        ln_ratio_err=err,
        extra=values,
    )


def _sub_run(run: Any, frames: slice) -> Any:
    from dataclasses import replace

    return replace(run, traj=run.traj[frames])


def screen_table(rows: list[ScreenRow], verdict: Verdict) -> str:
    """The screen as a Markdown table beside its anchors, for the data page and chapter:
    one row per build (measured values, anchor values, the distance abs(ln R − ln R_exp),
    the rule's verdict), then a line naming the choice."""
    header = (
        "| build | EO:Li | Li⁺ | density g/cm³ (anchor) | Li–O coord. | TFSI⁻ touching Li⁺ "
        "| D_Li/D_TFSI (anchor) | \\|ln R − ln R_exp\\| | verdict |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for row in rows:
        anchor = row.anchor()
        reasons = verdict.rejected[row.name]
        if row.name == verdict.chosen:
            outcome = "**chosen**" + (" (all rejected: least miss)" if verdict.all_rejected else "")
        else:
            outcome = "rejected: " + "; ".join(reasons) if reasons else "kept"
        err = f" ± {row.ln_ratio_err:.2f}" if math.isfinite(row.ln_ratio_err) else ""
        lines.append(
            f"| {row.name} | {row.eo_per_li:.3g} | {row.n_li} | {row.density:.3f} "
            f"({anchor['density']:.3f} ± {anchor['density_err']:.3f}) | {row.coordination:.2f} "
            f"| {row.fraction_tfsi_touching_li:.3f} | {row.d_ratio:.2f} ({anchor['ratio']:.3f}) "
            f"| {verdict.distance[row.name]:.2f}{err} | {outcome} |"
        )
    choice = f"\nChosen by the rule: **{verdict.chosen}**."
    if verdict.all_rejected:
        choice += " Every setting missed a criterion; this one missed by the least."
    return header + "\n".join(lines) + "\n" + choice


def screen_campaign(
    campaign: str | os.PathLike[str], root: str | os.PathLike[str], partial: bool = False
) -> tuple[list[ScreenRow], Verdict, list[str]]:
    """Measure every finished build of a screen campaign and apply the rule.

    Parameters
    ----------
    campaign : path
        The campaign file (``data/peo_litfsi/campaign-screen.json``).
    root : path
        The folder the campaign ran into (``data/peo_litfsi``).
    partial : bool
        Apply the rule to the finished builds even if some are not (a preliminary look;
        the choice counts only with every build in).

    Returns
    -------
    rows, verdict, unfinished
        ``unfinished`` names the builds left out (empty for a final verdict).

    Raises
    ------
    ValueError
        If a build is unfinished and ``partial`` is False, or none is finished.
    """
    from gdynbook.systems.peo_litfsi.campaign import read_campaign

    finished, unfinished = [], []
    for build in read_campaign(campaign):
        folder = Path(root) / build.name
        provenance = folder / "provenance.json"
        done = provenance.is_file() and json.loads(provenance.read_text()).get("complete")
        (finished if done else unfinished).append(folder)
    if unfinished and not partial:
        raise ValueError(
            f"{len(unfinished)} build(s) of the screen are not finished "
            f"({', '.join(p.name for p in unfinished)}): the rule chooses among all of them. "
            "Resume the campaign, or pass partial=True (--partial) for a preliminary look."
        )
    if not finished:
        raise ValueError("no build of the screen is finished yet.")
    rows = [measure_build(folder) for folder in finished]
    return rows, apply_rule(rows), [p.name for p in unfinished]


#: Builder seeds of the production builds, fixed before the screen's verdict (data page).
PRODUCTION_SEEDS = tuple(range(5201, 5207))
#: NVT production per build (ps): 16 chunks of 250 ps, a frame every 5 ps.
PRODUCTION_PS = 4000.0


def production_campaign(
    screen_campaign_path: str | os.PathLike[str],
    chosen: str,
    seeds: tuple[int, ...] = PRODUCTION_SEEDS,
    production_ps: float = PRODUCTION_PS,
) -> dict[str, Any]:
    """The production campaign for the setting the screen chose.

    Every build uses the screen's protocol with the chosen build's force-field setting
    and composition (``ion_charge_scale``, ``n_salt``, …), its own builder seed, and
    ``production_ps`` of NVT production; builds are named ``build-00``, ``build-01``, ….

    Parameters
    ----------
    screen_campaign_path : path
        The screen's campaign file.
    chosen : str
        The name of the chosen screen build (``Verdict.chosen``, e.g. ``screen/q0.8-eo12``
        or just ``q0.8-eo12``).
    seeds : tuple of int
        One builder seed per production build; none may repeat a screen seed.
    production_ps : float
        NVT production per build, ps.

    Returns
    -------
    dict
        The campaign, ready to be written as JSON and read by ``read_campaign``.

    Raises
    ------
    ValueError
        If ``chosen`` is not a build of the screen, or a seed repeats.
    """
    values = json.loads(Path(screen_campaign_path).read_text())
    matches = [
        entry
        for entry in values["builds"]
        if entry["name"] == chosen or Path(entry["name"]).name == chosen
    ]
    if len(matches) != 1:
        names = ", ".join(entry["name"] for entry in values["builds"])
        raise ValueError(f"{chosen!r} is not a build of the screen ({names}).")
    screen_seeds = {entry["protocol"]["seed"] for entry in values["builds"]}
    if len(set(seeds)) != len(seeds) or screen_seeds & set(seeds):
        raise ValueError("production seeds must differ from each other and from the screen's.")
    setting = {key: value for key, value in matches[0]["protocol"].items() if key != "seed"}
    base = {**values["base"], "production_ps": float(production_ps)}
    if "composition" in setting:
        base["composition"] = {**base.get("composition", {}), **setting.pop("composition")}
    base.update(setting)
    return {
        "description": (
            f"Production with the setting the screen chose ({matches[0]['name']}): "
            f"{len(seeds)} independent builds, each with its own builder seed and full "
            f"equilibration, {production_ps / 1000:g} ns of NVT production each at "
            f"{base.get('temperature_k', 423.0):g} K. Seeds fixed before the screen's verdict."
        ),
        "base": base,
        "builds": [
            {"name": f"build-{k:02d}", "protocol": {"seed": seed}} for k, seed in enumerate(seeds)
        ],
    }
