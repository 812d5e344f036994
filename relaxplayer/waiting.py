"""Waiting for a time of day before playing: ``relaxplayer play NAME --at 22:30``.

The wait is measured against the wall clock, not added up: it naps at most
``NAP`` seconds at a time and looks at the clock again, so a laptop that
slept, or a clock that NTP corrected, still starts at 22:30 by the clock on
the wall. Signals end it at once: they are taken by the lock-free dispatcher
of ``controls.signals`` (a handler that set an Event could deadlock against
the wait itself), which wakes the nap. Nothing here prints or exits: the
caller says what is waited for (``describe``) and what a signal means.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from relaxplayer.errors import ConfigError

NAP = 30.0  # seconds: the longest nap between two looks at the wall clock
_AT = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


def target(at: str, now: datetime) -> datetime:
    """The next ``HH:MM`` or ``HH:MM:SS`` after ``now`` (aware; its zone is the one meant):
    today if still ahead, else tomorrow.

    Raises ``ConfigError`` for anything else.
    """
    match = _AT.match(at.strip())
    if match is None:
        raise ConfigError(f"--at {at}: write a time of day like 22:30 (24-hour clock)")
    hour, minute, second = (int(g) if g else 0 for g in match.groups())
    moment = now.replace(hour=hour, minute=minute, second=second, microsecond=0)
    return moment if moment > now else moment + timedelta(days=1)


def describe(at: datetime, now: datetime) -> str:
    """``waiting until 22:30 (in 1 h 12 min); Ctrl-C to cancel``."""
    clock = f"{at:%H:%M:%S}" if at.second else f"{at:%H:%M}"
    return f"waiting until {clock} (in {_span((at - now).total_seconds())}); Ctrl-C to cancel"


def _span(seconds: float) -> str:
    """``1 h 12 min``, ``12 min``, ``40 s``: minutes rounded up, so it never says ``0 min``."""
    if seconds < 60:
        return f"{max(math.ceil(seconds), 0)} s"
    minutes = math.ceil(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


class Wait:
    """One wait until ``at``; ``cancel(signum)`` (any thread) ends it at once.

    ``now`` is the aware wall clock and ``nap(seconds, wake)`` waits up to
    ``seconds`` or until ``wake`` is set (``threading.Event.wait``): tests
    inject both.
    """

    def __init__(
        self,
        at: datetime,
        *,
        now: Callable[[], datetime] = lambda: datetime.now().astimezone(),
        nap: Callable[[float, threading.Event], object] = lambda s, wake: wake.wait(s),
    ) -> None:
        self.at = at
        self._now = now
        self._nap = nap
        self._wake = threading.Event()
        self.signal: int | None = None  # what ended the wait early, if anything

    def cancel(self, signum: int) -> None:
        if self.signal is None:
            self.signal = signum
        self._wake.set()

    def remaining(self) -> float:
        """Seconds until ``at`` by the wall clock now (negative once it has passed)."""
        return (self.at - self._now()).total_seconds()

    def run(self) -> bool:
        """Wait; True when the time came, False when a signal cancelled it first."""
        while not self._wake.is_set():
            left = self.remaining()
            if left <= 0:
                return True
            self._nap(min(left, NAP), self._wake)
        return False


@contextmanager
def cancelled_by_signals(wait: Wait) -> Iterator[Wait]:
    """SIGINT, SIGTERM, SIGHUP (and the others ``play`` handles) cancel ``wait`` at once.

    Must be entered on the main thread.
    """
    from relaxplayer.controls.signals import STOPS, dispatched_signals

    def deliver(signum: int) -> None:
        if signum in STOPS:
            wait.cancel(signum)

    with dispatched_signals(deliver):
        yield wait
