"""The tables the PEO/LiTFSI chapters print, read from a build job's ``summary.json``.

:func:`~gdynbook.jobs.peo_builds.run_build_job` writes everything the analysis plan
reports into one JSON file; the chapters show it as tables a reader can scan:

* :func:`cross_validation_table` — per number of states: the held-out VAMP-2 over folds,
  the paired gain over one state fewer in standard errors, and the epochs the fits used;
* :func:`held_out_table` — per build, from a model that never saw it: VAMP-2 beside the
  descriptor sets', the CK test, the slowest timescale, seed agreement and how much of
  the states is a fixed label per Li⁺;
* :func:`strata_table` — the states within terciles of the chain-end distance (what is a
  fixed label, what is dynamics);
* :func:`timescale_table` — the implied timescales on the development builds (intervals
  over builds) and on the lockbox;
* :func:`transference_table` — Onsager coefficients and t₊ in both reference frames,
  intervals over builds;
* :func:`current_share_table` — who carries the cation current: the numerator of t₊ split
  by learned state or by negative clusters.

Every table has numbers in its cells (no formatted strings), so tests and readers can
compute with them. Units: ps, Å²/ps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _number(value: Any) -> float:
    """JSON's ``null`` (a timescale that does not exist) as NaN."""
    return float("nan") if value is None else float(value)


def cross_validation_table(summary: dict[str, Any]) -> pd.DataFrame:
    """Leave-one-build-out results per candidate number of states.

    Parameters
    ----------
    summary : dict
        ``cross_validation`` as :func:`~gdynbook.jobs.peo_builds.learn_from_builds`
        writes it (``rows``, ``stage_1``, ``survivors``, ``chosen``).

    Returns
    -------
    pandas.DataFrame
        Index ``states``; columns ``folds``, ``seeds`` (fits per fold), ``held-out
        VAMP-2`` (mean over folds of each fold's mean over seeds) and its ``s.e.`` over
        folds, ``gain over n−1`` (paired by fold) with its ``gain s.e.`` and ``gain /
        s.e.``, ``epochs (median)`` and ``epochs (max)`` of the fits, ``survived stage
        1`` and ``chosen``.
    """
    from gdynbook.selection import CrossValidation

    cross_validation = summary["cross_validation"]
    rows = cross_validation["rows"]
    folded = CrossValidation(rows=rows)
    ns, folds, _ = folded.table()  # per-fold means over seeds, as the selection saw them
    scores, gains = folded.scores(), folded.per_state_gain()
    table = []
    for i, n in enumerate(ns):
        mine = [r for r in rows if r["n_states"] == n]
        epochs = [int(r["epochs"]) for r in mine]
        mean, sem = scores[n]
        gain, gain_sem = gains.get(n, (np.nan, np.nan))
        table.append(
            {
                "states": n,
                "folds": len(folds),
                "seeds": len(mine) // len(folds),
                "held-out VAMP-2": mean,
                "s.e.": sem,
                "gain over n−1": gain,
                "gain s.e.": gain_sem,
                "gain / s.e.": gain / gain_sem if i and gain_sem > 0 else np.nan,
                "epochs (median)": float(np.median(epochs)),
                "epochs (max)": max(epochs),
                "survived stage 1": n in cross_validation.get("survivors", ns),
                "chosen": n == int(cross_validation.get("chosen", summary.get("n_states", -1))),
            }
        )
    return pd.DataFrame(table).set_index("states")


