"""Every output, through the real ALSA path into the virtual sound card where it goes there."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from relaxplayer.errors import OutputError
from relaxplayer.outputs import available_outputs, open_output
from relaxplayer.outputs.base import to_int16

RATE = 44100
SECONDS = 2.0


def signal() -> np.ndarray:
    """Seeded noise with a chirp: easy to align, impossible to match by accident."""
    rng = np.random.default_rng(7)
    n = int(SECONDS * RATE)
    t = np.arange(n) / RATE
    chirp = 0.2 * np.sin(2 * np.pi * (200 + 400 * t) * t)
    x = np.stack(
        [chirp + 0.1 * rng.standard_normal(n), chirp - 0.1 * rng.standard_normal(n)], axis=1
    )
    x[0] = 0.25  # a distinct first frame to find
    return x.astype(np.float32)


class Feeder:
    """A pull function walking an array, then silence; remembers when it ran dry."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.pos = 0
        self.dry = threading.Event()

    def __call__(self, n: int) -> np.ndarray:
        out = np.zeros((n, self.data.shape[1]), dtype=np.float32)
        chunk = self.data[self.pos : self.pos + n]
        out[: len(chunk)] = chunk
        self.pos += n
        if self.pos >= len(self.data):
            self.dry.set()
        return out


def play(spec: str, data: np.ndarray) -> tuple[float, object]:
    """Play ``data`` through an output, returning wall seconds until it was heard, and the output."""
    output = open_output(spec, RATE, 2)
    feeder = Feeder(data)
    start = time.monotonic()
    output.start(feeder)
    deadline = start + 20
    while (
        output.frames_played() < len(data) and time.monotonic() < deadline and output.error is None
    ):
        time.sleep(0.02)
    elapsed = time.monotonic() - start
    output.stop(drain=True)
    assert output.error is None
    return elapsed, output


def captured(dtype: str) -> np.ndarray:
    raw = Path(os.environ["AUDIO_CAPTURE"]).read_bytes()
    return np.frombuffer(raw, dtype=dtype).reshape(-1, 2)


def align(capture: np.ndarray, expected: np.ndarray) -> int:
    """Offset of ``expected`` in ``capture``: leading silence some backends add."""
    nonzero = np.flatnonzero(np.abs(capture[:, 0]) > 0)
    assert nonzero.size, "nothing was captured"
    return int(nonzero[0])


BACKENDS = [("portaudio", "<f4"), ("alsa", "<i2")]
if sys.version_info < (3, 12):
    BACKENDS.append(("simpleaudio", "<i2"))


@pytest.mark.audio
@pytest.mark.parametrize(("spec", "dtype"), BACKENDS)
def test_alsa_path_is_paced_and_sample_exact(spec: str, dtype: str) -> None:
    Path(os.environ["AUDIO_CAPTURE"]).unlink(missing_ok=True)
    data = signal()
    elapsed, _ = play(spec, data)
    assert elapsed >= SECONDS * 0.9, f"{spec} played {SECONDS}s in {elapsed:.2f}s: not paced"
    capture = captured(dtype)
    expected = data if dtype == "<f4" else to_int16(data)
    offset = align(capture, expected)
    got = capture[offset : offset + len(expected)]
    assert got.shape == expected.shape
    if spec == "simpleaudio":  # chunked: exact samples, but chunks may be separated by gaps
        assert np.array_equal(got[:RATE], expected[:RATE])
    else:
        assert np.array_equal(got, expected)


@pytest.mark.audio
def test_auto_picks_portaudio_and_says_so() -> None:
    output = open_output("auto", RATE, 2)
    assert output.name.startswith("portaudio")


def test_null_is_paced_in_real_time() -> None:
    data = signal()[: RATE // 2]
    elapsed, _ = play("null", data)
    assert 0.45 <= elapsed < 1.5


def test_file_output_writes_exactly_what_was_pulled(tmp_path: Path) -> None:
    data = signal()
    output = open_output(f"file:{tmp_path / 'out.wav'}", RATE, 2)
    feeder = Feeder(data)
    output.start(feeder)
    assert feeder.dry.wait(10)
    output.stop()
    written, rate = sf.read(str(tmp_path / "out.wav"), dtype="int16")
    assert rate == RATE
    expected = to_int16(data)
    assert np.array_equal(written[: len(data)], expected)


def test_pipe_output_writes_raw_pcm_to_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "snapfifo"
    os.mkfifo(fifo)
    data = signal()[:4096]
    got = bytearray()
    reader = threading.Thread(target=lambda: got.extend(fifo.read_bytes()))
    reader.start()
    output = open_output(f"pipe:{fifo}", RATE, 2)
    feeder = Feeder(data)
    output.start(feeder)
    assert feeder.dry.wait(10)
    output.stop()
    reader.join(5)
    assert bytes(got[: len(data) * 4]) == to_int16(data).tobytes()


def test_unknown_output_lists_the_choices() -> None:
    with pytest.raises(
        OutputError, match=r"unknown output 'jack'; choose one of: auto, portaudio, alsa"
    ):
        open_output("jack", RATE, 2)


def test_available_outputs_lists_every_backend() -> None:
    names = [o.name for o in available_outputs()]
    assert names == ["portaudio", "alsa", "simpleaudio", "pipe", "file:PATH", "null"]


@pytest.mark.audio
def test_a_dying_player_process_is_reported_as_an_error() -> None:
    output = open_output("alsa", RATE, 2)
    output.start(Feeder(np.zeros((RATE * 30, 2), np.float32)))
    time.sleep(0.3)
    output._proc.kill()  # the device "disappears"
    deadline = time.monotonic() + 5
    while output.error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    output.stop(drain=False)
    assert isinstance(output.error, OutputError)
    assert "the audio player exited" in str(output.error)
