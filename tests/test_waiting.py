"""``play --at``: the wait until a time of day, on an injected wall clock, and real signals."""

from __future__ import annotations

import os
import signal
import threading
from datetime import datetime, timedelta, timezone

import pytest

from relaxplayer.errors import ConfigError
from relaxplayer.waiting import NAP, Wait, cancelled_by_signals, describe, target

CET = timezone(timedelta(hours=1))
NOW = datetime(2026, 12, 3, 21, 18, 0, tzinfo=CET)


class Clock:
    """A wall clock that moves only when napped (or jumped)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment
        self.naps: list[float] = []

    def __call__(self) -> datetime:
        return self.moment

    def nap(self, seconds: float, wake: threading.Event) -> None:
        self.naps.append(seconds)
        self.moment += timedelta(seconds=seconds)


def test_the_target_is_today_if_still_ahead_else_tomorrow() -> None:
    assert target("22:30", NOW) == NOW.replace(hour=22, minute=30)
    assert target("21:18", NOW) == NOW.replace(hour=21, minute=18) + timedelta(days=1)
    assert target("7:05", NOW) == datetime(2026, 12, 4, 7, 5, tzinfo=CET)
    assert target("21:18:30", NOW) == NOW.replace(second=30)


@pytest.mark.parametrize("bad", ["24:00", "22h30", "22:3", "", "22:30:60"])
def test_a_bad_time_says_how_to_write_it(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        target(bad, NOW)
    assert str(info.value) == f"--at {bad}: write a time of day like 22:30 (24-hour clock)"


def test_it_says_what_it_waits_for() -> None:
    assert describe(target("22:30", NOW), NOW) == (
        "waiting until 22:30 (in 1 h 12 min); Ctrl-C to cancel"
    )
    assert describe(NOW + timedelta(minutes=11, seconds=1), NOW).endswith(
        "(in 12 min); Ctrl-C to cancel"
    )
    assert describe(NOW + timedelta(seconds=40), NOW) == (
        "waiting until 21:18:40 (in 40 s); Ctrl-C to cancel"
    )


def test_it_waits_until_the_time_by_the_wall_clock_in_short_naps() -> None:
    clock = Clock(NOW)
    wait = Wait(target("22:30", NOW), now=clock, nap=clock.nap)
    assert wait.run() is True
    assert clock.moment == NOW.replace(hour=22, minute=30)  # not a second early, nor late
    assert max(clock.naps) == NAP and len(clock.naps) == 72 * 60 / NAP


def test_a_clock_that_jumps_forward_is_noticed_at_the_next_look() -> None:
    clock = Clock(NOW)

    def nap(seconds: float, wake: threading.Event) -> None:
        clock.nap(seconds, wake)
        if len(clock.naps) == 2:  # the laptop slept for two hours
            clock.moment += timedelta(hours=2)

    wait = Wait(target("22:30", NOW), now=clock, nap=nap)
    assert wait.run() is True and len(clock.naps) == 2


def test_a_cancel_ends_it_at_once() -> None:
    clock = Clock(NOW)
    wait = Wait(target("22:30", NOW), now=clock, nap=clock.nap)

    def nap(seconds: float, wake: threading.Event) -> None:
        clock.nap(seconds, wake)
        if len(clock.naps) == 3:
            wait.cancel(signal.SIGTERM)

    wait._nap = nap
    assert wait.run() is False and wait.signal == signal.SIGTERM and len(clock.naps) == 3


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_real_signal_wakes_a_real_nap(signum: int) -> None:
    wait = Wait(datetime.now().astimezone() + timedelta(hours=1))  # the real clock and nap
    with cancelled_by_signals(wait):
        threading.Timer(0.1, os.kill, (os.getpid(), signum)).start()
        assert wait.run() is False
    assert wait.signal == signum
