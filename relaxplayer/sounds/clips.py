"""Recorded clips and ambience files: probe, decode, resample, loudness-match, loop.

libsndfile (through soundfile) reads WAV, FLAC, OGG and MP3 block by block.
Phones record m4a/aac, which libsndfile cannot read: those are decoded once
into a WAV in the cache and read from there like any other file. A short
clip (a voice memo) is decoded by pydub, as the design card asks; pydub holds
the whole decoded file in memory, so a long one (an hour of ambience would be
635 MB) streams through ffmpeg straight to disk instead.

Clips (``play:`` and ``bell:`` files) are never decoded whole either: a
``ClipSource`` decodes and resamples block by block as the mixer reads, and
its level (DC offset and loudness gain) is measured once on an excerpt and
memoised in the cache, so a 6-hour recording costs what a 6-second one does.
Files are checked before use: an absurd header is refused with a message, and
NaN or infinite samples are played as silence (only those samples).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
LOOP_VERSION = 3  # bump when the cached long-loop WAVs change
# RF64: a plain WAV's 32-bit sizes stop at 4 GiB, 3.38 h of float stereo at 44.1 kHz, and a
# longer background would silently loop early; RF64 is WAV with 64-bit sizes (libsndfile).
LOOP_FORMAT = "RF64"
BLOCK = 65536
PYDUB_MAX_SECONDS = 600.0  # decoded in memory by pydub up to here (100 MB at 44.1 kHz stereo)
MIN_RATE, MAX_RATE = 1000, 384000  # Hz: a header outside this range is damage, not audio
MAX_CHANNELS = 8
EXCERPT_SECONDS = 180.0  # a clip's level is measured on its first 3 minutes (all of a shorter one)
SEEK_LEAD = 0.05  # seconds decoded before a seek target, so the resampler has settled there
RAMP_SECONDS = 0.005  # fade at both ends of a clip, so neither edge clicks
LEVEL_VERSION = 1  # bump when loudness_gain or the DC removal changes: memoised levels are remade


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
    if (found := _find_entry(target)) is not None:
        return found
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
    return _write_entry(target, lambda tmp: decode(ffmpeg, path, tmp))


def _cached_audio(path: Path, rate: int | None = None, channels: int | None = None) -> bool:
    """Whether a cached WAV is a regular file that libsndfile reads as sane audio.

    A symlink, FIFO or device, a file whose header libsndfile rejects, or one
    whose rate or channel count is not what this entry must have, is removed.
    """
    handle = cache.open_entry(path)
    if handle is None:
        return False
    try:
        with handle, _sf().SoundFile(handle) as f:
            ok = f.frames > 0 and MIN_RATE <= f.samplerate <= MAX_RATE
            ok = ok and (rate is None or f.samplerate == rate)
            ok = ok and (channels is None or f.channels == channels)
    except (_sf().LibsndfileError, RuntimeError, OSError):
        ok = False
    if not ok:
        cache.discard(path)
    return ok


def _find_entry(target: Path, rate: int | None = None, channels: int | None = None) -> Path | None:
    """A sane cached WAV for ``target``: in the cache, or in the scratch folder of this process."""
    for candidate in (target, cache.scratch_dir(create=False) / target.name):
        if _cached_audio(candidate, rate, channels):
            return candidate
    return None


def _write_entry(target: Path, write: Callable[[Path], None]) -> Path:
    """``cache.atomic_write`` to ``target``, or to a scratch folder when the cache is unwritable."""
    try:
        return cache.atomic_write(target, write)
    except OSError as exc:
        cache.unwritable(target.parent, exc)
    scratch = cache.scratch_dir() / target.name
    try:
        return cache.atomic_write(scratch, write)
    except OSError as exc:
        raise AssetError(
            f"cannot write to the cache folder {target.parent} nor to {scratch.parent}: "
            f"{exc.strerror or exc}; free some space or set RELAXPLAYER_CACHE to another folder"
        ) from None


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
    """Frames, rate and channels of an audio file; ``AssetError`` if it cannot be decoded.

    An absurd header is refused here, before anything is laid out from it: a
    40 KB file that claims 1 Hz would otherwise become a 16-minute session.
    """
    source = readable(path)
    try:
        with _quiet_decoder():
            info = _sf().info(str(source))
    except (_sf().LibsndfileError, RuntimeError) as exc:
        raise AssetError(
            f"{path}: cannot decode: {_reason(exc)}; convert it to WAV, FLAC or OGG"
        ) from None
    if not MIN_RATE <= info.samplerate <= MAX_RATE:
        raise AssetError(
            f"{path}: the header says {info.samplerate} Hz, but a sample rate must be between "
            f"{MIN_RATE} and {MAX_RATE} Hz; the file is damaged: export it again"
        )
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise AssetError(
            f"{path}: the header says {info.channels} channels, but a clip may have 1 to "
            f"{MAX_CHANNELS}; the file is damaged: export it again"
        )
    if info.frames <= 0:
        raise AssetError(f"{path}: the file has no audio")
    return ClipInfo(info.frames, info.samplerate, info.channels)


def load_clip(path: Path, rate: int, channels: int = 1, normalize: bool = True) -> np.ndarray:
    """The whole clip as float32 ``(n, channels)`` at ``rate``, loudness-matched and ramped.

    Holds the whole clip in memory: for short files (ambience loops up to
    ``LOOP_IN_MEMORY_SECONDS``); clips that play in a session use ``open_clip``.
    """
    source = readable(path)
    try:
        data, file_rate = _sf().read(str(source), dtype="float32", always_2d=True)
    except (_sf().LibsndfileError, RuntimeError) as exc:
        raise AssetError(
            f"{path}: cannot decode: {_reason(exc)}; convert it to WAV, FLAC or OGG"
        ) from None
    data = resample(fit_channels(finite(data), channels), file_rate, rate)
    data -= data.mean(axis=0, dtype=np.float64).astype(np.float32)  # no DC offset
    if normalize:
        data = normalize_loudness(data, rate)
    return ramp(data, rate, RAMP_SECONDS, RAMP_SECONDS)


def finite(block: np.ndarray) -> np.ndarray:
    """``block`` with NaN and infinite samples replaced by 0, in place (the rest untouched).

    One bad sample must not silence a whole clip: through the resampler and
    the level measurement a single NaN would spread to everything.
    """
    if not np.isfinite(block).all():
        np.nan_to_num(block, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return block


def open_clip(path: Path, rate: int, channels: int, length: int) -> Source:
    """A clip as a streaming ``Source`` of exactly ``length`` frames at ``rate``.

    The samples equal ``load_clip``'s for a clip shorter than
    ``EXCERPT_SECONDS`` (trimmed or padded to ``length``); longer clips are
    levelled from their first ``EXCERPT_SECONDS``.
    """
    info = probe(path)
    offset, gain = clip_level(path, rate, channels)
    return ClipSource(readable(path), info, rate, channels, length, offset, gain)


_levels: dict[str, tuple[np.ndarray, float]] = {}


def clip_level(path: Path, rate: int, channels: int) -> tuple[np.ndarray, float]:
    """``(DC offset per channel, loudness gain)`` of a clip at ``rate``, memoised.

    Measured on the first ``EXCERPT_SECONDS`` (the only part ever held in
    memory at once, about 30 MB at 44.1 kHz) and kept in the cache (keyed by the file's path, size and mtime), so a bell
    file that rings fifty times, or a long recording, is analysed once.
    """
    info = path.stat()
    name = cache.key(
        path.resolve(), info.st_size, info.st_mtime_ns, rate, channels,
        EXCERPT_SECONDS, SPEECH_RMS_DB, PEAK_LIMIT, GATE_DB, LEVEL_VERSION,
    )  # fmt: skip
    if name not in _levels:
        found = cache.cached_array("levels", name, lambda: _measure_level(path, rate, channels))
        if found.shape != (channels + 1,):  # an entry of another shape: measure afresh
            found = _measure_level(path, rate, channels)
        _levels[name] = (np.array(found[1:], np.float32), float(found[0]))
    return _levels[name]


def _measure_level(path: Path, rate: int, channels: int) -> np.ndarray:
    """``[gain, offset_0, ...]`` float32 from the first ``EXCERPT_SECONDS`` of the clip."""
    info = probe(path)
    want = int(EXCERPT_SECONDS * info.rate)
    with _open_audio(path, readable(path)) as f:  # one read: at most EXCERPT_SECONDS in memory
        head = f.read(min(info.frames, want), dtype="float32", always_2d=True)
    data = resample(fit_channels(finite(head), channels), info.rate, rate)
    if data.shape[0] == 0:
        return np.array([1.0] + [0.0] * channels, dtype=np.float32)
    offset = data.mean(axis=0, dtype=np.float64).astype(np.float32)
    data -= offset
    gain = loudness_gain(data, rate)
    return np.array([gain, *offset], dtype=np.float32)


def _open_audio(path: Path, source: Path) -> Any:
    """``source`` (the file or its cached WAV) opened by libsndfile; ``AssetError`` if it cannot."""
    try:
        return _sf().SoundFile(str(source))
    except (_sf().LibsndfileError, RuntimeError, OSError) as exc:
        raise AssetError(
            f"{path}: cannot decode: {_reason(exc)}; convert it to WAV, FLAC or OGG"
        ) from None


class ClipSource:
    """A clip decoded, resampled and levelled block by block as it is read.

    Sequential reads (all the mixer does while playing) continue the decode;
    a read elsewhere (a seek) restarts it at the matching file position. Only
    about one ``BLOCK`` of the file is in memory, and nothing at all between
    a ``release`` and the next ``read``.
    """

    def __init__(
        self,
        source: Path,
        info: ClipInfo,
        rate: int,
        channels: int,
        length: int,
        offset: np.ndarray,
        gain: float,
    ) -> None:
        self._source, self._info, self._rate = source, info, rate
        self.channels, self.length = channels, length
        self._offset, self._gain = np.asarray(offset, np.float32), np.float32(gain)
        # the length of the whole clip resampled (soxr rounds half up), where the fade-out ends
        self._end = (2 * info.frames * rate + info.rate) // (2 * info.rate)
        self._file = None
        self._stream = None
        self._pos = 0  # output frame the next decoded sample belongs to
        self._pending = np.zeros((0, channels), np.float32)
        self._eof = False

    def read(self, offset: int, n: int) -> np.ndarray:
        out = np.zeros((n, self.channels), dtype=np.float32)
        lo, hi = max(offset, 0), min(offset + n, self.length or 0, self._end)
        if hi <= lo:
            return out
        if self._file is None or lo != self._pos:
            self._start(lo)
        got = self._take(hi - lo)
        got -= self._offset
        if self._gain != 1.0:
            got *= self._gain
        self._ramp(got, lo)
        out[lo - offset : lo - offset + got.shape[0]] = got
        return out

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file, self._stream = None, None
        self._pending = np.zeros((0, self.channels), np.float32)

    def _start(self, frame: int) -> None:
        """Position the decoder so that the next sample it gives is output frame ``frame``.

        The decode restarts at a point where input and output frames line up
        exactly (a multiple of ``rate / gcd``), ``SEEK_LEAD`` seconds early,
        and the frames before ``frame`` are dropped: the resampler has settled
        by then, so a seek gives the samples a decode from the start would.
        """
        self.release()
        self._file = _open_audio(self._source, self._source)
        g = math.gcd(self._info.rate, self._rate)
        step_in, step_out = self._info.rate // g, self._rate // g
        k = max(frame - int(SEEK_LEAD * self._rate), 0) // step_out
        self._file.seek(min(k * step_in, self._file.frames))
        if self._info.rate != self._rate:
            self._stream = soxr.ResampleStream(
                self._info.rate, self._rate, self.channels, dtype="float32", quality="HQ"
            )
        self._pos, self._eof = k * step_out, False
        while self._pos < frame and not (self._eof and not self._pending.shape[0]):
            self._take(min(frame - self._pos, BLOCK))
        self._pos = frame

    def _take(self, n: int) -> np.ndarray:
        """Up to ``n`` decoded frames at the output rate (fewer only at the end of the file)."""
        parts, have = [self._pending], self._pending.shape[0]
        while have < n and not self._eof:
            try:
                block = self._file.read(BLOCK, dtype="float32", always_2d=True)
            except (_sf().LibsndfileError, RuntimeError, OSError):  # damaged past the header
                block = np.zeros((0, self._file.channels), np.float32)
            if block.shape[0] == 0:
                self._eof = True
            block = fit_channels(finite(block), self.channels)
            if self._stream is not None:
                block = self._stream.resample_chunk(block, last=self._eof)
            parts.append(np.ascontiguousarray(block, dtype=np.float32))
            have += block.shape[0]
        data = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self._pending = data[n:]
        self._pos += min(n, data.shape[0])
        return data[:n].copy()

    def _ramp(self, data: np.ndarray, lo: int) -> None:
        """``tones.ramp``'s fades, applied to the frames ``[lo, lo + len(data))`` of the clip."""
        n = self._end
        a = min(int(RAMP_SECONDS * self._rate), n)
        r = min(int(RAMP_SECONDS * self._rate), n - a)
        hi = lo + data.shape[0]
        if a > 0 and lo < a:
            fade = (0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a)).astype(np.float32)
            data[: min(a, hi) - lo] *= fade[lo : min(a, hi)][:, None]
        if r > 0 and hi > n - r:
            fade = (0.5 + 0.5 * np.cos(np.pi * np.arange(1, r + 1) / r)).astype(np.float32)
            first = max(lo, n - r)
            data[first - lo :] *= fade[first - (n - r) : hi - (n - r)][:, None]


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
    found = _find_entry(target, rate, 2)
    if found is None:
        found = _write_entry(target, lambda tmp: _write_long_loop(readable(path), info, rate, tmp))
    return FileLoopSource(found)


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
        with sf.SoundFile(
            str(converted), "w", samplerate=rate, channels=2, subtype="FLOAT", format=LOOP_FORMAT
        ) as dst:
            blocks = sf.blocks(str(source), blocksize=BLOCK, dtype="float32", always_2d=True)
            for block in itertools.chain(blocks, [None]):  # None: flush the resampler
                if block is None:
                    part = stream.resample_chunk(np.zeros((0, 2), np.float32), last=True)
                else:
                    part = stream.resample_chunk(fit_channels(finite(block), 2))
                sum_squares += float(np.sum(part.astype(np.float64) ** 2))
                peak = max(peak, float(np.max(np.abs(part), initial=0.0)))
                dst.write(part)
        with (
            sf.SoundFile(str(converted)) as src,
            sf.SoundFile(
                str(out), "w", samplerate=rate, channels=2, subtype="FLOAT", format=LOOP_FORMAT
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
        return finite(out)

    def release(self) -> None:
        """The file stays open: the background plays all session long."""


def _reason(exc: Exception) -> str:
    """libsndfile's words, minus its guesses: "possibly a pipe?" is what it says of any file
    whose format it cannot recognise (a damaged MP3 among them)."""
    text = str(exc)
    text = text.split(": ", 1)[-1] if ": " in text else text
    if "possibly a pipe" in text or "not recognised" in text.lower():
        return "it is not in a format libsndfile recognises, or it is damaged"
    return text


@contextlib.contextmanager
def _quiet_decoder() -> Iterator[None]:
    """Keep a decoder's notes off the terminal while a file is probed.

    libmpg123 prints "Note: Illegal Audio-MPEG-Header …" straight to fd 2 for
    a damaged MP3; the probe's own message says what is wrong. Probes run
    while a session is loaded, before its sound starts (the outputs capture
    fd 2 while they play).
    """
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
