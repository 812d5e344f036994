"""The command line through click's CliRunner: exit codes, exact messages, round trips."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import wave
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from relaxplayer.cli import main

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
SHORT = """title: Short
background: {sound: rain, volume: 30%, fade_in: 0.5s}
end: {fade_out: 0.5s}
steps:
  - bell: soft
  - breathe: {inhale: 1, exhale: 1}
    cycles: 1
  - pause: 1s
"""


@pytest.fixture
def short(tmp_path: Path) -> Path:
    path = tmp_path / "short.yaml"
    path.write_text(SHORT)
    return path


def run(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_validate_ok_and_errors(short: Path) -> None:
    result = run("validate", str(short))
    assert result.exit_code == 0 and "ok (Short)" in result.output
    broken = DATA / "broken" / "typo_key.yaml"
    result = run("validate", str(short), str(broken))
    assert result.exit_code == 2
    assert (
        f"{broken}:6:5: error: steps[2].breathe: unknown key 'cylces'; did you mean 'cycles'?"
        in result.output
    )
    assert result.output.rstrip().endswith("1 error")


def test_validate_reports_undecodable_clips_with_position(tmp_path: Path) -> None:
    (tmp_path / "noise.wav").write_bytes(b"RIFF....WAVEjunk")
    script = tmp_path / "s.yaml"
    script.write_text("title: t\nsteps:\n  - play: noise.wav\n")
    result = run("validate", str(script))
    assert result.exit_code == 2
    assert re.search(
        rf"{re.escape(str(script))}:3:11: error: steps\[0\]\.play: .*noise\.wav: cannot decode",
        result.output,
    )


def test_missing_session_is_a_clear_error() -> None:
    result = run("validate", "no-such-session")
    assert result.exit_code == 2
    assert "error: no session named 'no-such-session'" in result.output
    assert "`relaxplayer list` shows them all" in result.output


def test_show_prints_the_timeline_and_json(short: Path) -> None:
    result = run("show", str(short), "--voice", "none")
    assert result.exit_code == 0
    assert "breathe 1-1 × 1" in result.output and "total 0:03" in result.output
    data = json.loads(run("show", str(short), "--json", "--voice", "none").output)
    assert data["seconds"] == pytest.approx(max(3.0, 2.5), abs=0.01)
    assert [s["kind"] for s in data["steps"]] == ["bell", "breathe", "pause"]
    assert [c["kind"] for c in data["cues"]] == ["bell", "breath", "breath"]


@pytest.mark.parametrize("ext", [".wav", ".flac", ".ogg", ".mp3"])
def test_render_writes_every_format(short: Path, tmp_path: Path, ext: str) -> None:
    out = tmp_path / f"out{ext}"
    result = run("render", str(short), "-o", str(out), "--rate", "22050", "--voice", "none")
    assert result.exit_code == 0, result.output
    info = sf.info(str(out))
    assert info.samplerate == 22050 and info.channels == 2
    assert abs(info.duration - 3.0) < (0.06 if ext == ".mp3" else 0.001)  # mp3 pads its frames
    assert list(tmp_path.glob("*.part")) == []


def test_render_wav_matches_the_mixer_to_the_sample(short: Path, tmp_path: Path) -> None:
    from tests.conftest import make_mixer, render_all

    out = tmp_path / "out.wav"
    run(
        "render",
        str(short),
        "-o",
        str(out),
        "--rate",
        "16000",
        "--channels",
        "1",
        "--voice",
        "none",
    )
    written, _ = sf.read(str(out), dtype="int16")
    expected = render_all(make_mixer(SHORT, rate=16000, channels=1))[:, 0]
    assert np.array_equal(
        written, np.clip(np.rint(expected * 32767), -32768, 32767).astype(np.int16)
    )


def test_render_to_stdout_streams_a_valid_wav(short: Path) -> None:
    result = CliRunner().invoke(
        main, ["render", str(short), "-o", "-", "--rate", "8000", "--voice", "none"]
    )
    assert result.exit_code == 0
    with wave.open(io.BytesIO(result.stdout_bytes)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getnframes()) == (8000, 2, 24000)
        assert len(w.readframes(w.getnframes())) == 24000 * 4


def test_render_refuses_unknown_formats_before_doing_any_work(short: Path, tmp_path: Path) -> None:
    result = run("render", str(short), "-o", str(tmp_path / "x.aiff"))
    assert result.exit_code == 2
    assert "unknown audio format '.aiff'; use one of .flac, .mp3, .oga, .ogg, .wav" in result.output
    assert not (tmp_path / "x.aiff").exists()


def test_a_failed_render_leaves_no_file(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("title: t\nsteps:\n  - pause: 1s\n")
    out = tmp_path / "missing-folder" / "out.wav"
    result = run("render", str(script), "-o", str(out))
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not out.exists()


def test_new_writes_a_valid_starter_and_refuses_to_overwrite() -> None:
    result = run("new", "evening-stretch")
    assert result.exit_code == 0
    path = Path(result.output.split()[1])
    assert path.is_file()
    assert run("validate", "evening-stretch").exit_code == 0
    again = run("new", "evening-stretch")
    assert again.exit_code == 2 and "already exists; use --force to replace it" in again.output
    assert run("new", "evening-stretch", "--force").exit_code == 0
    assert run("new", "Bad Name").exit_code == 2
    path.unlink()


def test_list_shows_the_built_in_library() -> None:
    result = run("list", "--json")
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert {
        "default",
        "back-relief",
        "bedtime-body-scan",
        "breathing-4-7-8",
        "box-breathing",
        "coherent-breathing",
        "neck-and-shoulders",
        "posture-reset",
        "progressive-muscle-relaxation",
    } <= set(rows)
    assert all(r["origin"] == "builtin" and r["seconds"] > 0 for r in rows.values())
    assert rows["bedtime-body-scan"]["linger"] == 1800


def test_bad_arguments_exit_2_without_traceback(short: Path) -> None:
    result = CliRunner().invoke(main, ["render", str(short), "-o", "x.wav", "--rate", "5"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["play", str(short), "--volume", "80"])
    assert result.exit_code == 2
    assert 'cannot read \'80\' as a level; write a level as "-12 dB" or "30%"' in result.output
    result = CliRunner().invoke(
        main, ["play", str(short), "--start-at", "Nowhere", "--output", "null"]
    )
    assert result.exit_code == 2 and "is neither a section nor a time" in result.output


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for name, command in main.commands.items():
        result = run(name, "--help")
        assert result.exit_code == 0 and command.help, name
        assert f"relaxplayer {name}" in readme, f"README does not document `relaxplayer {name}`"


def test_render_refuses_what_it_could_not_finish_before_any_work(
    short: Path, tmp_path: Path
) -> None:
    result = run("render", str(short), "-o", str(tmp_path / "x.mp3"), "--rate", "96000")
    assert result.exit_code == 2
    assert "MP3 cannot be written at 96000 Hz; use --rate 8000, 11025" in result.output
    folder = tmp_path / "taken.wav"
    folder.mkdir()
    result = run("render", str(short), "-o", str(folder))
    assert result.exit_code == 2 and f"{folder} is a folder; give a file name" in result.output
    result = run("render", str(short), "-o", str(short / "x.wav"))
    assert result.exit_code == 2 and f"folder {short} is not a folder" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short.yaml", "taken.wav"]


# --- play --at ---------------------------------------------------------------------


def _play_at(short: Path, at: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "relaxplayer", "play", str(short), "--at", at]
    return subprocess.Popen(
        [*command, "--output", "null", "--rate", "8000", "--no-history", "--plain"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_play_at_waits_until_then_plays(short: Path) -> None:
    at = (datetime.now().astimezone() + timedelta(seconds=3)).replace(microsecond=0)
    proc = _play_at(short, f"{at:%H:%M:%S}")
    out, err = proc.communicate(timeout=60)
    done = datetime.now().astimezone()
    assert proc.returncode == 0, err
    assert err.startswith(f"waiting until {at:%H:%M:%S} (in ")
    assert err.splitlines()[0].endswith(" s); Ctrl-C to cancel")
    assert "Short" in out  # then it played
    assert done >= at + timedelta(seconds=3)  # not before: 3 s of session after the wait


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [
        (signal.SIGTERM, 0, "SIGTERM: not playing, the wait was cancelled"),
        (signal.SIGINT, 130, "interrupted"),
    ],
)
def test_play_at_is_cancelled_at_once_by_a_signal(
    short: Path, signum: int, code: int, said: str
) -> None:
    at = datetime.now().astimezone() + timedelta(hours=1, minutes=1)
    proc = _play_at(short, f"{at:%H:%M}")
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline().startswith("waiting until ")  # the signals are handled
        proc.send_signal(signum)
        assert proc.wait(timeout=20) == code
        assert said in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_play_at_a_bad_time_is_exit_2(short: Path) -> None:
    result = CliRunner().invoke(main, ["play", str(short), "--at", "25:00", "--output", "null"])
    assert result.exit_code == 2
    assert "error: --at 25:00: write a time of day like 22:30 (24-hour clock)" in result.output