def held_out_table(summary: dict[str, Any]) -> pd.DataFrame:
    """Each build scored by a model that never saw it.

    A development build is scored by the cross-validation fit (seed 0, the chosen number
    of states) that held it out; the lockbox by the final ensemble's seed 0. Builds
    without a report (the lockbox while it is closed) are left out.

    Parameters
    ----------
    summary : dict
        ``builds``, ``held_out``, ``held_out_role`` and optionally ``reference``,
        ``seed_agreement``, ``between_ion_variance_fraction``.

    Returns
    -------
    pandas.DataFrame
        Index ``build``; columns ``role`` (fold or lockbox), ``VAMP-2`` (GDyNet),
        ``descriptor VAMP-2`` and ``descriptor sets`` (the hand-made reference model),
        ``CK max deviation``, ``CK half-width``, ``CK passes``, ``t₁ (ps)`` with ``t₁
        low`` and ``t₁ high`` (95 % bootstrap over the build's Li⁺ and time blocks),
        ``seed agreement`` (the lowest over seeds), and the between-ion shares of the
        variance ``fixed label: learned``, ``…: baseline``, ``…: chain-end distance``.
    """
    reference = (summary.get("reference") or {}).get("held_out", {})
    agreement = summary.get("seed_agreement") or {}
    fractions = summary.get("between_ion_variance_fraction") or {}
    table = []
    for name in summary["builds"]:
        report = summary["held_out"].get(name)
        if report is None:
            continue
        row: dict[str, Any] = {
            "build": name,
            "role": summary["held_out_role"][name],
            "VAMP-2": float(report["vamp2"]),
            "descriptor VAMP-2": _number(reference.get(name, {}).get("vamp2")),
            "descriptor sets": reference.get(name, {}).get("n_sets"),
            "CK max deviation": float(report["ck_max_deviation"]),
            "CK half-width": _number(report["ck_half_width"]),
            "CK passes": bool(report["ck_passes"]),
            "t₁ (ps)": _number((report["timescales_ps"] or [None])[0]),
            "t₁ low": _number((report["timescales_lower_ps"] or [None])[0]),
            "t₁ high": _number((report["timescales_upper_ps"] or [None])[0]),
            "seed agreement": min(agreement[name]) if agreement.get(name) else np.nan,
        }
        share = fractions.get(name, {})
        for key, label in (
            ("learned", "learned"),
            ("baseline", "baseline"),
            ("descriptor", "chain-end distance"),
        ):
            row[f"fixed label: {label}"] = _number(share.get(key))
        table.append(row)
    return pd.DataFrame(table).set_index("build")


def timescale_table(summary: dict[str, Any]) -> pd.DataFrame:
    """Implied timescales of the final model at the chosen lag, ps.

    Parameters
    ----------
    summary : dict
        ``timescales_ps`` as :func:`~gdynbook.jobs.peo_builds.run_build_job` writes it:
        ``value``, ``lower``, ``upper`` on the development builds (pooled; intervals
        from resampling whole builds), and ``lockbox`` (its held-out timescales, once
        opened).

    Returns
    -------
    pandas.DataFrame
        Index ``process`` (1 = slowest); columns ``development``, ``low``, ``high`` and,
        when the lockbox is open, ``lockbox``, ``lockbox low``, ``lockbox high``.
    """
    timescales = summary["timescales_ps"]
    columns = {
        "development": timescales["value"],
        "low": timescales["lower"],
        "high": timescales["upper"],
    }
    lockbox = timescales.get("lockbox")
    if lockbox is not None:
        columns.update(
            {
                "lockbox": lockbox["value"],
                "lockbox low": lockbox["lower"],
                "lockbox high": lockbox["upper"],
            }
        )
    table = pd.DataFrame({k: [_number(v) for v in values] for k, values in columns.items()})
    table.index = pd.RangeIndex(1, len(table) + 1, name="process")
    return table


#: Rows of :func:`transference_table`: summary key, label.
TRANSFERENCE_QUANTITIES = (
    ("ideal", "ideal t₊"),
    ("full", "t₊"),
    ("d_plus", "D₊ (Å²/ps)"),
    ("d_minus", "D₋ (Å²/ps)"),
    ("l_pp", "L₊₊ (Å²/ps)"),
    ("l_mm", "L₋₋ (Å²/ps)"),
    ("l_pm", "L₊₋ (Å²/ps)"),
)


