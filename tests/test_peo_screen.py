"""The pre-registered screen rule on made-up rows, and the measurement of one build."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from gdynbook import data
from gdynbook.systems.peo_litfsi.campaign import read_campaign
from gdynbook.systems.peo_litfsi.screen import (
    ScreenRow,
    apply_rule,
    measure_build,
    production_campaign,
)


def row(name: str, **changes) -> ScreenRow:
    values = dict(
        name=name,
        eo_per_li=12.5,
        n_li=24,
        density=1.17,
        coordination=5.5,
        fraction_tfsi_touching_li=0.05,
        d_ratio=0.25,
        ln_ratio_err=0.01,
    )
    values.update(changes)
    return ScreenRow(**values)


def test_rule_rejects_each_criterion_and_ranks_the_rest() -> None:
    rows = [
        row("good-far", d_ratio=0.8),
        row("good-near", d_ratio=0.20),
        row("too-light", density=1.0),  # 0.171 off, allowed 0.094
        row("few-oxygens", coordination=3.6),
        row("paired", fraction_tfsi_touching_li=0.4),
        row("eo8", eo_per_li=7.9, n_li=38, density=1.23, d_ratio=0.171 * 3),
    ]
    verdict = apply_rule(rows)
    assert verdict.chosen == "good-near" and not verdict.all_rejected
    assert "density" in verdict.rejected["too-light"][0]
    assert "coordination" in verdict.rejected["few-oxygens"][0]
    assert "TFSI" in verdict.rejected["paired"][0]
    assert verdict.rejected["good-far"] == [] == verdict.rejected["eo8"]
    # distances are |ln R − ln R_exp| with the anchor of each composition
    assert verdict.distance["good-near"] == pytest.approx(abs(math.log(0.20 / 0.246)))
    assert verdict.distance["eo8"] == pytest.approx(math.log(3))


def test_a_near_tie_goes_to_the_box_with_more_li() -> None:
    rows = [
        row("a", d_ratio=0.246),
        row("b", eo_per_li=7.9, n_li=38, density=1.23, d_ratio=0.171 * 1.01, ln_ratio_err=0.02),
    ]
    assert apply_rule(rows).chosen == "b"
    rows[1].ln_ratio_err = rows[0].ln_ratio_err = 0.001  # now the gap is resolved
    assert apply_rule(rows).chosen == "a"


def test_all_rejected_takes_the_smallest_miss_and_says_so() -> None:
    verdict = apply_rule([row("light", density=1.0), row("lighter", density=0.9)])
    assert verdict.all_rejected and verdict.chosen == "light"
    with pytest.raises(ValueError, match="no screen builds"):
        apply_rule([])


def test_measure_build_on_the_chosen_screen_build() -> None:
    from tests.conftest import chosen_screen_build

    build = chosen_screen_build()
    if build is None:
        pytest.skip("no decided screen shipped")
    measured = measure_build(build)
    stored = json.loads((build / "equilibration" / "equilibration.json").read_text())
    assert measured.density == stored["npt_density_g_cm3_mean"]
    # 6 chains of 50 EO units and 38 LiTFSI
    assert measured.n_li == 38 and measured.eo_per_li == pytest.approx(300 / 38)
    assert 5.0 < measured.coordination < 6.5
    assert measured.d_ratio > 0 and math.isfinite(measured.ln_ratio_err)


def test_screen_table_lists_every_build_and_the_choice() -> None:
    from gdynbook.systems.peo_litfsi.screen import screen_table

    rows = [row("good-near", d_ratio=0.20), row("too-light", density=1.0), row("far", d_ratio=0.8)]
    verdict = apply_rule(rows)
    table = screen_table(rows, verdict)
    lines = table.splitlines()
    assert lines[0].startswith("| build |") and len(lines) == 2 + 3 + 2
    good, light, far = lines[2:5]
    assert "**chosen**" in good and "(1.171 ± 0.059)" in good and "0.20 (0.246)" in good
    assert "rejected: density" in light
    assert far.endswith("| kept |") and f"{abs(math.log(0.8 / 0.246)):.2f}" in far
    assert table.endswith("Chosen by the rule: **good-near**.")


def test_screen_command_refuses_a_choice_before_every_build_is_in(tmp_path: Path, capsys) -> None:
    """A campaign of two builds with one finished (a copy of the chosen screen build): the
    rule is not applied without --partial; with it, the table is marked preliminary and
    saved."""
    from gdynbook.cli import main
    from tests.conftest import chosen_screen_build

    source = chosen_screen_build()
    if source is None:
        pytest.skip("no decided screen shipped")
    build = tmp_path / "out" / "screen" / "done"
    shutil.copytree(source, build, ignore=shutil.ignore_patterns("validation", "*.xml.gz"))
    campaign = tmp_path / "campaign.json"
    campaign.write_text(
        json.dumps(
            {
                "base": {"layout": "build", "n_runs": 1},
                "builds": [
                    {"name": "screen/done", "protocol": {"seed": 1}},
                    {"name": "screen/running", "protocol": {"seed": 2}},
                ],
            }
        )
    )
    options = ["screen", "--campaign", str(campaign), "--root", str(tmp_path / "out")]
    assert main([*options, "--output", str(tmp_path / "r")]) != 0
    assert "not finished (running)" in capsys.readouterr().err
    assert main([*options, "--partial", "--output", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("PRELIMINARY: 1 build(s) not finished (running)")
    assert "| done | 7.89 | 38 |" in printed and "Chosen by the rule: **done**." in printed
    saved = json.loads((tmp_path / "r" / "screen.json").read_text())
    assert saved["final"] is False and saved["verdict"]["chosen"] == "done"
    assert (tmp_path / "r" / "screen.md").read_text().startswith("PRELIMINARY")
    assert not (tmp_path / "r" / "campaign-production.json").exists()  # no choice yet
    # every build in: the choice, and the production campaign for it
    values = json.loads(campaign.read_text())
    values["builds"] = [{"name": "screen/done", "protocol": {"seed": 1, "ion_charge_scale": 0.7}}]
    campaign.write_text(json.dumps(values))
    assert main([*options, "--output", str(tmp_path / "f")]) == 0
    assert "gdynbook simulate peo-litfsi --campaign" in capsys.readouterr().out
    assert json.loads((tmp_path / "f" / "screen.json").read_text())["final"] is True
    production = read_campaign(tmp_path / "f" / "campaign-production.json")
    assert [b.protocol.ion_charge_scale for b in production] == [0.7] * 6


def test_screen_figure_draws_the_measured_values() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gdynbook.systems.peo_litfsi.figures import plot_screen

    rows = [row("a", d_ratio=0.20), row("b", coordination=4.5, d_ratio=0.5)]
    fig = plot_screen(rows, apply_rule(rows))
    density, coordination, pairing, ratio = fig.axes
    assert [tuple(p) for p in coordination.collections[0].get_offsets()] == [(0, 5.5), (1, 4.5)]
    drawn = [y for _, y in ratio.collections[0].get_offsets()]
    assert drawn == pytest.approx([math.log(0.20 / 0.246), math.log(0.5 / 0.246)])
    plt.close(fig)


@pytest.mark.parametrize("chosen", ["screen/q0.7-eo8", "q0.8-eo12"])
def test_production_campaign_carries_the_chosen_setting(tmp_path: Path, chosen: str) -> None:
    screen_path = data.data_dir() / "peo_litfsi" / "campaign-screen.json"
    screen = {b.name: b.protocol for b in read_campaign(screen_path)}
    path = tmp_path / "production.json"
    path.write_text(json.dumps(production_campaign(screen_path, chosen)))
    builds = read_campaign(path)
    assert [b.name for b in builds] == [f"build-{k:02d}" for k in range(6)]
    reference = screen[chosen if chosen.startswith("screen/") else f"screen/{chosen}"]
    seeds = [b.protocol.seed for b in builds]
    assert len(set(seeds)) == 6 and not set(seeds) & {p.seed for p in screen.values()}
    for build in builds:
        p = build.protocol
        assert p.production_ps == 4000.0 and p.layout == "build"
        # everything but the seed and the production length is the chosen screen build's
        same = {**p.to_dict(), "seed": reference.seed, "production_ps": reference.production_ps}
        assert same == reference.to_dict()
    with pytest.raises(ValueError, match="not a build of the screen"):
        production_campaign(screen_path, "q0.9-eo12")
    with pytest.raises(ValueError, match="seeds must differ"):
        production_campaign(screen_path, chosen, seeds=(4101, 1))


def test_equilibration_trace_figure_draws_each_build() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from gdynbook.systems.peo_litfsi.figures import plot_equilibration_traces

    time = np.arange(10, 310, 10.0)
    stage = np.where(time <= 100, "anneal", "npt")
    traces = {
        name: {
            "time_ps": time,
            "stage": stage,
            "fraction_li_with_tfsi": np.linspace(0.5, 0.1, time.size) * scale,
            "fraction_li_on_start_chain": np.linspace(1.0, 0.8, time.size),
        }
        for name, scale in (("a", 1.0), ("b", 0.5))
    }
    fig = plot_equilibration_traces(traces)
    pair, chain = fig.axes
    assert [line.get_label() for line in pair.get_lines()] == ["a", "b"]
    np.testing.assert_allclose(
        pair.get_lines()[1].get_ydata(), traces["b"]["fraction_li_with_tfsi"]
    )
    np.testing.assert_allclose(chain.get_lines()[0].get_xdata(), time / 1000.0)
    shaded = pair.patches[0]
    assert shaded.get_x() == pytest.approx(0.01)
    assert shaded.get_x() + shaded.get_width() == pytest.approx(0.1)
