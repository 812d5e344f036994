"""Peak memory of `render` with very long clips, against sox reading the same files in the same run.

Two sessions (issue 13): a 1-hour 44.1 kHz WAV used as a two-second bell, and
a 6-hour 16 kHz clip played whole (rendered at 8 kHz mono, so resampled). Each
render runs in its own process with a fresh cache (the clip's level is
measured, then memoised) and then again with that cache; peak memory is the
process's maximum RSS (GNU time), imports included. The peer: sox converting the
same file to the same rate, which streams.

    .venv/bin/python benchmarks/bench_long_clips.py [--hours 6]   (needs /usr/bin/time)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf


def write_tone(path: Path, seconds: int, rate: int) -> None:
    """A quiet 440 Hz tone with a little noise, written a minute at a time (memory stays flat)."""
    rng = np.random.default_rng(1)
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype="PCM_16") as f:
        for minute in range(seconds // 60):
            t = (np.arange(60 * rate) + minute * 60 * rate) / rate
            f.write(0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(t.size))


def measure(cmd: list[str], env: dict[str, str], folder: Path) -> tuple[float, float, int]:
    """(seconds, peak RSS in MB, exit status) of one child process, from GNU time's ``%M``.

    Not ``wait4``: a forked child starts with its parent's maximum RSS, which
    would put a floor under every figure.
    """
    report = folder / "time.txt"
    start = time.perf_counter()
    result = subprocess.run(
        ["/usr/bin/time", "-o", str(report), "-f", "%M", *cmd],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if result.returncode:
        sys.stderr.write(result.stderr)
    peak_kb = int(report.read_text().split()[-1])
    return seconds, peak_kb / 1024, result.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=6, help="length of the long clip")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_tone(folder / "hour.wav", 3600, 44100)
        write_tone(folder / "long.wav", args.hours * 3600, 16000)
        (folder / "bell.yaml").write_text(
            "title: Bell\nsteps:\n  - bell: hour.wav\n  - pause: 2s\n"
        )
        (folder / "long.yaml").write_text("title: Long\nsteps:\n  - play: long.wav\n")
        env = {**os.environ, "RELAXPLAYER_CACHE": str(folder / "cache")}
        cases = [
            ("1 h WAV as a 2 s bell", "bell.yaml", ["--rate", "44100"], "hour.wav", "44100"),
            (f"{args.hours} h clip, 16 -> 8 kHz", "long.yaml", ["--rate", "8000", "--channels", "1"],
             "long.wav", "8000"),
        ]  # fmt: skip
        print(f"{'case':32} {'run':14} {'seconds':>8} {'peak MB':>8}")
        for label, script, extra, clip, rate in cases:
            cmd = [sys.executable, "-m", "relaxplayer", "render", str(folder / script)]
            cmd += ["-o", str(folder / "out.wav"), "--voice", "none", *extra]
            shutil.rmtree(folder / "cache", ignore_errors=True)
            for run in ("fresh cache", "memoised"):
                seconds, peak, status = measure(cmd, env, folder)
                note = "" if status == 0 else f"  (exit {status})"
                print(f"{label:32} {run:14} {seconds:8.2f} {peak:8.1f}{note}")
            if shutil.which("sox"):
                sox = ["sox", str(folder / clip), "-r", rate, str(folder / "sox.wav")]
                seconds, peak, _ = measure(sox, env, folder)
                print(f"{label:32} {'sox (peer)':14} {seconds:8.2f} {peak:8.1f}")


if __name__ == "__main__":
    main()
