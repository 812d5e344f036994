"""The MPD protocol server: MPD clients (mpc, M.A.L.P., ncmpcpp, Home Assistant) steer the box.

A protocol adapter over the service's commands and events, nothing more:
``COMMANDS`` maps each command name to a small function; arguments come from
``mpd_protocol.tokenize``. The model: sessions are the stored playlists; the
queue is the steps of the session that plays (or was loaded last), one
"song" per step with ``Title`` (the step), ``Album`` (the session) and
``Artist`` (the section). ``load``/``add`` choose the session (and switch to
it at once if one plays), ``play`` starts it, ``clear`` stops and forgets it.

One thread per connection (at most ``max_clients``); a connection that sends
nothing for ``timeout`` seconds is closed, except while it waits in ``idle``.
Lines are at most 4 KiB. Nothing a client sends can raise out of a
connection: every failure is an ``ACK`` line.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from relaxplayer import events as ev
from relaxplayer import library
from relaxplayer.commands import QUIT_FADE
from relaxplayer.errors import RelaxError
from relaxplayer.remotes import auth, catalog
from relaxplayer.remotes import mpd_protocol as mp
from relaxplayer.remotes.mpd_protocol import Ack
from relaxplayer.service.core import Service, SessionChanged, SleepTimerSet

MAX_CLIENTS = 32  # connections at once: a house full of phones and Home Assistant
TIMEOUT = 60.0  # seconds a connection may stay silent (MPD's connection_timeout)
MAX_LIST = 1024  # commands in one command list
SETTLE = 2.0  # seconds a transport command waits for the player to show its effect
SUBSYSTEMS = (
    "database",
    "update",
    "stored_playlist",
    "playlist",
    "player",
    "mixer",
    "output",
    "options",
    "partition",
    "sticker",
    "subscription",
    "message",
    "neighbor",
    "mount",
)
OUR_TAGS = ("Artist", "Album", "Title")
MPD_TAGS = [
    "Artist",
    "ArtistSort",
    "Album",
    "AlbumSort",
    "AlbumArtist",
    "AlbumArtistSort",
    "Title",
    "TitleSort",
    "Track",
    "Name",
    "Genre",
    "Mood",
    "Date",
    "OriginalDate",
    "Composer",
    "ComposerSort",
    "Performer",
    "Conductor",
    "Work",
    "Ensemble",
    "Movement",
    "MovementNumber",
    "ShowMovement",
    "Location",
    "Grouping",
    "Comment",
    "Disc",
    "Label",
    "MUSICBRAINZ_ARTISTID",
    "MUSICBRAINZ_ALBUMID",
    "MUSICBRAINZ_ALBUMARTISTID",
    "MUSICBRAINZ_TRACKID",
    "MUSICBRAINZ_RELEASETRACKID",
    "MUSICBRAINZ_RELEASEGROUPID",
    "MUSICBRAINZ_WORKID",
]
OPEN_COMMANDS = ("close", "commands", "notcommands", "password", "ping")  # allowed before a token


@dataclass(frozen=True)
class Song:
    """One step of a session, as MPD shows it."""

    pos: int
    id: int
    file: str
    title: str
    album: str
    artist: str
    start: float  # seconds into the session
    duration: float  # seconds

    def lines(self, tags: set[str]) -> str:
        items: list[tuple[str, object]] = [("file", self.file)]
        for tag, value in (("Artist", self.artist), ("Album", self.album), ("Title", self.title)):
            if tag in tags and value:
                items.append((tag, value))
        items += [
            ("Time", round(self.duration)),
            ("duration", f"{self.duration:.3f}"),
            ("Pos", self.pos),
            ("Id", self.id),
        ]
        return mp.pairs(items)


def songs_of(name: str, timeline: Any) -> list[Song]:
    """The queue for a timeline: its steps that take time (section markers do not)."""
    rate = max(timeline.rate, 1)
    spans = [s for s in timeline.steps if s.length > 0 and s.kind != "section"]
    return [
        Song(
            i,
            s.index + 1,
            f"{name}/{s.index + 1}",
            s.label or s.kind,
            timeline.title,
            s.section,
            s.start / rate,
            s.length / rate,
        )
        for i, s in enumerate(spans)
    ]


def _preview(name: str) -> Any:
    """The timeline of a session that is not playing (narration lengths estimated)."""
    return catalog.timeline_of(name)


class _Box:
    """What all connections share: the chosen session, the queue version, volume, idle fan-out."""

    def __init__(self, service: Service, log: Callable[[str], None]) -> None:
        self.service = service
        self.log = log
        self.lock = threading.Lock()
        self.chosen: str | None = None  # the session ``play`` starts when nothing plays
        self.version = 1  # the queue's version (``status`` playlist:, ``plchanges``)
        self.volume = service.config.volume  # linear gain for sessions started from here
        self.seek_on_start: float | None = None  # seconds: ``play POS`` when nothing played
        self.started = time.monotonic()
        self.connections: set[_Connection] = set()
        self.events = threading.Condition()  # notified on every service event (``settle``)

    def changed(self, *subsystems: str) -> None:
        with self.lock:
            if "playlist" in subsystems:
                self.version += 1
            connections = list(self.connections)
        for c in connections:
            c.notify(subsystems)

    def settle(self, done: Callable[[], bool], timeout: float = SETTLE) -> None:
        """Wait (bounded) until a command shows in the status, as MPD's own commands do
        before their OK: the player applies commands on its audio thread, a block later."""
        deadline = time.monotonic() + timeout
        with self.events:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.events.wait(min(left, 0.1))

    def on_event(self, event: ev.Event) -> None:
        """A service event (player thread): only flags and a wake-up byte, never blocking."""
        with self.events:
            self.events.notify_all()
        if isinstance(event, SessionChanged):
            if event.session is not None:
                with self.lock:
                    self.chosen = event.session
            self.changed("player", "playlist")
        elif isinstance(event, ev.Started):
            seek, self.seek_on_start = self.seek_on_start, None
            if seek:
                self.service.seek(seek)
            self.changed("player")
        elif isinstance(event, ev.Paused | ev.Resumed | ev.Finished | ev.StepStarted):
            self.changed("player")
        elif isinstance(event, ev.VolumeChanged):
            self.changed("mixer")
        elif isinstance(event, SleepTimerSet):
            self.changed("options")

    def current_name(self) -> str | None:
        st = self.service.status()
        return st.get("session") or self.chosen

    def queue(self) -> list[Song]:
        """The steps of what plays, else of the chosen session (measured once per file change)."""
        timeline = self.service.timeline()
        st = self.service.status()
        name = st.get("session") or self.chosen
        if name is None:
            return []
        if timeline is not None and st.get("session"):
            return songs_of(name, timeline)
        try:
            return songs_of(name, _preview(name))
        except RelaxError as exc:
            self.log(f"mpd: cannot list {name}: {exc}")
            return []


class _Connection:
    """One client: its socket, whether it gave the token, its tag types and pending idle events."""

    def __init__(self, box: _Box, sock: socket.socket, authed: bool, token: str | None) -> None:
        self.box = box
        self.sock = sock
        self.authed = authed
        self.token = token
        self.tags = set(OUR_TAGS)
        self.pending: set[str] = set()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)
        self._buffer = b""
        self.closing = False

    def notify(self, subsystems: tuple[str, ...]) -> None:
        with self._lock:
            self.pending.update(subsystems)
        with contextlib.suppress(OSError):
            self._wake_w.send(b"!")

    def take(self, wanted: set[str]) -> list[str]:
        with self._lock:
            found = sorted(self.pending & wanted)
            self.pending -= set(found)
        return found

    def close(self) -> None:
        self.closing = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    # --- lines --------------------------------------------------------------------

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode("utf-8"))

    def read_line(self) -> str | None:
        """One request line without its newline; None at EOF; raises ``_TooLong`` past 4 KiB."""
        while b"\n" not in self._buffer:
            if len(self._buffer) >= mp.MAX_LINE:
                raise _TooLong
            chunk = self.sock.recv(4096)
            if not chunk:
                return None
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\n")
        if len(raw) >= mp.MAX_LINE:
            raise _TooLong
        try:
            return raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            return "\x00"  # answered as a malformed line

    def has_line(self) -> bool:
        return b"\n" in self._buffer

    # --- the session with the client ----------------------------------------------

    def serve(self, timeout: float) -> None:
        self.sock.settimeout(timeout)
        self.send(f"OK MPD {mp.VERSION}\n")
        batch: list[str] | None = None
        list_ok = False
        while not self.closing:
            line = self.read_line()
            if line is None:
                return
            try:
                words = mp.tokenize(line) if line != "\x00" else None
                if words is None:
                    raise Ack(mp.ARG, "Invalid UTF-8")
            except Ack as ack:
                if batch is not None:
                    batch = None
                self.send(ack.line())
                continue
            if not words:
                self.send(Ack(mp.UNKNOWN, "No command given").line())
                continue
            name = words[0]
            if batch is not None:
                if name == "command_list_end":
                    self.send(self.run_list(batch, list_ok))
                    batch = None
                elif len(batch) >= MAX_LIST:
                    batch = None
                    self.send(Ack(mp.ARG, "Command list too long", name).line(0))
                else:
                    batch.append(line)
                continue
            if name in ("command_list_begin", "command_list_ok_begin"):
                if len(words) > 1:
                    self.send(Ack(mp.ARG, f'wrong number of arguments for "{name}"', name).line())
                    continue
                if not self.authed:
                    self.send(_no_permission(name).line())
                    continue
                batch, list_ok = [], name == "command_list_ok_begin"
                continue
            if name == "command_list_end":
                self.send(Ack(mp.NOT_LIST, "not in command list mode", name).line())
                continue
            if name == "idle":
                if not self.idle(words[1:]):
                    return
                continue
            if name == "close":
                return
            try:
                self.send(self.run(words) + "OK\n")
            except Ack as ack:
                self.send(ack.line(0, name))

    def run(self, words: list[str]) -> str:
        """One command's answer lines (without ``OK``); raises ``Ack``."""
        name = words[0]
        if name == "noidle":
            return ""  # not idling: nothing to end (MPD answers OK too)
        handler = COMMANDS.get(name)
        if handler is None or name in ("idle", "close"):
            raise Ack(mp.UNKNOWN, f'unknown command "{name}"', name)
        if not self.authed and name not in OPEN_COMMANDS:
            raise _no_permission(name)
        try:
            return handler(self, words[1:])
        except Ack as ack:
            ack.command = name
            raise
        except RelaxError as exc:
            raise Ack(mp.NO_EXIST, str(exc), name) from None
        except Exception as exc:  # a bug answers ACK, and the connection and the music go on
            self.box.log(f"mpd: {name} failed: {exc!r}")
            raise Ack(mp.SYSTEM, "internal error", name) from None

    def run_list(self, lines: list[str], list_ok: bool) -> str:
        out: list[str] = []
        for i, line in enumerate(lines):
            try:
                words = mp.tokenize(line)
                if not words:
                    raise Ack(mp.UNKNOWN, "No command given")
                if words[0] in ("idle", "close", "command_list_begin", "command_list_ok_begin"):
                    raise Ack(mp.ARG, f'"{words[0]}" is not allowed in a command list', words[0])
                out.append(self.run(words))
            except Ack as ack:
                out.append(ack.line(i))
                return "".join(out)
            if list_ok:
                out.append("list_OK\n")
        out.append("OK\n")
        return "".join(out)

    def idle(self, names: list[str]) -> bool:
        """Wait (no time limit) for a change in ``names`` or ``noidle``; False if the client left."""
        if not self.authed:
            self.send(_no_permission("idle").line())
            return True
        wanted = set()
        for n in names:
            if n.lower() not in SUBSYSTEMS:
                self.send(Ack(mp.ARG, f"Unrecognized idle event: {n}", "idle").line())
                return True
            wanted.add(n.lower())
        wanted = wanted or set(SUBSYSTEMS)
        while not self.closing:
            found = self.take(wanted)
            if found:
                self.send("".join(f"changed: {s}\n" for s in found) + "OK\n")
                return True
            if self.has_line():
                readable = [self.sock]
            else:
                readable, _, _ = select.select([self.sock, self._wake_r], [], [])
            if self._wake_r in readable:
                with contextlib.suppress(OSError):
                    self._wake_r.recv(4096)
            if self.sock in readable:
                self.sock.settimeout(None)
                try:
                    line = self.read_line()
                finally:
                    self.sock.settimeout(self._timeout)
                if line is None:
                    return False
                words = mp.tokenize(line) if line.strip() else []
                if words and words[0] == "noidle":
                    self.send("".join(f"changed: {s}\n" for s in self.take(wanted)) + "OK\n")
                    return True
                # anything else ends the wait, as if it had been noidle, then is answered
                self.send("OK\n")
                self._buffer = line.encode("utf-8") + b"\n" + self._buffer
                return True
        return False

    _timeout = TIMEOUT


