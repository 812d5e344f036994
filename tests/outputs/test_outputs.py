"""Every output, through the real ALSA path into the virtual sound card where it goes there.

What reaches ALSA is captured by the card's ``file`` plugin, so "what was
played" is compared sample for sample with what was pulled; pacing is checked
against the wall clock.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from relaxplayer.errors import ConfigError, OutputError
from relaxplayer.outputs import NAMES, available_outputs, check_spec, open_output
from relaxplayer.outputs.alsa import is_underrun, pcm_names
from relaxplayer.outputs.base import BLOCK, Chatter, Output, capture_stderr, to_int16

from .conftest import VirtualCard

RATE = 44100
SECONDS = 2.0


def signal(seconds: float = SECONDS) -> np.ndarray:
    """Seeded noise over a chirp at 0.3 peak: easy to align, impossible to match by accident."""
    rng = np.random.default_rng(7)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    chirp = 0.2 * np.sin(2 * np.pi * (200 + 400 * t) * t)
    noise = np.clip(0.03 * rng.standard_normal((n, 2)), -0.1, 0.1)
    x = chirp[:, None] + noise * [1, -1]
    x[0] = 0.25  # a distinct first frame: no backend's leading silence can look like it
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


class Run:
    """One play-through: wall seconds until the last frame was heard, and the audio clock's
    readings ``(wall seconds, frames_played)`` taken every 10 ms on the way."""

    def __init__(self, output: Output, data: np.ndarray, drain: bool = True) -> None:
        self.output = output
        self.clock: list[tuple[float, int]] = []
        self.ahead: list[int] = []  # frames pulled beyond real time since start
        feeder = Feeder(data)
        start = time.monotonic()
        output.start(feeder)
        while output.error is None and time.monotonic() < start + 15:
            self.clock.append((time.monotonic() - start, output.frames_played()))
            self.ahead.append(feeder.pos - int(self.clock[-1][0] * RATE))
            if self.clock[-1][1] >= len(data):
                break
            time.sleep(0.01)
        self.heard = time.monotonic() - start
        self.latency = output.latency_frames()
        output.stop(drain=drain)
        assert output.error is None, output.error

    def rate_ratio(self, lo: int, hi: int) -> float:
        """Slope of frames_played against wall time between frames lo and hi, over RATE."""
        pts = np.array([(t, f) for t, f in self.clock if lo <= f <= hi])
        slope = np.polyfit(pts[:, 0], pts[:, 1], 1)[0]
        return float(slope / RATE)


def captured(card: VirtualCard, dtype: str, expected_frames: int) -> np.ndarray:
    """The capture, once its writer (a ``cat`` the plugin spawned) has caught up."""
    deadline = time.monotonic() + 3
    size = -1
    while time.monotonic() < deadline:
        now = card.capture.stat().st_size if card.capture.exists() else 0
        if now == size and now >= expected_frames * 2 * np.dtype(dtype).itemsize:
            break
        size = now
        time.sleep(0.1)
    return np.frombuffer(card.capture.read_bytes(), dtype=dtype).reshape(-1, 2)


# (spec, sample format the backend opens ALSA with)
BACKENDS = [("portaudio", "<f4"), ("alsa", "<i2")]
if sys.version_info < (3, 12):
    BACKENDS.append(("simpleaudio", "<i2"))


@pytest.mark.audio
@pytest.mark.parametrize(("spec", "dtype"), BACKENDS)
def test_alsa_path_is_paced_and_sample_exact(
    virtual_card: VirtualCard, spec: str, dtype: str
) -> None:
    virtual_card.reset()
    data = signal()
    run = Run(open_output(spec, RATE, 2), data, drain=spec != "simpleaudio")

    assert run.heard >= 0.95 * SECONDS, f"{spec}: {SECONDS} s heard after {run.heard:.2f} s"
    assert run.heard < SECONDS + 0.5
    assert run.output.underruns == 0
    ratio = run.rate_ratio(RATE // 4, len(data) - RATE // 4)
    if spec != "simpleaudio":  # its clock is the wall clock: nothing to check
        assert 0.97 < ratio < 1.03, f"{spec}: audio clock runs at {ratio:.3f} x real time"
        # with the wait for the next block (35 ms), a pause is heard within 200 ms
        assert 0 < run.latency < 0.15 * RATE

    capture = captured(virtual_card, dtype, len(data))
    expected = data if dtype == "<f4" else to_int16(data)
    offset = int(np.flatnonzero(np.any(capture != 0, axis=1))[0])
    assert offset < 0.2 * RATE, f"{spec}: {offset} frames of leading silence"
    assert np.array_equal(capture[offset : offset + len(data)], expected)
    print(
        f"\n{spec}: heard {run.heard:.3f} s, clock {ratio:.4f} x real time, leading silence "
        f"{offset} frames, latency {run.latency} frames, pulled ahead by "
        f"{int(np.median(run.ahead[len(run.ahead) // 2 :]))} frames"
    )


@pytest.mark.audio
def test_auto_picks_portaudio_and_says_so(virtual_card: VirtualCard) -> None:
    output = open_output("auto", RATE, 2)
    assert output.name == "portaudio"
    run = Run(output, signal(0.3))
    assert run.output.name == "portaudio (default)"


@pytest.mark.audio
def test_auto_says_why_each_output_failed_and_what_to_install(virtual_card: VirtualCard) -> None:
    with pytest.raises(OutputError) as caught:
        open_output("auto", RATE, 2, device="no_such_pcm")
    message = str(caught.value)
    assert message.startswith("no audio output works here (portaudio: PortAudio cannot play on")
    assert "alsa: aplay cannot open no_such_pcm: " in message
    assert "sudo apt install libportaudio2" in message


@pytest.mark.audio
def test_portaudio_reports_a_bad_device_when_starting(virtual_card: VirtualCard) -> None:
    output = open_output("portaudio", RATE, 2, device="no_such_device")
    with pytest.raises(OutputError, match="cannot open PortAudio output no_such_device"):
        output.start(Feeder(signal(0.1)))


@pytest.mark.audio
def test_portaudio_callback_never_raises_it_records_and_stops(virtual_card: VirtualCard) -> None:
    calls = 0

    def failing(n: int) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls == 5:
            raise RuntimeError("mixer bug")
        return np.zeros((n, 2), np.float32)

    output = open_output("portaudio", RATE, 2)
    output.start(failing)
    deadline = time.monotonic() + 3
    while output.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    output.stop(drain=False)
    assert isinstance(output.error, RuntimeError)
    assert calls == 5  # stopped at the failure: no more pulls


@pytest.mark.audio
def test_a_dying_aplay_is_reported_as_an_error(virtual_card: VirtualCard) -> None:
    output = open_output("alsa", RATE, 2)
    output.start(Feeder(np.zeros((RATE * 30, 2), np.float32)))
    time.sleep(0.3)
    output._proc.kill()  # the device "disappears"
    deadline = time.monotonic() + 3
    while output.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    output.stop(drain=False)
    assert isinstance(output.error, OutputError)
    assert str(output.error).startswith("the audio player exited (exit status -9)")


@pytest.mark.audio
def test_alsa_stops_at_once_without_draining(virtual_card: VirtualCard) -> None:
    output = open_output("alsa", RATE, 2)
    output.start(Feeder(signal()))
    time.sleep(0.3)
    start = time.monotonic()
    output.stop(drain=False)
    assert time.monotonic() - start < 0.3
    assert output.error is None


def test_null_is_paced_in_real_time() -> None:
    data = signal(0.5)
    run = Run(open_output("null", RATE, 2), data)
    assert 0.49 <= run.heard < 0.6
    assert 0.98 < run.rate_ratio(RATE // 20, len(data)) < 1.02
    assert run.latency <= BLOCK


def finish(output: Output, data: np.ndarray) -> Feeder:
    """Run an unpaced output until it has pulled all of ``data``."""
    feeder = Feeder(data)
    output.start(feeder)
    assert feeder.dry.wait(10)
    output.stop()
    assert output.error is None
    return feeder


def test_file_output_writes_exactly_the_frames_pulled(tmp_path: Path) -> None:
    data = signal(0.5)
    feeder = finish(open_output(f"file:{tmp_path / 'out.wav'}", RATE, 2), data)
    written, rate = sf.read(str(tmp_path / "out.wav"), dtype="int16")
    assert rate == RATE
    assert len(written) == feeder.pos  # every pulled frame, whole blocks
    assert np.array_equal(written[: len(data)], to_int16(data))
    assert not written[len(data) :].any()


def test_pipe_output_writes_exact_bytes_to_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "snapfifo"
    os.mkfifo(fifo)
    data = signal(0.2)
    got = bytearray()
    reader = threading.Thread(target=lambda: got.extend(fifo.read_bytes()))
    reader.start()
    feeder = finish(open_output(f"pipe:{fifo}", RATE, 2), data)
    reader.join(5)
    assert len(got) == feeder.pos * 4
    assert bytes(got[: len(data) * 4]) == to_int16(data).tobytes()


def test_pipe_output_says_when_nobody_reads_the_fifo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from relaxplayer.outputs import pipe

    monkeypatch.setattr(pipe, "READER_WAIT", 0.1)
    fifo = tmp_path / "snapfifo"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match=f"nothing reads the FIFO {fifo}; start its reader"):
        open_output(f"pipe:{fifo}", RATE, 2).start(Feeder(signal(0.1)))


@pytest.mark.parametrize("spec", ["jack", "file", "null:x", "portaudio:hw0"])
def test_an_unknown_output_lists_the_choices(spec: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_output(spec, RATE, 2)
    assert str(caught.value) == f"unknown output {spec!r}; choose one of: " + ", ".join(NAMES)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="simpleaudio works before 3.12")
def test_simpleaudio_is_refused_on_python_312_and_later() -> None:
    with pytest.raises(OutputError, match=r"simpleaudio crashes on Python 3\.12 and newer"):
        open_output("simpleaudio", RATE, 2)


@pytest.mark.audio
def test_available_outputs_lists_every_backend_with_devices(virtual_card: VirtualCard) -> None:
    infos = {o.name: o for o in available_outputs()}
    assert list(infos) == ["portaudio", "alsa", "simpleaudio", "pipe", "file:PATH", "null"]
    assert infos["portaudio"].ok and "default" in infos["portaudio"].devices
    assert infos["alsa"].ok and "fastnull" in infos["alsa"].devices
    assert "null" in pcm_names() and "null" not in infos["alsa"].devices  # that is --output null
    assert infos["simpleaudio"].ok == (sys.version_info < (3, 12))
    assert all(infos[name].ok for name in ("pipe", "file:PATH", "null"))


def test_int16_conversion_rounds_and_never_wraps() -> None:
    x = np.array([[0.0, 1.0], [-1.0, 1.5], [-1.5, 0.5 / 32767], [-0.49 / 32767, 0.2]], np.float32)
    assert to_int16(x).tolist() == [[0, 32767], [-32767, 32767], [-32768, 0], [0, 6553]]
    assert to_int16(x).dtype == np.dtype("<i2")


def test_tpdf_dither_keeps_what_rounding_would_lose() -> None:
    quiet = np.full((200_000, 1), 0.3 / 32767, np.float32)  # a third of one step
    assert not to_int16(quiet).any()
    dithered = to_int16(quiet, np.random.default_rng(1)).astype(np.float64)
    assert abs(dithered.mean() - 0.3) < 0.01  # the average follows the signal
    assert 0.45 < dithered.std() < 0.55  # TPDF: total error 1/4 LSB^2, whatever the signal


@pytest.mark.parametrize("spec", ["null", "file:x.wav", "pipe", "pipe:/tmp/snapfifo"])
def test_device_with_an_output_that_has_none_is_a_config_error(spec: str) -> None:
    with pytest.raises(ConfigError, match=rf"--device 'hw:0' does not apply to --output {spec},"):
        check_spec(spec, "hw:0")
    assert ConfigError.exit_code == 2


def test_check_spec_accepts_every_documented_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    for spec in [
        "auto",
        "portaudio",
        "alsa",
        "simpleaudio",
        "pipe",
        "pipe:f",
        "file:a.wav",
        "null",
    ]:
        check_spec(spec, None)
    for spec in ["auto", "portaudio", "alsa"]:
        check_spec(spec, "default")
    with pytest.raises(ConfigError, match="simpleaudio always plays on ALSA's default device"):
        check_spec("simpleaudio", "hw:1")


def test_raw_pipe_onto_a_terminal_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    with pytest.raises(ConfigError, match="writes raw audio to stdout, which is a terminal"):
        open_output("pipe", RATE, 2)
    check_spec("pipe:/tmp/snapfifo", None)  # a FIFO is fine


def test_chatter_on_fd2_is_counted_and_kept_off_the_terminal(
    capfd: pytest.CaptureFixture[str],
) -> None:
    chatter = Chatter(keep=2)
    underrun = "ALSA lib pcm.c:8740:(snd_pcm_recover) underrun occurred"
    with capture_stderr(chatter):
        os.write(2, f"{underrun}\nALSA lib a\n".encode())
        os.write(2, b"Expression 'ret' failed in 'src/hostapi/alsa/pa_linux_alsa.c'\n")
        os.write(2, f"{underrun}\nALSA lib par".encode())
        with capture_stderr(Chatter()):  # nested: the outer capture gets the lines
            os.write(2, b"tial\nterminate called without an active exception\n")
    os.write(2, b"after\n")
    assert chatter.count == 5
    assert list(chatter.last) == [underrun, "ALSA lib partial"]
    # what is not the audio libraries' (the last words of a crash) still reaches the user
    assert capfd.readouterr().err == "terminate called without an active exception\nafter\n"
    assert chatter.summary() == "audio libraries printed 5 lines (last: ALSA lib partial)"
    chatter.reset()
    assert chatter.summary() is None
    alsa = Chatter()
    alsa.add(underrun)
    assert alsa.summary() == f"alsa-lib printed 1 line (last: {underrun})"


def test_python_stderr_still_reaches_the_user_while_fd2_is_captured() -> None:
    script = (
        "import os, sys, click\n"
        "from relaxplayer.outputs.base import CHATTER, capture_stderr\n"
        "with capture_stderr():\n"
        "    os.write(2, b'ALSA lib pcm.c:1:(x) underrun occurred\\n')\n"
        "    print('from python', file=sys.stderr)\n"
        "    click.echo('from click', err=True)\n"
        "print(CHATTER.summary())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stderr == "from python\nfrom click\n"
    assert done.stdout == "alsa-lib printed 1 line (last: ALSA lib pcm.c:1:(x) underrun occurred)\n"


def test_underrun_lines_are_told_apart_from_other_chatter() -> None:
    assert is_underrun("underrun!!! (at least 1.234 ms long)")
    assert is_underrun("ALSA lib pcm.c:8740:(snd_pcm_recover) underrun occurred")
    assert not is_underrun("ALSA lib pcm_dmix.c:1000:(snd_pcm_dmix_open) unable to open slave")


def no_card_env(tmp_path: Path) -> dict[str, str]:
    """A machine with no sound card and no sound server: the stock ALSA configuration
    (with its conf.d plugins: lavrate, speex, upmix, pulse...), nothing running."""
    conf = tmp_path / "pulse-client.conf"
    conf.write_text("autospawn = no\n")
    env = {k: v for k, v in os.environ.items() if k not in ("ALSA_CONFIG_PATH", "AUDIO_CAPTURE")}
    env.update(
        XDG_RUNTIME_DIR=str(tmp_path),
        PULSE_SERVER=f"unix:{tmp_path}/no-such-socket",
        PULSE_CLIENTCONFIG=str(conf),
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    return env


NO_CARD = pytest.mark.skipif(
    shutil.which("aplay") is None or Path("/dev/snd").exists(),
    reason="needs alsa-utils, and a machine with no sound card (no /dev/snd)",
)


@NO_CARD
def test_with_no_sound_card_nothing_claims_to_play(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "relaxplayer", "outputs", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=no_card_env(tmp_path),
        check=True,
    )
    infos = {info["name"]: info for info in json.loads(done.stdout)}
    assert not infos["portaudio"]["ok"] and infos["portaudio"]["devices"] == []
    assert not infos["alsa"]["ok"] and infos["alsa"]["devices"] == []
    assert "aplay cannot open the default device" in infos["alsa"]["detail"]
    if sys.version_info < (3, 12):  # installed, but it cannot open a device
        assert not infos["simpleaudio"]["ok"]
        assert "simpleaudio cannot open ALSA's default device" in infos["simpleaudio"]["detail"]
    assert "ALSA lib" not in done.stderr
    assert done.stderr == ""


@NO_CARD
def test_with_no_sound_card_auto_fails_once_naming_each_output(tmp_path: Path) -> None:
    script = (
        "from relaxplayer.outputs import open_output\n"
        "from relaxplayer.errors import OutputError\n"
        "try:\n"
        "    open_output('auto', 44100, 2)\n"
        "except OutputError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=no_card_env(tmp_path),
        check=True,
    )
    assert done.stdout.startswith("no audio output works here (portaudio: PortAudio finds no")
    assert "; alsa: aplay cannot open the default device:" in done.stdout
    if sys.version_info < (3, 12):
        assert "; simpleaudio: simpleaudio cannot open ALSA's default device:" in done.stdout
    assert "To fix: install PortAudio" in done.stdout
    assert done.stderr == ""


@pytest.mark.audio
def test_every_listed_device_plays(virtual_card: VirtualCard) -> None:
    infos = {o.name: o for o in available_outputs()}
    for name in infos["alsa"].devices:
        run = Run(open_output("alsa", RATE, 2, device=name), signal(0.1))
        assert run.output.error is None
    for name in infos["portaudio"].devices:
        Run(open_output("portaudio", RATE, 2, device=name), signal(0.1))


@pytest.mark.audio
@pytest.mark.skipif(sys.version_info >= (3, 12), reason="simpleaudio is refused on 3.12+")
def test_simpleaudio_probe_plays_silence_on_the_card(virtual_card: VirtualCard) -> None:
    from relaxplayer.outputs import simpleaudio

    assert simpleaudio.probe(RATE, 2) is None


@pytest.mark.audio
def test_a_failing_aplay_says_what_was_tried_and_how_to_fix_it(virtual_card: VirtualCard) -> None:
    output = open_output("alsa", RATE, 2, device="no_such_pcm")
    output.start(Feeder(signal(1.0)))
    deadline = time.monotonic() + 3
    while output.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    output.stop(drain=False)
    message = str(output.error)
    assert message.startswith("the audio player exited (aplay: main:")
    assert "playing through aplay on no_such_pcm; to fix: check the devices" in message


@pytest.mark.audio
def test_portaudio_keeps_library_chatter_while_open(virtual_card: VirtualCard) -> None:
    output = open_output("portaudio", RATE, 2)
    output.chatter.reset()
    feeder = Feeder(signal(0.3))
    output.start(feeder)
    os.write(2, b"ALSA lib pcm.c:8740:(snd_pcm_recover) underrun occurred\n")
    assert feeder.dry.wait(5)
    output.stop()
    assert output.chatter_summary() == (
        "alsa-lib printed 1 line (last: ALSA lib pcm.c:8740:(snd_pcm_recover) underrun occurred)"
    )


@pytest.mark.skipif(shutil.which("pulseaudio") is None, reason="needs pulseaudio")
def test_the_virtual_card_stops_what_it_started(tmp_path: Path) -> None:
    from tests.conftest import card_running, start_card, stop_card

    folder = tmp_path / "vsnd"
    env, started = start_card(folder)
    try:
        assert started and card_running(folder)
        assert env["AUDIO_CAPTURE"] == str(folder / "capture.raw")
        pids = [int((folder / "run" / "pulse" / "pid").read_text())]
        pids.append(int((folder / "keepalive.pid").read_text()))
        assert start_card(folder)[1] is False  # running already: someone else's to stop
    finally:
        stop_card(folder)
    assert not card_running(folder)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--output", "bogus"], "error: unknown output 'bogus'; choose one of: auto, portaudio,"),
        (["--output", "null", "--device", "hw:0"], "error: --device 'hw:0' does not apply to"),
        (["--output", "file:x.wav", "--device", "x"], "error: --device 'x' does not apply to"),
    ],
)
def test_play_with_a_bad_output_or_device_exits_2(args: list[str], message: str) -> None:
    from click.testing import CliRunner

    from relaxplayer.cli import main

    result = CliRunner().invoke(main, ["play", "box-breathing", "--voice", "none", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_outputs_json_lists_every_output() -> None:
    from click.testing import CliRunner

    from relaxplayer.cli import main

    result = CliRunner().invoke(main, ["outputs", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["name"] for r in rows] == [
        "portaudio",
        "alsa",
        "simpleaudio",
        "pipe",
        "file:PATH",
        "null",
    ]
    assert all(set(r) == {"name", "ok", "detail", "devices"} for r in rows)
