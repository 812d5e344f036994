"""Listening history: one SQLite row per playback, and the one owner of its schema.

History only records what the player reports; it never drives playback. It is
a convenience, so it must never cost a session: a full disk, a read-only data
folder or a damaged file turns history off with one warning (``warning``) and
playback carries on. The database is in WAL mode with ``synchronous=FULL``, so
a ``kill -9`` or a power cut at any moment loses at most the last update; a row
left open by a process that died is closed as ``interrupted`` on the next open.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import platformdirs

from relaxplayer import events as ev

ENDINGS = ("finished", "stopped", "sleep-timer", "device-failed", "interrupted")
WRITE_EVERY = 15.0  # seconds of heard audio between row updates: cheap, and a crash loses < 15 s
SEEK_JUMP = (
    2.0  # seconds: a position jump larger than this between two reports is a seek, not listening
)
FILE_NAME = "history.sqlite3"

# Each entry moves the schema one version up; ``PRAGMA user_version`` says how many ran.
# Never edit a released entry: append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE plays (
        id INTEGER PRIMARY KEY,
        session TEXT NOT NULL,            -- the name it was played by (library name or file stem)
        title TEXT NOT NULL,
        source TEXT NOT NULL,             -- path of the session file
        started_utc TEXT NOT NULL,        -- ISO 8601, 'YYYY-MM-DDTHH:MM:SS.ffffffZ'
        started_offset INTEGER NOT NULL,  -- local UTC offset then, minutes (+60 for CET)
        ended_utc TEXT,                   -- NULL while the row is open
        ended_offset INTEGER,
        seen_utc TEXT NOT NULL,           -- last update: where an interrupted row ends
        heard REAL NOT NULL DEFAULT 0,    -- seconds of audio heard (pauses and skips excluded)
        fraction REAL NOT NULL DEFAULT 0, -- furthest position reached / length, 0..1
        ended TEXT CHECK (ended IN ('finished', 'stopped', 'sleep-timer', 'device-failed',
                                    'interrupted')),
        pid INTEGER NOT NULL,             -- the writer, so a live writer's open row is left alone
        boot TEXT NOT NULL                -- kernel boot id: after a reboot every open row is dead
    );
    CREATE INDEX plays_started ON plays (started_utc);
    CREATE INDEX plays_open ON plays (ended) WHERE ended IS NULL;
    """,
)


def data_dir() -> Path:
    """``$RELAXPLAYER_DATA`` or the platform's user data folder."""
    return Path(os.environ.get("RELAXPLAYER_DATA") or platformdirs.user_data_dir("relaxplayer"))


def default_path() -> Path:
    return data_dir() / FILE_NAME


@dataclass(frozen=True)
class Play:
    """One row, as ``relaxplayer history`` shows it."""

    id: int
    session: str
    title: str
    source: str
    started: datetime  # aware, in the local offset it was played in
    ended: datetime | None
    heard: float  # seconds
    fraction: float  # 0..1
    how: str | None  # one of ENDINGS, None while playing

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "session": self.session,
            "title": self.title,
            "source": self.source,
            "started": self.started.isoformat(timespec="seconds"),
            "ended": self.ended.isoformat(timespec="seconds") if self.ended else None,
            "heard_seconds": round(self.heard, 1),
            "fraction": round(self.fraction, 3),
            "how": self.how,
        }


@dataclass(frozen=True)
class Totals:
    week: float  # seconds heard since Monday 00:00 local
    month: float  # seconds heard since the 1st, 00:00 local
    all: float
    plays: int


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_utc(text: str, offset_minutes: int) -> datetime:
    moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return moment.astimezone(timezone(timedelta(minutes=offset_minutes)))


def _offset_minutes(moment: datetime) -> int:
    offset = moment.utcoffset()
    return round(offset.total_seconds() / 60) if offset is not None else 0


