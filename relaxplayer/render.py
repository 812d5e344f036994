"""Render a mixer to an audio file or a stream, block by block.

The file appears only when the render succeeded: samples go to a temporary
file beside the target, which is renamed into place at the end, so a crash or
Ctrl-C never leaves a half-written file under the user's chosen name. Every
catchable signal that would stop the render (``STOP_SIGNALS``) removes the
temporary file too, and the finished file gets the mode the umask asks for.

Exit codes (``RelaxError.exit_code``, applied by ``cli``): 1 when the file or
stream cannot be written (a full disk, a closed stdout, a reader that went
away); ``128 + N`` when stopped by signal ``N``, as a shell reports it
(130 SIGINT, 143 SIGTERM, 129 SIGHUP, 138 SIGUSR1, 142 SIGALRM).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import struct
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from relaxplayer.errors import ConfigError, OutputError
from relaxplayer.mixer import Mixer
from relaxplayer.outputs.base import INT16_SCALE

FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG", ".mp3": "MP3"}
SUBTYPES = {"WAV": "PCM_16", "FLAC": "PCM_16", "OGG": "VORBIS", "MP3": "MPEG_LAYER_III"}
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)  # MPEG-1/2/2.5
BLOCK = 32768  # frames per render block: large enough to amortise numpy overhead, small in memory

Progress = Callable[[int], None]
STOP_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGALRM")
    if hasattr(signal, name)
)
NO_SPACE = os.strerror(errno.ENOSPC)  # "No space left on device"


class RenderStopped(OutputError):
    """A signal stopped the render; nothing was written. Exit code ``128 + signum``."""

    def __init__(self, signum: int, what: str = "no audio file was written") -> None:
        self.exit_code = 128 + signum
        super().__init__(f"stopped by {signal.Signals(signum).name}; {what}")


@contextlib.contextmanager
def stop_on_signals(what: str = "no audio file was written") -> Iterator[Callable[[], None]]:
    """While inside, a ``STOP_SIGNALS`` signal raises an exception so ``finally`` cleans up.

    SIGINT raises ``KeyboardInterrupt`` (Ctrl-C, exit 130), the others
    ``RenderStopped``. Only the first signal raises: later ones, and any after
    the returned ``done()`` is called (the file is in place), are ignored, so
    cleanup and the final rename are never interrupted. Off the main thread,
    where Python cannot install handlers, it does nothing.
    """
    state = {"armed": True}

    def done() -> None:
        state["armed"] = False

    if threading.current_thread() is not threading.main_thread():
        yield done
        return

    def handler(signum: int, frame: object) -> None:
        if not state["armed"]:
            return
        state["armed"] = False
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise RenderStopped(signum, what)

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield done
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def format_for(path: Path, rate: int | None = None) -> str:
    """The soundfile format for ``path``'s extension, or a ``ConfigError`` saying what would work.

    Checked before any work is done, so a long render never fails at the end.
    """
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; give a file name such as {path / 'session.wav'}")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        choices = ", ".join(sorted(FORMATS))
        raise ConfigError(
            f"{path}: unknown audio format '{path.suffix or '(none)'}'; use one of {choices}"
        )
    if fmt not in sf.available_formats():
        raise ConfigError(f"{path}: this libsndfile cannot write {fmt}; use .wav or .flac")
    if fmt == "MP3" and rate is not None and rate not in MP3_RATES:
        rates = ", ".join(str(r) for r in MP3_RATES)
        raise ConfigError(f"{path}: MP3 cannot be written at {rate} Hz; use --rate {rates}")
    return fmt


def render_file(mixer: Mixer, path: Path, progress: Progress | None = None) -> None:
    """Write the whole session to ``path`` (format from its extension), atomically."""
    fmt = format_for(path, mixer.timeline.rate)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ConfigError(f"{path}: folder {folder} {what}")
    tmp: str | None = None
    with stop_on_signals() as done:
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
            os.close(fd)
            _write(mixer, Path(tmp), fmt, progress)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp made it 0600; a render is a normal file
            done()
            os.replace(tmp, path)
        except (sf.LibsndfileError, OSError) as exc:
            if tmp is None:
                raise OutputError(
                    f"{path}: cannot write in {folder}: {_reason(exc, folder)}"
                ) from None
            reason = _reason(exc, folder)  # before the unlink frees the space it looks for
            Path(tmp).unlink(missing_ok=True)
            raise OutputError(f"{path}: cannot write the audio file: {reason}") from None
        except BaseException:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            raise


def _write(mixer: Mixer, tmp: Path, fmt: str, progress: Progress | None) -> None:
    if fmt == "WAV":  # the same writer as the stream: exact header first, then 16-bit blocks
        with open(tmp, "wb") as f:
            render_wav_stream(mixer, f, progress)
        return
    subtype = SUBTYPES[fmt]
    with sf.SoundFile(
        str(tmp), "w", samplerate=mixer.timeline.rate, channels=mixer.channels, format=fmt,
        subtype=subtype,
    ) as f:  # fmt: skip
        for block in mixer.blocks(BLOCK):
            f.write(pcm16(block) if subtype == "PCM_16" else block)
            if progress:
                progress(block.shape[0])


def pcm16(block: np.ndarray) -> np.ndarray:
    """A mixer block as little-endian int16: the very samples ``outputs.base.to_int16`` gives.

    The mixer's last step, its limiter, keeps every sample within -2 dBFS, so
    the clip ``to_int16`` does cannot change one here and is left out, and the
    block (fresh from ``Mixer.render``, used once) is scaled and rounded in
    place: 3 passes over it instead of 5 and no temporary, a tenth of a
    60-minute render's time. Tests compare the two on rendered sessions.
    """
    np.multiply(block, INT16_SCALE, out=block)
    np.rint(block, out=block)
    return block.astype("<i2")


def _umask() -> int:
    """The process umask (read by setting it and putting it back: Python has no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _reason(exc: Exception, folder: Path) -> str:
    """Why a write failed, in words; libsndfile says only "System error." for a full disk."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    try:
        stat = os.statvfs(folder)
        if stat.f_bavail * stat.f_frsize < 1 << 16:
            return NO_SPACE
    except (OSError, AttributeError):
        pass
    return str(exc)


def render_stdout(mixer: Mixer) -> None:
    """Stream WAV to standard output; every way it can fail is one ``OutputError`` (exit 1).

    A closed stdout, ``/dev/full`` or a reader that stops early (``| head``)
    each get a message. After a failure stdout is pointed at ``/dev/null``, as
    the Python docs advise for SIGPIPE, so the interpreter's final flush
    cannot print a second, noisy error.
    """
    stdout = sys.stdout
    if stdout is None or getattr(stdout, "closed", False):
        raise OutputError("standard output is closed; use -o FILE or pipe it (| aplay)")
    try:
        with stop_on_signals("the audio stream was cut short"):
            render_wav_stream(mixer, stdout.buffer)
    except OutputError:
        _detach(stdout)
        raise
    except OSError as exc:
        _detach(stdout)
        raise OutputError(
            f"cannot write the audio to standard output: {exc.strerror or exc}"
        ) from None


def _detach(stdout: object) -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())  # type: ignore[attr-defined]
        os.close(devnull)


def render_wav_stream(mixer: Mixer, stream: BinaryIO, progress: Progress | None = None) -> None:
    """Stream 16-bit WAV to a pipe: the header is exact because the length is known up front."""
    rate, channels = mixer.timeline.rate, mixer.channels
    data_bytes = (mixer.length - mixer.position) * channels * 2
    if data_bytes + 36 > 0xFFFFFFFF:
        raise ConfigError("the session is too long for a WAV stream; render to .flac instead")
    header = b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
    header += b"fmt " + struct.pack(
        "<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16
    )
    header += b"data" + struct.pack("<I", data_bytes)
    try:
        stream.write(header)
        for block in mixer.blocks(BLOCK):
            stream.write(pcm16(block).data)  # the array's own bytes: no copy
            if progress:
                progress(block.shape[0])
        stream.flush()
    except BrokenPipeError:
        raise OutputError("the program reading the audio stream closed it early") from None
