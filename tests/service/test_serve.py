"""`relaxplayer serve` as a real process: signals in, log lines and history out."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from relaxplayer.cli import main
from relaxplayer.history import History
from tests.service.box import WAIT, Serve

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    sessions = tmp_path / "config" / "sessions"
    sessions.mkdir(parents=True)
    (sessions / "long.yaml").write_text("title: Long\nsteps:\n  - pause: 10m\n")
    (tmp_path / "config" / "config.yaml").write_text("default_session: long\n")
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RELAXPLAYER_CONFIG": str(tmp_path / "config"),
        "RELAXPLAYER_DATA": str(tmp_path / "data"),
        "RELAXPLAYER_STATE": str(tmp_path / "state"),
    }


@pytest.mark.slow
def test_serve_plays_on_a_press_pauses_and_stops_cleanly_on_sigterm(
    env: dict[str, str], tmp_path: Path
) -> None:
    serve = Serve(env)
    try:
        serve.expect("relaxplayer ")  # serving
        serve.send(signal.SIGUSR1)  # idle: a press plays the default session
        serve.expect("playing long")
        serve.send(signal.SIGHUP)
        serve.expect("config reloaded")
        serve.send(signal.SIGTERM)
        serve.expect("SIGTERM: fading out")
        assert serve.proc.wait(WAIT) == 0
    finally:
        serve.close()
    [play] = History(tmp_path / "data" / "history.sqlite3").recent()
    assert (play.session, play.how) == ("long", "stopped")


@pytest.mark.slow
def test_serve_keeps_the_old_config_when_the_new_one_is_broken(
    env: dict[str, str], tmp_path: Path
) -> None:
    serve = Serve(env)
    try:
        serve.expect("relaxplayer ")
        (tmp_path / "config" / "config.yaml").write_text("default_sesion: long\n")
        serve.send(signal.SIGHUP)
        serve.expect("config not reloaded, keeping the old one:")
        line = serve.expect(str(tmp_path / "config" / "config.yaml"))
        assert line.endswith("unknown key 'default_sesion'; did you mean 'default_session'?")
        serve.send(signal.SIGTERM)
        assert serve.proc.wait(WAIT) == 0
    finally:
        serve.close()


def test_serve_check(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in ("RELAXPLAYER_CONFIG", "RELAXPLAYER_DATA", "RELAXPLAYER_STATE"):
        monkeypatch.setenv(key, env[key])
    result = CliRunner().invoke(main, ["serve", "--check"])
    assert result.exit_code == 0 and "ok; 0 schedule(s), default session long" in result.stdout
    (tmp_path / "config" / "config.yaml").write_text("schedules:\n  - {at: 22:30, session: lng}\n")
    result = CliRunner().invoke(main, ["serve", "--check"])
    assert result.exit_code == 2
    assert (
        f"{tmp_path}/config/config.yaml:2:26: error: schedules[0].session: no session named 'lng'; "
        "did you mean long?" in result.stderr
    )


@pytest.mark.slow
def test_kill_9_of_serve_then_the_row_is_interrupted_and_resume_is_within_20_s(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from relaxplayer import resume

    monkeypatch.setenv("RELAXPLAYER_STATE", env["RELAXPLAYER_STATE"])
    serve = Serve(env)
    try:
        serve.expect("relaxplayer ")
        serve.send(signal.SIGUSR1)
        serve.expect("playing long")
        started = time.monotonic()
        nap = threading.Event()  # never set: a bounded wait for the first 15-second write
        while resume.lookup("long") is None and time.monotonic() - started < 40:
            nap.wait(0.1)
        heard = time.monotonic() - started
        serve.proc.send_signal(signal.SIGKILL)
        assert serve.proc.wait(WAIT) == -signal.SIGKILL
    finally:
        serve.close()
    point = resume.lookup()
    assert point is not None and point.session == "long"
    assert abs(heard - point.seconds) < 20.0
    h = History(tmp_path / "data" / "history.sqlite3")
    assert h.integrity() == "ok" and h.closed_interrupted == 1
    [play] = h.recent()
    assert play.how == "interrupted" and 0 < play.heard <= heard + 1
    h.close()
