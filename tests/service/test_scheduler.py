"""The scheduler with an injected clock: grace window, no catching up, an implausible clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from relaxplayer.errors import ConfigError
from relaxplayer.service.config import DAYS, Schedule, parse_config
from relaxplayer.service.scheduler import (
    RELEASED,
    Scheduler,
    clock_problem,
    next_runs,
    timesync_says_unsynced,
    wait_for,
)

CET = timezone(timedelta(hours=1))
WEEKDAYS = Schedule("22:30", "bedtime-body-scan", DAYS[:5], 0.4, 2700.0, 3)
MORNING = Schedule("07:00", "default", ("sat", "sun"), line=4)


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


def trusting(moment: datetime) -> str | None:
    return None


def test_next_runs_from_a_real_config() -> None:
    config = parse_config(
        "schedules:\n"
        "  - {at: 22:30, session: bedtime-body-scan, days: [mon, tue, wed, thu, fri]}\n"
        "  - {at: '7:00', session: default, days: weekends}\n",
        "config.yaml",
    )
    now = datetime(2026, 12, 4, 23, 0, tzinfo=CET)  # Friday, after its run
    runs = next_runs(config.schedules, now, count=4)
    assert [(r.at, r.schedule.session) for r in runs] == [
        (datetime(2026, 12, 5, 7, 0, tzinfo=CET), "default"),
        (datetime(2026, 12, 6, 7, 0, tzinfo=CET), "default"),
        (datetime(2026, 12, 7, 22, 30, tzinfo=CET), "bedtime-body-scan"),
        (datetime(2026, 12, 8, 22, 30, tzinfo=CET), "bedtime-body-scan"),
    ]
    assert runs[2].describe() == "Mon 2026-12-07 22:30  bedtime-body-scan"


def test_fires_once_at_its_time() -> None:
    clock = Clock(datetime(2026, 12, 7, 22, 29, 50, tzinfo=CET))  # Monday
    scheduler = Scheduler([WEEKDAYS, MORNING], clock, plausible=trusting)
    assert scheduler.due() == []
    clock.t += timedelta(seconds=10)
    [run] = scheduler.due()
    assert run.schedule is WEEKDAYS and run.at == datetime(2026, 12, 7, 22, 30, tzinfo=CET)
    for _ in range(30):  # polled again and again within the grace window: still once
        clock.t += timedelta(seconds=5)
        assert scheduler.due() == []


def test_fires_when_the_box_wakes_within_the_grace_window() -> None:
    clock = Clock(datetime(2026, 12, 7, 22, 34, tzinfo=CET))  # powered on 4 min late
    assert [r.schedule for r in Scheduler([WEEKDAYS], clock, plausible=trusting).due()] == [
        WEEKDAYS
    ]


def test_never_catches_up_runs_missed_while_off() -> None:
    clock = Clock(datetime(2026, 12, 7, 22, 36, tzinfo=CET))  # 6 min late: past the grace
    scheduler = Scheduler([WEEKDAYS], clock, plausible=trusting)
    assert scheduler.due() == []
    clock.t = datetime(2026, 12, 10, 3, 0, tzinfo=CET)  # days later: nothing from meanwhile
    assert scheduler.due() == []
    clock.t = datetime(2026, 12, 10, 22, 30, tzinfo=CET)
    assert len(scheduler.due()) == 1


def test_only_on_its_days() -> None:
    clock = Clock(datetime(2026, 12, 5, 22, 30, tzinfo=CET))  # Saturday
    assert Scheduler([WEEKDAYS], clock, plausible=trusting).due() == []


def test_an_implausible_clock_fires_nothing_and_says_why() -> None:
    newest = datetime(2026, 12, 7, 22, 30, tzinfo=CET)  # the last session heard
    clock = Clock(datetime(2026, 12, 7, 22, 30, tzinfo=CET))  # fake-hwclock restored a stale time

    def plausible(moment: datetime) -> str | None:
        return clock_problem(
            moment, newest_history=newest + timedelta(hours=1), unsynced=lambda: False
        )

    scheduler = Scheduler([WEEKDAYS], clock, plausible=plausible)
    assert scheduler.due() == []
    assert (
        scheduler.problem is not None
        and "before the last session in the history" in scheduler.problem
    )
    clock.t = datetime(
        2026, 12, 8, 22, 31, tzinfo=CET
    )  # NTP set the real time: fires, within grace
    assert len(scheduler.due()) == 1 and scheduler.problem is None


def test_clock_problem() -> None:
    never = lambda: False  # noqa: E731
    old = datetime(1970, 1, 1, tzinfo=UTC)
    assert "before this relaxplayer was installed" in (clock_problem(old, unsynced=never) or "")
    assert clock_problem(RELEASED + timedelta(days=400), unsynced=never) is None
    assert "not been synchronized" in (
        clock_problem(RELEASED + timedelta(days=400), unsynced=lambda: True) or ""
    )


def test_timesync_flag(tmp_path: Path) -> None:
    assert timesync_says_unsynced(tmp_path / "absent") is False  # no timesyncd: no opinion
    assert timesync_says_unsynced(tmp_path) is True
    (tmp_path / "synchronized").touch()
    assert timesync_says_unsynced(tmp_path) is False


def test_wait_for_at() -> None:
    now = datetime(2026, 12, 7, 21, 0, tzinfo=CET)
    assert wait_for("22:30", now) == 5400.0
    assert wait_for("21:00", now) == 24 * 3600.0  # now is not ahead: tomorrow
    assert wait_for("7:05", now) == (10 * 60 + 5) * 60.0
    with pytest.raises(ConfigError, match="--at 25:00: write a time of day like 22:30"):
        wait_for("25:00", now)


def test_wait_for_across_a_daylight_saving_change() -> None:
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no time zone database")
    now = datetime(2026, 3, 28, 23, 0, tzinfo=berlin)  # the clocks go forward at 02:00
    assert wait_for("07:00", now) == 7 * 3600.0
