"""The ordering of locations: findings and merged components are sorted by them."""

from __future__ import annotations

import pytest

from mlgate.model import Location


def test_locations_with_and_without_line_or_member_sort() -> None:
    places = [
        Location("a.whl", member="x/METADATA"),
        Location("a.whl", 3),
        Location("b.txt"),
        Location("a.whl"),
        Location("a.whl", 3, 7),
    ]
    assert sorted(places, key=Location.sort_key) == [
        Location("a.whl"),
        Location("a.whl", 3),
        Location("a.whl", 3, 7),
        Location("a.whl", member="x/METADATA"),
        Location("b.txt"),
    ]
    # no partial order to fall back on: a sort without the key fails at once, on any input
    with pytest.raises(TypeError):
        sorted([Location("a", 1), Location("a", 2)])