def _boot_id() -> str:
    """This boot's id (Linux); elsewhere a constant, so only the pid check applies."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _local_now() -> datetime:
    return datetime.now().astimezone()


class History:
    """The history database. Every method is safe to call after a failure: it then does nothing.

    ``now`` is injected (an aware ``datetime``) so tests can place plays in time.
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        now: Callable[[], datetime] = _local_now,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path or default_path()
        self.now = now
        self.warning: str | None = None  # set once when history turned itself off
        self._warn = warn
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # one transaction at a time (worker and main thread share it)
        self._boot = _boot_id()
        try:
            self._db = self._open()
            self.closed_interrupted = self._close_dead_rows()
        except (sqlite3.Error, OSError) as exc:
            self.closed_interrupted = 0
            self._fail(exc)

    # --- opening ------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            migrate(db)
        except BaseException:
            db.close()
            raise
        return db

    def _close_dead_rows(self) -> int:
        """Close rows whose writer is gone (crash, ``kill -9``, power cut) as ``interrupted``."""
        assert self._db is not None
        rows = self._db.execute("SELECT id, pid, boot FROM plays WHERE ended IS NULL").fetchall()
        dead = [rid for rid, pid, boot in rows if boot != self._boot or not _alive(pid)]
        if dead:
            with _transaction(self._db, self._lock):
                self._db.executemany(
                    "UPDATE plays SET ended = 'interrupted', ended_utc = seen_utc, "
                    "ended_offset = started_offset WHERE id = ? AND ended IS NULL",
                    [(rid,) for rid in dead],
                )
        return len(dead)

    @property
    def enabled(self) -> bool:
        return self._db is not None

    def _fail(self, exc: BaseException) -> None:
        """Turn history off for this process, saying so once."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        if self.warning is None:
            self.warning = f"history is off ({self.path}: {exc}); playback carries on"
            if self._warn is not None:
                self._warn(self.warning)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __del__(self) -> None:
        """A History dropped unclosed still closes its connection (Python 3.13 warns otherwise).

        Every commit is already durable (``synchronous=FULL``); this only
        releases the file handle, so nothing is lost either way.
        """
        db = getattr(self, "_db", None)
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()

    # --- writing ------------------------------------------------------------------

    def start(self, session: str, title: str, source: str) -> int | None:
        """Open a row for a playback that begins now; its id, or None when history is off."""
        if self._db is None:
            return None
        now = self.now()
        try:
            with _transaction(self._db, self._lock):
                cur = self._db.execute(
                    "INSERT INTO plays (session, title, source, started_utc, started_offset, "
                    "seen_utc, pid, boot) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        session,
                        title,
                        source,
                        _utc_text(now),
                        _offset_minutes(now),
                        _utc_text(now),
                        os.getpid(),
                        self._boot,
                    ),
                )
            return cur.lastrowid
        except sqlite3.Error as exc:
            self._fail(exc)
            return None

    def update(self, row: int | None, heard: float, fraction: float) -> None:
        """Record progress of an open row (one small transaction)."""
        if self._db is None or row is None:
            return
        try:
            with _transaction(self._db, self._lock):
                self._db.execute(
                    "UPDATE plays SET heard = ?, fraction = ?, seen_utc = ? "
                    "WHERE id = ? AND ended IS NULL",
                    (heard, min(max(fraction, 0.0), 1.0), _utc_text(self.now()), row),
                )
        except sqlite3.Error as exc:
            self._fail(exc)

    def finish(self, row: int | None, heard: float, fraction: float, how: str) -> None:
        """Close a row: ``how`` is one of ``ENDINGS``."""
        if how not in ENDINGS:
            raise ValueError(f"unknown ending {how!r}")
        if self._db is None or row is None:
            return
        now = self.now()
        try:
            with _transaction(self._db, self._lock):
                self._db.execute(
                    "UPDATE plays SET heard = ?, fraction = ?, seen_utc = ?, ended_utc = ?, "
                    "ended_offset = ?, ended = ? WHERE id = ? AND ended IS NULL",
                    (
                        heard,
                        min(max(fraction, 0.0), 1.0),
                        _utc_text(now),
                        _utc_text(now),
                        _offset_minutes(now),
                        how,
                        row,
                    ),
                )
        except sqlite3.Error as exc:
            self._fail(exc)

    # --- reading ------------------------------------------------------------------

    def recent(self, limit: int | None = 20) -> list[Play]:
        """Newest first; ``limit=None`` for every row."""
        if self._db is None:
            return []
        sql = (
            "SELECT id, session, title, source, started_utc, started_offset, ended_utc, "
            "ended_offset, heard, fraction, ended FROM plays ORDER BY started_utc DESC, id DESC"
        )
        try:
            rows = self._db.execute(
                sql + (" LIMIT ?" if limit is not None else ""),
                (limit,) if limit is not None else (),
            ).fetchall()
        except sqlite3.Error as exc:
            self._fail(exc)
            return []
        return [
            Play(
                id=r[0],
                session=r[1],
                title=r[2],
                source=r[3],
                started=_parse_utc(r[4], r[5]),
                ended=_parse_utc(r[6], r[7] if r[7] is not None else r[5]) if r[6] else None,
                heard=r[8],
                fraction=r[9],
                how=r[10],
            )
            for r in rows
        ]

    def totals(self) -> Totals:
        """Seconds heard this week (from Monday), this month and ever; partial plays count."""
        now = self.now()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        week = midnight - timedelta(days=now.weekday())
        month = midnight.replace(day=1)
        if self._db is None:
            return Totals(0.0, 0.0, 0.0, 0)
        try:
            row = self._db.execute(
                "SELECT COALESCE(SUM(CASE WHEN started_utc >= ? THEN heard END), 0), "
                "COALESCE(SUM(CASE WHEN started_utc >= ? THEN heard END), 0), "
                "COALESCE(SUM(heard), 0), COUNT(*) FROM plays",
                (_utc_text(week), _utc_text(month)),
            ).fetchone()
        except sqlite3.Error as exc:
            self._fail(exc)
            return Totals(0.0, 0.0, 0.0, 0)
        return Totals(float(row[0]), float(row[1]), float(row[2]), int(row[3]))

    def streak(self) -> int:
        """Consecutive local days, ending today or yesterday, with at least one play."""
        days = {p.started.date() for p in self.recent(limit=None)}
        today = self.now().date()
        day = today if today in days else today - timedelta(days=1)
        count = 0
        while day in days:
            count += 1
            day -= timedelta(days=1)
        return count

    def newest_start(self) -> datetime | None:
        """When the newest play began: a clock earlier than this is not believable."""
        if self._db is None:
            return None
        try:
            row = self._db.execute("SELECT MAX(started_utc) FROM plays").fetchone()
        except sqlite3.Error as exc:
            self._fail(exc)
            return None
        return _parse_utc(row[0], 0) if row and row[0] else None

    def integrity(self) -> str:
        """``PRAGMA integrity_check``: ``ok`` for a sound database."""
        if self._db is None:
            return "history is off"
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])


def migrate(db: sqlite3.Connection) -> int:
    """Run the migrations this database has not seen yet; returns the schema version."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise sqlite3.DatabaseError(
            f"the history was written by a newer relaxplayer (schema {version}); upgrade relaxplayer"
        )
    for number in range(version, len(MIGRATIONS)):
        with _transaction(db):
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {number + 1}")
    return len(MIGRATIONS)


