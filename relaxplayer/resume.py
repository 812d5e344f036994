"""Resume points: where each session stopped, so ``play --resume`` can continue it.

One small JSON file per session in ``<state>/resume/``, written atomically
(``state.write_json_atomic``) every 15 s of heard audio, on pause and on every
stop, so a ``kill -9`` or a power cut loses at most 15 s. A session heard to
its end has nothing to resume: its point is removed. Resuming starts a few
seconds (``BACK_OFF``) before the stop, so the listener finds their place.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from relaxplayer import events as ev
from relaxplayer.state import state_dir, write_json_atomic

WRITE_EVERY = 15.0  # seconds of heard audio between writes
BACK_OFF = 5.0  # seconds resumed before where it stopped
_SAFE = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class ResumePoint:
    session: str  # the name it was played by
    source: str  # path of the session file
    title: str
    stopped_at: float  # seconds into the session where it stopped
    saved: float  # epoch seconds of the last write
    how: str  # paused, stopped, sleep-timer, device-failed, playing (a crash: the last write)

    @property
    def seconds(self) -> float:
        """Where to start: ``BACK_OFF`` seconds before the stop, never before the start."""
        return max(0.0, self.stopped_at - BACK_OFF)

    def describe(self) -> str:
        """``resuming 'Bedtime body scan' at 12:34 (it stopped at 12:39)``."""
        from relaxplayer.units import format_time

        return (
            f"resuming '{self.title or self.session}' at {format_time(self.seconds)} "
            f"(it stopped at {format_time(self.stopped_at)})"
        )


def folder() -> Path:
    return state_dir() / "resume"


def _file_for(session: str, source: str) -> Path:
    """One file per session file: its name, plus a hash of its path (two folders may both
    hold a ``bedtime.yaml``)."""
    safe = _SAFE.sub("-", session.lower()).strip("-")[:64] or "session"
    digest = hashlib.sha1(source.encode()).hexdigest()[:8] if source else ""
    return folder() / (f"{safe}-{digest}.json" if digest else f"{safe}.json")


def save(point: ResumePoint) -> Path:
    path = _file_for(point.session, point.source)
    write_json_atomic(
        path,
        {
            "session": point.session,
            "source": point.source,
            "title": point.title,
            "stopped_at": round(point.stopped_at, 3),
            "saved": point.saved,
            "how": point.how,
        },
    )
    return path


def clear(session: str, source: str) -> None:
    _file_for(session, source).unlink(missing_ok=True)


def _read(path: Path) -> ResumePoint | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ResumePoint(
            session=str(data["session"]),
            source=str(data.get("source", "")),
            title=str(data.get("title", "")),
            stopped_at=float(data["stopped_at"]),
            saved=float(data["saved"]),
            how=str(data.get("how", "stopped")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable or half-old: as if there were none


def points() -> list[ResumePoint]:
    """Every resume point, newest first."""
    try:
        files = sorted(folder().glob("*.json"))
    except OSError:
        return []
    found = [p for p in (_read(f) for f in files) if p is not None]
    return sorted(found, key=lambda p: p.saved, reverse=True)


def lookup(name: str | None = None) -> ResumePoint | None:
    """What to resume: the named session's point (by name or file path), or the newest one.

    None means there is nothing to resume (see ``nothing_to_resume``).
    """
    candidates = points()
    if name is None:
        return candidates[0] if candidates else None
    wanted = None
    if "/" in name or name.endswith((".yaml", ".yml")):
        try:
            wanted = str(Path(name).expanduser().resolve())
        except (OSError, RuntimeError, ValueError):
            wanted = None
    for point in candidates:
        if point.session == name or (wanted is not None and point.source == wanted):
            return point
    return None


def nothing_to_resume(name: str | None = None) -> str:
    """The plain answer when ``lookup`` finds nothing."""
    if name is None:
        return "nothing to resume: no session was left unfinished"
    return f"nothing to resume for '{name}': it was not left unfinished"


class ResumeListener:
    """Keeps one session's resume point current from the player's events.

    Writes every ``WRITE_EVERY`` seconds of heard audio, on pause and on every
    stop; a session that played to its end has its point removed. Never
    raises: a write that fails (full disk) is skipped and noted in ``warning``.
    """

    def __init__(
        self,
        session: str,
        source: str = "",
        *,
        clock: Callable[[], float] = time.time,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.session = session
        self.source = str(Path(source).resolve()) if source else ""
        self.ending: str | None = None  # "sleep-timer" when the service's timer stops it
        self.warning: str | None = None
        self._clock = clock
        self._warn = warn
        self._title = ""
        self._rate = 1
        self._position = 0
        self._since_write = 0
        self._started = False

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.Started):
            self._title, self._rate = event.title, max(event.rate, 1)
            self._position, self._started = event.position, True
            return
        if not self._started:
            return
        step = event.position - self._position
        self._position = event.position
        if isinstance(event, ev.Tick):
            if not event.paused and step > 0:
                self._since_write += step
            if self._since_write >= WRITE_EVERY * self._rate:
                self._write("playing")
        elif isinstance(event, ev.Paused):
            self._write("paused")
        elif isinstance(event, ev.Finished):
            if event.reason == "end":
                self._guard(lambda: clear(self.session, self.source))
            else:
                how = self.ending or ("stopped" if event.reason == "quit" else "device-failed")
                self._write(how)

    def failed(self, position: int | None = None) -> None:
        """The playback raised (device gone): keep the point where the listener was."""
        if position is not None:
            self._position = position
        if self._started:
            self._write("device-failed")

    def _write(self, how: str) -> None:
        self._since_write = 0
        point = ResumePoint(
            self.session,
            self.source,
            self._title,
            self._position / self._rate,
            self._clock(),
            how,
        )
        self._guard(lambda: save(point))

    def _guard(self, action: Callable[[], object]) -> None:
        try:
            action()
        except OSError as exc:
            if self.warning is None:
                self.warning = f"cannot save the resume point ({exc}); playback carries on"
                if self._warn is not None:
                    self._warn(self.warning)
