"""Damaged audio files and damaged caches: a clear message or correct sound, never a hang or crash.

Every file here is real: WAVs written with soundfile and then spoiled byte by
byte, FIFOs from ``os.mkfifo``, symlinks to ``/dev/zero``. They go through the
real loader, mixer and CLI.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from relaxplayer import cache
from relaxplayer.cli import main
from relaxplayer.errors import AssetError
from relaxplayer.mixer import SoundBank
from relaxplayer.sounds import clips, wavcache
from relaxplayer.timeline import SoundRef
from tests.conftest import make_mixer, render_all

RATE = 8000


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("RELAXPLAYER_CACHE", str(folder))
    getattr(clips, "_levels", {}).clear()  # getattr: the test also runs against older code
    if hasattr(cache, "notices"):
        cache.notices()
    return folder


def tone(path: Path, seconds: float, rate: int = RATE, subtype: str = "PCM_16") -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    data = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(path, data, rate, subtype=subtype)
    return data


@contextlib.contextmanager
def readonly(folder: Path) -> Iterator[None]:
    """Make ``folder`` read-only for the test: chmod, or (as root, whom chmod cannot stop) a
    read-only tmpfs mounted over it; skipped where neither works."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield
        folder.chmod(0o755)
        return
    copy = folder.with_name(folder.name + ".copy")
    os.rename(folder, copy)
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(folder)], check=False).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        subprocess.run(["cp", "-a", f"{copy}/.", str(folder)], check=True)
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=False)


# --- clips: absurd headers, NaN samples, long files --------------------------------------


def patch(path: Path, offset: int, value: int, size: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(value.to_bytes(size, "little"))


@pytest.mark.parametrize(
    ("offset", "value", "size", "message"),
    [
        (24, 1, 4, r"says 1 Hz, but a sample rate must be between 1000 and 384000 Hz"),
        (24, 999, 4, r"says 999 Hz"),
        (24, 500000, 4, r"says 500000 Hz"),
        (22, 0, 2, r"0 channels|cannot decode"),
        (22, 9, 2, r"9 channels, but a clip may have 1 to 8|cannot decode"),
    ],
    ids=["1Hz", "999Hz", "500kHz", "0ch", "9ch"],
)
def test_absurd_headers_are_refused_with_a_message(
    tmp_path: Path, offset: int, value: int, size: int, message: str
) -> None:
    path = tmp_path / "odd.wav"
    tone(path, 0.5)
    patch(path, offset, value, size)
    with pytest.raises(AssetError, match=rf"odd\.wav: .*({message})"):
        clips.probe(path)


def test_a_clip_with_no_frames_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, np.float32), RATE)
    with pytest.raises(AssetError, match=r"empty\.wav: (the file has no audio|cannot decode)"):
        clips.probe(path)


def test_an_absurd_header_is_a_session_error_not_a_long_session(tmp_path: Path) -> None:
    clip = tmp_path / "one-hertz.wav"
    tone(clip, 1.0)
    patch(clip, 24, 1, 4)
    script = tmp_path / "s.yaml"
    script.write_text("title: t\nsteps:\n  - play: one-hertz.wav\n")
    result = CliRunner().invoke(main, ["validate", str(script)])
    assert result.exit_code == 2 and "says 1 Hz" in result.output


def test_nan_samples_in_a_clip_are_silent_alone(tmp_path: Path, own_cache: Path) -> None:
    t = np.arange(2 * RATE) / RATE
    data = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    data[RATE : RATE + 10] = np.nan
    data[RATE + 100] = np.inf
    sf.write(tmp_path / "nan.wav", data, RATE, subtype="FLOAT")
    mixer = make_mixer(
        "title: t\nbackground: {sound: pink-noise, volume: 30%, fade_in: 0s}\n"
        "steps:\n  - play: nan.wav\n",
        rate=RATE,
        base=tmp_path,
    )
    out = render_all(mixer)
    assert np.isfinite(out).all() and out.shape[0] >= 2 * RATE
    second_half = out[RATE + 200 : 2 * RATE - 200, 0]
    assert np.sqrt(np.mean(second_half**2)) > 0.05  # the clip still plays after the NaNs


