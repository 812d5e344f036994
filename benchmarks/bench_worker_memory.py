"""Peak memory and speed of the narration worker on an empty cache (issue 9: <= 250 MB).

Runs ``python -m relaxplayer.narration_worker`` as ``play`` does, feeds it
every line of a session (``default`` unless named) with the bundled Piper
voice on an empty cache, and prints its peak RSS (``VmHWM``, as the worker
reports it at the end), the seconds it took and the real-time factor (seconds
of CPU per second of speech made). Several runs, since the peak moves
a little with the heap. With ``--peer TREE`` the worker of another checkout
(``/work/main``, say: the code before a change) runs in turn with this one,
run for run, so both meet the same load.

    PYTHONPATH=. python benchmarks/bench_worker_memory.py [SESSION] [--runs N] [--peer TREE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from relaxplayer.cli import load, plan
from relaxplayer.playback import speech_texts
from relaxplayer.sounds.wavcache import wav_info


def run(
    texts: list[str], speed: float, language: str, env: dict[str, str]
) -> tuple[float, float, float]:
    """``(peak MB, seconds, real-time factor)`` of one worker making ``texts`` from nothing."""
    with tempfile.TemporaryDirectory() as cache:
        voice = {"engine": "piper", "model": None, "speed": speed, "language": language}
        lines = [json.dumps({"voice": voice, "cache": cache})]
        lines += [json.dumps({"text": t}) for t in texts]
        start = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            [sys.executable, "-m", "relaxplayer.narration_worker"],
            input="\n".join(lines) + "\n",
            capture_output=True,
            text=True,
            env=env,
            cwd=env["PYTHONPATH"],  # python -m puts the working folder first on the path
            timeout=900,
            check=True,
        )
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        replies = [json.loads(x) for x in done.stdout.splitlines() if x.strip()]
        failed = [r for r in replies if "error" in r]
        if failed:
            raise SystemExit(f"a line failed: {failed[0]}")
        peak = next(r["peak_rss_kb"] for r in replies if r.get("done")) / 1024
        audio = sum(
            info[0] / info[1]
            for wav in (Path(cache) / "speech").glob("*.wav")
            if (info := wav_info(wav))
        )
    return peak, seconds, cpu / audio


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("session", nargs="?", default="default")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peer", metavar="TREE", help="another checkout's worker, in turn")
    args = parser.parse_args()
    model = load(args.session)
    timeline, _ = plan(model, 8000, "piper", synthesize=False)
    texts = speech_texts(timeline)
    words = max(len(t.split()) for t in texts)
    print(f"{args.session}: {len(texts)} lines, longest {words} words")
    here = str(Path(__file__).resolve().parent.parent)
    variants = {"this tree": dict(os.environ, PYTHONPATH=here)}
    if args.peer:
        variants[args.peer] = dict(os.environ, PYTHONPATH=args.peer)
    for i in range(args.runs):
        for name, env in variants.items():
            peak, seconds, rtf = run(texts, model.voice.speed, model.voice.language, env)
            print(
                f"{name:12} run {i + 1}: peak {peak:6.1f} MB, {seconds:5.1f} s, CPU RTF {rtf:.3f}"
            )


if __name__ == "__main__":
    main()