class _transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock | None = None) -> None:
        self.db = db
        self.lock = lock

    def __enter__(self) -> sqlite3.Connection:
        if self.lock is not None:
            self.lock.acquire()
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except BaseException:
            if self.lock is not None:
                self.lock.release()
            raise
        return self.db

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        try:
            if kind is None:
                self.db.execute("COMMIT")
            else:
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
        finally:
            if self.lock is not None:
                self.lock.release()


class HistoryListener:
    """Turns one playback's events into one row: opened on ``Started``, closed on ``Finished``.

    Heard time counts what actually played: it grows with the position between
    two reports, except across a pause or a seek (a jump over ``SEEK_JUMP``).
    The row is written at most every ``WRITE_EVERY`` seconds of heard audio, on
    pause, and at the end, so a listener costs one small transaction per 15 s.
    """

    def __init__(self, history: History, session: str, source: str = "") -> None:
        self.history = history
        self.session = session
        self.source = source
        self.ending: str | None = None  # set by the service for a sleep timer: "sleep-timer"
        self.row: int | None = None
        self._heard_frames = 0
        self._rate = 1
        self._length = 0
        self._last: int | None = None
        self._furthest = 0
        self._written = 0.0

    @property
    def heard(self) -> float:
        """Seconds heard so far (counted in whole frames, so 15 s is exactly 15.0)."""
        return self._heard_frames / self._rate

    @property
    def fraction(self) -> float:
        return self._furthest / self._length if self._length else 0.0

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.Started):
            self._rate, self._length = max(event.rate, 1), event.length
            self._last, self._furthest = event.position, event.position
            self.row = self.history.start(self.session, event.title, self.source)
            return
        if self.row is None:
            return
        if isinstance(event, ev.Tick | ev.Paused | ev.Finished):
            self._advance(event.position, paused=isinstance(event, ev.Tick) and event.paused)
        if isinstance(event, ev.Paused) or (
            isinstance(event, ev.Tick) and self.heard - self._written >= WRITE_EVERY
        ):
            self._write()
        elif isinstance(event, ev.Finished):
            how = self.ending or {"end": "finished", "quit": "stopped"}.get(
                event.reason, "device-failed"
            )
            self.history.finish(self.row, self.heard, self.fraction, how)
            self.row = None

    def failed(self, position: int | None = None) -> None:
        """The playback raised (the device is gone for good): close the row as ``device-failed``.

        ``position`` (frames, where the listener was) is for the resume listener's sake:
        the same call fits both recorders.
        """
        if self.row is not None:
            self.history.finish(self.row, self.heard, self.fraction, "device-failed")
            self.row = None

    def _advance(self, position: int, paused: bool) -> None:
        if self._last is not None and not paused:
            step = position - self._last
            if 0 < step <= SEEK_JUMP * self._rate:
                self._heard_frames += step
        self._last = position
        self._furthest = max(self._furthest, position)

    def _write(self) -> None:
        self._written = self.heard
        self.history.update(self.row, self.heard, self.fraction)


def format_seconds(seconds: float) -> str:
    """``"1 h 05 min"``, ``"12 min"``, ``"40 s"``: totals read at a glance."""
    minutes = round(seconds / 60)
    if seconds < 60:
        return f"{round(seconds)} s"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"
