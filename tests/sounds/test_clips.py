"""Recorded clips: every format decodes, loudness matches, long ambience files loop in bounded memory."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from relaxplayer.errors import AssetError
from relaxplayer.sounds import clips
from tests.conftest import db
from tests.data.make_test_clips import RATE, SECONDS, make


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make(tmp_path_factory.mktemp("clips"))


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3", "m4a"])
def test_every_format_decodes_and_resamples(files: dict[str, Path], ext: str) -> None:
    if ext not in files:
        pytest.skip("ffmpeg is not installed")
    info = clips.probe(files[ext])
    assert abs(info.seconds - SECONDS) < 0.1 and info.rate == RATE
    data = clips.load_clip(files[ext], 44100, channels=1)
    assert data.shape[1] == 1 and abs(data.shape[0] / 44100 - info.seconds) < 0.01
    spectrum = np.abs(np.fft.rfft(data[:, 0]))
    assert abs(np.fft.rfftfreq(len(data), 1 / 44100)[spectrum.argmax()] - 440) < 5
    assert data[0, 0] == 0.0 and abs(data[-1, 0]) < 1e-3  # ramped at both ends


def test_loud_and_quiet_clips_come_out_equally_loud(files: dict[str, Path]) -> None:
    loud = clips.load_clip(files["loud"], 22050)
    quiet = clips.load_clip(files["quiet"], 22050)
    for x in (loud, quiet):
        assert abs(db(clips.active_rms(x, 22050)) - clips.SPEECH_RMS_DB) < 1.5
        assert np.max(np.abs(x)) <= clips.PEAK_LIMIT + 1e-6


def test_missing_and_undecodable_files_say_what_to_do(
    files: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(AssetError, match=r"nothere\.wav: file not found"):
        clips.probe(tmp_path / "nothere.wav")
    with pytest.raises(
        AssetError, match=r"broken\.wav: cannot decode: .*; convert it to WAV, FLAC or OGG"
    ):
        clips.probe(files["broken"])


def test_m4a_without_ffmpeg_names_ffmpeg(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "voice-memo.m4a"
    fake.write_bytes(b"\x00\x00\x00\x18ftypM4A ")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(
        AssetError, match=r"\.m4a files need ffmpeg; install it \(sudo apt install ffmpeg\)"
    ):
        clips.probe(fake)


def test_short_loop_crossfades_seamlessly(files: dict[str, Path]) -> None:
    loop = clips.open_loop(files["wav"], 22050)
    period = loop._loop.shape[0]
    x = loop.read(0, 3 * period)
    jumps = np.abs(np.diff(x[:, 0]))
    assert jumps[period - 1] <= jumps.max() * 1.01  # the wrap is no rougher than the tone itself


def test_long_loop_streams_from_the_cache(files: dict[str, Path]) -> None:
    loop = clips.open_loop(files["long"], 8000)
    assert isinstance(loop, clips.FileLoopSource)
    size = loop._size
    assert abs(size - (70 - clips.LOOP_CROSSFADE) * 8000) < 10
    x = loop.read(size - 4000, 8000)  # across the wrap
    # no step at the wrap: at most the tone's own slope, which an equal-power crossfade of a
    # signal with itself (in phase) can raise by up to sqrt(2)
    assert np.abs(np.diff(x[:, 0])).max() <= 2 * np.pi * 220 / 8000 * 0.3 * np.sqrt(2) * 1.02
    again = clips.open_loop(files["long"], 8000)  # second time: straight from the cache
    assert np.array_equal(again.read(0, 1000), loop.read(0, 1000))


def test_ambience_files_are_levelled_like_the_built_in_ones(files: dict[str, Path]) -> None:
    # measured past the crossfade, where a tone folded onto itself in phase is up to 3 dB louder
    short = clips.open_loop(files["quiet"], 8000).read(4000, 4000)
    long = clips.open_loop(files["long"], 8000).read(80000, 8000)
    for x in (short, long):
        assert abs(db(float(np.sqrt(np.mean(x**2)))) - clips.AMBIENCE_RMS_DB) < 0.5
        assert np.max(np.abs(x)) <= clips.PEAK_LIMIT + 1e-6


def test_a_recorded_voice_clip_is_loudness_matched_without_dc(files: dict[str, Path]) -> None:
    if "speech" not in files:
        pytest.skip("espeak-ng is not installed")
    x = clips.load_clip(files["speech"], 16000)
    assert abs(db(clips.active_rms(x, 16000)) - clips.SPEECH_RMS_DB) < 1.0
    assert abs(float(np.mean(x))) < 1e-3
    assert np.max(np.abs(x)) <= clips.PEAK_LIMIT + 1e-6


def test_m4a_that_ffmpeg_cannot_read_says_so(tmp_path: Path) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    fake = tmp_path / "voice-memo.m4a"
    fake.write_bytes(b"\x00\x00\x00\x18ftypM4A " + bytes(200))
    with pytest.raises(
        AssetError,
        match=r"voice-memo\.m4a: cannot decode with ffmpeg: .+; convert it to WAV, FLAC or OGG",
    ):
        clips.probe(fake)


@pytest.mark.parametrize("limit", [clips.PYDUB_MAX_SECONDS, 0.0], ids=["pydub", "streaming"])
def test_m4a_decodes_alike_through_pydub_and_streaming_ffmpeg(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: float
) -> None:
    """Short phone clips go through pydub; long files stream through ffmpeg: same samples."""
    if "m4a" not in files:
        pytest.skip("ffmpeg is not installed")
    monkeypatch.setenv("RELAXPLAYER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(clips, "PYDUB_MAX_SECONDS", limit)
    decoded = clips.readable(files["m4a"])
    assert decoded.parent == tmp_path / "cache" / "decoded"
    data, rate = sf.read(decoded, dtype="int16")
    reference, _ = sf.read(files["wav"], dtype="int16")
    assert rate == RATE and abs(len(data) - len(reference)) < 0.05 * RATE
    broken = tmp_path / "voice-memo.m4a"
    broken.write_bytes(b"\x00\x00\x00\x18ftypM4A " + bytes(200))
    with pytest.raises(AssetError, match=r"voice-memo\.m4a: cannot decode with ffmpeg: .+"):
        clips.readable(broken)
    assert not list((tmp_path / "cache" / "decoded").glob("*.part"))  # nothing half-written
