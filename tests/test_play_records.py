"""``play`` records what was heard (history, resume points) and continues with ``--resume``."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from relaxplayer.cli import main
from relaxplayer.history import History

SCRIPT = """title: Records
steps:
  - pause: 2s
  - section: Middle
  - pause: 30s
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("STATE", "DATA", "CACHE", "CONFIG"):
        env[f"RELAXPLAYER_{name}"] = str(tmp_path / name.lower())
    return env


def _play_until(tmp_path: Path, args: list[str], line: str) -> tuple[int, str, str]:
    """Run ``play``, SIGTERM it once ``line`` was printed; (exit code, stdout, stderr)."""
    with subprocess.Popen(
        [sys.executable, "-m", "relaxplayer", "play", *args, "--output", "null", "--plain"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    ) as proc:
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True)
        reader.start()
        seen = []
        try:
            while True:
                got = lines.get(timeout=60)
                seen.append(got)
                if line in got:
                    break
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(5)
        return code, "".join(seen), proc.stderr.read()


def _plays(tmp_path: Path) -> list:
    path = tmp_path / "data" / "history.sqlite3"
    if not path.exists():
        return []
    history = History(path)
    try:
        return history.recent()
    finally:
        history.close()


def test_a_stopped_play_is_in_the_history_and_resume_continues_it(tmp_path: Path) -> None:
    script = tmp_path / "records.yaml"
    script.write_text(SCRIPT)
    code, _, _ = _play_until(tmp_path, [str(script)], "== Middle ==")
    assert code == 0
    [row] = _plays(tmp_path)
    assert row.how == "stopped" and row.heard >= 2.0
    code, _, err = _play_until(tmp_path, ["--resume"], "on null")
    assert code == 0, err
    assert "resuming 'Records' at 0:00" in err  # stopped ~2 s in, resumed 5 s earlier: the start
    assert len(_plays(tmp_path)) == 2


def test_no_history_records_nothing(tmp_path: Path) -> None:
    script = tmp_path / "records.yaml"
    script.write_text(SCRIPT)
    code, _, _ = _play_until(tmp_path, [str(script), "--no-history"], "on null")
    assert code == 0
    assert _plays(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sleep", "soon"], "--sleep:"),
        (["--sleep", "20s"], "needs at least a minute"),
        (["--resume"], "nothing to resume: no session was left unfinished"),
        (["--resume", "--start-at", "1m", "default"], "cannot be used together"),
    ],
)
def test_bad_sleep_and_resume_requests_exit_2(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAXPLAYER_STATE", str(tmp_path / "state"))
    result = CliRunner().invoke(main, ["play", *args, "--output", "null"])
    assert result.exit_code == 2, result.output
    assert message in result.output
