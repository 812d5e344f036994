"""Recorded clips and ambience files: probe, decode, resample, loudness-match, loop.

libsndfile (through soundfile) reads WAV, FLAC, OGG and MP3 block by block.
Phones record m4a/aac, which libsndfile cannot read: those are decoded once
into a WAV in the cache and read from there like any other file. A short
clip (a voice memo) is decoded by pydub, as the design card asks; pydub holds
the whole decoded file in memory, so a long one (an hour of ambience would be
635 MB) streams through ffmpeg straight to disk instead.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from relaxplayer import cache
from relaxplayer.errors import AssetError
from relaxplayer.sounds import loudness
from relaxplayer.sounds.base import LoopSource, Source
from relaxplayer.sounds.tones import ramp

FFMPEG_SUFFIXES = (".m4a", ".aac", ".mp4", ".m4b", ".3gp", ".wma", ".opus")
SPEECH_RMS_DB = (
    loudness.VOICE_LUFS
)  # narration and clips: integrated loudness (LUFS), see loudness.py
PEAK_LIMIT = 0.89  # -1 dBFS: ambience files are never pushed past this
GATE_DB = 35.0  # active_rms: windows this far below the loudest count as pauses, not speech
LOOP_IN_MEMORY_SECONDS = 60.0
LOOP_CROSSFADE = 2.0  # seconds of equal-power crossfade where an ambience file loops
AMBIENCE_RMS_DB = -20.0  # user ambience files, like the built-in ones, before the session's volume
LOOP_VERSION = 2  # bump when the cached long-loop WAVs change
BLOCK = 65536
PYDUB_MAX_SECONDS = 600.0  # decoded in memory by pydub up to here (100 MB at 44.1 kHz stereo)


def _sf():
    """soundfile, imported on first use: loading libsndfile costs ~70 ms of start-up otherwise."""
    import soundfile

    return soundfile


@dataclass(frozen=True)
class ClipInfo:
    frames: int
    rate: int
    channels: int

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


def readable(path: Path) -> Path:
    """The file soundfile will read: ``path`` itself, or a cached WAV decoded by ffmpeg."""
    if not path.is_file():
        raise AssetError(f"{path}: file not found")
    if path.suffix.lower() not in FFMPEG_SUFFIXES:
        return path
    stat = path.stat()
    target = (
        cache.cache_dir()
        / "decoded"
        / f"{cache.key(path.resolve(), stat.st_size, stat.st_mtime_ns)}.wav"
    )
    if target.is_file():
        return target
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AssetError(
            f"{path}: {path.suffix} files need ffmpeg; install it (sudo apt install ffmpeg) "
            "or convert the clip to WAV, FLAC or OGG"
        )
    seconds = _seconds(path)
    if seconds is None:  # ffprobe could not tell: guess from the size at 256 kbit/s
        seconds = path.stat().st_size / 32000
    short = seconds <= PYDUB_MAX_SECONDS
    decode = _pydub_to_wav if short else _ffmpeg_to_wav
    cache.atomic_write(target, lambda tmp: decode(ffmpeg, path, tmp))
    return target


def _seconds(path: Path) -> float | None:
    """A compressed file's duration from ffprobe (through pydub); None when it cannot tell."""
    from pydub.utils import mediainfo_json

    try:
        return float(mediainfo_json(str(path))["format"]["duration"])
    except (KeyError, ValueError, TypeError, OSError, IndexError):
        return None


def _pydub_to_wav(ffmpeg: str, source: Path, out: Path) -> None:
    """Decode a short clip with pydub (through ffmpeg) and write it as WAV."""
    from pydub import AudioSegment
    from pydub.exceptions import CouldntDecodeError

    AudioSegment.converter = ffmpeg
    try:
        segment = AudioSegment.from_file(str(source))
    except (CouldntDecodeError, OSError, IndexError) as exc:
        lines = str(exc).strip().splitlines()
        reason = next((ln for ln in reversed(lines) if ln.strip()), "unknown error")
        raise AssetError(
            f"{source}: cannot decode with ffmpeg: {reason.strip()}; convert it to WAV, FLAC or OGG"
        ) from None
    with open(out, "wb") as f:  # our handle: pydub leaves a path's file open
        segment.export(f, format="wav")


