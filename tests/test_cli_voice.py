"""The command line and the voice: `prepare`, a user's own Piper voice, and sessions with no voice."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from relaxplayer.cli import main
from relaxplayer.sounds import speech

SPOKEN = """title: Spoken
steps:
  - say: Let your shoulders soften.
  - pause: 1s
  - say: Breathe out slowly.
"""


@pytest.fixture
def spoken(tmp_path: Path) -> Path:
    path = tmp_path / "spoken.yaml"
    path.write_text(SPOKEN)
    return path


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with neither Piper nor espeak-ng (neither can be uninstalled for one test)."""
    monkeypatch.setattr(speech, "piper_available", lambda: False)
    monkeypatch.setattr(speech, "espeak_binary", lambda: None)


def run(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_validate_warns_when_no_voice_can_speak_and_require_voice_fails(
    spoken: Path, no_engine: None
) -> None:
    result = run("validate", str(spoken))
    assert result.exit_code == 0
    assert f"{spoken}: warning: no voice engine is installed" in result.output
    assert "pip install 'relaxplayer[voice]'" in result.output
    strict = run("validate", str(spoken), "--require-voice")
    assert strict.exit_code == 2
    assert f"{spoken}: error: no voice engine is installed" in strict.output


def test_without_a_voice_render_uses_chimes_unless_a_voice_is_required(
    spoken: Path, no_engine: None, tmp_path: Path
) -> None:
    out = tmp_path / "out.wav"
    assert run("render", str(spoken), "-o", str(out)).exit_code == 0
    assert out.is_file()
    out.unlink()
    strict = run("render", str(spoken), "-o", str(out), "--require-voice")
    assert strict.exit_code == 2 and "no voice engine is installed" in strict.output
    assert not out.exists()
    off = run("play", str(spoken), "--voice", "none", "--require-voice", "--output", "null")
    assert off.exit_code == 2 and "the voice is turned off" in off.output


def test_a_session_without_words_needs_no_voice(tmp_path: Path, no_engine: None) -> None:
    path = tmp_path / "quiet.yaml"
    path.write_text("title: Quiet\nsteps:\n  - bell: soft\n  - pause: 1s\n")
    result = run("validate", str(path), "--require-voice")
    assert result.exit_code == 0 and "warning" not in result.output


@pytest.mark.voice
@pytest.mark.skipif(speech.espeak_binary() is None, reason="espeak-ng not installed")
def test_prepare_synthesizes_once_then_finds_everything_cached(spoken: Path) -> None:
    first = run("prepare", str(spoken), "--voice", "espeak")
    assert first.exit_code == 0
    assert "2 lines ready (2 synthesized now, espeak)" in first.output
    again = run("prepare", str(spoken), "--voice", "espeak")
    assert "2 lines ready (0 synthesized now, espeak)" in again.output
    shown = run("show", str(spoken), "--voice", "espeak")
    assert "~" not in shown.output  # exact lengths now: nothing estimated


@pytest.mark.voice
@pytest.mark.skipif(
    not speech.piper_available() or speech._piper_default() is None,
    reason="piper-tts and its bundled voice are not installed",
)
def test_a_users_own_piper_voice_validates_and_speaks(tmp_path: Path) -> None:
    bundled = speech._piper_default()
    assert bundled is not None
    voices = tmp_path / "voices"
    voices.mkdir()
    shutil.copyfile(bundled, voices / "mine.onnx")  # a copy: the loader resolves symlinks
    shutil.copyfile(f"{bundled}.json", voices / "mine.onnx.json")
    script = tmp_path / "mine.yaml"
    script.write_text(
        "title: Mine\nvoice: {engine: piper, model: voices/mine.onnx}\nsteps:\n  - say: Hello.\n"
    )
    assert run("validate", str(script)).exit_code == 0
    prepared = run("prepare", str(script))
    assert prepared.exit_code == 0 and "1 lines ready (1 synthesized now, piper)" in prepared.output
    (voices / "mine.onnx.json").unlink()
    broken = run("validate", str(script))
    assert broken.exit_code == 2
    assert "voice.model: the voice's config mine.onnx.json is missing" in broken.output


def test_play_with_no_argument_plays_the_default_session(tmp_path: Path) -> None:
    """What the file holds is what `render` writes: no wall clock is involved in the comparison.

    (Comparing its length with `show`'s seconds failed under load: the writer thread
    wrote silence until the main thread noticed the end. Anything after the
    rendered samples must be silence; with the player's non-real-time outputs there is none.)
    """
    out, rendered = tmp_path / "default.wav", tmp_path / "rendered.wav"
    result = run("play", "--output", f"file:{out}", "--plain", "--voice", "none", "--rate", "8000")
    assert result.exit_code == 0
    assert result.output.startswith("[0:00] Welcome to relaxplayer (")
    render = run("render", "default", "-o", str(rendered), "--voice", "none", "--rate", "8000")
    assert render.exit_code == 0
    played, _ = sf.read(out, dtype="int16")
    expected, _ = sf.read(rendered, dtype="int16")
    assert len(played) >= len(expected)
    assert np.array_equal(played[: len(expected)], expected)
    assert not np.any(played[len(expected) :])


def test_a_users_session_with_a_built_in_name_replaces_it_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = tmp_path / "config" / "sessions"
    sessions.mkdir(parents=True)
    mine = sessions / "box-breathing.yaml"
    mine.write_text("title: My box\nsteps:\n  - pause: 1s\n")
    monkeypatch.setenv("RELAXPLAYER_CONFIG", str(tmp_path / "config"))
    result = run("show", "box-breathing")
    assert result.exit_code == 0 and "My box" in result.output
    assert f"note: your {mine} is used instead of the built-in" in result.output
    listed = {r["name"]: r for r in json.loads(run("list", "--json").output)}
    assert listed["box-breathing"]["origin"] == "user" and "shadows" in listed["box-breathing"]


@pytest.mark.skipif(speech.espeak_binary() is None, reason="espeak-ng not installed")
def test_render_and_prepare_stay_all_or_nothing_when_a_line_cannot_be_spoken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_narration_worker import slow_espeak

    monkeypatch.setenv(
        "PATH", f"{slow_espeak(tmp_path / 'bin', 0)}{os.pathsep}{os.environ['PATH']}"
    )
    monkeypatch.setenv("RELAXPLAYER_CACHE", str(tmp_path / "cache"))
    script = tmp_path / "bad.yaml"
    script.write_text(
        "title: Bad\nvoice: {engine: espeak}\nsteps:\n  - say: Fine words.\n"
        "  - say: Unspeakable words.\n  - say: More fine words.\n"
    )
    out = tmp_path / "out.wav"
    rendered = run("render", str(script), "-o", str(out))
    assert rendered.exit_code == 1
    assert "error: cannot speak 'Unspeakable words.': espeak-ng cannot speak" in rendered.output
    assert not out.exists()
    prepared = run("prepare", str(script))
    assert prepared.exit_code == 1 and "cannot speak 'Unspeakable words.'" in prepared.output
    # the lines that could be spoken were made (and kept) all the same
    assert len(list((tmp_path / "cache" / "speech").glob("*.wav"))) == 2
