"""The descriptor reference model's sets on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from gdynbook.systems.peo_litfsi.reference_model import (
    fill_missing_distance,
    fit_descriptor_sets,
    tercile_edges,
)


def test_missing_distances_keep_the_last_known_value() -> None:
    distance = np.array(
        [[np.nan, 2.0, np.nan], [5.0, np.nan, np.nan], [np.nan, 3.0, np.nan], [7.0, np.nan, np.nan]]
    )
    filled = fill_missing_distance(distance)
    np.testing.assert_array_equal(filled[:, 0], [5.0, 5.0, 5.0, 7.0])  # leading: first value
    np.testing.assert_array_equal(filled[:, 1], [2.0, 2.0, 3.0, 3.0])
    np.testing.assert_array_equal(filled[:, 2], [0.0, 0.0, 0.0, 0.0])  # never in a shell
    assert np.isnan(distance).sum() == 8  # the input is not changed


def test_six_sets_from_contact_and_terciles() -> None:
    distance = np.tile(np.arange(9.0), (4, 1))  # terciles: 0–2, 3–5, 6–8 EO
    contact = np.zeros_like(distance, dtype=bool)
    contact[2:] = True
    np.testing.assert_allclose(tercile_edges([distance]), [8 / 3, 16 / 3])
    sets = fit_descriptor_sets([contact], [distance])
    assert sets.n_states == 6
    states = sets.states(contact, distance)
    np.testing.assert_array_equal(states[0], [0, 0, 0, 1, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(states[3], [3, 3, 3, 4, 4, 4, 5, 5, 5])
    memberships = sets.memberships(contact, distance)
    assert memberships.shape == (4, 9, 6)
    np.testing.assert_array_equal(memberships.argmax(-1), states)


def test_rare_sets_join_their_neighbour_in_distance() -> None:
    """With a TFSI contact in one frame of 200 only, the contact class holds three rare
    sets: they merge into one (the last tercile), the no-contact class stays three."""
    rng = np.random.default_rng(0)
    distance = rng.uniform(0, 9, size=(200, 5))
    contact = np.zeros((200, 5), dtype=bool)
    contact[0, 0] = True
    sets = fit_descriptor_sets([contact], [distance])
    assert sets.n_states == 4
    np.testing.assert_array_equal(sets.labels, [0, 1, 2, 3, 3, 3])
    # applied to a new build unchanged
    new = sets.states(np.ones((3, 2), dtype=bool), np.zeros((3, 2)))
    assert (new == 3).all()
    with pytest.raises(ValueError, match="differ in shape"):
        sets.states(np.ones((3, 2), dtype=bool), np.zeros((3, 3)))
