"""Sizes and durations as people read them."""

from __future__ import annotations

import pytest

from cove.core.units import format_bytes, format_duration, format_memory

GIB = 1024**3


@pytest.mark.parametrize(("size", "text"), [
    (None, "—"),
    (0, "0 bytes"),
    (999, "999 bytes"),
    (1000, "1.0 KB"),
    (98_362_432, "98.4 MB"),  # the starter model, as the hub lists it
    (4_920_739_232, "4.9 GB"),
    (2_500_000_000_000, "2.5 TB"),
    (1500.0, "1.5 KB"),  # download speeds are floats
])
def test_file_sizes_count_in_thousands(size: float | None, text: str) -> None:
    assert format_bytes(size) == text


@pytest.mark.parametrize(("size", "text"), [
    (None, "—"),
    (1023, "1023 bytes"),
    (1024, "1.0 KB"),
    (729_605_184, "695.8 MB"),  # the starter at 4,096 tokens
    (8 * GIB, "8.0 GB"),
    (2048 * GIB, "2048.0 GB"),  # memory stays in GB
])
def test_memory_counts_in_1024s(size: int | None, text: str) -> None:
    assert format_memory(size) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (-3, "0 s"),
    (0.4, "0 s"),
    (44.6, "45 s"),
    (59.4, "59 s"),
    (60, "1 min"),
    (185, "3 min"),
    (3599, "1 h 0 min"),
    (3900, "1 h 5 min"),
])
def test_durations_are_rounded_for_people(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_conversations_are_grouped_by_how_long_ago_they_changed() -> None:
    import datetime as dt

    from cove.core.units import date_group

    now = dt.datetime(2026, 11, 29, 15, 0).timestamp()

    def ago(days: float) -> float:
        return now - days * 86400

    assert date_group(ago(0.1), now) == "Today"
    assert date_group(ago(1), now) == "Yesterday"
    assert date_group(ago(3), now) == "Previous 7 days"
    assert date_group(ago(20), now) == "Previous 30 days"
    assert date_group(dt.datetime(2026, 3, 2).timestamp(), now) == "March"
    assert date_group(dt.datetime(2025, 12, 24).timestamp(), now) == "December 2025"
