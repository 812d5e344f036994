"""`relaxplayer serve --listen … --mpd …` as a real process: both remotes answer, steer the same
playback, and go away cleanly on SIGTERM."""

from __future__ import annotations

import http.client
import json
import signal
import socket
from pathlib import Path

import mpd
import pytest

from tests.service.box import WAIT, Serve

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


@pytest.mark.slow
def test_serve_with_both_remotes(env: dict[str, str]) -> None:
    web_port, mpd_port = free_port(), free_port()
    box = Serve(env, "--listen", f"127.0.0.1:{web_port}", "--mpd", f"127.0.0.1:{mpd_port}")
    try:
        box.expect("mpd: listening on 127.0.0.1:")
        box.expect(f"web: phone page on http://127.0.0.1:{web_port}/")
        assert get(web_port, "/api/status")["state"] == "idle"
        client = mpd.MPDClient()
        client.timeout = WAIT
        client.connect("127.0.0.1", mpd_port)
        client.load("steps")
        client.play()
        box.expect("playing steps")
        assert client.status()["state"] == "play"
        client.disconnect()
        sessions = [s["name"] for s in get(web_port, "/api/library")["sessions"]]
        assert "steps" in sessions
        assert get(web_port, "/api/status")["session"] == "steps"
        box.proc.send_signal(signal.SIGTERM)
        assert box.proc.wait(WAIT) == 0
        for port in (web_port, mpd_port):
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        box.close()
    assert not any("Traceback" in line for line in box.seen)


def test_a_taken_mpd_port_fails_cleanly(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        box = Serve(env, "--no-web", "--mpd", f"127.0.0.1:{port}")
        try:
            assert box.proc.wait(WAIT) == 1
            box.reader.join(WAIT)
        finally:
            box.close()
    text = "\n".join(box.lines.queue)
    assert f"cannot listen for MPD clients on 127.0.0.1:{port}" in text
    assert "Traceback" not in text


def test_mpd_alone_means_loopback_6600() -> None:
    from relaxplayer.cli import serve

    assert serve.make_context("serve", ["--mpd"]).params["mpd_address"] == "127.0.0.1:6600"
    given = serve.make_context("serve", ["--mpd", "0.0.0.0:6601"]).params
    assert given["mpd_address"] == "0.0.0.0:6601"
    assert serve.make_context("serve", []).params["mpd_address"] is None
