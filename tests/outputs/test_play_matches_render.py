"""`relaxplayer play` end to end, through the real ALSA path: what you hear is what `render` writes.

The whole command runs in a child process (click, loader, timeline, mixer,
player, output) and plays into the virtual sound card, whose ``file`` plugin
captures every sample that reached ALSA. The capture must equal the WAV that
``relaxplayer render`` writes for the same script, sample for sample, after
the leading silence a backend may add, and must have taken real time.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from relaxplayer.outputs.base import to_int16

from .conftest import VirtualCard
from .test_outputs import BACKENDS, captured

SCRIPT = """\
title: Play equals render
background: {sound: pink-noise, volume: 20%, fade_in: 0.5s}
end: {fade_out: 0.5s}
steps:
  - bell: soft
  - breathe: {inhale: 1, exhale: 1.5}
    cycles: 1
"""
SECONDS = 2.5


def relaxplayer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relaxplayer", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.audio
@pytest.mark.parametrize(("spec", "dtype"), BACKENDS)
def test_play_through_alsa_equals_render(
    virtual_card: VirtualCard, tmp_path: Path, spec: str, dtype: str
) -> None:
    script = tmp_path / "short.yaml"
    script.write_text(SCRIPT)
    rendered = relaxplayer("render", str(script), "-o", str(tmp_path / "r.wav"), "--voice", "none")
    assert rendered.returncode == 0, rendered.stderr
    expected, rate = sf.read(tmp_path / "r.wav", dtype="int16")
    assert rate == 44100 and len(expected) == int(SECONDS * rate)

    virtual_card.reset()
    start = time.monotonic()
    played = relaxplayer("play", str(script), "--output", spec, "--plain", "--voice", "none")
    wall = time.monotonic() - start
    assert played.returncode == 0, played.stderr
    assert "Traceback" not in played.stderr
    assert wall >= 0.95 * SECONDS, f"{spec}: {SECONDS} s of audio played in {wall:.2f} s"

    capture = captured(virtual_card, dtype, len(expected))
    heard = to_int16(capture) if dtype == "<f4" else capture
    offset = int(np.flatnonzero(np.any(heard != 0, axis=1))[0])
    first = int(np.flatnonzero(np.any(expected != 0, axis=1))[0])
    lead = offset - first  # silence the backend put before the session's first frame
    assert 0 <= lead < 0.2 * rate, f"{spec}: {lead} frames of leading silence"
    assert np.array_equal(heard[lead : lead + len(expected)], expected)
    assert not np.any(heard[lead + len(expected) :]), f"{spec}: sound after the session ended"
    assert "bell: soft" in played.stdout and "breathe in" in played.stdout.lower()