class _TooLong(Exception):
    pass


def _hang_up_gently(sock: socket.socket, limit: int = 65536) -> None:
    """Half-close, then read what the client still sends (bounded) so the ACK is not lost
    to a reset: closing a socket with unread input makes the kernel send RST."""
    sock.shutdown(socket.SHUT_WR)
    sock.settimeout(1.0)
    read = 0
    while read < limit:
        chunk = sock.recv(4096)
        if not chunk:
            return
        read += len(chunk)


def _no_permission(name: str) -> Ack:
    return Ack(mp.PERMISSION, f'you don\'t have permission for "{name}"', name)


# --- the commands -------------------------------------------------------------------------


def _args(args: list[str], low: int, high: int, name: str = "") -> None:
    if not low <= len(args) <= high:
        raise Ack(mp.ARG, "wrong number of arguments", name)


def _ping(c: _Connection, args: list[str]) -> str:
    return ""


def _password(c: _Connection, args: list[str]) -> str:
    _args(args, 1, 1)
    if c.token is None or auth.matches(args[0], c.token):
        c.authed = True
        return ""
    raise Ack(mp.PASSWORD, "incorrect password")


def _commands(c: _Connection, args: list[str]) -> str:
    names = sorted(
        n for n in [*COMMANDS, "idle", "close", "noidle"] if c.authed or n in OPEN_COMMANDS
    )
    return mp.pairs(("command", n) for n in sorted(set(names)))


