"""Warnings for scripts that are valid but will not sound as their author meant.

``validate`` prints these and still exits 0: a fade longer than the session,
words spoken over a bell's strike. Each check takes the session and a
timeline built for it and returns plain messages (without file prefix).
"""

from __future__ import annotations

from collections.abc import Callable

from relaxplayer.model import Session
from relaxplayer.timeline import Timeline

Check = Callable[[Session, Timeline], list[str]]

CHECKS: list[Check] = []


def session_warnings(session: Session, timeline: Timeline) -> list[str]:
    """Every warning the checks find, in check order."""
    return [message for check in CHECKS for message in check(session, timeline)]
