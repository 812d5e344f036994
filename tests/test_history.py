"""History: a real SQLite file, real events, real kill -9 of a writer process."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from relaxplayer import events as ev
from relaxplayer.history import MIGRATIONS, History, HistoryListener, migrate

ROOT = Path(__file__).resolve().parent.parent
CET = timezone(timedelta(hours=1))


class Clock:
    """An injected wall clock, moved by hand."""

    def __init__(self, start: datetime) -> None:
        self.t = start

    def __call__(self) -> datetime:
        return self.t


def feed(listener: HistoryListener, seconds: float, rate: int = 100, start: int = 0) -> int:
    """Ticks every 0.1 s of heard audio from ``start`` for ``seconds``; returns the end position."""
    pos = start
    for _ in range(round(seconds * 10)):
        pos += rate // 10
        listener(ev.Tick(pos, 100_000, False, 1.0, 0))
    return pos


def test_wal_full_sync_and_schema_version(tmp_path: Path) -> None:
    h = History(tmp_path / "h.db")
    db = h._db
    assert db is not None
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert h.integrity() == "ok"
    h.close()


def test_migrate_is_idempotent_and_refuses_newer(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "h.db", isolation_level=None)
    assert migrate(db) == len(MIGRATIONS)
    assert migrate(db) == len(MIGRATIONS)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(sqlite3.DatabaseError, match="newer relaxplayer"):
        migrate(db)
    db.close()
    warnings: list[str] = []
    h = History(tmp_path / "h.db", warn=warnings.append)
    assert not h.enabled and len(warnings) == 1 and "newer relaxplayer" in warnings[0]


def test_listener_records_one_row_with_heard_seconds(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 12, 1, 22, 30, tzinfo=CET))
    h = History(tmp_path / "h.db", now=clock)
    listener = HistoryListener(h, "bedtime-body-scan", "/s/bedtime-body-scan.yaml")
    listener(ev.Started(0, "Bedtime body scan", 100 * 600, 100, "null"))
    pos = feed(listener, 30)
    listener(ev.Paused(pos))
    for _ in range(50):  # paused ticks: no heard time
        listener(ev.Tick(pos, 60_000, True, 1.0, 0))
    listener(ev.Resumed(pos))
    pos = feed(listener, 10, start=pos)
    listener(ev.Tick(pos + 100 * 120, 60_000, False, 1.0, 0))  # a skip of 2 min: not heard
    clock.t += timedelta(minutes=5)
    listener(ev.Finished(pos + 100 * 120, "quit"))
    [play] = h.recent()
    assert (play.session, play.title, play.source) == (
        "bedtime-body-scan",
        "Bedtime body scan",
        "/s/bedtime-body-scan.yaml",
    )
    assert play.heard == pytest.approx(40.0)
    assert play.fraction == pytest.approx((pos + 12000) / 60000)
    assert play.how == "stopped"
    assert play.started == datetime(2026, 12, 1, 22, 30, tzinfo=CET)
    assert play.started.utcoffset() == timedelta(hours=1)
    assert play.ended == datetime(2026, 12, 1, 22, 35, tzinfo=CET)


def test_writes_at_most_every_15_seconds(tmp_path: Path) -> None:
    h = History(tmp_path / "h.db")
    writes: list[float] = []
    real_update = h.update
    h.update = lambda row, heard, fraction: (
        writes.append(heard),
        real_update(row, heard, fraction),
    )  # type: ignore[method-assign]
    listener = HistoryListener(h, "x")
    listener(ev.Started(0, "X", 100_000, 100, "null"))
    feed(listener, 60)
    assert len(writes) == 4 and writes[0] == pytest.approx(15.0)
    assert h.recent()[0].heard == pytest.approx(60.0)


@pytest.mark.parametrize(
    ("reason", "ending", "how"),
    [
        ("end", None, "finished"),
        ("quit", None, "stopped"),
        ("quit", "sleep-timer", "sleep-timer"),
        ("error", None, "device-failed"),
    ],
)
def test_how_it_ended(tmp_path: Path, reason: str, ending: str | None, how: str) -> None:
    h = History(tmp_path / "h.db")
    listener = HistoryListener(h, "x")
    listener.ending = ending
    listener(ev.Started(0, "X", 1000, 100, "null"))
    listener(ev.Finished(1000, reason))
    assert h.recent()[0].how == how
    assert h.recent()[0].fraction == 1.0


def test_totals_week_month_and_streak(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 11, 28, 22, 0, tzinfo=CET))  # Saturday
    h = History(tmp_path / "h.db", now=clock)
    for day, heard in [(28, 600.0), (29, 300.0), (30, 120.0), (1, 60.0), (2, 30.0)]:
        month = 11 if day > 2 else 12
        clock.t = datetime(2026, month, day, 22, 0, tzinfo=CET)
        row = h.start("x", "X", "")
        h.finish(row, heard, 0.5, "stopped")
    # Wednesday 2 Dec: the week began Monday 30 Nov, the month on 1 Dec
    totals = h.totals()
    assert (totals.week, totals.month, totals.all, totals.plays) == (210.0, 90.0, 1110.0, 5)
    assert h.streak() == 5
    clock.t = datetime(2026, 12, 4, 9, 0, tzinfo=CET)  # a day missed: the streak is broken
    assert h.streak() == 0


def test_empty_history(tmp_path: Path) -> None:
    h = History(tmp_path / "h.db")
    assert h.recent() == [] and h.totals().plays == 0 and h.streak() == 0
    assert h.newest_start() is None


def test_open_row_of_a_dead_process_is_closed_as_interrupted(tmp_path: Path) -> None:
    h = History(tmp_path / "h.db")
    row = h.start("x", "X", "")
    h.update(row, 42.0, 0.25)
    h._db.execute("UPDATE plays SET pid = 999999999")  # type: ignore[union-attr]
    h.close()
    h2 = History(tmp_path / "h.db")
    assert h2.closed_interrupted == 1
    [play] = h2.recent()
    assert (play.how, play.heard, play.fraction) == ("interrupted", 42.0, 0.25)
    assert play.ended is not None


def test_live_writers_open_row_is_left_open(tmp_path: Path) -> None:
    h = History(tmp_path / "h.db")
    h.start("x", "X", "")
    h2 = History(tmp_path / "h.db")  # same pid, same boot: still playing
    assert h2.closed_interrupted == 0 and h2.recent()[0].how is None


def test_unwritable_data_folder_turns_history_off_once(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    warnings: list[str] = []
    h = History(blocker / "sub" / "h.db", warn=warnings.append)
    assert not h.enabled
    listener = HistoryListener(h, "x")
    listener(ev.Started(0, "X", 1000, 100, "null"))  # nothing raises
    feed(listener, 20)
    listener(ev.Finished(1000, "end"))
    assert len(warnings) == 1 and "history is off" in warnings[0] and h.warning == warnings[0]


def test_full_disk_mid_playback_turns_history_off_once(tmp_path: Path) -> None:
    warnings: list[str] = []
    h = History(tmp_path / "h.db", warn=warnings.append)
    listener = HistoryListener(h, "x")
    listener(ev.Started(0, "X", 1_000_000, 100, "null"))
    db = h._db
    assert db is not None
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own 'database or disk is full'
    for i in range(200):  # rows grow the file until it is "full"
        h.start("x" * 500, f"filler {i}", "")
        if not h.enabled:
            break
    feed(listener, 40)
    listener(ev.Finished(4000, "end"))
    assert not h.enabled
    assert len(warnings) == 1 and "full" in warnings[0]


WRITER = r"""
import sys, time
from relaxplayer.history import History
h = History()
row = h.start("bedtime", "Bedtime", "/s/bedtime.yaml")
k = 0
while True:  # never finishes: every kill lands while its row is open and being written
    h.update(row, float(k), min(k / 1000, 1.0))
    k += 1
    if k == 3:
        print("ready", flush=True)
"""


@pytest.mark.slow
def test_kill_9_at_random_moments_leaves_the_database_intact(tmp_path: Path) -> None:
    rng = random.Random(11)
    env = {**os.environ, "RELAXPLAYER_DATA": str(tmp_path), "PYTHONPATH": str(ROOT)}
    for _ in range(20):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER], env=env, stdout=subprocess.PIPE, text=True
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
            time.sleep(rng.uniform(0.0, 0.05))  # a random moment inside its write loop
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stdout.close()  # type: ignore[union-attr]
        assert proc.returncode == -signal.SIGKILL
        h = History(tmp_path / "history.sqlite3")
        assert h.integrity() == "ok"
        assert h.recent(limit=None)[0].how == "interrupted"
        assert all(p.how is not None for p in h.recent(limit=None))
        h.close()