def _notcommands(c: _Connection, args: list[str]) -> str:
    if c.authed:
        return ""
    return mp.pairs(("command", n) for n in sorted(set(COMMANDS) - set(OPEN_COMMANDS)))


def _tagtypes(c: _Connection, args: list[str]) -> str:
    if not args:
        return mp.pairs(("tagtype", t) for t in OUR_TAGS if t in c.tags)
    sub, names = args[0], args[1:]
    known = {t.lower(): t for t in MPD_TAGS}
    for n in names:
        if n.lower() not in known:
            raise Ack(mp.ARG, f"Unknown tag type: {n}")
    chosen = {known[n.lower()] for n in names}
    if sub == "clear" and not names:
        c.tags = set()
    elif sub == "all" and not names:
        c.tags = set(OUR_TAGS)
    elif sub == "enable" and names:
        c.tags |= chosen & set(OUR_TAGS)
    elif sub == "disable" and names:
        c.tags -= chosen
    else:
        raise Ack(mp.ARG, f"Unknown sub command: {sub}")
    return ""


def _state(st: dict[str, Any]) -> str:
    return {"playing": "play", "starting": "play", "paused": "pause"}.get(st["state"], "stop")


def _where(c: _Connection) -> tuple[dict[str, Any], list[Song], Song | None]:
    """Status, queue, and the step being heard (None when stopped)."""
    st = c.box.service.status()
    songs = c.box.queue()
    if _state(st) == "stop" or not songs:
        return st, songs, None
    position = st.get("position", 0.0)
    current = songs[0]
    for s in songs:
        if s.start <= position + 1e-6:
            current = s
    return st, songs, current


