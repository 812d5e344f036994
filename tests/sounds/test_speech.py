"""Real synthesis with Piper and espeak-ng: it is speech, it is cached, the cache heals."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from relaxplayer.errors import AssetError
from relaxplayer.model import Voice
from relaxplayer.sounds import clips, text
from relaxplayer.sounds.speech import Narrator, espeak_binary, piper_available
from tests.conftest import db

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


def _synthesize(args: tuple[str, str]) -> str:
    folder, line = args
    return str(Narrator(Voice(engine="espeak"), cache_dir=Path(folder)).synthesize(line))


@pytest.mark.voice
def test_two_processes_synthesizing_at_once_do_not_clobber(tmp_path: Path) -> None:
    lines = [f"Line number {i}, spoken twice at once." for i in range(6)] * 2
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        paths = pool.map(_synthesize, [(str(tmp_path), line) for line in lines])
    assert len(set(paths)) == 6
    for path in set(paths):
        info = sf.info(path)
        assert info.frames > 0 and Path(path).stat().st_size >= 44 + info.frames * 2
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


def test_text_is_made_speakable() -> None:
    assert text.normalize("Breathe 4-7-8 for 2m, e.g. at 5.5 breaths.") == (
        "Breathe four, seven, eight for two minutes, for example at five point five breaths."
    )
    assert (
        text.normalize("Hold 1s, then 30 s, at 40%.")
        == "Hold one second, then thirty seconds, at forty percent."
    )
    assert text.number_words(1234) == "one thousand two hundred and thirty-four"
    assert text.sentences("Sit tall. Let go! Ready? Yes.") == [
        "Sit tall.",
        "Let go!",
        "Ready?",
        "Yes.",
    ]
