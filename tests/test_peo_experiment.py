"""Measured transference numbers of PEO/LiTFSI: internally consistent and cited."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gdynbook.systems.peo_litfsi.experiment import (
    ELECTROCHEMICAL,
    IDEAL,
    PESKO_2017_D_LI_CM2_S,
    PESKO_2017_D_TFSI_CM2_S,
    T_PLUS_ANCHORS,
    anchor_table,
    ideal_transference,
)

BIB = Path(__file__).resolve().parents[1] / "reference" / "references.bib"


def test_the_ideal_anchor_is_what_its_diffusion_coefficients_give() -> None:
    pesko = [a for a in T_PLUS_ANCHORS if a.source == "pesko2017negative" and "7.59e-8" in a.note]
    assert len(pesko) == 1
    t = ideal_transference(PESKO_2017_D_LI_CM2_S, PESKO_2017_D_TFSI_CM2_S)
    assert t == pytest.approx(pesko[0].low, abs=5e-4)
    # Orädd et al.'s abstract: D_Li = 0.2 D_TFSI
    oradd = [a for a in T_PLUS_ANCHORS if a.verified == "abstract" and a.quantity == IDEAL]
    assert oradd[0].low == pytest.approx(ideal_transference(0.2, 1.0))
    with pytest.raises(ValueError, match="positive"):
        ideal_transference(0.0, 1.0)


def test_every_anchor_is_a_range_in_bounds_with_a_source_in_the_bibliography() -> None:
    keys = set(re.findall(r"^@\w+\{(\w+),", BIB.read_text(), flags=re.M))
    for anchor in T_PLUS_ANCHORS:
        assert anchor.low <= anchor.high
        assert anchor.source in keys, anchor.source
        assert anchor.verified in ("abstract", "figure reading (third party)")
        if anchor.quantity == IDEAL:  # uncorrelated ions: strictly between 0 and 1
            assert 0 < anchor.low <= anchor.high < 1
        else:
            assert anchor.quantity == ELECTROCHEMICAL and -1 < anchor.low <= anchor.high < 1
    # the contested sign: one group's range reaches below zero, the other's does not
    electrochemical = anchor_table(ELECTROCHEMICAL)
    assert (electrochemical["low"] < 0).any() and (electrochemical["low"] > 0).any()


def test_anchor_table_filters_by_quantity() -> None:
    assert len(anchor_table()) == len(T_PLUS_ANCHORS)
    assert set(anchor_table(IDEAL)["quantity"]) == {IDEAL}
    with pytest.raises(KeyError, match="no anchor"):
        anchor_table("conductivity")
