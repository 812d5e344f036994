"""Warnings for scripts that are valid but will not sound as their author meant.

``validate`` prints these and still exits 0: a fade longer than the session,
words spoken over a bell's strike. Each check takes the session and a
timeline built for it and returns plain messages (without file prefix).
"""

from __future__ import annotations

from collections.abc import Callable

from relaxplayer import units
from relaxplayer.model import Session
from relaxplayer.timeline import BELL_CLEARANCE, Timeline, lines_near_bells
from relaxplayer.units import format_time

Check = Callable[[Session, Timeline], list[str]]


def fade_longer_than_session(session: Session, timeline: Timeline) -> list[str]:
    """``end.fade_out`` longer than the whole session (steps and linger, in seconds): the
    master fade then starts before the first sound, so nothing is ever heard at full level."""
    fade = session.end.fade_out
    length = timeline.seconds
    if fade <= length or session.end.fade_out_mark is None:
        return []  # the default fade on a short session is the player's choice, not the author's
    mark = "~" if any(c.sound.kind == "speech" for c in timeline.cues) else ""
    at = session.end.fade_out_mark
    return [
        f"line {at.line}: end.fade_out is {fade:g} s, longer than the whole session ({mark}"
        f"{units.format_over(length, fade)}); the session never plays at full volume: "
        "make the fade shorter"
    ]


def words_over_bells(session: Session, timeline: Timeline) -> list[str]:
    """A spoken line that starts within ``BELL_CLEARANCE`` of a bell's strike is drowned by it."""
    rate = timeline.rate
    out = []
    for line, bell in lines_near_bells(timeline):
        words = line.text if len(line.text) <= 40 else line.text[:37] + "..."
        apart = abs(line.start - bell.start) / rate
        when = "after" if line.start >= bell.start else "before"
        out.append(
            f"{format_time(line.start / rate)}: {words!r} starts {apart:.1f} s {when} a bell "
            f"({_bell_name(bell.sound.name)}); keep words at least {BELL_CLEARANCE:g} s "
            "from a bell's strike (add a pause after the bell)"
        )
    return out


def _bell_name(name: object) -> str:
    return getattr(name, "name", None) or str(name)


CHECKS: list[Check] = [fade_longer_than_session, words_over_bells]


def session_warnings(session: Session, timeline: Timeline) -> list[str]:
    """Every warning the checks find, in check order."""
    return [message for check in CHECKS for message in check(session, timeline)]