def transference_table(summary: dict[str, Any]) -> pd.DataFrame:
    """Transport coefficients and t₊ over builds in both reference frames.

    Parameters
    ----------
    summary : dict
        A build job's summary (its ``transference``) or
        :func:`~gdynbook.jobs.peo_builds.transference_from_builds`'s result itself.

    Returns
    -------
    pandas.DataFrame
        Index ``quantity`` (:data:`TRANSFERENCE_QUANTITIES`); per frame (barycentric,
        solvent) the ``value`` and the ``±`` half-width of its interval over builds
        (Student t with n − 1 degrees of freedom for the coefficients, jackknife over
        builds for t₊); ``builds``: their number.
    """
    transference = summary.get("transference", summary)
    table = []
    for key, label in TRANSFERENCE_QUANTITIES:
        row: dict[str, Any] = {"quantity": label}
        for frame in ("barycentric", "solvent"):
            interval = transference[frame][key]
            row[f"{frame}"] = float(interval["value"])
            row[f"{frame} ±"] = float(interval["half_width"])
        row["builds"] = int(transference["barycentric"][key]["n_units"])
        table.append(row)
    return pd.DataFrame(table).set_index("quantity")


def current_share_table(summary: dict[str, Any], key: str = "by_state") -> pd.DataFrame:
    """Who carries the cation current: the numerator of t₊, L₊₊ − L₊₋, split by what
    each Li⁺ was while it moved (:func:`~gdynbook.transference.cation_current_by_group`).

    Parameters
    ----------
    summary : dict
        A build job's summary (its ``transference``) or
        :func:`~gdynbook.jobs.peo_builds.transference_from_builds`'s result.
    key : {"by_state", "negative_clusters", "by_state_and_cluster"}
        Learned states; in a negatively charged cluster against not; or both crossed.

    Returns
    -------
    pandas.DataFrame
        Index ``group``; per frame (barycentric, solvent) the term (Å²/ps, mean over
        builds), its ``±`` half-width (Student t over builds) and its ``share`` of
        L₊₊ − L₊₋ (NaN where that total's interval includes 0, or with one build).
    """
    transference = summary.get("transference", summary)
    if key not in transference["barycentric"]:
        raise KeyError(
            f"the summary has no {key!r} split: it needs memberships (run_build_job passes "
            "the final model's) or is from an older gdynbook."
        )
    labels = transference["barycentric"][key]["groups"]
    table = pd.DataFrame(index=pd.Index(labels, name="group"))
    for frame in ("barycentric", "solvent"):
        split = transference[frame][key]
        terms = np.array(split["samples"], dtype=float)
        intervals = split["intervals"] or [None] * len(labels)
        table[frame] = terms.mean(axis=0)
        table[f"{frame} ±"] = [np.nan if i is None else float(i["half_width"]) for i in intervals]
        table[f"{frame} share"] = [_number(v) for v in split["share"] or [None] * len(labels)]
    return table


def strata_table(summary: dict[str, Any]) -> pd.DataFrame:
    """The learned states within terciles of the per-Li⁺ chain-end distance.

    Parameters
    ----------
    summary : dict
        ``strata`` as :func:`~gdynbook.jobs.peo_builds.learn_from_builds` writes it.

    Returns
    -------
    pandas.DataFrame
        Index ``stratum`` (its range of mean chain-end distance, EO units); columns
        ``Li⁺``, ``state k`` (population), ``within-ion share`` of the membership
        variance and ``slowest t (ps)`` of the stratum's Li⁺ alone.
    """
    strata = summary.get("strata")
    if not strata:
        raise KeyError("the summary has no strata: the job ran without descriptors.")
    edges = [_number(e) for e in strata["edges"]]
    bounds = [-np.inf, *edges, np.inf]
    names = []
    for low, high in zip(bounds[:-1], bounds[1:], strict=True):
        if not np.isfinite(low):
            names.append(f"< {high:.1f}")
        elif not np.isfinite(high):
            names.append(f"≥ {low:.1f}")
        else:
            names.append(f"{low:.1f}–{high:.1f}")
    populations = np.array(
        [[_number(v) for v in row] for row in strata["populations"]], dtype=float
    )
    table = pd.DataFrame(index=pd.Index(names, name="stratum"))
    table["Li⁺"] = [int(n) for n in strata["n_li"]]
    for k in range(populations.shape[1]):
        table[f"state {k}"] = populations[:, k]
    table["within-ion share"] = [_number(v) for v in strata["within_ion_share"]]
    table["slowest t (ps)"] = [_number(v) for v in strata["slowest_timescale_ps"]]
    return table
