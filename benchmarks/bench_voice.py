"""Narration speed: each engine's real-time factor, and what a cache hit costs.

Real-time factor (RTF) = seconds spent synthesizing / seconds of speech made;
below 1 is faster than real time. Both engines run in the same process, on the
same sentences, with a fresh cache.

    .venv/bin/python benchmarks/bench_voice.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from relaxplayer.model import Voice
from relaxplayer.sounds.speech import Narrator, espeak_binary, piper_available
from relaxplayer.sounds.wavcache import wav_info

LINES = [
    "Sit tall, with your feet flat on the floor.",
    "Let your shoulders drop away from your ears, and soften your jaw.",
    "Place the ball between your spine and your left shoulder blade, never on the spine itself.",
    "Breathe in slowly through your nose, and let a long breath out through your mouth.",
    "Notice the weight of your body, held by the bed beneath you.",
    "When you are ready, open your eyes, and drink a glass of water.",
]


def measure(engine: str, cache: Path) -> None:
    narrator = Narrator(Voice(engine=engine), cache_dir=cache)
    start = time.perf_counter()
    narrator.synthesize("Warm up.")  # model load is a one-off cost; report it separately
    load = time.perf_counter() - start
    spent = audio = 0.0
    for line in LINES:
        t = time.perf_counter()
        path = narrator.synthesize(line)
        spent += time.perf_counter() - t
        frames, rate = wav_info(path) or (0, 1)
        audio += frames / rate
    hits = []
    for _ in range(20):
        t = time.perf_counter()
        narrator.synthesize(LINES[0])
        hits.append(time.perf_counter() - t)
    headers = []
    for _ in range(20):
        t = time.perf_counter()
        narrator.length(LINES[0], 44100)
        headers.append(time.perf_counter() - t)
    t = time.perf_counter()
    narrator.load(LINES[1], 44100)
    load_hit = time.perf_counter() - t
    hits.sort()
    headers.sort()
    print(
        f"{engine:<7} {narrator.voice_id:<22} RTF {spent / audio:5.3f}  ({audio:5.1f} s of speech in {spent:5.2f} s)"
        f"  first call {load * 1000:6.0f} ms  cache hit (checksummed) {hits[len(hits) // 2] * 1000:5.2f} ms"
        f"  length (header) {headers[len(headers) // 2] * 1000:5.2f} ms"
        f"  hit+decode+resample {load_hit * 1000:5.1f} ms"
    )


def main() -> None:
    engines = [
        e for e, ok in (("piper", piper_available()), ("espeak", espeak_binary() is not None)) if ok
    ]
    print(
        f"{len(LINES)} sentences, {sum(len(x.split()) for x in LINES)} words, fresh cache per engine"
    )
    for engine in engines:
        with tempfile.TemporaryDirectory() as tmp:
            measure(engine, Path(tmp))


if __name__ == "__main__":
    main()
