"""Real synthesis with Piper and espeak-ng: it is speech, it is cached, the cache heals."""

from __future__ import annotations

import hashlib
import multiprocessing
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from relaxplayer.errors import AssetError
from relaxplayer.model import Voice
from relaxplayer.sounds import clips, speech, text, wavcache
from relaxplayer.sounds.speech import Narrator, espeak_binary, piper_available
from tests.conftest import db
from tests.data.make_test_clips import make

SENTENCE = "Let your shoulders drop, and breathe out slowly. Notice the floor beneath your feet."
ENGINES = [
    pytest.param(
        "piper", marks=pytest.mark.skipif(not piper_available(), reason="piper-tts not installed")
    ),
    pytest.param(
        "espeak",
        marks=pytest.mark.skipif(espeak_binary() is None, reason="espeak-ng not installed"),
    ),
]


def band_fraction(x: np.ndarray, rate: int, lo: float, hi: float) -> float:
    power = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / rate)
    return float(power[(f >= lo) & (f <= hi)].sum() / power.sum())


@pytest.mark.voice
@pytest.mark.parametrize("engine", ENGINES)
def test_synthesized_clip_is_speech(engine: str, tmp_path: Path) -> None:
    narrator = Narrator(Voice(engine=engine), cache_dir=tmp_path)
    assert narrator.engine == engine
    data = narrator.load(SENTENCE, 16000)[:, 0]
    words = text.word_count(SENTENCE)
    seconds = len(data) / 16000
    assert words / 4.0 < seconds < words / 1.5  # 90 to 240 words a minute, plus the sentence pause
    assert band_fraction(data, 16000, 100, 4000) > 0.9  # energy in the speech band
    assert abs(db(clips.active_rms(data[:, None], 16000)) - clips.SPEECH_RMS_DB) < 1.5
    frames = 160  # 10 ms
    levels = np.sqrt(np.mean(data[: len(data) // frames * frames].reshape(-1, frames) ** 2, axis=1))
    assert np.mean(levels > 0.01) > 0.5  # mostly voiced, not silence
    gap = int(0.3 * 16000)
    quiet = np.convolve(np.abs(data) < 0.01, np.ones(gap), "valid") == gap
    assert quiet.any()  # the pause between the two sentences


@pytest.mark.voice
def test_piper_words_are_intelligible(tmp_path: Path) -> None:
    pocketsphinx = pytest.importorskip("pocketsphinx")
    if not piper_available():
        pytest.skip("piper-tts not installed")
    narrator = Narrator(Voice(engine="piper"), cache_dir=tmp_path)
    audio = narrator.load("Please open the window.", 16000)[:, 0]
    decoder = pocketsphinx.Decoder(samprate=16000, loglevel="FATAL")
    decoder.start_utt()
    decoder.process_raw((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes(), full_utt=True)
    decoder.end_utt()
    heard = (decoder.hyp().hypstr if decoder.hyp() else "").lower().split()
    assert len({"please", "open", "the", "window"} & set(heard)) >= 2, heard


@pytest.mark.voice
def test_second_request_is_a_cache_hit(tmp_path: Path) -> None:
    narrator = Narrator(Voice(engine="espeak"), cache_dir=tmp_path)
    first = narrator.synthesize("A line to cache.")
    mtime = first.stat().st_mtime_ns
    start = time.perf_counter()
    again = Narrator(Voice(engine="espeak"), cache_dir=tmp_path).synthesize("A line to cache.")
    assert again == first and again.stat().st_mtime_ns == mtime
    assert time.perf_counter() - start < 0.5
    assert narrator.length("A line to cache.", 16000) == round(
        sf.info(str(first)).frames * 16000 / 22050
    )
    assert (
        Narrator(Voice(engine="espeak", speed=0.8), cache_dir=tmp_path).cached("A line to cache.")
        is None
    )


@pytest.mark.voice
def test_a_truncated_cache_entry_is_detected_and_made_again(tmp_path: Path) -> None:
    narrator = Narrator(Voice(engine="espeak"), cache_dir=tmp_path)
    path = narrator.synthesize("Heal me.")
    good = sf.read(str(path))[0]
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # a crash mid-write, say
    assert narrator.cached("Heal me.") is None and not path.exists()
    assert np.array_equal(sf.read(str(narrator.synthesize("Heal me.")))[0], good)


def _synthesize_once(folder: str, engine: str, line: str, go: Any, results: Any) -> None:
    narrator = Narrator(Voice(engine=engine), cache_dir=Path(folder))
    narrator.cache_key(line)  # model hashed before the race starts
    go.wait()
    path = narrator.synthesize(line)
    results.put((str(path), hashlib.sha256(path.read_bytes()).hexdigest()))


@pytest.mark.voice
@pytest.mark.parametrize("engine", ENGINES)
def test_processes_synthesizing_the_same_line_at_once_get_one_identical_file(
    engine: str, tmp_path: Path
) -> None:
    """Piper never says a line the same way twice: the first finished writer must win."""
    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    line = "Two processes say this line at the same moment."
    procs = [
        ctx.Process(target=_synthesize_once, args=(str(tmp_path), engine, line, go, results))
        for _ in range(3)
    ]
    for proc in procs:
        proc.start()
    go.set()
    got = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    assert len(set(got)) == 1  # same path, same bytes seen by every process
    path = Path(got[0][0])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == got[0][1]
    assert [p.name for p in (tmp_path / "speech").iterdir()] == [path.name]  # no .part left


def _synthesize(args: tuple[str, str]) -> str:
    folder, line = args
    return str(Narrator(Voice(engine="espeak"), cache_dir=Path(folder)).synthesize(line))


@pytest.mark.voice
def test_two_prepare_runs_at_once_do_not_clobber(tmp_path: Path) -> None:
    lines = [f"Line number {i}, spoken twice at once." for i in range(6)] * 2
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        paths = pool.map(_synthesize, [(str(tmp_path), line) for line in lines])
    assert len(set(paths)) == 6
    for path in set(paths):
        assert wavcache.read_wav(Path(path)) is not None
    assert list((tmp_path / "speech").glob("*.part")) == []


def test_missing_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import relaxplayer.sounds.speech as speech

    monkeypatch.setattr(speech, "espeak_binary", lambda: None)
    with pytest.raises(
        AssetError, match=r"espeak-ng is not installed; install it with sudo apt install espeak-ng"
    ):
        Narrator(Voice(engine="espeak"))
    monkeypatch.setattr(speech, "piper_available", lambda: False)
    assert Narrator(Voice(engine="auto")).engine == "none"


def _engine_or_skip(engine: str) -> None:
    if engine == "piper" and not piper_available():
        pytest.skip("piper-tts not installed")
    if engine == "espeak" and espeak_binary() is None:
        pytest.skip("espeak-ng not installed")


@pytest.mark.voice
@pytest.mark.parametrize("engine", ["piper", "espeak"])
def test_cache_hit_does_not_synthesize_and_length_matches_load(engine: str, tmp_path: Path) -> None:
    _engine_or_skip(engine)
    narrator = Narrator(Voice(engine=engine), cache_dir=tmp_path)
    line = "Rest your hands in your lap."
    assert narrator.cached(line) is None and narrator.length(line, 16000) is None
    narrator.synthesize(line)
    narrator.synthesize(line)
    data = narrator.load(line, 16000)
    assert narrator.syntheses == 1
    assert narrator.length(line, 16000) == data.shape[0]
    estimate = narrator.estimate(line, 16000)
    assert 0.75 < estimate / data.shape[0] < 1.33  # good enough for show's timings


@pytest.mark.voice
def test_a_damaged_entry_of_full_length_is_caught_by_its_checksum(tmp_path: Path) -> None:
    if espeak_binary() is None:
        pytest.skip("espeak-ng not installed")
    narrator = Narrator(Voice(engine="espeak"), cache_dir=tmp_path)
    path = narrator.synthesize("Flip a bit.")
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x40  # bit rot: same length, header intact
    path.write_bytes(bytes(blob))
    assert narrator.length("Flip a bit.", 16000) is None  # length checks the checksum too
    assert narrator.cached("Flip a bit.") is None and not path.exists()
    data = narrator.load("Flip a bit.", 16000)
    assert narrator.syntheses == 2 and np.max(np.abs(data)) > 0.1


@pytest.mark.voice
@pytest.mark.parametrize("engine", ["piper", "espeak"])
def test_slower_speed_makes_a_longer_clip(engine: str, tmp_path: Path) -> None:
    _engine_or_skip(engine)
    line = "Let the breath slow down by itself."
    normal = Narrator(Voice(engine=engine), cache_dir=tmp_path).load(line, 16000)
    slow = Narrator(Voice(engine=engine, speed=0.7), cache_dir=tmp_path).load(line, 16000)
    assert 1.2 < slow.shape[0] / normal.shape[0] < 1.7


@pytest.mark.voice
def test_speech_and_recorded_clips_come_out_equally_loud(tmp_path: Path) -> None:
    if espeak_binary() is None:
        pytest.skip("espeak-ng not installed")
    files = make(tmp_path / "clips")
    voice = Narrator(Voice(engine="auto"), cache_dir=tmp_path).load(SENTENCE, 16000)
    levels = [db(clips.active_rms(voice, 16000))]
    for name in ("loud", "quiet", "speech"):
        levels.append(db(clips.active_rms(clips.load_clip(files[name], 16000), 16000)))
    assert max(levels) - min(levels) < 1.5, levels


def test_piper_voice_must_speak_the_session_language(tmp_path: Path) -> None:
    if not piper_available() or speech._piper_default() is None:
        pytest.skip("piper-tts or the bundled voice not installed")
    default = speech._piper_default()
    with pytest.raises(
        AssetError,
        match=r"en_US-joe-medium\.onnx: this Piper voice speaks en_US, but the session's language "
        r"is de; set voice\.model to a de voice, or use voice: \{engine: espeak\}",
    ):
        Narrator(Voice(engine="piper", language="de"), cache_dir=tmp_path)
    assert Narrator(Voice(engine="auto", language="en-GB")).engine == "piper"
    if espeak_binary() is not None:  # auto picks a voice that speaks the language
        assert Narrator(Voice(engine="auto", language="de")).voice_id == "espeak-ng:de"
    copy = tmp_path / "mine.onnx"
    copy.symlink_to(default)
    with pytest.raises(
        AssetError, match=r"mine\.onnx: the voice's config mine\.onnx\.json is missing"
    ):
        Narrator(Voice(engine="piper", model=copy))
    with pytest.raises(AssetError, match=r"nothere\.onnx: Piper voice model not found"):
        Narrator(Voice(engine="auto", model=tmp_path / "nothere.onnx"))


def test_engine_none_never_synthesizes(tmp_path: Path) -> None:
    narrator = Narrator(Voice(engine="none"), cache_dir=tmp_path)
    assert (narrator.engine, narrator.voice_id, narrator.available) == ("none", "none", False)
    with pytest.raises(AssetError, match=r"no voice engine is available; install piper-tts"):
        narrator.synthesize("Hello.")
    assert narrator.estimate("one two three four five", 1000) > 1000


def test_cache_key_covers_what_changes_the_sound(tmp_path: Path) -> None:
    if espeak_binary() is None:
        pytest.skip("espeak-ng not installed")
    base = Narrator(Voice(engine="espeak"), cache_dir=tmp_path)
    keys = {
        base.cache_key("Hello."),
        base.cache_key("Hello!"),
        Narrator(Voice(engine="espeak", speed=0.9)).cache_key("Hello."),
        Narrator(Voice(engine="espeak", language="en-gb")).cache_key("Hello."),
    }
    assert len(keys) == 4
    assert Narrator(Voice(engine="espeak"), cache_dir=tmp_path).cache_key("Hello.") in keys


def test_model_digest_is_memoised_in_the_narrators_own_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAXPLAYER_CACHE", str(tmp_path / "user"))
    monkeypatch.setattr(speech, "piper_available", lambda: True)
    model = tmp_path / "voice.onnx"
    model.write_bytes(b"not really weights")
    Path(f"{model}.json").write_text('{"language": {"code": "en_US"}}', encoding="utf-8")
    narrator = Narrator(Voice(engine="piper", model=model), cache_dir=tmp_path / "mine")
    narrator.cache_key("Hello.")  # hashes the model; no synthesis
    assert len(list((tmp_path / "mine" / "digests").iterdir())) == 1
    assert not (tmp_path / "user").exists()


def test_narrator_reads_english_rules_only_for_english_voices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(speech, "espeak_binary", lambda: "espeak-ng")  # never run here
    spoken: list[str] = []

    def fake_espeak(self: Narrator, sentence: str) -> np.ndarray:
        spoken.append(sentence)
        return np.full(100, 0.5, np.float32)

    monkeypatch.setattr(Narrator, "_espeak", fake_espeak)
    Narrator(Voice(engine="espeak", language="de"))._speak("Atme ein. 4 Sekunden, z.B. bei 10:30.")
    Narrator(Voice(engine="espeak", language="en-GB"))._speak("Breathe in. 4 more, at 10:30.")
    assert spoken == [
        "Atme ein.",
        "4 Sekunden, z.B. bei 10:30.",
        "Breathe in.",
        "Four more, at ten thirty.",
    ]
    line = "Hold 1234 breaths."
    german = Narrator(Voice(engine="espeak", language="de")).estimate(line, 1000)
    english = Narrator(Voice(engine="espeak", language="en")).estimate(line, 1000)
    assert english > german  # "one thousand two hundred and thirty-four" is six words more


@pytest.mark.voice
def test_an_unknown_espeak_language_says_how_to_find_one(tmp_path: Path) -> None:
    if espeak_binary() is None:
        pytest.skip("espeak-ng not installed")
    narrator = Narrator(Voice(engine="espeak", language="xx"), cache_dir=tmp_path)
    with pytest.raises(
        AssetError, match=r"espeak-ng cannot speak language 'xx': .*espeak-ng --voices"
    ):
        narrator.synthesize("Hello.")


@pytest.mark.skipif(espeak_binary() is None, reason="espeak-ng not installed")
def test_a_reading_narrator_never_synthesizes_in_its_own_process(tmp_path: Path) -> None:
    reader = Narrator(Voice(engine="espeak"), tmp_path, synthesizes=False)
    with pytest.raises(AssetError, match="not synthesized yet"):
        reader.synthesize("Not made yet.")
    assert reader.syntheses == 0 and not list(tmp_path.glob("speech/*.wav"))
    Narrator(Voice(engine="espeak"), tmp_path).synthesize("Not made yet.")
    assert reader.synthesize("Not made yet.") == reader.path("Not made yet.")  # a cache hit


@pytest.mark.parametrize(
    ("sentence", "pieces"),
    [
        ("Breathe out slowly, and rest.", ["Breathe out slowly, and rest."]),  # short: whole
        (
            "If pain, stress or poor sleep go on for weeks, please talk to a doctor.",
            ["If pain, stress or poor sleep go on for weeks,", "please talk to a doctor."],
        ),
        (
            "When you are ready, let your eyes close, or let your gaze rest softly on the floor.",
            [
                "When you are ready, let your eyes close,",
                "or let your gaze rest softly on the floor.",
            ],
        ),
        (
            "Rest here a while \u2014 nothing to do, nowhere to go; just breathing, just being here.",
            [
                "Rest here a while \u2014 nothing to do,",
                "nowhere to go; just breathing, just being here.",
            ],
        ),
        (  # no clause punctuation: before a conjunction or preposition near the middle
            "For the next ten minutes you will breathe in for about five and a half seconds.",
            ["For the next ten minutes you will breathe in", "for about five and a half seconds."],
        ),
        (  # never before "and" (it joins nouns too), never 2 words from an end: whole
            "Place the ball between your spine and your left shoulder blade to rest it.",
            ["Place the ball between your spine and your left shoulder blade to rest it."],
        ),
    ],
)
def test_long_sentences_are_cut_into_few_balanced_clause_pieces(
    sentence: str, pieces: list[str]
) -> None:
    got = speech.clause_pieces(sentence, most=10)
    assert got == pieces
    assert " ".join(got) == sentence  # every word, every mark, in order


def test_only_english_clauses_are_cut_at_words_other_languages_at_punctuation() -> None:
    long_clause = "Atme ruhig ein und aus und lass die Schultern sinken for a while now."
    assert speech.clause_pieces(long_clause, most=8, language="de") == [long_clause]
    assert len(speech.clause_pieces(long_clause, most=8, language="en")) == 2
    german = "Atme ruhig ein und aus, und lass die Schultern ganz langsam sinken."
    assert speech.clause_pieces(german, most=8, language="de") == [
        "Atme ruhig ein und aus,",
        "und lass die Schultern ganz langsam sinken.",
    ]


def test_clause_pieces_of_a_sentence_are_joined_by_a_short_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pieces of one sentence get CLAUSE_PAUSE between them, sentences SENTENCE_PAUSE."""
    rate = 1000
    asked: list[str] = []

    def fake(self: Narrator, parts: list[str]) -> tuple[list[np.ndarray], int]:
        asked.extend(parts)
        return [np.full(100, 0.5, np.float32) for _ in parts], rate

    monkeypatch.setattr(speech, "piper_available", lambda: True)
    monkeypatch.setattr(Narrator, "_choose", lambda self, voice: ("piper", None))
    monkeypatch.setattr(Narrator, "_piper_sentences", fake)
    narrator = Narrator(Voice(engine="piper"), cache_dir=tmp_path)
    text_ = "Welcome. If pain, stress or poor sleep go on for weeks, please talk to a doctor."
    audio, got_rate = narrator._speak(text_)
    assert got_rate == rate and len(asked) == 3
    silent = np.abs(audio) < 1e-6
    edges = np.flatnonzero(np.diff(silent.astype(int)))  # starts and ends of the two gaps
    gaps = [(b - a) / rate for a, b in zip(edges[::2], edges[1::2], strict=True)]
    assert gaps == pytest.approx([speech.SENTENCE_PAUSE, speech.CLAUSE_PAUSE], abs=0.002)
