"""``alsa``: raw S16_LE PCM piped into ``aplay`` (or ``pw-cat`` / ``pacat`` where aplay is missing).

Needs no Python package, only alsa-utils. What sits between a pulled block and
the listener is kept small so that a pause, which the player applies to the
audio it pulls, is heard quickly: the pipe is shrunk to 4 KiB (1024 stereo
frames, 23 ms at 44.1 kHz) and aplay's ring buffer to 60 ms. The writer
thread's blocking ``write`` is what paces it. aplay reports underruns on
stderr ("underrun!!!"), which a reader thread counts; aplay exiting while we
still write is a device failure.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import threading
from collections import deque
from pathlib import Path

import numpy as np

from relaxplayer.errors import OutputError
from relaxplayer.outputs.base import CHATTER, Chatter, ThreadedOutput, to_int16

# aplay --buffer-time, pacat --latency-msec: with the pipe, ~100 ms ahead, so a pause is heard
# within ~135 ms (the remotes' limit is 200 ms; a page's pause measured 200-231 ms to silence at
# the card, click and HTTP included). 100 ms made that 296-329 ms, and 60 ms gives 0 underruns
# on a quarter of one core once the board is one CPU (benchmarks/bench_small_board.py).
BUFFER_SECONDS = 0.06
PIPE_BYTES = 4096
F_SETPIPE_SZ = 1031  # Linux fcntl: set a pipe's capacity
PROBE_SILENCE = 0.01  # seconds of silence a probe plays
PROBE_SECONDS = 3.0  # a device that works plays them (open, write, drain) well within this
INSTALL = "install alsa-utils (sudo apt install alsa-utils)"
FIX = (
    "check the devices that open with `relaxplayer outputs`, choose one with --device, "
    "or use --output file:session.wav or --output null"
)


def player_command(rate: int, channels: int, device: str | None) -> list[str] | None:
    """The command line of the first raw-PCM player found, or None."""
    if aplay := shutil.which("aplay"):
        cmd = [aplay, "-q", "-t", "raw", "-f", "S16_LE", "-r", str(rate), "-c", str(channels)]
        cmd.append(f"--buffer-time={int(BUFFER_SECONDS * 1e6)}")
        return [*cmd, "-D", device, "-"] if device else [*cmd, "-"]
    if pwcat := shutil.which("pw-cat"):
        cmd = [pwcat, "--playback", "--format", "s16", "--rate", str(rate)]
        cmd += ["--channels", str(channels), f"--latency={int(BUFFER_SECONDS * 1000)}ms"]
        return [*cmd, "--target", device, "-"] if device else [*cmd, "-"]
    if pacat := shutil.which("pacat"):
        cmd = [pacat, "--playback", "--raw", "--format=s16le", f"--rate={rate}"]
        cmd += [f"--channels={channels}", f"--latency-msec={int(BUFFER_SECONDS * 1000)}"]
        return [*cmd, f"--device={device}"] if device else cmd
    return None


def probe(rate: int, channels: int, device: str | None) -> str | None:
    """Why the player cannot play on the device, or None when it can (~50 ms on a card).

    The device is opened for real: the player is given ``PROBE_SILENCE`` seconds
    of silence and must play them and exit cleanly within ``PROBE_SECONDS``.
    """
    cmd = player_command(rate, channels, device)
    if cmd is None:
        return f"no aplay, pw-cat or pacat found; {INSTALL}"
    silence = bytes(2 * channels * max(int(PROBE_SILENCE * rate), 1))
    shown = f"{Path(cmd[0]).name} cannot open {device or 'the default device'}"
    try:
        done = subprocess.run(
            cmd,
            input=silence,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=PROBE_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"{shown}: {PROBE_SILENCE * 1000:.0f} ms of silence took over {PROBE_SECONDS:g} s"
    except OSError as exc:
        return f"{shown}: {exc}"
    if done.returncode == 0:
        return None
    err = done.stderr.decode(errors="replace").strip()
    return f"{shown}: " + (err.splitlines()[-1] if err else f"exit status {done.returncode}")


def pcm_names() -> list[str]:
    """Every PCM name ``aplay -L`` lists: real devices and bare plugins alike."""
    aplay = shutil.which("aplay")
    if aplay is None:
        return []
    try:
        listing = subprocess.run([aplay, "-L"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line for line in listing.splitlines() if line and not line.startswith(" ")]


def devices(rate: int = 44100, channels: int = 2) -> list[str]:
    """The ALSA PCMs (``aplay -L``) that really play ``rate`` / ``channels``: usable with ``--device``.

    ``aplay -L`` also lists plugins that are no device on their own (lavrate,
    speex, upmix, jack with no server...); each name is opened with a few
    milliseconds of silence and only those that play are kept. One at a time:
    ``hw:``, ``plughw:`` and ``front:`` of one card exclude each other, so
    probing them together would call a good device busy. A bare plugin fails
    in a few milliseconds; a device plays in about 40 ms.
    """
    names = [n for n in pcm_names() if n != "null"]  # no clock, no sound: that is --output null
    return [name for name in names if probe(rate, channels, name) is None]


def is_underrun(line: str) -> bool:
    """aplay's "underrun!!! (at least 1.2 ms long)" and alsa-lib's "... underrun occurred"."""
    return "underrun" in line.lower()


class AlsaOutput(ThreadedOutput):
    name = "alsa"

    def __init__(self, rate: int, channels: int, device: str | None = None) -> None:
        super().__init__(rate, channels)
        self.device = device
        self._proc: subprocess.Popen[bytes] | None = None
        self._pipe_frames = 0
        self._stderr: deque[str] = deque(maxlen=20)
        self._reader: threading.Thread | None = None
        self._stopping = False
        self._cmd: list[str] = []
        self.chatter: Chatter = CHATTER

    def chatter_summary(self) -> str | None:
        """What the player printed besides underruns while this output was open, for ``-v``."""
        return self.chatter.summary()

    def _open(self) -> None:
        cmd = player_command(self.rate, self.channels, self.device)
        if cmd is None:
            raise OutputError(f"no aplay, pw-cat or pacat found; {INSTALL}")
        self._cmd = cmd
        self._proc = subprocess.Popen(  # unbuffered: every block goes straight into the pipe
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, bufsize=0
        )
        assert self._proc.stdin is not None
        try:  # a small pipe: 23 ms of audio queued, not the default 64 KiB (370 ms)
            size = fcntl.fcntl(self._proc.stdin.fileno(), F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:
            size = 65536
        self._pipe_frames = size // (2 * self.channels)
        self._reader = threading.Thread(target=self._read_stderr, name="aplay-stderr", daemon=True)
        self._reader.start()
        self.name = f"alsa ({Path(cmd[0]).name} {self.device or 'default'})"

    def _read_stderr(self) -> None:
        """Count underruns; keep the other lines as chatter and for the failure message."""
        assert self._proc is not None and self._proc.stderr is not None
        for raw in self._proc.stderr:
            line = raw.decode(errors="replace").strip()
            if is_underrun(line):
                self.underruns += 1
            elif line:
                self._stderr.append(line)
                self.chatter.add(line)

    def _write(self, block: np.ndarray) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        data = memoryview(to_int16(block).tobytes())
        try:  # a buffered writer would hold one block back until the next is pulled
            while data:
                data = data[self._proc.stdin.write(data) or 0 :]
        except OSError:  # BrokenPipeError: the player process is gone
            if self._stopping:
                return
            raise OutputError(self._failure()) from None

    def _failure(self) -> str:
        assert self._proc is not None
        try:
            code = self._proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            code = None
        if self._reader is not None:
            self._reader.join(timeout=1.0)
        why = self._stderr[-1] if self._stderr else f"exit status {code}"
        tried = f"{Path(self._cmd[0]).name} on {self.device or 'the default device'}"
        return f"the audio player exited ({why}), playing through {tried}; to fix: {FIX}"

    def _buffered(self) -> int:
        """The pipe, aplay's ring buffer and the period aplay holds while writing it
        (1.25 buffers): 98 ms at 44.1 kHz stereo."""
        return min(self._written, self._pipe_frames + int(1.25 * BUFFER_SECONDS * self.rate))

    def _interrupt(self) -> None:
        self._stopping = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()

    def _close(self, drain: bool) -> None:
        if self._proc is None:
            return
        try:
            if self._proc.stdin:
                self._proc.stdin.close()
        except OSError:
            pass
        if not drain:
            self._interrupt()
        try:
            self._proc.wait(timeout=max(2.0, 2 * BUFFER_SECONDS))
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=1.0)
        if self._proc.stderr:
            self._proc.stderr.close()
        if drain and self.error is None and self._proc.returncode not in (0, None):
            self.error = OutputError(self._failure())
