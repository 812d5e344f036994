"""Durations, levels and frames: the small languages of a session script.

Users write ``"1m30s"``, ``"-12 dB"`` or ``"30%"``; everything below the loader
works in seconds (float), linear gain (float) and frames (int).
"""

from __future__ import annotations

import math
import re

# "ms" before "m": alternation takes the first branch that matches, so "250ms"
# must not be read as 250 minutes followed by a stray "s".
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*(h|ms|m|s)", re.IGNORECASE)
_DURATION_FULL = re.compile(r"^\s*(?:(?:\d+(?:\.\d+)?|\.\d+)\s*(?:h|ms|m|s)\s*)+$", re.IGNORECASE)
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_DB = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*db\s*$", re.IGNORECASE)
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_CLOCK = re.compile(r"^(?:(\d{1,3}):)?(\d{1,4}):(\d{2}(?:\.\d+)?)$")

DURATION_HELP = "write a duration like 90s, 1m30s, 2m, 1.5m or 1h (a bare number means seconds)"
LEVEL_HELP = 'write a level as "-12 dB" or "30%"'


def parse_duration(value: object) -> float:
    """Return seconds for ``90``, ``"90s"``, ``"1m30s"``, ``"1.5m"``, ``"1h"``.

    Raises ``ValueError`` with a message that says how to write it.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}; {DURATION_HELP}")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # a 400-digit whole number
            raise ValueError(
                f"duration {_cut(str(value))} is too long: it is not a finite number"
            ) from None
    elif isinstance(value, str) and _DURATION_FULL.match(value):
        seconds = sum(
            float(num) * _UNIT_SECONDS[unit.lower()] for num, unit in _DURATION_PART.findall(value)
        )
    elif isinstance(value, str) and value.strip().startswith("-"):
        raise ValueError(f"duration {_cut(repr(value))} is negative; it must be longer than zero")
    elif isinstance(value, str):
        try:
            seconds = float(value)
        except ValueError:
            raise ValueError(
                f"cannot read {_cut(repr(value))} as a duration; {DURATION_HELP}"
            ) from None
    else:
        raise ValueError(f"expected a duration, got {type(value).__name__}; {DURATION_HELP}")
    if math.isnan(seconds):
        raise ValueError(f"duration {_cut(repr(value))} is not a finite number; {DURATION_HELP}")
    if seconds < 0:
        raise ValueError(f"duration {_cut(repr(value))} is negative; it must be longer than zero")
    if math.isinf(seconds):
        raise ValueError(f"duration {_cut(repr(value))} is too long: it is not a finite number")
    return seconds


def _cut(text: str, size: int = 60) -> str:
    """A value quoted in a message, at most about ``size`` characters."""
    return text if len(text) <= size else f"{text[: size - 20]}...{text[-12:]}"


def parse_clock(value: str) -> float:
    """Seconds for a position as ``show`` prints it: ``"4:07"`` or ``"1:05:03"`` (also ``"0:05.5"``).

    Raises ``ValueError`` when ``value`` is not such a position.
    """
    m = _CLOCK.match(value)
    if m is None:
        raise ValueError(f"cannot read {_cut(repr(value))} as a position like 4:07 or 1:05:03")
    hours, minutes, seconds = m.group(1), m.group(2), m.group(3)
    if int(seconds.split(".")[0]) >= 60 or (hours is not None and int(minutes) >= 60):
        raise ValueError(f"{value!r}: minutes and seconds go up to 59")
    return int(hours or 0) * 3600.0 + int(minutes) * 60.0 + float(seconds)


def parse_position(value: str) -> float:
    """Seconds for ``--start-at``: a duration (``5m``, ``90``) or a clock position (``1:30``)."""
    if ":" in value:
        return parse_clock(value.strip())
    return parse_duration(value)


def parse_level(value: object) -> float:
    """Return a linear gain for ``"-12 dB"`` or ``"30%"``.

    A bare number is refused on purpose: ``30`` could mean 30 % or +30 dB, and
    guessing wrong is loud.
    """
    if isinstance(value, str):
        if m := _DB.match(value):
            db = float(m.group(1))
            if db > 12:
                raise ValueError(f"level {value!r} is too loud; use at most +12 dB")
            return db_to_gain(db)
        if m := _PERCENT.match(value):
            pct = float(m.group(1))
            if pct > 400:
                raise ValueError(f"level {value!r} is too loud; use at most 400%")
            return pct / 100.0
    raise ValueError(f"cannot read {_cut(repr(value))} as a level; {LEVEL_HELP}")


def parse_db_amount(value: object) -> float:
    """Return a positive attenuation in dB for ``"8 dB"`` (used by ``duck``)."""
    if isinstance(value, str) and (m := _DB.match(value)):
        return abs(float(m.group(1)))
    raise ValueError(f'cannot read {value!r} as an amount in dB; write it like "8 dB"')


def db_to_gain(db: float) -> float:
    """Linear amplitude gain for a level in dB."""
    return 10.0 ** (db / 20.0)


def gain_to_db(gain: float) -> float:
    """Level in dB of a linear gain (-inf for silence)."""
    return 20.0 * math.log10(gain) if gain > 0 else -math.inf


def frames(seconds: float, rate: int) -> int:
    """Whole frames for a duration, rounded to the nearest frame."""
    return round(seconds * rate)


def format_time(seconds: float) -> str:
    """``"1:05:03"`` or ``"4:07"``: how the display and ``show`` print positions."""
    total = round(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def format_over(seconds: float, limit: float) -> str:
    """``seconds`` as ``format_time`` prints it, with as many decimals as it takes to differ
    from ``limit``: "24:00:00.5", never "lasts 24:00:00; the limit is 24:00:00"."""
    shown = format_time(seconds)
    if shown != format_time(limit) or seconds == limit:
        return shown
    for digits in (1, 2, 3, 6):
        whole = math.floor(seconds)
        frac = f"{seconds - whole:.{digits}f}"
        if frac.startswith("1"):  # 0.9999 rounded up: keep the whole seconds as they are
            continue
        text = f"{format_time(whole)}{frac[1:]}"
        if float(frac) > 0:
            return text
    return f"{shown} (and {seconds - limit:.3g} s)"
