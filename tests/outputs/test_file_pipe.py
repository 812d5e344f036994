"""Outputs without a clock (file, pipe): what they say about themselves, their failures, and
that the player hands them the session and nothing else (no pause, no waiting)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from relaxplayer import events as ev
from relaxplayer.errors import OutputError
from relaxplayer.outputs import open_output
from relaxplayer.outputs.base import to_int16
from relaxplayer.player import Player
from tests.conftest import make_mixer, render_all
from tests.test_player import SESSION

from .test_outputs import Feeder, signal

RATE = 16000


def test_which_outputs_have_a_clock_and_which_can_be_retried(tmp_path: Path) -> None:
    fifo = tmp_path / "snapfifo"
    kinds = {
        "file": open_output(f"file:{tmp_path / 'x.wav'}", RATE, 2),
        "pipe": open_output("pipe", RATE, 2),
        "fifo": open_output(f"pipe:{fifo}", RATE, 2),
        "null": open_output("null", RATE, 2),
    }
    assert {k: (o.realtime, o.retryable) for k, o in kinds.items()} == {
        "file": (False, False),  # reopening would truncate what was written
        "pipe": (False, False),  # stdout cannot come back
        "fifo": (False, True),  # snapserver may be restarted
        "null": (True, True),
    }


def test_a_full_disk_is_said_plainly() -> None:
    output = open_output("file:/dev/full", RATE, 2)
    output.start(Feeder(signal(0.5)))
    output.stop()  # the thread ended on the error; closing does not raise
    assert isinstance(output.error, OutputError)
    assert str(output.error) == "no space left on device writing /dev/full"


def test_a_file_in_a_missing_folder_is_refused_at_start(tmp_path: Path) -> None:
    where = tmp_path / "nowhere" / "x.wav"
    with pytest.raises(OutputError, match=f"cannot write {where}: No such file or directory"):
        open_output(f"file:{where}", RATE, 2).start(Feeder(signal(0.1)))


def test_a_fifo_gets_exactly_the_render_and_nothing_while_paused(tmp_path: Path) -> None:
    """Paused from the first block for five ticks: the reader gets no bytes for that time."""
    fifo = tmp_path / "snapfifo"
    os.mkfifo(fifo)
    got = bytearray()
    reader = threading.Thread(target=lambda: got.extend(fifo.read_bytes()))
    reader.start()
    ticks = 0

    def resume_later(event: ev.Event) -> None:
        nonlocal ticks
        if isinstance(event, ev.Tick) and event.paused:
            ticks += 1
            if ticks == 5:
                player.resume()

    player = Player(
        make_mixer(SESSION), lambda: open_output(f"pipe:{fifo}", RATE, 2), listeners=[resume_later]
    )
    player.pause()
    assert player.run() == "end"
    reader.join(10)
    played = np.frombuffer(bytes(got), dtype="<i2").reshape(-1, 2)
    expected = to_int16(render_all(make_mixer(SESSION)))
    assert len(played) == len(expected) and ticks >= 5
    assert np.array_equal(played[2 * 1536 :], expected[2 * 1536 :])  # after the two ramps


def test_play_to_a_file_equals_render_sample_for_sample(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text(SESSION)
    run = [sys.executable, "-m", "relaxplayer"]
    played, rendered = tmp_path / "played.wav", tmp_path / "rendered.wav"
    for args in (
        ["play", str(script), "--output", f"file:{played}", "--plain", "--voice", "none"],
        ["render", str(script), "--output", str(rendered), "--voice", "none"],
    ):
        result = subprocess.run([*run, *args], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    a, _ = sf.read(str(played), dtype="int16")
    b, _ = sf.read(str(rendered), dtype="int16")
    assert np.array_equal(a, b)
