"""Render speed and memory of a 60-minute reference session, against ffmpeg in the same run.

Reference session: ocean background, 60 distinct narration clips, breathing
with tones, a bell every minute, an end fade. The peer: ffmpeg mixing brown
noise (anoisesrc) with a looped ambience file (amix) for the same length, to
WAV. Each render runs in its own process; peak memory is that process's
maximum RSS (wait4), so imports count too.

Warm and cold: the renders use a private cache folder (``RELAXPLAYER_CACHE``)
whose narration is made once beforehand (seeded from your own cache when it
has the lines); a cold run first empties everything else in it (bells, tones,
decoded files and any ambience a version before 10 stored), so it pays for
every synthesized sound, as the first render after an install does.

Targets (issue 10): relaxplayer takes at most 0.4x ffmpeg's time, cold cache
included; peak RSS at most 80 MB cold or warm; the 60-minute peak within 10 MB
of a 5-minute render's.

Which time: CPU time (user + system of the child) is the one the target
compares. ffmpeg runs its decoder, filter graph and encoder in several
threads, so its wall time hides part of its work (about 8 s of CPU in 4.7 s
of wall on two cores); relaxplayer renders on one thread. Both are printed.
The three 60-minute renders (warm, cold, ffmpeg) take turns, one run of each
per round, so a busy spell on a shared machine falls on all of them alike
instead of on whichever happened to run then. Python bytecode is written by
the preparation runs (as ``pip install`` does) even under
``PYTHONDONTWRITEBYTECODE``, so no run pays for compiling relaxplayer's source.

    .venv/bin/python benchmarks/bench_render.py [--minutes 60] [--voice espeak]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SENTENCES = [
    "Let your shoulders soften and drop away from your ears.",
    "Notice the weight of your hands resting in your lap.",
    "Breathe in slowly through your nose, and let the breath out gently.",
    "Feel the floor beneath your feet, steady and calm.",
    "Let your jaw relax, and your tongue rest softly.",
    "There is nothing you need to do right now.",
]


def session_yaml(minutes: int) -> str:
    """One minute per block: a bell, a distinct sentence (in a 10 s timer), 50 s of breathing with tones."""
    lines = [
        f"title: Reference {minutes} minutes",
        "background: {sound: ocean, volume: 30%, duck: 8 dB, fade_in: 10s}",
        "end: {fade_out: 20s}",
        "steps:",
    ]
    for i in range(minutes):
        text = f"Minute {i + 1}. {SENTENCES[i % len(SENTENCES)]}"
        lines += [
            "  - bell: soft",
            "  - timer: 10s",
            f"    say: {text}",
            "  - breathe: relax",
            "    cycles: 5",
        ]
    return "\n".join(lines) + "\n"


Job = tuple[list[str], Path, "Callable[[], None] | None", dict]


def run_rounds(jobs: dict[str, Job], repeat: int = 5) -> dict[str, tuple[float, float, float]]:
    """Median wall seconds, median CPU seconds and peak RSS (MB) of every job over ``repeat`` rounds.

    One run of each job per round, in turn. Before each run its previous
    output is deleted and dirty pages are flushed (os.sync), so that no run
    pays for another's disk writes or for freeing the file it overwrites;
    every tool gets the same treatment. A job's ``before`` runs first each
    time (a cold run empties the cache there).
    """
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in jobs}
    for _ in range(repeat):
        for name, (cmd, out, before, kw) in jobs.items():
            out.unlink(missing_ok=True)
            if before is not None:
                before()
            os.sync()
            runs[name].append(_run_once(cmd, **kw))
    summary = {}
    for name, done in runs.items():
        print(
            f"  {name:10} runs: {', '.join(f'{t:.2f}' for t, _, _ in done)} s wall, "
            f"{', '.join(f'{c:.2f}' for _, c, _ in done)} s CPU",
            flush=True,
        )
        wall = sorted(t for t, _, _ in done)[len(done) // 2]
        cpu = sorted(c for _, c, _ in done)[len(done) // 2]
        summary[name] = (wall, cpu, max(rss for _, _, rss in done))
    return summary


def _run_once(cmd: list[str], **kw: object) -> tuple[float, float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0


def duration_of(wav: Path) -> float:
    import soundfile as sf

    return sf.info(str(wav)).duration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument(
        "--voice", default="auto", help="narration engine (auto, piper, espeak, none)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="rounds (runs of each render)")
    args = parser.parse_args()
    exe = [sys.executable, "-m", "relaxplayer"]
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # installed code has its bytecode: see above
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cache = work / "cache"
        _seed_narration(cache)
        os.environ["RELAXPLAYER_CACHE"] = str(cache)  # every child renders with this cache
        long_s, short_s = work / "long.yaml", work / "short.yaml"
        long_s.write_text(session_yaml(args.minutes))
        short_s.write_text(session_yaml(5))
        print(f"preparing narration ({args.voice}) ...", flush=True)
        for session in (short_s, long_s):
            subprocess.run(
                [*exe, "render", str(session), "-o", str(work / "warm.wav"), "--voice", args.voice],
                check=True,
                stderr=subprocess.DEVNULL,
            )
        seconds = duration_of(work / "warm.wav")  # the 60-minute session, as rendered
        quiet = {"stderr": subprocess.DEVNULL}
        render = [*exe, "render", str(long_s), "-o", str(work / "long.wav"), "--voice", args.voice]
        jobs: dict[str, Job] = {
            "warm": (render, work / "long.wav", None, quiet),
            "cold": (render, work / "long.wav", lambda: _empty_but_narration(cache), quiet),
        }
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is not None:
            jobs["ffmpeg"] = (
                _ffmpeg_command(ffmpeg, work, exe, seconds),
                work / "ffmpeg.wav",
                None,
                {},
            )
        jobs["5 min"] = (
            [*exe, "render", str(short_s), "-o", str(work / "short.wav"), "--voice", args.voice],
            work / "short.wav",
            None,
            quiet,
        )
        found = run_rounds(jobs, args.repeat)
        (t_long, cpu_long, rss_long), (t_cold, cpu_cold, rss_cold) = found["warm"], found["cold"]
        t_short, cpu_short, rss_short = found["5 min"]
        print(
            f"session length            {seconds / 60:.1f} min ({seconds:.0f} s), 44.1 kHz stereo"
        )
        print(
            f"relaxplayer render        {t_long:6.2f} s  ({seconds / t_long:6.0f}x real time)  CPU {cpu_long:5.2f} s  peak RSS {rss_long:5.1f} MB"
        )
        print(
            f"relaxplayer render cold   {t_cold:6.2f} s  ({seconds / t_cold:6.0f}x real time)  CPU {cpu_cold:5.2f} s  peak RSS {rss_cold:5.1f} MB"
        )
        print(
            f"relaxplayer render 5 min  {t_short:6.2f} s                         CPU {cpu_short:5.2f} s  peak RSS {rss_short:5.1f} MB"
        )
        if ffmpeg is None:
            print("ffmpeg not installed: no peer comparison")
            return
        t_ff, cpu_ff, rss_ff = found["ffmpeg"]
        print(
            f"ffmpeg anoisesrc+amix     {t_ff:6.2f} s  ({seconds / t_ff:6.0f}x real time)  CPU {cpu_ff:5.2f} s  peak RSS {rss_ff:5.1f} MB"
        )
        print(
            f"time ratio relaxplayer/ffmpeg  CPU {cpu_long / cpu_ff:.2f} warm, {cpu_cold / cpu_ff:.2f} cold"
            f"  (the target, <= 0.40: CPU time, as ffmpeg runs several threads);"
            f"  wall {t_long / t_ff:.2f} warm, {t_cold / t_ff:.2f} cold"
        )
        print(
            f"peak RSS 60 vs 5 min           {rss_long - rss_short:+.1f} MB  (target within 10 MB; <= 80 MB)"
        )


def _ffmpeg_command(ffmpeg: str, work: Path, exe: list[str], seconds: float) -> list[str]:
    """ffmpeg mixing brown noise with a looped rain file (rendered by relaxplayer) for ``seconds``."""
    loop = work / "ambience.wav"
    subprocess.run(
        [*exe, "render", _ambience_session(work), "-o", str(loop), "--voice", "none"],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    return [
        ffmpeg,
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"anoisesrc=color=brown:sample_rate=44100:amplitude=0.1:duration={seconds}",
        "-stream_loop",
        "-1",
        "-i",
        str(loop),
        "-filter_complex",
        "[0:a]aformat=channel_layouts=stereo[n];[n][1:a]amix=inputs=2:duration=first",
        "-t",
        f"{seconds}",
        "-ar",
        "44100",
        "-ac",
        "2",
        "-c:a",
        "pcm_s16le",
        str(work / "ffmpeg.wav"),
    ]


def _seed_narration(cache: Path) -> None:
    """Copy the narration of your own cache into ``cache``, so preparing it synthesizes only what is new."""
    from relaxplayer.cache import cache_dir

    mine = cache_dir() / "speech"
    if mine.is_dir():
        shutil.copytree(mine, cache / "speech")


def _empty_but_narration(cache: Path) -> None:
    """A cold cache: everything but the narration (made once, beforehand) removed."""
    for entry in cache.iterdir():
        if entry.name != "speech":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def _ambience_session(work: Path) -> str:
    """A 30-second rain loop for ffmpeg to repeat (rendered by relaxplayer, so no download)."""
    path = work / "ambience.yaml"
    path.write_text(
        "title: loop\nbackground: {sound: rain, volume: 100%, fade_in: 0s}\n"
        "end: {fade_out: 0s}\nsteps:\n  - pause: 30s\n"
    )
    return str(path)


if __name__ == "__main__":
    main()
