"""The MPD server over a real service playing real sessions on the ``null`` output.

Raw sockets for the wire format, python-mpd2 for command lists and idle, and
Debian's ``mpc`` as a real client in its own process.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import mpd
import pytest

from relaxplayer import events as ev
from relaxplayer.remotes import auth
from relaxplayer.remotes import mpd_protocol as mp
from relaxplayer.remotes.mpd import MpdServer
from relaxplayer.service.core import Service
from tests.service.box import WAIT, Recorder

TOKEN = "a-pairing-token-for-tests-0123456789"


@pytest.fixture
def server(service: tuple[Service, Recorder]) -> Iterator[MpdServer]:
    svc, _ = service
    srv = MpdServer(svc, "127.0.0.1", 0)
    try:
        yield srv
    finally:
        srv.close()


class Raw:
    """A bare socket client: send lines, read answers up to OK / ACK."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=WAIT)
        self.file = self.sock.makefile("rb")
        self.greeting = self.file.readline().decode()

    def send(self, *lines: str) -> None:
        self.sock.sendall("".join(line + "\n" for line in lines).encode())

    def answer(self) -> list[str]:
        out = []
        while True:
            line = self.file.readline().decode()
            if not line:
                out.append("<EOF>")
                return out
            out.append(line.rstrip("\n"))
            if line == "OK\n" or line.startswith("ACK "):
                return out

    def ask(self, line: str) -> list[str]:
        self.send(line)
        return self.answer()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def raw(server: MpdServer) -> Iterator[Raw]:
    client = Raw(server.address)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def client(server: MpdServer) -> Iterator[mpd.MPDClient]:
    c = mpd.MPDClient()
    c.timeout = WAIT
    c.connect(*server.address)
    try:
        yield c
    finally:
        c.disconnect()


