"""Draft of book/07_peo_states.ipynb on the production builds (issue 21).

Run from the repository root: writes md-logs/drafts/07_peo_states.ipynb. Copy it over
book/07_peo_states.ipynb once data/peo_models holds the plan's output on the builds;
then write the Discussion from the numbers (the TODO cells).
"""
import json
from pathlib import Path

from cells import code, md

source = json.loads(Path("book/07_peo_states.ipynb").read_text())
old = {c["id"]: c for c in source["cells"]}


install = old["running-install"]
text = "".join(install["source"])
start = text.index("# (Runtime > Change runtime type).")
end = text.index("import sys")
text = text[:start] + """# (Runtime > Change runtime type). In fast mode (the default without a GPU) the
# chapter reads the analysis plan's stored results, re-derives a part of them from
# the shipped predictions, checks that the shipped model gives those predictions,
# and continues training one model for two short epochs; in full mode it trains
# one from scratch. The whole plan is one command (below; hours on a CPU).
""" + text[end:]
install["source"] = text.splitlines(True)

cells = [
    old["cell-00"],
    install,
    old["running-device"],
    md("aim", r"""
## Aim

Every Li⁺ in a box is a target. One GDyNet, shared by all Li⁺ of all builds, maps the
graph of each Li⁺'s surroundings to a few soft states, trained with the VAMP-2 score at
a lag $\tau$. This chapter makes the modelling choices a reader has to make with their
own data, and checks each on **builds the network never saw** — independent boxes, not
later stretches of the same Li⁺:

* **which lag** — from the implied timescales, not from the score;
* **how many states** — by held-out VAMP-2, leaving one build out at a time;
* **does it hold on new data** — every build scored by a model trained without it, and
  one build, the *lockbox*, set aside before any choice and opened once at the end;
* **is it Markovian** — the Chapman–Kolmogorov test per held-out build;
* **dynamics or label** — how much of the learned states is a fixed property of each
  Li⁺, beside what a switching state would leave and beside a hand-made descriptor;
* **is it reproducible** — a seed ensemble with states matched across seeds.

Every choice follows the analysis plan ({doc}`../reference/peo_analysis_plan`), written
before the builds were made.
"""),
    md("theory", r"""
## Theory

**Graphs of a Li⁺'s surroundings.** In PEO most of a Li⁺'s 20 nearest atoms are
hydrogens, and our frames hold heavy atoms only (C, O, N, S, F, Li): 12 neighbours within
6 Å, two graph convolutions — enough to see the ether oxygens that bind the Li⁺, the
carbons between them, and any TFSI⁻ in reach.

**Held out by build.** A model trained on some frames of a Li⁺ and tested on later
frames of the same Li⁺ on the same chain is tested on data it has half seen: the ion's
fixed surroundings carry over. The folds here are whole builds. The lag and the number of
states are chosen on the *development* builds (leave one out, train on the rest); the
lockbox build plays no part in any choice, early stopping or matching of seeds.

**Cross-validated VAMP-2.** On its training data a model with more states never scores
lower. On a held-out build an extra state pays only if it describes a slow process that
recurs there. A state is kept only when its paired gain over one state fewer exceeds two
standard errors over the folds.

**Lag and implied timescales.** From a model's outputs we estimate the Koopman matrix
$K(\tau)$ at several lags; its eigenvalues $\lambda_i(\tau)$ give implied timescales
$t_i = -\tau/\ln|\lambda_i(\tau)|$. For a Markovian description they stop depending on
$\tau$ (a plateau). VAMP-2 always prefers short lags, so the lag is chosen from the
timescales: the shortest lag on the ladder where they level off within their intervals,
counting only timescales longer than the lag itself ($t > \tau$; shorter ones are not
resolved).

**Chapman–Kolmogorov test.** A Markov model must predict its own future:
$K(\tau)^n \approx K(n\tau)$ within the statistical error, here from a bootstrap over
the Li⁺ and time blocks of each held-out build.

**Dynamics or label.** The data chapter defined the between-ion fraction $F$ of a
per-frame quantity and the baseline $F_0$ a label switching with correlation time $t$
leaves in a run of length $T$. For the memberships we sum over states,
$F = \sum_s \operatorname{var}_i \bar\chi_{s,i} / \sum_s \operatorname{var}\chi_s$, and
take $t$ as the model's slowest timescale.
"""),
    code("imports", r"""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from gdynbook import config, data
from gdynbook.jobs.peo import (PeoTraining, held_out_build_report, held_out_split,
                               held_out_vamp2, load_ensemble, train_model)
from gdynbook.jobs.peo_builds import load_fold_memberships
from gdynbook.jobs.peo_tables import (cross_validation_table, held_out_table, strata_table,
                                      timescale_table)
from gdynbook.plots import (plot_ck_test, plot_cross_validation, plot_held_out_builds,
                            plot_label_fractions, plot_lag_ladder)
from gdynbook.koopman import ck_test, split_targets
from gdynbook.systems.peo_litfsi.runs import load_builds
from gdynbook.train import fit, load, predict
from gdynbook.trajectory import lag_in_frames

torch.set_num_threads(2)
"""),
    md("data-intro", r"""
## Practice

### The builds and the stored plan

`gdynbook peo --layout builds --output data/peo_models` ran the plan on the shipped
builds and stored everything it reports in `summary.json`, the final models as
checkpoints and every Li⁺'s memberships in `predictions.npz`.
"""),
    code("load", r"""
models_dir = data.data_dir() / "peo_models"
summary, ensemble = load_ensemble(models_dir)
builds = {b.path.name: b for b in load_builds(data.data_dir() / "peo_litfsi",
                                               max_chunks=config.pick(4, None))}
names = summary["predicted_builds"]  # every build the model was applied to
dt = summary["time_step_ps"]
lag_frames = lag_in_frames(summary["lag_ps"], dt)
n_states = summary["n_states"]
training = PeoTraining.from_dict(summary["training"])
development = [n for n in summary["builds"] if n != summary["lockbox"]]
print(f"builds {summary['builds']}; lockbox {summary['lockbox']} "
      f"({'opened' if summary['lockbox_opened'] else 'shut'})")
if summary.get("finished_only") or not summary["lockbox_opened"]:
    print("INTERIM: the plan ran on the builds finished so far, with the lockbox shut; "
          "the numbers below are not the plan's result")
print(f"model: {training.n_conv} convolutions, {training.n_neighbors} heavy-atom neighbours "
      f"within {training.cutoff:g} Å; chosen lag τ = {summary['lag_ps']:g} ps, "
      f"{n_states} states")
"""),
    md("lag-intro", r"""
### Which lag?

Two models of the plan (with 2 and 4 states, trained on the development builds) give the
implied timescales over the lag ladder; the dotted line is the lag the rule chose. The
grey line is $t = \tau$: below it a timescale is not resolved.
"""),
    code("lag", r"""
fig = plot_lag_ladder(summary)
for n, entry in sorted(summary["lag"].items()):
    print(f"{n} states: {entry['description']}")
"""),
    md("cv-intro", r"""
### How many states?

Leave-one-build-out VAMP-2 on the development builds: each grey line is one held-out
build, the blue line their mean with its standard error. The table gives the paired gain
over one state fewer in standard errors, and how many epochs the fits used before their
validation score stopped improving.
"""),
    code("cv", r"""
cv_table = cross_validation_table(summary)
ax = plot_cross_validation(summary["cross_validation"]["rows"], chosen=n_states)
cv_table.round(3)
"""),
    code("cv-checks", r"""
# The rule, applied again to the stored scores: keep a state while its paired gain
# exceeds two standard errors.
kept = 2
for n in cv_table.index[1:]:
    if cv_table.loc[n, "gain / s.e."] > 2 and kept == n - 1:
        kept = n
assert kept == n_states == int(cv_table.index[cv_table["chosen"]][0])
"""),
    md("held-out-intro", r"""
### Every build, scored by a model that never saw it

Each development build is scored by the cross-validation model that held it out; the
lockbox by the final model (trained on all development builds). Beside GDyNet, the
hand-made reference: a Markov model on core sets of TFSI contact × position along the
chain, at the same lag. Two cautions: the lag and the number of states were chosen on
the same folds, so their scores lean optimistic — only the lockbox's is clean; and
VAMP-2 grows with the number of states, so GDyNet's few states stand beside up to six
descriptor sets.
"""),
    code("held-out", r"""
held_out = held_out_table(summary)
ax = plot_held_out_builds(summary)
held_out.round(3)
"""),
    md("recompute-intro", r"""
### The stored numbers, re-derived

The shipped checkpoint must give the shipped memberships, and every held-out score must
follow from the shipped memberships: the final model (seed 0) is applied to the start of
the first development build; each development build's held-out VAMP-2 is recomputed
from the memberships of the fold model that never saw it; and the pooled report from the
final model's.
"""),
    code("recompute", r"""
model, meta = load(models_dir / "gdynet-seed0.pt")
frames = config.pick(60, None)
first_name = development[0]
fresh = predict(model, [builds[first_name].traj[:frames]], device=DEVICE)[0]
shipped = ensemble[0][names.index(first_name)]
np.testing.assert_allclose(fresh, shipped[:frames], atol=2e-4)
plan = summary["plan"]
folds = load_fold_memberships(models_dir)
for name, memberships in folds.items():
    score = held_out_vamp2([memberships], lag_frames)
    assert np.isclose(score, summary["held_out"][name]["vamp2"], rtol=1e-5), name
print("held-out VAMP-2 from the fold memberships: "
      + ", ".join(f"{name} {held_out_vamp2([m], lag_frames):.3f}" for name, m in folds.items()))
pooled = held_out_build_report(ensemble[0], lag_frames, dt, plan["ck_steps"],
                               plan["n_bootstrap"])
assert pooled["ck_passes"] == summary["pooled"]["ck_passes"]
for key in ("vamp2", "ck_max_deviation"):
    assert np.isclose(pooled[key], summary["pooled"][key], rtol=1e-6), key
print(f"pooled over {len(names)} builds (in-sample for the development builds): VAMP-2 "
      f"{pooled['vamp2']:.3f}, CK largest deviation {pooled['ck_max_deviation']:.3f}")
"""),
    md("ck-intro", r"""
### Chapman–Kolmogorov test on held-out builds

The test per held-out build: $K(\tau)^n$ against $K(n\tau)$ for n = 1 … 3, with 95 %
intervals from a bootstrap over the build's Li⁺ and time blocks; the held-out table above
gives the verdict for every build. The figure shows the lockbox with the final model's
memberships (while the lockbox is shut: the first development build, with the fold
model that held it out); neither model saw the build it is tested on.
"""),
    code("ck", r"""
shown = summary["lockbox"] if summary["lockbox_opened"] else development[0]
memberships = ensemble[0][names.index(shown)] if shown == summary["lockbox"] else folds[shown]
ck = ck_test(split_targets([memberships]), lag_frames, plan["ck_steps"], dt,
             n_bootstrap=config.pick(30, plan["n_bootstrap"]))
fig = plot_ck_test(ck)
fig.suptitle(f"{shown}", fontsize=10)
print(f"{shown}: passes {ck.passes}, largest deviation {ck.max_deviation:.3f}")
"""),
    md("timescales-intro", r"""
### Timescales

The final model's implied timescales at the chosen lag on the development builds, with
intervals from resampling whole builds, and the lockbox's own once opened.
"""),
    code("timescales", r"""
timescale_table(summary).round(1)
"""),
    md("labels-intro", r"""
### Dynamics or label?

Per build: the between-ion share of the membership variance, the share a label
switching with the model's slowest timescale would leave by chance, and the share of a
non-learned descriptor, the distance from a chain end.
"""),
    code("labels", r"""
ax = plot_label_fractions(summary)
fractions = pd.DataFrame(summary["between_ion_variance_fraction"]).T
fractions.round(3)
"""),
    md("strata-intro", r"""
The data chapter found the chain-end distance to be a label of each Li⁺ here. If the
states were only that label, they would not change *within* a group of Li⁺ with similar
chain-end distances. The Li⁺ are split into terciles of their mean chain-end distance;
per tercile, the populations, the share of the membership variance within ions, and the
slowest timescale of those Li⁺ alone.
"""),
    code("strata", r"""
strata_table(summary).round(3)
"""),
    md("seeds-intro", r"""
### Are the states reproducible?

Seeds 1 and 2 are matched to seed 0 by the Hungarian assignment on the development
builds (the lockbox plays no part); the held-out table above gives, per build, the
lowest fraction of Li⁺ samples on which a seed agrees with seed 0.
"""),
    code("seeds", r"""
agreement = pd.DataFrame(summary["seed_agreement"], index=[f"seed {s}" for s in summary["seeds"][1:]])
agreement.round(3)
"""),
    md("train-intro", r"""
### Train one yourself

`train_model` is what the plan runs for every fold and seed. Fast mode continues
training the shipped seed 0 for two epochs on short pieces of two development builds;
full mode trains seed 0 from scratch with the plan's settings on the development builds
(same seed and thread count: the same numbers).
"""),
    code("train", r"""
pieces = [builds[n].traj for n in development]
if config.fast_mode():
    pieces = [t[:120] for t in pieces[:2]]
    my_model, _ = load(models_dir / "gdynet-seed0.pt")
    history = fit(my_model, held_out_split(pieces, [1]), lag_frames=lag_frames, n_epochs=2,
                  batch_size=64, lr=1e-3, seed=0, patience=None, progress=False,
                  device=DEVICE)
else:
    my_model, history = train_model(pieces, n_states, [len(pieces) - 1], training, seed=0,
                                    device=DEVICE)
print(f"validation VAMP-2 per epoch: {np.round(history.validation_score, 3)}")
"""),
    md("discussion", r"""
The whole plan from the command line:

```bash
gdynbook peo --layout builds --output peo-results                 # hours on one CPU core
gdynbook peo --layout builds --output peo-results --device cuda   # on a GPU
```

## Discussion

TODO(issue 21): write from the numbers — chosen lag and the rule's outcome; states kept
and the gain in s.e.; held-out and lockbox VAMP-2 beside the descriptor model; CK per
build; timescales with intervals; fixed-label share beside baseline and descriptor; what
the strata show; seed agreement; the paper used four states without a held-out selection.
"""),
    md("exercises", r"""
## Exercises

1. The lag ladder: apply the rule by hand to the 4-state timescales of `summary["lag"]`
   (the shortest lag where every resolved timescale lies within the interval of the next
   lag's). Do you get the plan's lag?
2. Which build scores lowest held out? Does its chain-end distance or its TFSI⁻ pairing
   (data chapter) differ from the others?
3. Compute the between-ion share of the memberships of one build yourself from
   `ensemble[0]` and compare it with the table.
"""),
]
Path("md-logs/drafts/07_peo_states.ipynb").write_text(
    json.dumps({**source, "cells": cells}, indent=1, ensure_ascii=False) + "\n")
print(len(cells), "cells")