def _volume_now(c: _Connection, st: dict[str, Any]) -> int:
    gain = st.get("volume", c.box.volume)
    return round(max(0.0, min(float(gain), 1.0)) * 100)


def _status(c: _Connection, args: list[str]) -> str:
    _args(args, 0, 0)
    st, songs, song = _where(c)
    items: list[tuple[str, object]] = [
        ("volume", _volume_now(c, st)),
        ("repeat", 0),
        ("random", 0),
        ("single", 0),
        ("consume", 0),
        ("playlist", c.box.version),
        ("playlistlength", len(songs)),
        ("mixrampdb", "0.000000"),
        ("state", _state(st)),
    ]
    if song is not None:
        elapsed = max(0.0, min(st.get("position", 0.0) - song.start, song.duration))
        items += [
            ("song", song.pos),
            ("songid", song.id),
            ("time", f"{int(elapsed)}:{round(song.duration)}"),
            ("elapsed", f"{elapsed:.3f}"),
            ("duration", f"{song.duration:.3f}"),
        ]
        if song.pos + 1 < len(songs):
            items += [("nextsong", song.pos + 1), ("nextsongid", songs[song.pos + 1].id)]
    return mp.pairs(items)


def _currentsong(c: _Connection, args: list[str]) -> str:
    _args(args, 0, 0)
    _, _, song = _where(c)
    return song.lines(c.tags) if song is not None else ""


