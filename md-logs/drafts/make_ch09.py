"""Draft of book/09_transference.ipynb on the production builds (issue 21).

Run from the repository root: writes md-logs/drafts/09_transference.ipynb.
"""
import json
from pathlib import Path

from cells import code, md

source = json.loads(Path("book/09_transference.ipynb").read_text())
old = {c["id"]: c for c in source["cells"]}


install = old["running-install"]
text = "".join(install["source"])
start = text.index("# (Runtime > Change runtime type).")
end = text.index("import sys")
text = text[:start] + """# (Runtime > Change runtime type). The chapter reads the shipped builds and the
# analysis plan's stored transport coefficients, and recomputes one build's; fast
# mode looks at the first nanosecond of each build for the structure (under a
# minute), full mode at all of it.
""" + text[end:]
install["source"] = text.splitlines(True)

cells = [
    old["cell-00"],
    install,
    old["running-device"],
    md("aim", r"""
## Aim

The cation transference number $t_+$ is the share of the electric current carried by
the cation. In concentrated PEO/LiTFSI it has been measured *negative*
{cite}`pesko2017negative`: under a field, Li⁺ on balance moves the wrong way. The
GDyNets paper {cite}`xie2019gdynets` offered a mechanism: Li⁺ bound in negatively
charged clusters — Li⁺ with two TFSI⁻ — drift with the anions. This chapter measures, on
independent builds with intervals over them:

* the charge a Li⁺ carries with it, and how many Li⁺ sit in negative clusters;
* whether the ions move diffusively in the window the coefficients are fitted in;
* the Onsager coefficients and $t_+$, ideal and full, in the barycentric and the
  solvent frame;
* who carries the cation current: Li⁺ in negative clusters or not, and each learned
  state;
* what the data decide, how many builds would decide the rest, and how it compares with
  experiment.
"""),
    md("theory", r"""
## Theory

**Onsager coefficients.** For ions of species $i, j$ with unwrapped positions
$\mathbf r$, the collective displacement correlations grow linearly at long times,
$L_{ij} \propto \lim_{t\to\infty} \frac{1}{6t}\langle \sum_a \Delta\mathbf r_a(t) \cdot
\sum_b \Delta\mathbf r_b(t)\rangle$ (a over ions of $i$, b over ions of $j$). In units of
$V k_B T$ we report them in Å²/ps; the self terms give the ideal, uncorrelated limit.
For a 1:1 salt,
$t_+ = (L_{++} - L_{+-}) / (L_{++} + L_{--} - 2L_{+-})$, and the *ideal*
$t_+ = D_+/(D_+ + D_-)$ keeps the self terms only.

**Reference frames.** Displacements are measured relative to a reference velocity: the
system's centre of mass (barycentric, natural in MD) or the solvent's (PEO; the frame of
electrochemical measurements). The two differ in the cross terms.

**Who carries the current.** The numerator $L_{++} - L_{+-}$ is a sum over each Li⁺'s
steps; crediting each frame-to-frame step to the group the Li⁺ was in *at that step*
(a cluster, a learned state) splits it exactly into group terms. A group whose Li⁺ move
with their anions contributes a negative term.

**Formal charge around Li⁺** and **clusters**: as in the previous chapter, ions are
counted whole at their centres of mass; a cluster is a set of ions linked by Li–TFSI
contacts (any TFSI⁻ atom within 2.8 Å of a Li⁺).

**Intervals.** Each build is one sample. Coefficients get Student-t intervals with n − 1
degrees of freedom; the ratios $t_+$ a jackknife over builds.
"""),
    code("imports", r"""
import matplotlib.pyplot as plt
import mdtraj
import numpy as np
import pandas as pd

from gdynbook import config, data
from gdynbook.intervals import UnitInterval, units_needed
from gdynbook.jobs.peo import load_ensemble
from gdynbook.jobs.peo_tables import current_share_table, transference_table
from gdynbook.plots import plot_charge_integral, plot_displacement_correlations
from gdynbook.systems.peo_litfsi.runs import load_builds, load_run, tfsi_in_shell
from gdynbook.transference import (charge_integral, displacement_correlations,
                                   formal_charges, ion_centre_positions, ion_clusters,
                                   onsager_coefficients, state_average)
"""),
    md("load-intro", r"""
## Practice

### Ions and their formal charges
"""),
    code("load", r"""
root = data.data_dir() / "peo_litfsi"
summary, _ = load_ensemble(data.data_dir() / "peo_models")
builds = load_builds(root, max_chunks=config.pick(4, None))
topology = mdtraj.load_topology(str(builds[0].path / "topology.pdb"))
ions = formal_charges(topology, builds[0].masses)
transport = summary["transference"]
total_ns = sum(b.traj.n_frames * b.traj.time_step_ps for b in builds) / 1000
print(f"{len(builds)} builds, {total_ns:.1f} ns read here; {ions.cation.size} cations and "
      f"{ions.anion.size} anions per build, net charge {ions.charges.sum():+d}")
print(f"transport coefficients stored for {len(transport['builds'])} builds: {transport['builds']}")
"""),
    md("charge-intro", r"""
### Charge around Li⁺

$Q(r)$ averaged over all Li⁺ samples, and separately over samples whose first shell
(2.8 Å) holds a TFSI⁻ oxygen or only PEO, pooled over the builds.
"""),
    code("charge", r"""
radii = np.arange(1.5, 10.01, 0.1)
q_all, contact = [], []
for build in builds:
    q_all.append(charge_integral(build.traj, ions, ions.cation, radii))
    contact.append(tfsi_in_shell(build))
q_all, contact = np.concatenate(q_all), np.concatenate(contact)
groups = np.stack([~contact, contact], axis=-1).astype(float)   # crisp "states"
by_group = state_average(q_all, groups)
ax = plot_charge_integral(radii, {"all Li⁺": q_all.mean(axis=(0, 1)),
                                  "PEO-only shell": by_group[0],
                                  "TFSI⁻ in shell": by_group[1]})
at = {r: int(np.argmin(np.abs(radii - r))) for r in (3.0, 5.0, 8.0)}
for r, i in at.items():
    print(f"Q({r:g} Å): PEO-only {by_group[0, i]:+.2f}, TFSI in shell {by_group[1, i]:+.2f}, "
          f"all {q_all[..., i].mean():+.2f}")
print(f"Li⁺ samples with a TFSI⁻ in the first shell: {100 * contact.mean():.1f} %")
"""),
    code("charge-checks", r"""
# Within 5 Å: a PEO-only shell carries +1, a shell with a TFSI⁻ oxygen ~0 (the anion's
# centre of mass sits 4–5 Å from the Li⁺ it touches).
assert by_group[0, at[5.0]] > 0.9
assert abs(by_group[1, at[5.0]]) < 0.3
"""),
    md("clusters-intro", r"""
### Clusters

Per Li⁺ sample, the cluster it belongs to: how many Li⁺ and TFSI⁻, and its net charge.
"""),
    code("clusters", r"""
compositions, negative = {}, []
for build in builds:
    clusters = ion_clusters(build.traj, ions)
    for key, share in clusters.composition_counts(ions.cation).items():
        compositions[key] = compositions.get(key, 0.0) + share / len(builds)
    negative.append(clusters.net_charge[:, ions.cation] < 0)
negative = np.concatenate(negative)
table = pd.Series({f"{c} Li⁺ + {a} TFSI⁻ (net {c - a:+d})": 100 * v
                   for (c, a), v in sorted(compositions.items())}, name="% of Li⁺ samples")
print(table.round(2).to_string())
print(f"Li⁺ in a negatively charged cluster: {100 * negative.mean():.2f} % of samples")
"""),
    md("msd-intro", r"""
### Displacements: are we in the diffusive regime?

Self MSDs and the collective correlations, barycentric frame, thin lines one per build;
the grey band is the window the coefficients are fitted in (10–30 % of a build). The
table gives each ion's MSD exponent over that window (1: diffusive).
"""),
    code("msd", r"""
cations, anions, solvent, system = ion_centre_positions([b.traj for b in builds], ions)
dt = builds[0].traj.time_step_ps
lags = np.unique(np.geomspace(1, builds[0].traj.n_frames // 2, 30).astype(int))
per_build = [displacement_correlations(c - s[:, None], a - s[:, None], lags)
             for c, a, s in zip(cations, anions, system, strict=True)]
window = transport["barycentric"]["fit_window_ps"][0]
fig = plot_displacement_correlations(lags * dt, per_build, tuple(window))
exponents = pd.DataFrame(transport["msd_exponent"], index=transport["builds"])
exponents.columns = ["Li⁺", "TFSI⁻"]
exponents.round(2)
"""),
    md("onsager-intro", r"""
### Transference numbers in both frames

The analysis plan's coefficients over builds (from each build's full 4 ns), ± the
half-width of the 95 % interval over builds.
"""),
    code("onsager", r"""
coefficients = transference_table(summary)
coefficients.round(4)
"""),
    md("recompute-intro", r"""
The stored numbers are re-derived for one build from its trajectory: its barycentric
coefficients must be what the plan stored for it.
"""),
    code("recompute", r"""
one = load_run(root / transport["builds"][0])
c1, a1, _, s1 = ion_centre_positions([one.traj], formal_charges(topology, one.masses))
again = onsager_coefficients([c1[0] - s1[0][:, None]], [a1[0] - s1[0][:, None]],
                             one.traj.time_step_ps, n_bootstrap=10)
stored = np.array(transport["barycentric"]["samples"][0])
np.testing.assert_allclose(again.samples[0], stored, rtol=1e-6, atol=1e-12)
print(f"{one.path.name}: L₊₊ {stored[0]:.4f}, L₋₋ {stored[1]:.4f}, L₊₋ {stored[2]:.4f} Å²/ps "
      "— recomputed alike")
"""),
    md("share-intro", r"""
### Who carries the cation current

$L_{++} - L_{+-}$ split by what each Li⁺ was while it moved: in a negatively charged
cluster or not, and by learned state. Shares are given only where the interval of the
total excludes zero.
"""),
    code("share", r"""
display(current_share_table(summary, "negative_clusters").round(4))
current_share_table(summary, "by_state").round(4)
"""),
    md("decide-intro", r"""
### What the data decide

For each frame: is the sign of $t_+$ decided (its 95 % interval excludes zero)? If not,
how many builds like ours would shrink the interval to ±0.05?
"""),
    code("decide", r"""
for frame in ("barycentric", "solvent"):
    full = UnitInterval(**transport[frame]["full"])
    verdict = "positive" if full.low > 0 else "negative" if full.high < 0 else "not decided"
    try:
        needed = f"{units_needed(full, 0.05)} builds"
    except ValueError:
        needed = "more than 100,000 builds"
    print(f"{frame:12s} t₊ = {full.value:+.2f} ± {full.half_width:.2f} ({full.n_units} builds): "
          f"sign {verdict}; ±0.05 would need {needed} of 4 ns")
"""),
    md("experiment", r"""
### Against experiment

Measured values (`gdynbook.systems.peo_litfsi.experiment`), each with how it was read:
the ideal t₊ from PFG-NMR self-diffusion, to set beside our ideal t₊; and the
electrochemical t₊⁰, defined relative to the solvent, to set beside our solvent-frame
t₊ {cite}`shao2022transference`. The measurements are at 358–363 K, our builds at 423 K.
TODO(issue 21): text from the numbers.
"""),
    code("experiment-table", r"""
from gdynbook.systems.peo_litfsi.experiment import ELECTROCHEMICAL, IDEAL, anchor_table

ours = {IDEAL: UnitInterval(**transport["solvent"]["ideal"]),
        ELECTROCHEMICAL: UnitInterval(**transport["solvent"]["full"])}
for quantity, interval in ours.items():
    print(f"{quantity}: this model {interval.value:+.2f} ± {interval.half_width:.2f} "
          f"(423 K, {interval.n_units} builds)")
anchor_table()[["quantity", "low", "high", "eo_per_li", "temperature_k", "source", "verified"]]
"""),
    md("discussion", r"""
## Discussion

TODO(issue 21): from the numbers.
"""),
    md("exercises", r"""
## Exercises

1. Recompute the coefficients of one build with a fit window of 20–40 % of its length.
   How much do L₊₊ and t₊ move?
2. Split the cation current by whether a Li⁺ had a TFSI⁻ in its first shell (not a
   cluster): which group carries more, per Li⁺?
3. How many 100 ns builds (the data page's GPU recipe) would decide the sign of the
   solvent-frame t₊, if the spread between builds shrank as 1/√(length)?
"""),
]
Path("md-logs/drafts/09_transference.ipynb").write_text(
    json.dumps({**source, "cells": cells}, indent=1, ensure_ascii=False) + "\n")
print(len(cells), "cells")
