"""The ordering of locations: findings and merged components are sorted by them."""

from __future__ import annotations

from mlgate.model import Location


def test_locations_with_and_without_line_or_member_sort() -> None:
    places = [
        Location("a.whl", member="x/METADATA"),
        Location("a.whl", 3),
        Location("b.txt"),
        Location("a.whl"),
        Location("a.whl", 3, 7),
    ]
    assert sorted(places) == [
        Location("a.whl"),
        Location("a.whl", member="x/METADATA"),
        Location("a.whl", 3),
        Location("a.whl", 3, 7),
        Location("b.txt"),
    ]
    assert Location("a", 1) < Location("a", 2) <= Location("a", 2) < Location("b")
    assert Location("b") > Location("a", 9) >= Location("a", 9)