def _stats(c: _Connection, args: list[str]) -> str:
    _args(args, 0, 0)
    count = len(library.list_sessions())
    return mp.pairs(
        [
            ("artists", 0),
            ("albums", count),
            ("songs", count),
            ("uptime", int(time.monotonic() - c.box.started)),
            ("playtime", 0),
            ("db_playtime", 0),
            ("db_update", 0),
        ]
    )


def _outputs(c: _Connection, args: list[str]) -> str:
    _args(args, 0, 0)
    output = c.box.service.config.output
    return mp.pairs(
        [
            ("outputid", 0),
            ("outputname", f"relaxplayer ({output})"),
            ("plugin", "relaxplayer"),
            ("outputenabled", 1),
        ]
    )


def _ok_off(c: _Connection, args: list[str]) -> str:
    """repeat, random, single, consume: only off makes sense for a guided session."""
    _args(args, 1, 1)
    if args[0] != "0":
        raise Ack(mp.ARG, "not supported: a session plays in its order, once")
    return ""


def _nothing(c: _Connection, args: list[str]) -> str:
    return ""


def _replay_gain_status(c: _Connection, args: list[str]) -> str:
    return mp.pairs([("replay_gain_mode", "off")])


def _song_at(songs: list[Song], pos: int) -> Song:
    if not 0 <= pos < len(songs):
        raise Ack(mp.ARG, "Bad song index")
    return songs[pos]


def _start(c: _Connection, song: Song | None) -> None:
    """Start the chosen session (the default one if none), at ``song`` if given."""
    box = c.box
    name = box.chosen or box.service.config.default_session
    box.seek_on_start = song.start if song is not None and song.start > 0 else None
    box.service.play(name, volume=box.volume)


def _play_at(c: _Connection, song: Song | None) -> None:
    st = c.box.service.status()
    if _state(st) == "stop":
        _start(c, song)
        return
    if song is not None:
        _step(c, lambda: c.box.service.seek(song.start))
    if st["state"] == "paused":
        c.box.service.resume()
        c.box.settle(lambda: c.box.service.status()["state"] != "paused")


def _play(c: _Connection, args: list[str]) -> str:
    _args(args, 0, 1)
    song = None
    if args:
        pos = mp.integer("play", args[0])
        if pos != -1:
            song = _song_at(c.box.queue(), pos)
    _play_at(c, song)
    return ""


def _playid(c: _Connection, args: list[str]) -> str:
    _args(args, 0, 1)
    song = None
    if args:
        sid = mp.integer("playid", args[0])
        if sid != -1:
            song = next((s for s in c.box.queue() if s.id == sid), None)
            if song is None:
                raise Ack(mp.NO_EXIST, "No such song")
    _play_at(c, song)
    return ""


def _pause(c: _Connection, args: list[str]) -> str:
    _args(args, 0, 1)
    service = c.box.service
    state = service.status()["state"]
    pause = state == "playing" if not args else mp.boolean("pause", args[0])
    if pause:
        service.pause()
        c.box.settle(lambda: service.status()["state"] != "playing")
    else:
        service.resume()
        c.box.settle(lambda: service.status()["state"] != "paused")
    return ""


def _stop(c: _Connection, args: list[str]) -> str:
    _args(args, 0, 0)
    c.box.service.stop()
    c.box.settle(lambda: c.box.service.idle, SETTLE + QUIT_FADE)
    return ""


def _step(c: _Connection, move: Callable[[], None]) -> None:
    """Move, then wait until the position jumped (a seek is applied a block later)."""
    before = c.box.service.status().get("position", 0.0)
    move()
    c.box.settle(lambda: abs(c.box.service.status().get("position", 0.0) - before) > 0.5)


