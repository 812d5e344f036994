"""The library as remotes show it: each session's title, length, tags and steps.

A session that is not playing is measured at a low rate with narration
lengths estimated (nothing is synthesized); the answer is kept until the
file changes, so listing the library stays cheap on a Pi.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from relaxplayer import library
from relaxplayer.errors import RelaxError

PREVIEW_RATE = 8000  # Hz: enough to place steps; nothing is rendered


@dataclass(frozen=True)
class Described:
    name: str
    title: str
    seconds: float
    tags: tuple[str, ...]
    origin: str  # builtin or user
    description: str
    timeline: Any  # relaxplayer.timeline.Timeline

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "title": self.title,
            "seconds": round(self.seconds, 1),
            "tags": list(self.tags),
            "origin": self.origin,
            "description": self.description,
        }


_cache: dict[str, tuple[float, Described]] = {}
_lock = threading.Lock()


def describe(entry: library.Entry) -> Described:
    """Title, length and timeline of one session; raises ``RelaxError`` for a broken file."""
    from relaxplayer.loader import load_session
    from relaxplayer.mixer import SoundBank
    from relaxplayer.timeline import build_timeline

    try:
        mtime = entry.path.stat().st_mtime
    except OSError as exc:
        raise RelaxError(f"cannot read {entry.path}: {exc.strerror}") from None
    with _lock:
        hit = _cache.get(str(entry.path))
    if hit is not None and hit[0] == mtime:
        return hit[1]
    session = load_session(entry.path)
    timeline = build_timeline(session, PREVIEW_RATE, SoundBank(PREVIEW_RATE, None).measure)
    found = Described(
        entry.name,
        session.title,
        timeline.seconds,
        tuple(session.tags),
        "builtin" if entry.origin == "builtin" else "user",
        session.description,
        timeline,
    )
    with _lock:
        _cache[str(entry.path)] = (mtime, found)
    return found


def timeline_of(name: str) -> Any:
    return describe(library.find(name)).timeline


def sessions() -> list[dict[str, object]]:
    """Every session in the library; a broken one is listed with its error, not dropped."""
    out: list[dict[str, object]] = []
    for entry in library.list_sessions():
        try:
            out.append(describe(entry).as_dict())
        except RelaxError as exc:
            out.append({"name": entry.name, "title": entry.name, "error": str(exc).split("\n")[0]})
    return out