@pytest.mark.parametrize(
    ("seconds", "window"), [(3.0, (1.1, 1.9)), (70.0, (2.1, 3.0))], ids=["in-memory", "streamed"]
)
def test_nan_samples_in_an_ambience_file_do_not_drop_the_background(
    tmp_path: Path, own_cache: Path, seconds: float, window: tuple[float, float]
) -> None:
    """Measured past the crossfade, where a tone folded onto itself is louder."""
    t = np.arange(int(seconds * RATE)) / RATE
    data = np.stack([0.3 * np.sin(2 * np.pi * 220 * t)] * 2, axis=1).astype(np.float32)
    data[RATE : RATE + 5] = np.nan
    sf.write(tmp_path / "rain.wav", data, RATE, subtype="FLOAT")
    loop = clips.open_loop(tmp_path / "rain.wav", RATE)
    x = loop.read(0, int(seconds * RATE))
    assert np.isfinite(x).all()
    rms = float(np.sqrt(np.mean(x[int(window[0] * RATE) : int(window[1] * RATE)] ** 2)))
    assert abs(20 * np.log10(rms) - clips.AMBIENCE_RMS_DB) < 1.0


@pytest.mark.parametrize(("file_rate", "channels"), [(RATE, 1), (11025, 2), (RATE, 2)])
def test_a_streamed_clip_equals_the_whole_decode(
    tmp_path: Path, own_cache: Path, file_rate: int, channels: int
) -> None:
    """The mixer's streaming clip gives the very samples a whole decode gives, in any block size."""
    path = tmp_path / "c.wav"
    n = int(2.3 * file_rate)
    rng = np.random.default_rng(7)
    data = (0.2 * rng.standard_normal((n, channels)) + 0.05).astype(np.float32)  # with DC
    sf.write(path, data, file_rate, subtype="FLOAT")
    bank = SoundBank(RATE)
    ref = SoundRef("clip", path)
    length = bank.measure(ref)
    whole = clips.load_clip(path, RATE, 1)
    whole = np.concatenate([whole, np.zeros((max(length - len(whole), 0), 1), np.float32)])
    whole = whole[:length]
    for block in (1, 777, 4096, length + 10):
        source = bank.source(ref)
        got = np.concatenate(
            [source.read(i, block) for i in range(0, length, block)], dtype=np.float32
        )[:length]
        np.testing.assert_array_equal(got, whole)
        source.release()
    for at in (1, 999, length // 2, length - 50):  # a seek restarts the decode there
        source = bank.source(ref)
        got = source.read(at, 100)
        np.testing.assert_allclose(got[: length - at], whole[at : at + 100], atol=1e-5)
        np.testing.assert_array_equal(got[length - at :], 0.0)


def test_a_long_clip_plays_in_bounded_memory(
    tmp_path: Path, own_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 20-minute clip is never decoded whole: Python-side peak stays far below its size."""
    import tracemalloc

    monkeypatch.setattr(clips, "EXCERPT_SECONDS", 10.0)
    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", samplerate=RATE, channels=1, subtype="PCM_16") as f:
        for _ in range(20):
            f.write(0.3 * np.sin(2 * np.pi * 440 * np.arange(60 * RATE) / RATE))
    decoded = 20 * 60 * RATE * 4  # bytes as float32: 38 MB
    mixer = make_mixer("title: t\nsteps:\n  - play: long.wav\n", rate=RATE, base=tmp_path)
    tracemalloc.start()
    try:
        frames = sum(block.shape[0] for block in mixer.blocks(8192))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert frames >= 20 * 60 * RATE
    assert peak < decoded / 8, f"peak {peak / 1e6:.1f} MB"


def test_a_clips_level_is_measured_once_and_memoised(tmp_path: Path, own_cache: Path) -> None:
    path = tmp_path / "bell.wav"
    tone(path, 1.0)
    first = clips.clip_level(path, RATE, 1)
    clips._levels.clear()
    entries = list((own_cache / "levels").glob("*.npy"))
    assert len(entries) == 1
    assert clips.clip_level(path, RATE, 1)[1] == first[1]


# --- the .npy cache --------------------------------------------------------------------


def _make() -> np.ndarray:
    return np.linspace(-0.1, 0.1, 1000, dtype=np.float32)


def _entry(own_cache: Path) -> Path:
    cache.cached_array("sounds", "bell", _make)
    return own_cache / "sounds" / "bell.npy"


def _flip_header_byte(path: Path) -> None:
    blob = bytearray(path.read_bytes())
    blob[blob.index(b"(1000,)") + 1] ^= 0x03  # (1000,) -> (2000,)
    path.write_bytes(bytes(blob))


def _wrong_shape(path: Path) -> None:
    with open(path, "wb") as f:
        np.save(f, np.zeros((10, 3, 2), np.float32))


def _full_scale(path: Path) -> None:
    with open(path, "wb") as f:  # well formed, wrong content (no checksum trailer, or a stale one)
        np.save(f, np.full(1000, 0.99995, np.float32))


def _full_scale_with_old_trailer(path: Path) -> None:
    trailer = path.read_bytes()[-36:]
    _full_scale(path)
    with open(path, "ab") as f:
        f.write(trailer)


def _zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def _symlink_to_dev_zero(path: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "damage",
    [
        _flip_header_byte,
        _wrong_shape,
        _full_scale,
        _full_scale_with_old_trailer,
        _zero_bytes,
        _symlink_to_dev_zero,
        _fifo,
    ],
)
def test_a_damaged_npy_entry_is_detected_removed_and_remade(
    own_cache: Path, damage: Callable[[Path], None]
) -> None:
    path = _entry(own_cache)
    damage(path)
    got = cache.cached_array("sounds", "bell", _make)
    np.testing.assert_array_equal(got, _make())
    assert path.is_file() and not path.is_symlink()
    np.testing.assert_array_equal(cache.load_array(path), _make())  # healed on disk
    assert [p.name for p in path.parent.iterdir()] == ["bell.npy"]


@pytest.mark.timeout(30)
def test_a_zero_byte_sound_entry_does_not_break_later_renders(
    tmp_path: Path, own_cache: Path
) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("title: t\nsteps:\n  - bell: soft\n  - pause: 1s\n")
    args = [
        "render",
        str(script),
        "-o",
        str(tmp_path / "a.wav"),
        "--voice",
        "none",
        "--rate",
        "8000",
    ]
    assert CliRunner().invoke(main, args).exit_code == 0
    for entry in (own_cache / "sounds").glob("*.npy"):
        entry.write_bytes(b"")
    for _ in range(2):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
    assert all(cache.load_array(p) is not None for p in (own_cache / "sounds").glob("*.npy"))


@pytest.mark.timeout(30)
def test_a_fifo_in_the_cache_does_not_hang_render(tmp_path: Path, own_cache: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("title: t\nbackground: {sound: pink-noise}\nsteps:\n  - bell: soft\n")
    out = tmp_path / "a.wav"
    cmd = [sys.executable, "-m", "relaxplayer", "render", str(script), "-o", str(out)]
    cmd += ["--voice", "none", "--rate", "8000"]
    env = {**os.environ, "RELAXPLAYER_CACHE": str(own_cache)}
    assert subprocess.run(cmd, env=env, capture_output=True, timeout=60).returncode == 0
    for entry in list(own_cache.glob("*/*.npy")):
        entry.unlink()
        os.mkfifo(entry)
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    assert not any(p.is_fifo() for p in own_cache.glob("*/*"))


def test_an_unwritable_cache_makes_sounds_in_memory_with_one_notice(
    tmp_path: Path, own_cache: Path
) -> None:
    _entry(own_cache)
    other = own_cache / "sounds" / "other.npy"
    cache.cached_array("sounds", "other", _make)
    _full_scale(other)  # one damaged entry in a cache that is about to become read-only
    with readonly(own_cache):
        for _ in range(3):
            np.testing.assert_array_equal(cache.cached_array("sounds", "other", _make), _make())
            np.testing.assert_array_equal(cache.cached_array("sounds", "new", _make), _make())
        np.testing.assert_array_equal(cache.cached_array("sounds", "bell", _make), _make())
        notes = cache.notices()
        assert len(notes) == 1 and "cannot write to the cache folder" in notes[0]
        assert cache.notices() == []


def test_a_read_only_cache_with_a_damaged_entry_renders(tmp_path: Path, own_cache: Path) -> None:
    script = tmp_path / "s.yaml"
    clip = tmp_path / "c.wav"
    tone(clip, 1.0)
    script.write_text(
        "title: t\nbackground: {sound: rain}\nsteps:\n  - bell: soft\n  - play: c.wav\n"
    )
    args = [
        "render",
        str(script),
        "-o",
        str(tmp_path / "a.wav"),
        "--voice",
        "none",
        "--rate",
        "8000",
    ]
    assert CliRunner().invoke(main, args).exit_code == 0
    for entry in (own_cache / "sounds").glob("*.npy"):
        _full_scale(entry)
    with readonly(own_cache):
        args[3] = str(tmp_path / "b.wav")
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "warning: cannot write to the cache folder" in result.output
    a, _ = sf.read(tmp_path / "a.wav", dtype="int16")
    b, _ = sf.read(tmp_path / "b.wav", dtype="int16")
    np.testing.assert_array_equal(a, b)


# --- narration WAVs ----------------------------------------------------------------------


def test_a_narration_entry_whose_header_rate_changed_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "line.wav"
    path.write_bytes(wavcache.wav_bytes(np.zeros(22050, np.float32) + 0.1, 22050))
    assert wavcache.wav_info(path) == (22050, 22050)
    for rate in (11025, 0, 1):
        patch(path, 24, rate, 4)
        assert wavcache.read_wav(path) is None and wavcache.wav_info(path) is None
    patch(path, 24, 22050, 4)
    assert wavcache.wav_info(path) == (22050, 22050)


def test_an_old_format_narration_entry_is_not_accepted(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "line.wav"
    blob = wavcache.wav_bytes(np.zeros(100, np.float32), 22050)
    pcm = blob[44:244]
    old = blob[:244] + b"rpck" + (32).to_bytes(4, "little") + hashlib.sha256(pcm).digest()
    path.write_bytes(old)
    assert wavcache.read_wav(path) is None


@pytest.mark.timeout(20)
def test_narration_and_digest_readers_never_follow_symlinks_or_fifos(tmp_path: Path) -> None:
    link, fifo = tmp_path / "link.wav", tmp_path / "fifo.wav"
    link.symlink_to("/dev/zero")
    os.mkfifo(fifo)
    for path in (link, fifo):
        assert wavcache.read_wav(path) is None and wavcache.wav_info(path) is None
    model = tmp_path / "voice.onnx"
    model.write_bytes(b"model")
    digest = cache.file_digest(model, tmp_path)
    memo = next((tmp_path / "digests").iterdir())
    memo.unlink()
    memo.symlink_to("/dev/zero")
    assert cache.file_digest(model, tmp_path) == digest
    memo.unlink(missing_ok=True)
    os.mkfifo(memo)
    assert cache.file_digest(model, tmp_path) == digest


# --- clips' cached WAVs (long ambience loops, decoded phone clips) ------------------------


def _long_ambience(tmp_path: Path) -> Path:
    path = tmp_path / "long-rain.wav"
    t = np.arange(70 * RATE) / RATE
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), RATE)
    return path


def test_a_long_loop_is_cached_as_rf64_so_hours_of_background_never_loop_early(
    tmp_path: Path, own_cache: Path
) -> None:
    """A plain WAV's sizes stop at 4 GiB (3.38 h of float stereo at 44.1 kHz)."""
    clips.open_loop(_long_ambience(tmp_path), RATE).read(0, 100)
    (entry,) = (own_cache / "loops").iterdir()
    assert entry.read_bytes()[:4] == b"RF64"
    assert sf.info(entry).format == "RF64"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("damage", [_symlink_to_dev_zero, _fifo, _zero_bytes, "rate"])
def test_a_damaged_cached_loop_is_remade(
    tmp_path: Path, own_cache: Path, damage: Callable[[Path], None] | str
) -> None:
    source = _long_ambience(tmp_path)
    first = clips.open_loop(source, RATE).read(0, 4000)
    (entry,) = (own_cache / "loops").iterdir()
    if damage == "rate":  # the rate field of the fmt chunk: 4 bytes, 12 after its tag
        patch(entry, entry.read_bytes().index(b"fmt ") + 12, RATE // 2, 4)
    else:
        damage(entry)  # type: ignore[operator]
    again = clips.open_loop(source, RATE)
    np.testing.assert_array_equal(again.read(0, 4000), first)
    assert entry.is_file() and not entry.is_symlink()
    assert sf.info(entry).samplerate == RATE


def test_a_long_loop_in_a_read_only_cache_plays_from_a_scratch_folder(
    tmp_path: Path, own_cache: Path
) -> None:
    source = _long_ambience(tmp_path)
    (own_cache / "loops").mkdir(parents=True)
    with readonly(own_cache):
        loop = clips.open_loop(source, RATE)
        x = loop.read(0, 8000)
        assert not list((own_cache / "loops").iterdir())
    assert np.sqrt(np.mean(x[4000:] ** 2)) > 0.05
    assert len(cache.notices()) == 1


def test_a_phone_clip_with_a_read_only_cache_is_decoded_once_to_scratch(
    tmp_path: Path, own_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    wav = tmp_path / "memo.wav"
    tone(wav, 1.0)
    m4a = tmp_path / "memo.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), str(m4a)], check=True)
    own_cache.mkdir()
    decodes = []
    real = clips._pydub_to_wav
    monkeypatch.setattr(clips, "_pydub_to_wav", lambda *a: decodes.append(1) or real(*a))
    with readonly(own_cache):
        mixer = make_mixer("title: t\nsteps:\n  - play: memo.m4a\n", rate=RATE, base=tmp_path)
        out = render_all(mixer)
    assert len(decodes) == 1
    assert np.sqrt(np.mean(out[2000:6000] ** 2)) > 0.05
    assert len(cache.notices()) == 1


def test_a_truncated_clip_plays_what_is_there(tmp_path: Path, own_cache: Path) -> None:
    path = tmp_path / "cut.wav"
    tone(path, 2.0, 11025)
    os.truncate(path, 44 + 11025 * 2)  # half the samples its header announces
    mixer = make_mixer("title: t\nsteps:\n  - play: cut.wav\n", rate=RATE, base=tmp_path)
    out = render_all(mixer)
    assert np.isfinite(out).all() and np.sqrt(np.mean(out[1000:3000] ** 2)) > 0.05


def test_a_garbage_mp3_is_named_plainly_and_its_decoder_stays_quiet(tmp_path: Path) -> None:
    """libsndfile calls any unknown format "possibly a pipe?", and libmpg123 prints notes on fd 2."""
    bad = tmp_path / "voice.mp3"
    bad.write_bytes(np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    script = tmp_path / "s.yaml"
    script.write_text(f"title: t\nsteps:\n  - play: {bad}\n")
    result = subprocess.run(
        [sys.executable, "-m", "relaxplayer", "validate", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "possibly a pipe" not in result.stderr
    assert "Note:" not in result.stderr and "Illegal Audio-MPEG-Header" not in result.stderr
    assert "it is not in a format libsndfile recognises, or it is damaged" in result.stderr
