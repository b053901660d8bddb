"""Draft of book/08_peo_state_meaning.ipynb on the production builds (issue 21).

Run from the repository root: writes md-logs/drafts/08_peo_state_meaning.ipynb.
"""
import json
from pathlib import Path

from cells import code, md

source = json.loads(Path("book/08_peo_state_meaning.ipynb").read_text())
old = {c["id"]: c for c in source["cells"]}


install = old["running-install"]
text = "".join(install["source"])
start = text.index("# (Runtime > Change runtime type).")
end = text.index("import sys")
text = text[:start] + """# (Runtime > Change runtime type). The chapter reads the shipped builds and the
# shipped memberships of the learned model: fast mode the first nanosecond of each
# build (under a minute), full mode all of it.
""" + text[end:]
install["source"] = text.splitlines(True)

cells = [
    old["cell-00"],
    install,
    old["running-device"],
    md("aim", r"""
## Aim

A learned state is only useful once we can say what it *is*. This chapter interprets the
states of the previous chapter with quantities the network never saw, per build, with
intervals over the builds (the independent units):

* per state: ether and TFSI⁻ oxygens in the first shell, PEO chains and anions that
  provide them, the distance from a chain end, the Li⁺'s ion cluster (size, net charge)
  and the net **formal** charge within 5 Å;
* the charge integral around the Li⁺ against the radius, per state;
* the states against hand-made reference labels (TFSI⁻ contact × position along the
  chain), and which relaxation moves Li⁺ between which states;
* a representative shell of each state, as a picture and as a 3D view;
* which of the paper's four states appear here, which do not, and why.
"""),
    md("theory", r"""
## Theory

**Per-state averages.** For any per-sample quantity $x$ (a count, a charge), its average
in state $s$ weights every Li⁺ sample by its membership $\chi_s$:
$\bar x_s = \sum \chi_s x / \sum \chi_s$. Each build gives one such average per state;
the table reports their mean over builds with a Student-t interval.

**Charge counted by whole groups.** The net formal charge within $r$ of a Li⁺ counts
each ion as a whole at its centre of mass — Li⁺ +1, TFSI⁻ −1, the central Li⁺ itself
included — so a sphere that cuts through a TFSI⁻ adds no spurious fraction of its
charge; PEO is neutral group by group (each ether O with its two CH₂/CH₃ neighbours
carries no net charge in OPLS-AA) and adds none. $Q(r)$ is +1 for a shell of PEO alone
and reaches 0 (one TFSI⁻) or −1 (two) once $r$ passes the centre of a TFSI⁻ that
touches the Li⁺.

**A reference without learning.** Two coordinates describe a Li⁺ shell well enough to
build a hand-made model: whether a TFSI⁻ oxygen is in contact, and whether the ether O
that hold the Li⁺ sit near a chain end. Core sets on both (a Li⁺ keeps its last core
while between cores) give four reference states.

**The paper's four states** {cite}`xie2019gdynets` were, in its words, Li⁺ coordinated
by PEO alone, by PEO and one TFSI⁻, by PEO and two TFSI⁻ (a negatively charged
cluster), and by TFSI⁻ mostly; the transference argument rests on the last two.
"""),
    code("imports", r"""
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from gdynbook import config, data
from gdynbook.analysis import analyze
from gdynbook.jobs.peo import load_ensemble
from gdynbook.koopman import implied_timescales, split_targets
from gdynbook.markov import one_hot
from gdynbook.plots import plot_charge_integral, plot_eigenvectors, plot_implied_timescales
from gdynbook.systems.peo_litfsi.figures import li_shell_snapshot, plot_li_shell, view_li_shell
from gdynbook.systems.peo_litfsi.runs import load_builds
from gdynbook.systems.peo_litfsi.shells import (REFERENCE_STATES, most_typical_samples,
                                                reference_labels, shell_descriptors,
                                                state_shell_table)
from gdynbook.trajectory import lag_in_frames
"""),
    md("load-intro", r"""
## Practice

### States of every Li⁺ sample

The shipped memberships of the final model (seed 0) on every build it was applied to,
mapped onto the simplex as in the previous chapter.
"""),
    code("load", r"""
models_dir = data.data_dir() / "peo_models"
summary, ensemble = load_ensemble(models_dir)
names = summary["predicted_builds"]
builds = {b.path.name: b for b in load_builds(data.data_dir() / "peo_litfsi",
                                               max_chunks=config.pick(4, None))}
builds = [builds[name] for name in names]
dt = summary["time_step_ps"]
lag_frames = lag_in_frames(summary["lag_ps"], dt)
n_states = summary["n_states"]
probabilities = [p[: b.traj.n_frames] for p, b in zip(ensemble[0], builds, strict=True)]
analysis = analyze(probabilities, lag_frames, dt, by_target=True, n_bootstrap=0)
memberships, model = analysis.memberships, analysis.model
print(f"{len(builds)} builds, {n_states} states; populations {np.round(model.populations, 3)}; "
      f"timescales {np.round(model.timescales(), 0)} ps at τ = {lag_frames * dt:g} ps")
"""),
    md("table-intro", r"""
### What surrounds a Li⁺ in each state

Membership-weighted means per build, then the mean over builds with its 95 % interval
(± columns).
"""),
    code("table", r"""
shells = state_shell_table(builds, memberships)
per_state = shells.frame()
per_state.T.round(2)
"""),
    code("charge", r"""
curves = {f"state {s}": shells.charge_profile_mean[s] for s in range(n_states)}
bands = {f"state {s}": shells.charge_profile_half_width[s] for s in range(n_states)}
ax = plot_charge_integral(shells.charge_radii_a, curves, half_widths=bands)
ax.set_title("formal charge around Li⁺, per learned state (bands: 95 % over builds)")
"""),
    code("table-checks", r"""
# Facts the data support, each able to fail. A state whose shell is PEO only carries +1
# within 5 Å; a state with on average ≥ 1.5 TFSI⁻ in its shell carries less than −0.5.
peo_only = per_state["TFSI⁻ ions"].idxmin()
assert per_state.loc[peo_only, "net charge within 5 Å"] > 0.9
clustered = per_state.index[per_state["TFSI⁻ ions"] >= 1.5]
for s in clustered:
    assert per_state.loc[s, "net charge within 5 Å"] < -0.5
print(f"{peo_only}: PEO-only shell, {per_state.loc[peo_only, 'net charge within 5 Å']:+.2f} e "
      f"within 5 Å; states with ≥ 1.5 TFSI⁻: {list(clustered) or 'none in this model'}")
"""),
    md("reference-intro", r"""
### The states against the reference labels

Which reference shell (rows) the Li⁺ samples of each learned state (columns) are in,
weighted by membership, as a share of each learned state.
"""),
    code("reference", r"""
labels = [reference_labels(shell_descriptors(replace(b, traj=b.traj[: chi.shape[0]])))
          for b, chi in zip(builds, memberships, strict=True)]
weights = np.concatenate([chi.reshape(-1, n_states) for chi in memberships])
flat = np.concatenate([lab.ravel() for lab in labels])
known = flat >= 0
overlap = np.array([[weights[known & (flat == r), s].sum() for s in range(n_states)]
                    for r in range(len(REFERENCE_STATES))])
overlap = pd.DataFrame(100 * overlap / overlap.sum(axis=0), index=list(REFERENCE_STATES),
                       columns=[f"state {s}" for s in range(n_states)])
overlap.round(1)
"""),
    md("its-intro", r"""
### The reference model's timescales against the network's

Implied timescales of the four-state core-set model and of the learned states, over
every build, with bootstrap intervals over Li⁺ series.
"""),
    code("its", r"""
reference_series = []
for lab in labels:
    for k in range(lab.shape[1]):
        series = lab[:, k]
        series = series[series >= 0]
        if series.size > 2 * lag_frames:
            reference_series.append(one_hot(series, len(REFERENCE_STATES))[:, None, :])
lags = np.array(sorted({1, 2, 4, lag_frames, 2 * lag_frames, 4 * lag_frames}))
n_boot = config.pick(20, 100)
its_reference = implied_timescales(reference_series, lags, dt, n_bootstrap=n_boot)
its_learned = implied_timescales(split_targets(memberships), lags, dt, n_bootstrap=n_boot)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
plot_implied_timescales(its_reference, ax=axes[0])
axes[0].set_title("reference: TFSI contact × chain position")
plot_implied_timescales(its_learned, ax=axes[1])
axes[1].set_title(f"GDyNet, {n_states} states")
row = int(np.flatnonzero(lags == lag_frames)[0])
print(f"at τ = {lag_frames * dt:g} ps: reference {np.round(its_reference.timescales_ps[row], 0)} ps,"
      f" GDyNet {np.round(its_learned.timescales_ps[row], 0)} ps")
"""),
    md("eigen-intro", r"""
### Which relaxation moves Li⁺ between which states

Right eigenvectors of the learned $K(\tau)$: each bar is a state's weight in a relaxation
process; the slowest relaxation exchanges population between states of opposite sign.
"""),
    code("eigen", r"""
fig = plot_eigenvectors(model, labels=[str(k) for k in range(n_states)])
"""),
    md("snapshots-intro", r"""
### Representative shells

For each state, the Li⁺ sample with the highest membership: heavy atoms within reach,
first-shell oxygens enlarged.
"""),
    code("snapshots", r"""
typical = most_typical_samples(memberships)
fig = plt.figure(figsize=(4.2 * n_states, 4.2))
for s, (b, frame, li) in enumerate(typical):
    ax = fig.add_subplot(1, n_states, s + 1, projection="3d")
    plot_li_shell(li_shell_snapshot(builds[b], li, frame), ax=ax)
    ax.set_title(f"state {s}: {names[b]}, frame {frame}, Li⁺ {li}", fontsize=9)
"""),
    md("view-intro", r"""
The representative shell of the state with the most TFSI⁻ oxygens, as an interactive
view (drag to rotate; the browser fetches 3Dmol.js).
"""),
    code("view", r"""
b, frame, li = typical[int(np.argmax(per_state["TFSI O"].to_numpy()))]
view = view_li_shell(builds[b], li_shell_snapshot(builds[b], li, frame))
view
"""),
    md("discussion", r"""
## Discussion

TODO(issue 21): from the numbers — what each state is (table, charge profile, reference
overlap); which of the paper's four states appear and which do not, and why (pairing of
this model: data chapter); the strata of the previous chapter (label or dynamics).
"""),
    md("exercises", r"""
## Exercises

1. Add a column to the state table: the number of ether O that come from the chain's
   last three EO units. Which state has most?
2. Draw the charge profile of one build alone (`shells.charge_profile[k]`). How much do
   builds differ?
3. Which fraction of the samples of each state sits in a Li⁺–TFSI⁻ cluster of three or
   more ions?
"""),
]
Path("md-logs/drafts/08_peo_state_meaning.ipynb").write_text(
    json.dumps({**source, "cells": cells}, indent=1, ensure_ascii=False) + "\n")
print(len(cells), "cells")