def _next(c: _Connection, args: list[str]) -> str:
    _args(args, 0, 0)
    if _state(c.box.service.status()) != "stop":
        _step(c, c.box.service.next_step)
    return ""


def _previous(c: _Connection, args: list[str]) -> str:
    _args(args, 0, 0)
    if _state(c.box.service.status()) != "stop":
        _step(c, c.box.service.restart_step)
    return ""


def _seekcur(c: _Connection, args: list[str]) -> str:
    _args(args, 1, 1)
    st, _, song = _where(c)
    if song is None:
        raise Ack(mp.PLAYER_SYNC, "Not playing")
    text = args[0]
    t = mp.number("seekcur", text)
    target = st.get("position", 0.0) + t if text[0] in "+-" else song.start + t
    _step(c, lambda: c.box.service.seek(target))
    return ""


def _seek(c: _Connection, args: list[str]) -> str:
    _args(args, 2, 2)
    song = _song_at(c.box.queue(), mp.integer("seek", args[0]))
    return _seek_into(c, song, mp.number("seek", args[1]))


def _seekid(c: _Connection, args: list[str]) -> str:
    _args(args, 2, 2)
    sid = mp.integer("seekid", args[0])
    song = next((s for s in c.box.queue() if s.id == sid), None)
    if song is None:
        raise Ack(mp.NO_EXIST, "No such song")
    return _seek_into(c, song, mp.number("seekid", args[1]))


def _seek_into(c: _Connection, song: Song, seconds: float) -> str:
    if _state(c.box.service.status()) == "stop":
        raise Ack(mp.PLAYER_SYNC, "Not playing")
    _step(c, lambda: c.box.service.seek(song.start + max(0.0, seconds)))
    return ""


def _set_volume(c: _Connection, percent: int) -> None:
    box = c.box
    target = max(0, min(percent, 100)) / 100
    st = box.service.status()
    box.volume = target
    if "volume" in st:
        box.service.change_volume(target - float(st["volume"]))
        box.settle(lambda: abs(float(box.service.status().get("volume", target)) - target) < 0.005)
    else:
        box.changed("mixer")


def _setvol(c: _Connection, args: list[str]) -> str:
    _args(args, 1, 1)
    _set_volume(c, mp.integer("setvol", args[0], 0, 100))
    return ""


def _volume(c: _Connection, args: list[str]) -> str:
    _args(args, 1, 1)
    delta = mp.integer("volume", args[0], -100, 100)
    _set_volume(c, _volume_now(c, c.box.service.status()) + delta)
    return ""


def _getvol(c: _Connection, args: list[str]) -> str:
    _args(args, 0, 0)
    return mp.pairs([("volume", _volume_now(c, c.box.service.status()))])


def _range(command: str, text: str, songs: list[Song]) -> list[Song]:
    """``POS`` or ``START:END`` (END may be empty) from the queue."""
    if ":" in text:
        a, _, b = text.partition(":")
        start = mp.integer(command, a, 0)
        end = mp.integer(command, b, 0) if b else len(songs)
        if start > end:
            raise Ack(mp.ARG, "Bad song index")
        return songs[start:end]
    return [_song_at(songs, mp.integer(command, text))]


def _playlistinfo(c: _Connection, args: list[str]) -> str:
    _args(args, 0, 1)
    songs = c.box.queue()
    chosen = _range("playlistinfo", args[0], songs) if args else songs
    return "".join(s.lines(c.tags) for s in chosen)


def _playlistid(c: _Connection, args: list[str]) -> str:
    _args(args, 0, 1)
    songs = c.box.queue()
    if args:
        sid = mp.integer("playlistid", args[0])
        songs = [s for s in songs if s.id == sid]
        if not songs:
            raise Ack(mp.NO_EXIST, "No such song")
    return "".join(s.lines(c.tags) for s in songs)


def _playlist(c: _Connection, args: list[str]) -> str:
    _args(args, 0, 0)
    return "".join(f"{s.pos}:file: {s.file}\n" for s in c.box.queue())


