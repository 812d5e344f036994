"""The small languages of a script: durations and levels, parsed exactly."""

from __future__ import annotations

import math

import pytest

from relaxplayer import units


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90.0),
        ("90", 90.0),
        ("90s", 90.0),
        ("250ms", 0.25),  # not 250 minutes and a stray "s"
        ("1.5ms", 0.0015),
        ("1m30s", 90.0),
        ("1m 30s", 90.0),
        ("1.5m", 90.0),
        ("2M", 120.0),
        ("1h", 3600.0),
        ("1h2m3s500ms", 3723.5),
        (".5s", 0.5),
        (0, 0.0),
    ],
)
def test_durations(value: object, seconds: float) -> None:
    assert units.parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ten", "cannot read 'ten' as a duration; write a duration like 90s"),
        ("-3s", "duration '-3s' is negative; it must be longer than zero"),
        (-3, "duration -3 is negative; it must be longer than zero"),
        (math.nan, "duration nan is not a finite number; write a duration like"),
        (math.inf, "duration inf is too long: it is not a finite number"),
        ("1e309", "duration '1e309' is too long: it is not a finite number"),
        (-math.inf, "duration -inf is negative; it must be longer than zero"),
        (True, "expected a duration, got True"),
        ([1], "expected a duration, got list"),
    ],
)
def test_bad_durations(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        units.parse_duration(value)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("value", "gain"), [("0 dB", 1.0), ("-20 dB", 0.1), ("+12dB", 10 ** (12 / 20)), ("30%", 0.3)]
)
def test_levels(value: str, gain: float) -> None:
    assert units.parse_level(value) == pytest.approx(gain)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("+13 dB", "level '+13 dB' is too loud; use at most +12 dB"),
        ("401%", "level '401%' is too loud; use at most 400%"),
        (30, "cannot read 30 as a level"),
    ],
)
def test_bad_levels(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        units.parse_level(value)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("value", "seconds"), [("1:00", 60.0), ("4:07", 247.0), ("1:02:03", 3723.0), ("5m", 300.0)]
)
def test_positions_as_show_prints_them(value: str, seconds: float) -> None:
    assert units.parse_position(value) == seconds


@pytest.mark.parametrize("value", ["1:60", "1:2", "a:00", "1:02:60", "::"])
def test_bad_positions(value: str) -> None:
    with pytest.raises(ValueError):
        units.parse_position(value)


def test_a_400_digit_duration_is_too_long_not_an_overflow() -> None:
    with pytest.raises(ValueError, match="too long"):
        units.parse_duration(10**400)


def test_format_over_shows_the_excess() -> None:
    assert units.format_over(86400.5, 86400.0) == "24:00:00.5"
    assert units.format_over(86460.0, 86400.0) == "24:01:00"
