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

DURATION_HELP = "write a duration like 90s, 1m30s, 2m, 1.5m or 1h (a bare number means seconds)"
LEVEL_HELP = 'write a level as "-12 dB" or "30%"'


def parse_duration(value: object) -> float:
    """Return seconds for ``90``, ``"90s"``, ``"1m30s"``, ``"1.5m"``, ``"1h"``.

    Raises ``ValueError`` with a message that says how to write it.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}; {DURATION_HELP}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION_FULL.match(value):
        seconds = sum(
            float(num) * _UNIT_SECONDS[unit.lower()] for num, unit in _DURATION_PART.findall(value)
        )
    elif isinstance(value, str) and value.strip().startswith("-"):
        raise ValueError(f"duration {value!r} is negative; it must be longer than zero")
    elif isinstance(value, str):
        try:
            seconds = float(value)
        except ValueError:
            raise ValueError(f"cannot read {value!r} as a duration; {DURATION_HELP}") from None
    else:
        raise ValueError(f"expected a duration, got {type(value).__name__}; {DURATION_HELP}")
    if math.isnan(seconds):
        raise ValueError(f"duration {value!r} is not a finite number; {DURATION_HELP}")
    if seconds < 0:
        raise ValueError(f"duration {value!r} is negative; it must be longer than zero")
    if math.isinf(seconds):
        raise ValueError(f"duration {value!r} is too long: it is not a finite number")
    return seconds


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
    raise ValueError(f"cannot read {value!r} as a level; {LEVEL_HELP}")


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