def _plchanges(c: _Connection, args: list[str]) -> str:
    _args(args, 1, 2)
    version = mp.integer("plchanges", args[0])
    songs = c.box.queue()
    if len(args) == 2:
        songs = _range("plchanges", args[1], songs)
    if version == c.box.version:
        return ""
    return "".join(s.lines(c.tags) for s in songs)


def _plchangesposid(c: _Connection, args: list[str]) -> str:
    _args(args, 1, 2)
    version = mp.integer("plchangesposid", args[0])
    songs = c.box.queue()
    if len(args) == 2:
        songs = _range("plchangesposid", args[1], songs)
    if version == c.box.version:
        return ""
    return "".join(mp.pairs([("cpos", s.pos), ("Id", s.id)]) for s in songs)


def _modified(entry: library.Entry) -> str:
    try:
        mtime = entry.path.stat().st_mtime
    except OSError:
        mtime = 0.0
    return datetime.fromtimestamp(mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _listplaylists(c: _Connection, args: list[str]) -> str:
    _args(args, 0, 0)
    return "".join(
        mp.pairs([("playlist", e.name), ("Last-Modified", _modified(e))])
        for e in library.list_sessions()
    )


def _lsinfo(c: _Connection, args: list[str]) -> str:
    """The root holds the sessions, as playlists (what browsing clients show)."""
    _args(args, 0, 1)
    if args and args[0] not in ("", "/"):
        raise Ack(mp.NO_EXIST, "No such directory")
    return _listplaylists(c, [])


def _session(args: list[str]) -> str:
    """A stored playlist's name: a session in the library, never a path."""
    name = args[0].split("/", 1)[0] if args else ""
    if not library.NAME.match(name) or name not in {e.name for e in library.list_sessions()}:
        raise Ack(mp.NO_EXIST, "No such playlist")
    return name


def _playlist_songs(name: str, box: _Box) -> list[Song]:
    if box.current_name() == name:
        return box.queue()
    try:
        return songs_of(name, _preview(name))
    except RelaxError as exc:
        raise Ack(mp.PLAYLIST_LOAD, str(exc)) from None


def _listplaylist(c: _Connection, args: list[str]) -> str:
    _args(args, 1, 2)
    return mp.pairs(("file", s.file) for s in _playlist_songs(_session(args), c.box))


def _listplaylistinfo(c: _Connection, args: list[str]) -> str:
    _args(args, 1, 2)
    return "".join(
        s.lines(c.tags).split("Pos: ")[0] for s in _playlist_songs(_session(args), c.box)
    )


def _load(c: _Connection, args: list[str]) -> str:
    """Choose a session; if one plays, switch to it now (the queue holds one session)."""
    _args(args, 1, 2)
    name = _session(args)
    box = c.box
    playing = _state(box.service.status()) != "stop"
    with box.lock:
        box.chosen = name
    if playing:
        box.service.play(name, volume=box.volume)
    box.changed("playlist")
    return ""


def _clear(c: _Connection, args: list[str]) -> str:
    _args(args, 0, 0)
    box = c.box
    with box.lock:
        box.chosen = None
    if not box.service.idle:
        box.service.stop()
    box.changed("playlist")
    return ""


COMMANDS: dict[str, Callable[[_Connection, list[str]], str]] = {
    "add": _load,
    "binarylimit": _nothing,
    "clear": _clear,
    "clearerror": _nothing,
    "close": _nothing,
    "commands": _commands,
    "consume": _ok_off,
    "currentsong": _currentsong,
    "getvol": _getvol,
    "idle": _nothing,
    "listplaylist": _listplaylist,
    "listplaylistinfo": _listplaylistinfo,
    "listplaylists": _listplaylists,
    "load": _load,
    "lsinfo": _lsinfo,
    "next": _next,
    "notcommands": _notcommands,
    "outputs": _outputs,
    "password": _password,
    "pause": _pause,
    "ping": _ping,
    "play": _play,
    "playid": _playid,
    "playlist": _playlist,
    "playlistid": _playlistid,
    "playlistinfo": _playlistinfo,
    "plchanges": _plchanges,
    "plchangesposid": _plchangesposid,
    "previous": _previous,
    "random": _ok_off,
    "repeat": _ok_off,
    "replay_gain_status": _replay_gain_status,
    "seek": _seek,
    "seekcur": _seekcur,
    "seekid": _seekid,
    "setvol": _setvol,
    "single": _ok_off,
    "stats": _stats,
    "status": _status,
    "stop": _stop,
    "tagtypes": _tagtypes,
    "volume": _volume,
}


# --- the server -----------------------------------------------------------------------------


class MpdServer:
    """Listens on ``host:port`` (port 0: any free one, see ``address``) until ``close``.

    ``token``: required from clients (``password TOKEN``) before anything but
    ``ping``/``password``/``close``; None lets every client in (loopback).
    """

    def __init__(
        self,
        service: Service,
        host: str = "127.0.0.1",
        port: int = 6600,
        *,
        token: str | None = None,
        max_clients: int = MAX_CLIENTS,
        timeout: float = TIMEOUT,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.create_server((host, port), family=family, backlog=32)
        self._sock.settimeout(0.25)
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self.token = token
        self.max_clients = max_clients
        self.timeout = timeout
        self.log = log
        self.box = _Box(service, log)
        self._closed = False
        self._threads: list[threading.Thread] = []
        service.subscribe(self.box.on_event)
        self._acceptor = threading.Thread(target=self._accept, name="mpd-accept", daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                sock, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._closed:
                    return
                time.sleep(0.05)  # out of file descriptors and the like: try again shortly
                continue
            with self.box.lock:
                full = len(self.box.connections) >= self.max_clients
            if full:
                with contextlib.suppress(OSError):
                    sock.settimeout(1.0)
                    sock.sendall(b"ACK [52@0] {} too many connections\n")
                sock.close()
                continue
            conn = _Connection(self.box, sock, authed=self.token is None, token=self.token)
            conn._timeout = self.timeout
            with self.box.lock:
                self.box.connections.add(conn)
            t = threading.Thread(target=self._serve, args=(conn,), name="mpd-client", daemon=True)
            self._threads = [x for x in self._threads if x.is_alive()] + [t]
            t.start()

    def _serve(self, conn: _Connection) -> None:
        try:
            conn.serve(self.timeout)
        except _TooLong:
            with contextlib.suppress(OSError):
                conn.send(Ack(mp.ARG, "line too long").line())
                _hang_up_gently(conn.sock)
        except (OSError, TimeoutError):
            pass  # the client went away or stayed silent too long
        except Exception as exc:  # a bug must never take the box down
            self.log(f"mpd: connection failed: {exc!r}")
        finally:
            with self.box.lock:
                self.box.connections.discard(conn)
            for s in (conn.sock, conn._wake_r, conn._wake_w):
                with contextlib.suppress(OSError):
                    s.close()

    @property
    def clients(self) -> int:
        with self.box.lock:
            return len(self.box.connections)

    def close(self) -> None:
        """Stop listening, hang up on every client, wait for their threads (bounded)."""
        self._closed = True
        self.box.service.unsubscribe(self.box.on_event)
        self._acceptor.join(2.0)
        with contextlib.suppress(OSError):
            self._sock.close()
        with self.box.lock:
            connections = list(self.box.connections)
        for c in connections:
            c.close()
        for t in self._threads:
            t.join(2.0)


def parse_listen(value: str) -> tuple[str, int]:
    from relaxplayer.errors import ConfigError
    from relaxplayer.service.config import parse_address

    parsed = parse_address(value)
    if isinstance(parsed, str):
        raise ConfigError(f"{parsed}; write it like 127.0.0.1:6600")
    return parsed


def start(
    service: Service, address: str, log: Callable[[str], None], say: Callable[[str], None]
) -> MpdServer:
    """``serve --mpd``: bind, and ask for the pairing token off loopback (printed once)."""
    host, port = parse_listen(address)
    token = None
    if not auth.is_loopback(host):
        token, where, created = auth.load_or_create()
        if created:
            say(f"remote pairing token (shown once, stored in {where}): {token}")
    try:
        server = MpdServer(service, host, port, token=token, log=log)
    except OSError as exc:
        from relaxplayer.errors import OutputError

        raise OutputError(f"cannot listen for MPD clients on {address}: {exc.strerror}") from None
    log(
        f"mpd: listening on {address}"
        + (" (clients need the pairing token: password TOKEN)" if token else "")
    )
    return server


__all__ = ["COMMANDS", "MpdServer", "start"]