def _ffmpeg_to_wav(ffmpeg: str, source: Path, out: Path) -> None:
    """Decode a long file with ffmpeg straight to a 16-bit WAV file, streaming: memory stays flat."""
    cmd = [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(source)]
    cmd += ["-vn", "-f", "wav", "-c:a", "pcm_s16le", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        raise AssetError(
            f"{source}: cannot decode with ffmpeg: {reason}; convert it to WAV, FLAC or OGG"
        )


def probe(path: Path) -> ClipInfo:
    """Frames, rate and channels of an audio file; ``AssetError`` if it cannot be decoded."""
    source = readable(path)
    try:
        info = _sf().info(str(source))
    except (_sf().LibsndfileError, RuntimeError) as exc:
        raise AssetError(
            f"{path}: cannot decode: {_reason(exc)}; convert it to WAV, FLAC or OGG"
        ) from None
    if info.frames <= 0:
        raise AssetError(f"{path}: the file has no audio")
    return ClipInfo(info.frames, info.samplerate, info.channels)


def load_clip(path: Path, rate: int, channels: int = 1, normalize: bool = True) -> np.ndarray:
    """The whole clip as float32 ``(n, channels)`` at ``rate``, loudness-matched and ramped."""
    source = readable(path)
    try:
        data, file_rate = _sf().read(str(source), dtype="float32", always_2d=True)
    except (_sf().LibsndfileError, RuntimeError) as exc:
        raise AssetError(
            f"{path}: cannot decode: {_reason(exc)}; convert it to WAV, FLAC or OGG"
        ) from None
    data = resample(fit_channels(data, channels), file_rate, rate)
    data -= data.mean(axis=0, dtype=np.float64).astype(np.float32)  # no DC offset
    if normalize:
        data = normalize_loudness(data, rate)
    return ramp(data, rate, 0.005, 0.005)


def fit_channels(data: np.ndarray, channels: int) -> np.ndarray:
    """Down-mix to mono by averaging, or copy mono to every channel."""
    if data.shape[1] == channels:
        return data
    mono = data.mean(axis=1, keepdims=True, dtype=np.float32)
    return np.repeat(mono, channels, axis=1) if channels > 1 else mono


def resample(data: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """High-quality sample-rate conversion (libsoxr), float32 in and out."""
    if from_rate == to_rate:
        return np.ascontiguousarray(data, dtype=np.float32)
    return np.ascontiguousarray(
        soxr.resample(data, from_rate, to_rate, quality="HQ"), dtype=np.float32
    )


def active_rms(data: np.ndarray, rate: int) -> float:
    """RMS over the voiced parts: 50 ms windows within ``GATE_DB`` of the loudest one.

    A plain level figure for tests and diagnostics; levelling uses BS.1770
    loudness (``loudness_gain``).
    """
    mono = data.mean(axis=1) if data.ndim == 2 else data
    win = max(int(0.05 * rate), 1)
    n = mono.shape[0] // win
    if n == 0:
        return float(np.sqrt(np.mean(mono.astype(np.float64) ** 2)))
    power = np.mean(mono[: n * win].astype(np.float64).reshape(n, win) ** 2, axis=1)
    gate = power.max() * 10 ** (-GATE_DB / 10)
    voiced = power[power >= gate]
    return float(np.sqrt(voiced.mean())) if voiced.size else 0.0


def loudness_gain(data: np.ndarray, rate: int) -> float:
    """Linear gain that brings narration or a clip to ``loudness.VOICE_LUFS`` (1.0 for silence).

    The one place that decides how loud a voice line or a recording plays:
    BS.1770 integrated loudness, mono (channels averaged, as the mixer plays
    a clip). No peak cap: a gain cut for one loud consonant would leave the
    whole line quiet. Peaks are the limiters' job (``normalize_loudness`` on a
    whole clip, the master limiter on anything streamed).
    """
    mono = data.mean(axis=1) if data.ndim == 2 else data
    return loudness.line_gain(mono, rate)


def normalize_loudness(data: np.ndarray, rate: int) -> np.ndarray:
    """``data`` at the voice loudness, its true peak held at ``loudness.LINE_CEILING_DBTP``.

    The peaks are held by a gentle look-ahead limiter on the clip itself
    (``loudness.limit_peaks``), so short and long lines, quiet and punchy
    recordings all come out equally loud.
    """
    return loudness.level_line(data, rate)


def open_loop(path: Path, rate: int) -> Source:
    """An ambience file as an endless stereo loop whose end crossfades into its start.

    Short files (up to ``LOOP_IN_MEMORY_SECONDS``) are held in memory; longer
    ones are converted once into a looped WAV at ``rate`` in the cache and
    streamed from it, so memory stays bounded however long the file. Either way
    the level is brought to ``AMBIENCE_RMS_DB`` RMS, like the built-in ambiences,
    so a session's background ``volume`` means the same for both.
    """
    info = probe(path)
    if info.seconds <= LOOP_IN_MEMORY_SECONDS:
        data = load_clip(path, rate, channels=2, normalize=False)
        data *= np.float32(_ambience_gain(float(np.sum(data.astype(np.float64) ** 2)), data))
        return LoopSource(crossfade_loop(data, int(LOOP_CROSSFADE * rate)))
    stat = path.stat()
    name = cache.key(path.resolve(), stat.st_size, stat.st_mtime_ns, rate, LOOP_VERSION)
    target = cache.cache_dir() / "loops" / f"{name}.wav"
    if not target.is_file():
        cache.atomic_write(target, lambda tmp: _write_long_loop(readable(path), info, rate, tmp))
    return FileLoopSource(target)


def crossfade_loop(data: np.ndarray, fade: int) -> np.ndarray:
    """Fold the last ``fade`` frames over the first with an equal-power crossfade.

    The result, played over and over, is continuous: its last frame is
    followed by what originally followed it in the file.
    """
    fade = min(fade, data.shape[0] // 3)
    if fade <= 0:
        return data
    body = data[: data.shape[0] - fade].copy()
    body[:fade] = fold(data[:fade], data[data.shape[0] - fade :])
    return body


def fold(head: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """Equal-power crossfade from ``tail`` (fading out) into ``head`` (fading in), same length."""
    t = (np.arange(head.shape[0], dtype=np.float32) + 0.5) / head.shape[0]
    return head * np.sin(0.5 * np.pi * t)[:, None] + tail * np.cos(0.5 * np.pi * t)[:, None]


def _ambience_gain(sum_squares: float, data_or_peak: np.ndarray | float, frames: int = 0) -> float:
    """Gain to ``AMBIENCE_RMS_DB`` RMS (over all samples: ambience has no pauses), peak <= -1 dBFS."""
    if isinstance(data_or_peak, np.ndarray):
        frames, peak = data_or_peak.size, float(np.max(np.abs(data_or_peak), initial=0.0))
    else:
        frames, peak = frames * 2, float(data_or_peak)
    rms = float(np.sqrt(sum_squares / max(frames, 1)))
    if rms <= 1e-6 or peak <= 0:
        return 1.0
    return min(10 ** (AMBIENCE_RMS_DB / 20) / rms, PEAK_LIMIT / peak)


def _write_long_loop(source: Path, info: ClipInfo, rate: int, out: Path) -> None:
    """Stream-convert a long file to ``rate`` stereo, then write it levelled as a crossfaded loop.

    Two passes, one block (``BLOCK`` frames) in memory at a time: the first
    resamples into a float WAV and measures RMS and peak, the second applies
    the gain and folds the tail over the head.
    """
    fade = int(LOOP_CROSSFADE * rate)
    converted = out.with_suffix(".tmp.wav")
    sf = _sf()
    try:
        sum_squares, peak = 0.0, 0.0
        stream = soxr.ResampleStream(info.rate, rate, 2, dtype="float32", quality="HQ")
        with sf.SoundFile(str(converted), "w", samplerate=rate, channels=2, subtype="FLOAT") as dst:
            blocks = sf.blocks(str(source), blocksize=BLOCK, dtype="float32", always_2d=True)
            for block in itertools.chain(blocks, [None]):  # None: flush the resampler
                if block is None:
                    part = stream.resample_chunk(np.zeros((0, 2), np.float32), last=True)
                else:
                    part = stream.resample_chunk(fit_channels(block, 2))
                sum_squares += float(np.sum(part.astype(np.float64) ** 2))
                peak = max(peak, float(np.max(np.abs(part), initial=0.0)))
                dst.write(part)
        with (
            sf.SoundFile(str(converted)) as src,
            sf.SoundFile(
                str(out), "w", samplerate=rate, channels=2, subtype="FLOAT", format="WAV"
            ) as dst,
        ):
            gain = np.float32(_ambience_gain(sum_squares, peak, src.frames))
            total = src.frames
            src.seek(total - fade)
            tail = src.read(fade, dtype="float32", always_2d=True)
            src.seek(0)
            head = src.read(fade, dtype="float32", always_2d=True)
            dst.write(fold(head, tail) * gain)
            remaining = total - 2 * fade
            while remaining > 0:
                block = src.read(min(BLOCK, remaining), dtype="float32", always_2d=True)
                dst.write(block * gain)
                remaining -= block.shape[0]
    finally:
        converted.unlink(missing_ok=True)


class FileLoopSource:
    """An endless loop streamed from a (cached, already crossfaded) WAV file."""

    def __init__(self, path: Path) -> None:
        self._file = _sf().SoundFile(str(path))
        self._size = self._file.frames
        self.channels = self._file.channels
        self.length: int | None = None

    def read(self, offset: int, n: int) -> np.ndarray:
        out = np.empty((n, self.channels), dtype=np.float32)
        done = 0
        while done < n:
            start = (offset + done) % self._size
            count = min(n - done, self._size - start)
            self._file.seek(start)
            out[done : done + count] = self._file.read(count, dtype="float32", always_2d=True)
            done += count
        return out

    def release(self) -> None:
        """The file stays open: the background plays all session long."""


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text.split(": ", 1)[-1] if ": " in text else text
