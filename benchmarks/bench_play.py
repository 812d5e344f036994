"""Real-time playback: start-up latency, CPU against aplay, display accuracy, underruns.

Runs through the virtual sound card of scripts/test-audio.sh (PulseAudio null
sink behind ALSA, with every played sample captured), so it works without a
sound card. Narration is prepared (cached) first, as the targets assume.

    .venv/bin/python benchmarks/bench_play.py [--soak-minutes 10]

Targets (issue 3): launch to first frame at most 300 ms; steady CPU at most 2 %
of one core (reported beside aplay playing the rendered WAV); display cue
times within 50 ms of the captured audio; zero underruns over 10 minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from vcard import virtual_card

ROOT = Path(__file__).resolve().parent.parent
EXE = [sys.executable, "-m", "relaxplayer"]
RATE = 44100


def first_frame_latency(env: dict[str, str], runs: int = 7) -> tuple[float, float]:
    """Launch -> first audio byte, through the pipe output and through PortAudio (median ms)."""
    pipe, device = [], []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*EXE, "play", "default", "--output", "pipe", "--plain"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        proc.stdout.read(4)
        pipe.append(time.perf_counter() - start)
        proc.kill()
        proc.wait()
        capture = Path(env["AUDIO_CAPTURE"])
        capture.unlink(missing_ok=True)
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*EXE, "play", "default", "--output", "portaudio", "--plain"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while not (capture.exists() and capture.stat().st_size > 0):
            time.sleep(0.001)
        device.append(time.perf_counter() - start)
        proc.kill()
        proc.wait()
    return float(np.median(pipe)) * 1000, float(np.median(device)) * 1000


def cpu_percent(cmd: list[str], env: dict[str, str], seconds: float) -> float:
    """CPU time of a process (and its waited-for children) per wall second, over ``seconds``."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.0)  # skip start-up: steady playback only
    t0 = time.perf_counter()
    cpu0 = _proc_cpu(proc.pid)
    time.sleep(seconds)
    cpu1 = _proc_cpu(proc.pid)
    wall = time.perf_counter() - t0
    proc.terminate()
    proc.wait()
    return (cpu1 - cpu0) / wall * 100


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def display_accuracy(env: dict[str, str], work: Path) -> list[float]:
    """Time each bell line is printed vs when its onset reaches the capture, in ms."""
    script = work / "bells.yaml"
    steps = "".join("  - bell: chime\n  - pause: 3s\n" for _ in range(5))
    script.write_text(f"title: Bells\nend: {{fade_out: 0s}}\nsteps:\n{steps}")
    capture = Path(env["AUDIO_CAPTURE"])
    capture.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [*EXE, "play", str(script), "--output", "portaudio", "--plain"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    printed = []
    for line in proc.stdout:
        now = time.perf_counter()
        if "bell: chime" in line:
            printed.append(now)
        if line.rstrip().endswith(("finished", "stopped")):
            break
    proc.wait()
    audio = np.fromfile(capture, dtype="<f4").reshape(-1, 2)[:, 0]
    onsets = bell_onsets(audio)
    # The capture is written as the device takes samples, so its frames are the audio clock;
    # both series are measured from the first bell, which leaves the device latency out.
    heard = [(o - onsets[0]) / RATE for o in onsets]
    shown = [t - printed[0] for t in printed]
    return [abs(s - h) * 1000 for s, h in zip(shown, heard, strict=True)]


def bell_onsets(audio: np.ndarray) -> list[int]:
    """Frames where a bell strikes: 5 ms energy jumping 4x over 20 ms (a ringing tail does not)."""
    win = RATE // 200
    n = len(audio) // win
    energy = np.sqrt(np.mean(audio[: n * win].reshape(n, win) ** 2, axis=1))
    energy = np.concatenate([np.zeros(4), energy])  # silence before the capture began
    onsets, k = [], 4
    while k < n + 4:
        if energy[k] > 0.01 and energy[k] > 4 * energy[k - 4] + 1e-4:
            onsets.append(
                max(k - 5, 0) * win
            )  # the jump is inside the previous window at the latest
            k += int(2.5 * RATE / win)  # past this bell's attack
        else:
            k += 1
    return onsets


def soak(env: dict[str, str], work: Path, minutes: float) -> str:
    script = work / "soak.yaml"
    script.write_text(
        f"title: Soak\nbackground: {{sound: ocean, volume: 30%}}\nsteps:\n"
        f"  - breathe: relax\n    for: {minutes}m\n"
    )
    out = subprocess.run(
        [*EXE, "play", str(script), "--output", "portaudio", "--plain", "--verbose"],
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    counts = re.findall(r"underruns: (\d+)", out)
    return counts[-1] if counts else "0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--soak-minutes", type=float, default=0, help="also play this long, counting underruns"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, virtual_card(Path(tmp) / "vsnd") as card:
        work = Path(tmp)
        env = {**os.environ, **card}
        # as installed by scripts/install.sh: narration prepared, the package byte-compiled
        subprocess.run([*EXE, "prepare", "default"], env=env, check=True, capture_output=True)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "relaxplayer")])
        pipe_ms, device_ms = first_frame_latency(env)
        print(
            f"launch to first frame: pipe {pipe_ms:.0f} ms, portaudio device {device_ms:.0f} ms (target <= 300)"
        )
        wav = work / "default.wav"
        subprocess.run(
            [*EXE, "render", "default", "-o", str(wav)], env=env, check=True, capture_output=True
        )
        ours = cpu_percent([*EXE, "play", "default", "--output", "portaudio", "--plain"], env, 20)
        theirs = (
            cpu_percent(["aplay", "-q", str(wav)], env, 20)
            if shutil.which("aplay")
            else float("nan")
        )
        print(
            f"steady CPU: relaxplayer {ours:.2f} % of a core, aplay {theirs:.2f} %, ratio {ours / theirs:.1f}"
            " (target <= 2 %)"
        )
        errors = display_accuracy(env, work)
        print(
            f"display vs captured audio: max {max(errors):.0f} ms, mean {np.mean(errors):.0f} ms over "
            f"{len(errors)} cues (target <= 50)"
        )
        if args.soak_minutes:
            print(
                f"underruns over {args.soak_minutes:g} min: {soak(env, work, args.soak_minutes)} (target 0)"
            )
        subprocess.run(
            ["pactl", "exit"], env=env, capture_output=True
        )  # stop this run's PulseAudio


if __name__ == "__main__":
    main()
