"""Make the small audio files the tests decode: the same 440 Hz tone in every format.

    python tests/data/make_test_clips.py OUT_DIR

WAV, FLAC, OGG and MP3 are written by libsndfile; m4a by ffmpeg (when
installed), as a phone would record it; ``speech.wav`` is a real recorded-style
voice line from espeak-ng (when installed), at a deliberately odd level and
rate. Nothing binary is committed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 22050
SECONDS = 1.5


def tone(
    level: float = 0.5, freq: float = 440.0, seconds: float = SECONDS, rate: int = RATE
) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = level * np.sin(2 * np.pi * freq * t)
    return np.stack([x, x], axis=1).astype(np.float32)


def make(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data = tone()
    out = {}
    for ext, subtype in (
        ("wav", "PCM_16"),
        ("flac", "PCM_16"),
        ("ogg", "VORBIS"),
        ("mp3", "MPEG_LAYER_III"),
    ):
        path = folder / f"tone.{ext}"
        sf.write(str(path), data, RATE, subtype=subtype)
        out[ext] = path
    sf.write(str(folder / "loud.wav"), tone(0.9), RATE)
    sf.write(str(folder / "quiet.wav"), tone(0.02), RATE)
    sf.write(str(folder / "long.wav"), tone(0.3, 220.0, seconds=70.0, rate=8000), 8000)
    out.update(loud=folder / "loud.wav", quiet=folder / "quiet.wav", long=folder / "long.wav")
    (folder / "broken.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    out["broken"] = folder / "broken.wav"
    if shutil.which("ffmpeg"):
        m4a = folder / "tone.m4a"
        subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(out["wav"]),
                "-c:a",
                "aac",
                str(m4a),
            ],
            check=True,
        )
        out["m4a"] = m4a
    if shutil.which("espeak-ng"):
        speech = folder / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-a", "40", "-w", str(speech), "--", "Welcome. Settle in and rest."],
            check=True,
        )
        out["speech"] = speech
    return out


if __name__ == "__main__":
    for name, path in make(Path(sys.argv[1])).items():
        print(f"{name}: {path}")
