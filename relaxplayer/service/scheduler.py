"""When scheduled sessions run: pure logic over an injected wall clock.

Rules, each for a reason:
- a run fires if the box is awake at its time or wakes within ``GRACE`` after
  it (a short power blip at 22:29 should not cost the bedtime session);
- runs missed while the box was off for longer are never caught up (a session
  starting at 03:00 because the power came back would wake the sleeper);
- nothing fires while the clock is not believable. A Raspberry Pi has no
  battery-backed clock: after a power cut fake-hwclock restores the time it
  saved, hours or days old, until NTP corrects it. The clock is believed once
  it is no earlier than this release and than the newest history row, and,
  where systemd-timesyncd runs, once it says it has synchronized.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from relaxplayer.errors import ConfigError
from relaxplayer.service.config import _AT, DAYS, Schedule

GRACE = timedelta(minutes=5)
# No clock earlier than this can be right: the day this code was written. (The
# package's install time is a later bound, read from its files' mtime.)
RELEASED = datetime(2026, 12, 1, tzinfo=UTC)
TIMESYNC_DIR = Path("/run/systemd/timesync")


@dataclass(frozen=True)
class Run:
    """One scheduled playback at one moment (aware, local)."""

    at: datetime
    schedule: Schedule

    def describe(self) -> str:
        s = self.schedule
        extra = []
        if s.volume is not None:
            extra.append(f"volume {round(s.volume * 100)}%")
        if s.sleep is not None:
            extra.append(f"sleep {round(s.sleep / 60)} min")
        tail = f" ({', '.join(extra)})" if extra else ""
        return f"{self.at:%a %Y-%m-%d %H:%M}  {s.session}{tail}"


def _at_on(day: datetime, schedule: Schedule) -> datetime:
    """The schedule's wall-clock time on ``day``'s date, in ``day``'s zone."""
    return day.replace(hour=schedule.hour, minute=schedule.minute, second=0, microsecond=0)


def occurrences(schedule: Schedule, after: datetime, before: datetime) -> list[Run]:
    """Runs of ``schedule`` with ``after < at <= before``."""
    runs = []
    day = after.replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= before:
        at = _at_on(day, schedule)
        if DAYS[at.weekday()] in schedule.days and after < at <= before:
            runs.append(Run(at, schedule))
        day = (day + timedelta(days=1)).replace(hour=0)
    return runs


def next_runs(schedules: Iterable[Schedule], now: datetime, count: int = 5) -> list[Run]:
    """The next ``count`` runs after ``now``, soonest first (``relaxplayer schedule``)."""
    runs = [r for s in schedules for r in occurrences(s, now, now + timedelta(days=8))]
    return sorted(runs, key=lambda r: (r.at, r.schedule.line))[:count]


def parse_at(text: str) -> tuple[int, int]:
    """``"22:30"`` -> (22, 30), or a ``ConfigError`` saying how to write it."""
    match = _AT.match(text.strip())
    if match is None:
        raise ConfigError(f"--at {text}: write a time of day like 22:30 (24-hour clock)")
    return int(match.group(1)), int(match.group(2))


def wait_for(at: str, now: datetime) -> float:
    """Seconds from ``now`` (aware) until the next ``HH:MM`` local: today if still ahead, else
    tomorrow. For ``play --at 22:30``."""
    hour, minute = parse_at(at)
    target = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if target <= now:
        target = (target + timedelta(days=1)).replace(hour=hour, minute=minute)
    return (target.astimezone(UTC) - now.astimezone(UTC)).total_seconds()


@functools.cache
def _install_time() -> datetime:
    """When this package was installed (or checked out): its files' newest mtime."""
    here = Path(__file__).resolve().parent.parent
    try:
        newest = max(p.stat().st_mtime for p in here.glob("*.py"))
    except (OSError, ValueError):
        return RELEASED
    return datetime.fromtimestamp(newest, UTC)


def timesync_says_unsynced(folder: Path = TIMESYNC_DIR) -> bool:
    """True where systemd-timesyncd runs (its folder exists) and has not synchronized yet."""
    try:
        return folder.is_dir() and not (folder / "synchronized").exists()
    except OSError:
        return False


def clock_problem(
    now: datetime,
    *,
    newest_history: datetime | None = None,
    floor: datetime | None = None,
    unsynced: Callable[[], bool] = timesync_says_unsynced,
) -> str | None:
    """Why ``now`` cannot be trusted yet, or None when it can."""
    floor = floor or max(RELEASED, _install_time())
    if now < floor:
        return (
            f"the clock says {now:%Y-%m-%d %H:%M}, before this relaxplayer was installed "
            f"({floor.astimezone(now.tzinfo):%Y-%m-%d}); schedules wait until it is set (NTP)"
        )
    if newest_history is not None and now < newest_history:
        return (
            f"the clock says {now:%Y-%m-%d %H:%M}, before the last session in the history "
            f"({newest_history.astimezone(now.tzinfo):%Y-%m-%d %H:%M}); schedules wait until it "
            "is set (NTP)"
        )
    if unsynced():
        return "the clock has not been synchronized yet (systemd-timesyncd); schedules wait"
    return None


class Scheduler:
    """Decides, each time it is polled, which runs are due now.

    ``now`` returns an aware local datetime. Poll it every few seconds; each
    run fires at most once. ``problem`` says why nothing can fire (an
    implausible clock), and ``notice`` changes only when that changes, so the
    service logs it once.
    """

    def __init__(
        self,
        schedules: Iterable[Schedule],
        now: Callable[[], datetime],
        *,
        grace: timedelta = GRACE,
        plausible: Callable[[datetime], str | None] | None = None,
    ) -> None:
        self.schedules = tuple(schedules)
        self.now = now
        self.grace = grace
        self._plausible = plausible or (lambda moment: clock_problem(moment))
        self._fired: set[tuple[int, datetime]] = set()
        self.problem: str | None = None

    def due(self) -> list[Run]:
        """Runs whose time is in ``(now - grace, now]`` and that have not fired yet."""
        now = self.now()
        self.problem = self._plausible(now)
        if self.problem is not None:
            return []
        runs = []
        for index, schedule in enumerate(self.schedules):
            for run in occurrences(schedule, now - self.grace, now):
                key = (index, run.at.astimezone(UTC))
                if key not in self._fired:
                    self._fired.add(key)
                    runs.append(run)
        if len(self._fired) > 1000:  # a box that runs for years: forget fired runs long past
            horizon = now.astimezone(UTC) - 2 * self.grace
            self._fired = {k for k in self._fired if k[1] >= horizon}
        return sorted(runs, key=lambda r: r.at)

    def next_runs(self, count: int = 5) -> list[Run]:
        return next_runs(self.schedules, self.now(), count)