def wait_until(check, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# --- the tokenizer ------------------------------------------------------------------------


def test_tokenizer_follows_mpd_quoting() -> None:
    assert mp.tokenize('load "two words" x') == ["load", "two words", "x"]
    assert mp.tokenize(r'add "a \"quoted\" \\ name"') == ["add", 'a "quoted" \\ name']
    assert mp.tokenize("  status  ") == ["status"]
    assert mp.tokenize("") == []
    for bad, code in (('add "open', 2), ('add "x"y', 2), ('add x"y', 2), ("sta-tus", 5)):
        with pytest.raises(mp.Ack) as err:
            mp.tokenize(bad)
        assert err.value.code == code


# --- the wire format ------------------------------------------------------------------------


def test_greeting_ping_unknown_and_errors(raw: Raw) -> None:
    assert raw.greeting == "OK MPD 0.23.0\n"
    assert raw.ask("ping") == ["OK"]
    assert raw.ask("frobnicate 1 2") == ['ACK [5@0] {frobnicate} unknown command "frobnicate"']
    assert raw.ask("setvol loud") == ["ACK [2@0] {setvol} Integer expected: loud"]
    assert raw.ask("setvol 101") == ["ACK [2@0] {setvol} Number out of range: 101"]
    assert raw.ask("load no-such-session") == ["ACK [50@0] {load} No such playlist"]
    assert raw.ask("load ../../etc/passwd") == ["ACK [50@0] {load} No such playlist"]
    assert raw.ask('add "unterminated') == ["ACK [2@0] {add} Missing closing '\"'"]
    assert raw.ask("command_list_end") == ["ACK [1@0] {command_list_end} not in command list mode"]
    assert raw.ask("ping") == ["OK"]  # still answering


def test_command_lists_report_list_ok_and_the_failing_index(raw: Raw) -> None:
    raw.send("command_list_ok_begin", "ping", "status", "nosuch", "ping", "command_list_end")
    answer = raw.answer()
    assert answer[0] == "list_OK"
    assert "state: stop" in answer
    assert answer[-1] == 'ACK [5@2] {nosuch} unknown command "nosuch"'
    assert answer.count("list_OK") == 2
    raw.send("command_list_begin", "ping", "getvol", "command_list_end")
    assert raw.answer() == ["volume: 100", "OK"]


def test_tagtypes_forms(raw: Raw) -> None:
    assert raw.ask("tagtypes") == ["tagtype: Artist", "tagtype: Album", "tagtype: Title", "OK"]
    assert raw.ask("tagtypes clear") == ["OK"]
    assert raw.ask("tagtypes") == ["OK"]
    assert raw.ask("tagtypes enable Title Track") == ["OK"]  # Track: known to MPD, not ours
    assert raw.ask("tagtypes") == ["tagtype: Title", "OK"]
    assert raw.ask("tagtypes all") == ["OK"]
    assert raw.ask("tagtypes disable Artist") == ["OK"]
    assert raw.ask("tagtypes") == ["tagtype: Album", "tagtype: Title", "OK"]
    assert raw.ask("tagtypes enable Bogus") == ["ACK [2@0] {tagtypes} Unknown tag type: Bogus"]


def test_long_line_is_refused_and_closed(raw: Raw) -> None:
    raw.send("ping " + "x" * 5000)
    assert raw.answer() == ["ACK [2@0] {} line too long"]
    raw.sock.shutdown(socket.SHUT_WR)
    assert raw.file.readline() == b""  # and the server hung up


def test_fuzzed_lines_get_only_acks_and_oks(server: MpdServer, service) -> None:  # type: ignore[no-untyped-def]
    svc, recorder = service
    svc.play("steps")
    recorder.wait_for(lambda e: isinstance(e, ev.Tick) and e.position > 0)
    rng = random.Random(12)
    words = [
        "status",
        "play",
        "pause",
        "add",
        "load",
        "tagtypes",
        "idle",
        "noidle",
        "seekcur",
        "setvol",
        "plchanges",
        "playlistinfo",
        "command_list_begin",
        "command_list_end",
        '"',
        "\\",
        "-1",
        "99999999999999999999",
        "1:",
        ":",
        "\t",
        "\x00",
        "\xff",
        "é",
    ]
    client = Raw(server.address)
    try:
        for i in range(1000):
            if i % 3 == 0:
                line = "".join(chr(rng.randrange(1, 0x250)) for _ in range(rng.randrange(0, 40)))
                line = line.replace("\n", " ")
            else:
                line = " ".join(rng.choice(words) for _ in range(rng.randrange(1, 5)))
            if line.split(" ")[0] in (
                "idle",
                "close",
                "stop",
                "clear",
                "command_list_begin",
                "command_list_ok_begin",
                "load",
                "add",
                "play",
            ):
                continue  # these change what the connection or the box does; tested elsewhere
            client.send(line)
            answer = client.answer()
            last = answer[-1]
            assert last == "OK" or last.startswith("ACK ["), (line, answer)
        assert client.ask("ping") == ["OK"]
    finally:
        client.close()
    assert svc.status()["state"] in ("playing", "paused")  # the music went on


# --- playback through the protocol, with python-mpd2 ---------------------------------------


def test_sessions_are_playlists_and_steps_the_queue(client: mpd.MPDClient, service) -> None:  # type: ignore[no-untyped-def]
    svc, recorder = service
    names = [p["playlist"] for p in client.listplaylists()]
    assert {"steps", "short"} <= set(names)
    assert len(client.listplaylist("steps")) == 3  # pause, breathe, pause (sections are not songs)
    client.clear()
    client.load("steps")
    queue = client.playlistinfo()
    assert [s["album"] for s in queue] == ["Steps"] * 3
    assert [s["artist"] for s in queue] == ["Arrive", "Arrive", "Rest"]
    assert client.status()["state"] == "stop"
    client.play()
    recorder.wait_for(lambda e: isinstance(e, ev.Started))
    status = client.status()
    assert status["state"] == "play" and status["song"] == "0"
    assert status["playlistlength"] == "3"
    song = client.currentsong()
    assert song["album"] == "Steps" and song["artist"] == "Arrive" and song["pos"] == "0"
    client.next()
    wait_until(lambda: client.status().get("song") == "1", "the next step")
    client.pause(1)
    recorder.wait_for(lambda e: isinstance(e, ev.Paused))
    assert client.status()["state"] == "pause"
    client.pause(0)
    recorder.wait_for(lambda e: isinstance(e, ev.Resumed))
    client.play(2)
    wait_until(lambda: client.status().get("song") == "2", "play 2")
    client.seekcur(30)
    wait_until(lambda: float(client.status()["elapsed"]) >= 29.9, "seekcur 30")
    client.setvol(40)
    wait_until(lambda: client.status()["volume"] == "40", "setvol 40")
    client.stop()
    wait_until(lambda: client.status()["state"] == "stop", "stop")
    assert svc.idle


def test_command_list_and_idle_noidle(server: MpdServer, client: mpd.MPDClient, service) -> None:  # type: ignore[no-untyped-def]
    _svc, _ = service
    client.command_list_ok_begin()
    client.status()
    client.currentsong()
    client.ping()
    status, song, ping = client.command_list_end()
    assert status["state"] == "stop" and song == {} and ping is None
    # idle wakes on a service event from another client
    other = mpd.MPDClient()
    other.timeout = WAIT
    other.connect(*server.address)
    result: list[list[str]] = []
    waiter = threading.Thread(target=lambda: result.append(client.idle("player")))
    waiter.start()
    wait_until(lambda: any(c.pending == set() for c in server.box.connections), "idle")
    time.sleep(0.1)  # let idle be sent before the change (the change is kept either way)
    other.play()
    waiter.join(WAIT)
    assert result == [["player"]]
    other.stop()
    other.disconnect()
    assert client.ping() is None
    # noidle ends an idle with nothing changed (python-mpd2's blocking client has no noidle)
    raw = Raw(server.address)
    raw.send("idle stored_playlist")
    time.sleep(0.1)
    assert raw.ask("noidle") == ["OK"]
    assert raw.ask("idle bogus") == ["ACK [2@0] {idle} Unrecognized idle event: bogus"]
    raw.close()


def test_home_assistant_update_sequence(server: MpdServer, service) -> None:  # type: ignore[no-untyped-def]
    """What homeassistant/components/mpd/media_player.py sends: per update it connects,
    (password), status, currentsong, commands (for album art), listplaylists,
    playlist, then disconnects; play_media(playlist) is clear, load, play."""
    svc, recorder = service
    ha = mpd.MPDClient()
    ha.timeout = 30

    def update() -> tuple[dict, dict, list[str], list[str]]:
        ha.connect(*server.address)
        try:
            status = ha.status()
            song = ha.currentsong()
            commands = ha.commands()
            sources = [p["playlist"] for p in ha.listplaylists()]
            ha.playlist()
            return status, song, commands, sources
        finally:
            ha.disconnect()

    status, song, commands, sources = update()
    assert status["state"] == "stop" and "volume" in status and song == {}
    assert "albumart" not in commands and "readpicture" not in commands
    assert "steps" in sources
    ha.connect(*server.address)
    ha.clear()
    ha.load("steps")
    ha.play()
    ha.disconnect()
    recorder.wait_for(lambda e: isinstance(e, ev.Started))
    wait_until(lambda: update()[0]["state"] == "play", "HA sees it playing")
    status, song, _, _ = update()
    assert song["album"] == "Steps" and "elapsed" in status
    ha.connect(*server.address)
    ha.setvol(int(0.35 * 100))
    ha.pause(1)
    ha.disconnect()
    wait_until(lambda: update()[0]["state"] == "pause", "HA pause")
    assert update()[0]["volume"] == "35"
    ha.connect(*server.address)
    ha.stop()
    ha.disconnect()
    assert svc.wait_idle(WAIT)


# --- mpc, a real client in its own process ----------------------------------------------------


def mpc(server: MpdServer, *args: str) -> str:
    host, port = server.address
    result = subprocess.run(
        ["mpc", "-h", host, "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(shutil.which("mpc") is None, reason="needs Debian's mpc (scripts/test.sh)")
def test_mpc(server: MpdServer, service) -> None:  # type: ignore[no-untyped-def]
    svc, recorder = service
    assert "steps" in mpc(server, "lsplaylists").split()
    mpc(server, "clear")
    mpc(server, "load", "steps")
    host, port = server.address
    idler = subprocess.Popen(
        ["mpc", "-h", host, "-p", str(port), "idle", "player"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: server.clients >= 1, "mpc idle connected")
        time.sleep(0.2)
        out = mpc(server, "play")
        assert "[playing]" in out
        assert idler.communicate(timeout=WAIT)[0].strip() == "player"
    finally:
        if idler.poll() is None:
            idler.kill()
            idler.wait()
    recorder.wait_for(lambda e: isinstance(e, ev.Started))
    assert "[playing]" in mpc(server, "status")
    assert "[paused]" in mpc(server, "pause")
    mpc(server, "volume", "50")
    wait_until(lambda: "volume: 50%" in mpc(server, "status"), "mpc volume 50")
    mpc(server, "play")
    mpc(server, "next")
    wait_until(lambda: "#2/3" in mpc(server, "status"), "mpc next")
    mpc(server, "stop")
    assert svc.wait_idle(WAIT)


# --- lock-down ---------------------------------------------------------------------------------


def test_token_required_when_set(service) -> None:  # type: ignore[no-untyped-def]
    svc, _ = service
    srv = MpdServer(svc, "127.0.0.1", 0, token=TOKEN)
    try:
        c = Raw(srv.address)
        assert c.ask("ping") == ["OK"]
        assert c.ask("status") == ['ACK [4@0] {status} you don\'t have permission for "status"']
        assert c.ask("idle") == ['ACK [4@0] {idle} you don\'t have permission for "idle"']
        assert c.ask("password wrong") == ["ACK [3@0] {password} incorrect password"]
        assert c.ask(f"password {TOKEN}") == ["OK"]
        assert c.ask("status")[-1] == "OK"
        c.close()
        ha = mpd.MPDClient()  # Home Assistant with `password:` set sends it first
        ha.timeout = WAIT
        ha.connect(*srv.address)
        ha.password(TOKEN)
        assert ha.status()["state"] == "stop" and "steps" in str(ha.listplaylists())
        ha.disconnect()
        ha.connect(*srv.address)
        with pytest.raises(mpd.CommandError, match="incorrect password"):
            ha.password("not-it")
        ha.disconnect()
    finally:
        srv.close()
    assert svc.idle  # nothing was started


def test_pairing_token_file_is_private_and_kept(tmp_path: Path) -> None:
    readonly = tmp_path / "etc"
    readonly.mkdir()
    readonly.chmod(0o500)
    try:
        token, where, created = auth.load_or_create([readonly, tmp_path / "state"])
        if os.geteuid() != 0:
            assert where.parent == tmp_path / "state"
        assert created and len(token) >= 16
        assert stat.S_IMODE(where.stat().st_mode) == 0o600
        again, where2, created2 = auth.load_or_create([readonly, tmp_path / "state"])
        assert (again, where2, created2) == (token, where, False)
    finally:
        readonly.chmod(0o700)
    assert auth.is_loopback("127.0.0.1") and auth.is_loopback("::1")
    assert not auth.is_loopback("0.0.0.0") and not auth.is_loopback("192.168.1.5")


def test_connections_are_bounded_and_silent_ones_time_out(service) -> None:  # type: ignore[no-untyped-def]
    svc, _ = service
    srv = MpdServer(svc, "127.0.0.1", 0, max_clients=2, timeout=0.5)
    try:
        silent = Raw(srv.address)
        idler = Raw(srv.address)
        idler.send("idle")
        wait_until(lambda: srv.clients == 2, "two clients")
        third = socket.create_connection(srv.address, timeout=WAIT)
        assert third.makefile("rb").readline() == b"ACK [52@0] {} too many connections\n"
        third.close()
        assert silent.file.readline() == b""  # closed after 0.5 s of silence
        wait_until(lambda: srv.clients == 1, "the silent one gone")
        time.sleep(0.6)  # longer than the timeout: an idling client stays
        idler.send("noidle")
        assert idler.answer() == ["OK"]
        assert idler.ask("ping") == ["OK"]
        silent.close()
        idler.close()
    finally:
        srv.close()
