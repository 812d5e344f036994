"""``alsa``: raw PCM piped into ``aplay`` (or ``pw-cat`` / ``pacat`` where aplay is missing).

Needs no Python package, only alsa-utils. The pipe and aplay's own buffer are
kept small (about 100 ms) so that a pause, which the player applies to the
audio it pulls, is heard quickly.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess

import numpy as np

from relaxplayer.errors import OutputError
from relaxplayer.outputs.base import ThreadedOutput, to_int16

BUFFER_SECONDS = 0.1
F_SETPIPE_SZ = 1031  # Linux fcntl: set a pipe's capacity


def player_command(rate: int, channels: int, device: str | None) -> list[str] | None:
    """The command line of the first raw-PCM player found, or None."""
    if aplay := shutil.which("aplay"):
        cmd = [
            aplay,
            "-q",
            "-t",
            "raw",
            "-f",
            "S16_LE",
            "-r",
            str(rate),
            "-c",
            str(channels),
            f"--buffer-time={int(BUFFER_SECONDS * 1e6)}",
        ]
        return [*cmd, "-D", device, "-"] if device else [*cmd, "-"]
    if pwcat := shutil.which("pw-cat"):
        cmd = [
            pwcat,
            "--playback",
            "--format",
            "s16",
            "--rate",
            str(rate),
            "--channels",
            str(channels),
        ]
        return [*cmd, "--target", device, "-"] if device else [*cmd, "-"]
    if pacat := shutil.which("pacat"):
        cmd = [
            pacat,
            "--playback",
            "--raw",
            "--format=s16le",
            f"--rate={rate}",
            f"--channels={channels}",
            f"--latency-msec={int(BUFFER_SECONDS * 1000)}",
        ]
        return [*cmd, f"--device={device}"] if device else cmd
    return None


class AlsaOutput(ThreadedOutput):
    name = "alsa"

    def __init__(self, rate: int, channels: int, device: str | None = None) -> None:
        super().__init__(rate, channels)
        self.device = device
        self._proc: subprocess.Popen[bytes] | None = None
        self._pipe_frames = 0

    def _open(self) -> None:
        cmd = player_command(self.rate, self.channels, self.device)
        if cmd is None:
            raise OutputError(
                "no aplay, pw-cat or pacat found; install alsa-utils (sudo apt install alsa-utils)"
            )
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self._proc.stdin is not None
        try:  # a small pipe: a few kilobytes of audio queued, not the default 64 KiB (370 ms)
            size = fcntl.fcntl(self._proc.stdin.fileno(), F_SETPIPE_SZ, 4096)
        except OSError:
            size = 65536
        self._pipe_frames = size // (2 * self.channels)
        self.name = f"alsa ({cmd[0].rsplit('/', 1)[-1]})"

    def _write(self, block: np.ndarray) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(to_int16(block).tobytes())
        except (BrokenPipeError, OSError):
            raise OutputError(self._failure()) from None

    def _failure(self) -> str:
        assert self._proc is not None
        try:
            self._proc.wait(timeout=1.0)
            err = (
                self._proc.stderr.read().decode(errors="replace").strip()
                if self._proc.stderr
                else ""
            )
        except subprocess.TimeoutExpired:
            err = ""
        return f"the audio player exited ({err.splitlines()[-1] if err else self._proc.returncode})"

    def _buffered(self) -> int:
        return min(self._written, self._pipe_frames + int(BUFFER_SECONDS * self.rate))

    def _close(self, drain: bool) -> None:
        if self._proc is None:
            return
        try:
            if self._proc.stdin:
                self._proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        if not drain:
            self._proc.terminate()
        try:
            self._proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stderr:
            self._proc.stderr.close()
