"""Render a mixer to an audio file or a stream, block by block.

The file appears only when the render succeeded: samples go to a temporary
file beside the target, which is renamed into place at the end, so a crash or
Ctrl-C never leaves a half-written file under the user's chosen name.
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import soundfile as sf

from relaxplayer.errors import ConfigError, OutputError
from relaxplayer.mixer import Mixer
from relaxplayer.outputs.base import to_int16

FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG", ".mp3": "MP3"}
SUBTYPES = {"WAV": "PCM_16", "FLAC": "PCM_16", "OGG": "VORBIS", "MP3": "MPEG_LAYER_III"}
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)  # MPEG-1/2/2.5
BLOCK = 32768  # frames per render block: large enough to amortise numpy overhead, small in memory

Progress = Callable[[int], None]


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
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write in {folder}: {exc.strerror}") from None
    os.close(fd)
    try:
        if fmt == "WAV":  # the same writer as the stream: exact header first, then 16-bit blocks
            with open(tmp, "wb") as f:
                render_wav_stream(mixer, f, progress)
        else:
            with sf.SoundFile(
                tmp,
                "w",
                samplerate=mixer.timeline.rate,
                channels=mixer.channels,
                format=fmt,
                subtype=SUBTYPES[fmt],
            ) as f:
                for block in mixer.blocks(BLOCK):
                    f.write(to_int16(block) if SUBTYPES[fmt] == "PCM_16" else block)
                    if progress:
                        progress(block.shape[0])
        os.replace(tmp, path)
    except (sf.LibsndfileError, OSError) as exc:
        Path(tmp).unlink(missing_ok=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise OutputError(f"{path}: cannot write the audio file: {reason}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
            stream.write(to_int16(block).tobytes())
            if progress:
                progress(block.shape[0])
        stream.flush()
    except BrokenPipeError:
        raise OutputError("the program reading the audio stream closed it early") from None
