"""`relaxplayer history` and `relaxplayer schedule` through click's CliRunner."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from relaxplayer.cli import main
from relaxplayer.history import History


@pytest.fixture(autouse=True)
def _folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAXPLAYER_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("RELAXPLAYER_CONFIG", str(tmp_path / "config"))


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def fill(tmp_path: Path) -> None:
    """Two plays earlier today (the same local day whatever the hour, so a streak is one day)."""
    now = datetime.now().astimezone()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    first = max(now - timedelta(hours=2), midnight)
    second = max(now - timedelta(minutes=30), first + timedelta(minutes=1))
    clock = [first]
    h = History(tmp_path / "data" / "history.sqlite3", now=lambda: clock[0])
    row = h.start("bedtime-body-scan", "Bedtime body scan", "/s/bedtime-body-scan.yaml")
    h.finish(row, 1200.0, 0.8, "sleep-timer")
    clock[0] = second
    row = h.start("box-breathing", "Box breathing", "/s/box-breathing.yaml")
    h.finish(row, 300.0, 1.0, "finished")
    h.close()


def test_empty_history_says_so_plainly() -> None:
    code, out, _ = run("history")
    assert code == 0
    assert out.startswith("no sessions in the history yet")
    code, out, _ = run("history", "--json")
    assert json.loads(out)["recent"] == []


def test_recent_and_totals(tmp_path: Path) -> None:
    fill(tmp_path)
    code, out, _ = run("history")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].endswith("· 2 sessions in all")
    assert "streak" not in out and "in a row" not in out  # never nag
    assert "finished" in lines[1] and "Box breathing" in lines[1]
    assert "20 min" in lines[2] and "80%" in lines[2] and "sleep-timer" in lines[2]
    code, out, _ = run("history", "--streak")
    assert "1 day in a row" in out


def test_json(tmp_path: Path) -> None:
    fill(tmp_path)
    data = json.loads(run("history", "--json", "--streak")[1])
    assert data["totals"]["all_seconds"] == 1500.0 and data["totals"]["sessions"] == 2
    assert [r["session"] for r in data["recent"]] == ["box-breathing", "bedtime-body-scan"]
    assert data["streak_days"] == 1


def test_export_csv_to_stdout_and_json_to_a_file(tmp_path: Path) -> None:
    fill(tmp_path)
    code, out, _ = run("history", "--export", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["how"] for r in rows] == ["sleep-timer", "finished"]  # oldest first
    target = tmp_path / "out.json"
    code, _, err = run("history", "--export", "json", "-o", str(target))
    assert code == 0 and "wrote 2 sessions" in err
    assert [r["heard_seconds"] for r in json.loads(target.read_text())] == [1200.0, 300.0]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_output_needs_export() -> None:
    code, _, err = run("history", "-o", "x.csv")
    assert code == 2 and "goes with --export" in err


def test_schedule_lists_next_runs(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(
        "schedules:\n  - {at: 22:30, session: bedtime-body-scan, volume: 40%, sleep: 45m}\n"
    )
    code, out, _ = run("schedule", "-n", "3")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 3
    assert all(
        line.endswith("22:30  bedtime-body-scan (volume 40%, sleep 45 min)") for line in lines
    )
    data = json.loads(run("schedule", "--json", "-n", "2")[1])
    assert len(data["runs"]) == 2 and data["runs"][0]["sleep_seconds"] == 2700.0


def test_schedule_without_schedules() -> None:
    code, out, _ = run("schedule")
    assert code == 0 and out.startswith("no schedules in ")


def test_schedule_with_a_bad_config_exits_2_with_positions(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    path = tmp_path / "config" / "config.yaml"
    path.write_text("schedules:\n  - {at: 22:30, sesion: default}\n")
    code, _, err = run("schedule")
    assert code == 2
    assert f"{path}:2:17: error: schedules[0]: unknown key 'sesion'; did you mean 'session'?" in err
    assert err.rstrip().endswith("2 errors")
