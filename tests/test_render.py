"""`relaxplayer render` under hostile conditions: closed or full outputs, signals, umask, full disks.

Each case runs the real command in a child process (the way a user or a
service manager meets it) and checks the exit code, the one message, and that
nothing is left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile as sf
from click.testing import CliRunner

from relaxplayer.cli import main

SHORT = "title: t\nbackground: {sound: pink-noise}\nsteps:\n  - bell: soft\n  - pause: 10s\n"
LONG = "title: t\nbackground: {sound: pink-noise}\nsteps:\n  - pause: 6h\n"


def command(script: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "relaxplayer", "render", str(script), "--voice", "none", *args]


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(SHORT)
    return path


def one_clean_message(stderr: str, text: str) -> None:
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and text in lines[0], stderr


def test_a_closed_stdout_is_one_message_and_exit_1(script: Path) -> None:
    cmd = " ".join(command(script, "-o", "-", "--rate", "8000")) + " >&-"
    result = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    one_clean_message(result.stderr, "error: standard output is closed; use -o FILE")


def test_dev_full_as_stdout_says_no_space(script: Path) -> None:
    with open("/dev/full", "wb") as full:
        result = subprocess.run(
            command(script, "-o", "-", "--rate", "8000"),
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    one_clean_message(result.stderr, "No space left on device")


def test_a_reader_that_closes_early_is_one_message(script: Path) -> None:
    cmd = " ".join(command(script, "-o", "-", "--rate", "8000"))
    cmd += " | head -c 100 > /dev/null; exit ${PIPESTATUS[0]}"
    result = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    one_clean_message(result.stderr, "the program reading the audio stream closed it early")


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "signum",
    [signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGALRM, signal.SIGINT],
    ids=lambda s: signal.Signals(s).name,
)
def test_a_signal_during_render_removes_the_temporary_file(tmp_path: Path, signum: int) -> None:
    script = tmp_path / "long.yaml"
    script.write_text(LONG)
    out = tmp_path / "out" / "long.wav"
    out.parent.mkdir()
    child = subprocess.Popen(
        command(script, "-o", str(out), "--rate", "8000"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size > 0 for p in out.parent.glob(".long.wav.*.part")):
            assert child.poll() is None and time.monotonic() < deadline, "render never started"
            time.sleep(0.02)
        child.send_signal(signum)
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 128 + signum, stderr
    assert list(out.parent.iterdir()) == []  # neither the file nor its .part
    expected = (
        "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    )
    one_clean_message(stderr, expected)


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o027)
    yield
    os.umask(old)


@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_rendered_files_follow_the_umask(
    script: Path, tmp_path: Path, umask: None, ext: str
) -> None:
    out = tmp_path / f"r.{ext}"
    result = CliRunner().invoke(main, ["render", str(script), "-o", str(out), "--voice", "none"])
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o640


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KB file system (tmpfs), where mounting is allowed."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)]
    if os.geteuid() != 0 or subprocess.run(mount, capture_output=True, check=False).returncode:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
def test_a_full_disk_says_no_space_left(script: Path, tiny_disk: Path, ext: str) -> None:
    if {"ogg": "OGG", "mp3": "MP3"}.get(ext, "WAV") not in sf.available_formats():
        pytest.skip(f"this libsndfile cannot write {ext}")
    script.write_text(SHORT.replace("10s", "5m"))
    out = tiny_disk / f"r.{ext}"
    result = subprocess.run(
        command(script, "-o", str(out), "--rate", "44100"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    one_clean_message(result.stderr, "cannot write the audio file: No space left on device")
    assert list(tiny_disk.iterdir()) == []


LOUD = """title: loud
background: {sound: ocean, volume: 100%, fade_in: 0s}
end: {fade_out: 1s}
steps:
  - bell: bowl
    volume: 0 dB
  - breathe: {inhale: 2, exhale: 2}
    cycles: 2
  - bell: chime
"""


def test_the_render_conversion_gives_the_samples_every_output_gets() -> None:
    """``pcm16`` (no clip: the limiter bounds the mix) equals ``to_int16`` on a loud mix, block by block."""
    import numpy as np

    from relaxplayer.outputs.base import to_int16
    from relaxplayer.render import pcm16
    from tests.conftest import make_mixer

    blocks = list(make_mixer(LOUD).blocks(4096))
    loud = max(float(np.abs(b).max()) for b in blocks)
    assert loud > 0.5  # the limiter's range is reached, not only quiet samples
    for block in blocks:
        expected = to_int16(block)
        assert np.array_equal(pcm16(block.copy()), expected)
    edge = np.array([[0.794, -0.794], [0.5 / 32767, -1.5 / 32767], [0.0, -0.0]], dtype=np.float32)
    assert np.array_equal(pcm16(edge.copy()), to_int16(edge))
