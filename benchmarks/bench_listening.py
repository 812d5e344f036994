"""The listening report: every built-in session rendered and measured the BS.1770 way.

For each session this renders the mix (44.1 kHz stereo, as ``render`` writes
it) and, from the same timeline, one stem per kind of sound (voice, tones,
bells, background), then prints:

- voice: median line loudness (LUFS, the line as each speaker plays it),
  spread (max - min over lines, LU), the last line against the median (LU:
  an end fade over the words would show here);
- tones and bells: their momentary (400 ms) maximum relative to the median line;
- background: integrated loudness between lines (not ducked, after the fade-in,
  before the end fade) and under speech, relative to the voice, both stereo;
- true peak of the mix (dBTP, 4x oversampled), and ffmpeg's ebur128 true peak
  and integrated loudness of the same samples as the peer measurement;
- words per minute: median over lines of words / the line's synthesized length.

The background's window correlation (helper "ambience") is not measured here.

    .venv/bin/python benchmarks/bench_listening.py [--voice piper|espeak] [--user-cache] [name ...]
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
from dataclasses import dataclass, replace

import numpy as np

from relaxplayer.library import builtin_dir
from relaxplayer.loader import load_session
from relaxplayer.mixer import Mixer, SoundBank
from relaxplayer.model import Session, Voice
from relaxplayer.sounds import loudness
from relaxplayer.sounds.speech import Narrator
from relaxplayer.sounds.text import word_count
from relaxplayer.timeline import Cue, Timeline, build_timeline, lines_near_bells

RATE = 44100
BLOCK = 44100
STEREO = 10 * np.log10(2)  # a mono source on both speakers reads 3.01 LU louder in stereo


@dataclass
class Figures:
    """One session's levels; LU figures are relative to the median voice line."""

    name: str
    minutes: float
    lines: int
    voice: float  # median line, LUFS
    spread: float
    last: float
    tones: float | None
    bells: float | None
    between: float | None
    under: float | None
    true_peak: float
    wpm: float
    peer_peak: float | None = None
    peer_integrated: float | None = None
    line_levels: tuple[float, ...] = ()


def _only(timeline: Timeline, keep, background: bool = False) -> Timeline:
    cues = tuple(c for c in timeline.cues if keep(c))
    return replace(timeline, cues=cues, background=timeline.background if background else None)


class _Segments:
    """Collects each cue's samples from a stem as it renders, and measures it when complete."""

    def __init__(self, cues: list[Cue], measure) -> None:
        self.cues = sorted(cues, key=lambda c: c.start)
        self.measure = measure
        self.pending = list(range(len(self.cues)))  # not finished yet, by start
        self.parts: dict[int, list[np.ndarray]] = {}
        self.values: list[tuple[Cue, float]] = []

    def feed(self, lo: int, block: np.ndarray) -> None:
        hi = lo + block.shape[0]
        still = []
        for k, i in enumerate(self.pending):
            cue = self.cues[i]
            if cue.start >= hi:
                still += self.pending[k:]
                break
            a, b = max(cue.start, lo), min(cue.end, hi)
            if b > a:
                self.parts.setdefault(i, []).append(block[a - lo : b - lo, 0].copy())
            if cue.end <= hi:
                data = np.concatenate(self.parts.pop(i, [np.zeros(0, np.float32)]))
                self.values.append((cue, self.measure(data)))
            else:
                still.append(i)
        self.pending = still

    def finish(self) -> None:
        """Measure what the session's end cut short (a bell still ringing at the last frame)."""
        for i in self.pending:
            if i in self.parts:
                self.values.append((self.cues[i], self.measure(np.concatenate(self.parts.pop(i)))))
        self.pending = []


def _labels(timeline: Timeline, hops: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Per 100 ms hop: is the background undisturbed (between lines), is it under speech."""
    edges = np.arange(hops) * hop
    plan = timeline.background
    points = plan.duck if plan else ((0, 1.0),)
    xs = np.array([p[0] for p in points], dtype=float)
    ys = np.array([p[1] for p in points])
    flat = np.ones(hops, dtype=bool)
    for offset in (0, hop // 2, hop - 1):
        flat &= np.abs(np.interp(edges + offset, xs, ys) - 1.0) < 1e-6
    speech = np.zeros(hops, dtype=bool)
    inside = np.zeros(hops, dtype=bool)
    for c in timeline.cues:
        if c.narration:
            a, b = c.start // hop, -(-c.end // hop)
            speech[a:b] = True
            inside[-(-c.start // hop) : c.end // hop] = True
    settled = edges >= (plan.fade_in if plan else 0)
    before_end = edges + hop <= timeline.fade_start
    between = flat & ~speech & settled & before_end
    under = inside & settled & before_end
    return between, under


class _Peer:
    """ffmpeg's ebur128 filter reading the same float samples through a pipe."""

    def __init__(self) -> None:
        ffmpeg = shutil.which("ffmpeg")
        self.proc = None
        if ffmpeg:
            cmd = [ffmpeg, "-hide_banner", "-nostats", "-f", "f32le", "-ar", str(RATE)]
            cmd += ["-ac", "2", "-i", "pipe:0", "-af", "ebur128=peak=true"]
            cmd += ["-f", "null", "-"]
            self.log = tempfile.TemporaryFile()  # noqa: SIM115  (a pipe could fill and stall)
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.log
            )

    def feed(self, block: np.ndarray) -> None:
        if self.proc and self.proc.stdin:
            self.proc.stdin.write(np.ascontiguousarray(block, dtype="<f4").tobytes())

    def result(self) -> tuple[float | None, float | None]:
        if not self.proc or not self.proc.stdin:
            return None, None
        self.proc.stdin.close()
        self.proc.wait()
        self.log.seek(0)
        err = self.log.read().decode(errors="replace")
        self.log.close()
        summary = err[err.rfind("Summary:") :]
        i = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
        p = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
        return (float(p.group(1)) if p else None, float(i.group(1)) if i else None)


class _TruePeak:
    """True peak of a stream: 4x oversampling with 32 frames of context carried across blocks."""

    MARGIN = 32

    def __init__(self, channels: int) -> None:
        self.tail = np.zeros((2 * self.MARGIN, channels), np.float32)
        self.peak = 0.0

    def feed(self, block: np.ndarray) -> None:
        buf = np.concatenate([self.tail, block])
        env = loudness.true_peak_envelope(buf)
        self.peak = max(self.peak, float(env[self.MARGIN : buf.shape[0] - self.MARGIN].max()))
        self.tail = buf[-2 * self.MARGIN :]

    def finish(self) -> float:
        self.feed(np.zeros((2 * self.MARGIN, self.tail.shape[1]), np.float32))
        return loudness.db(self.peak)


def measure_session(
    name: str, session: Session, bank: SoundBank, rate: int = RATE, peer: bool = True
) -> Figures:
    """Render ``session`` (mix and stems) and measure it; ``bank`` holds the narrator."""
    timeline = build_timeline(session, rate, bank.measure)
    narration = [c for c in timeline.cues if c.narration]
    mix = Mixer(timeline, bank, channels=2)
    voice = Mixer(_only(timeline, lambda c: c.narration), bank, channels=1)
    tones = Mixer(_only(timeline, lambda c: c.sound.kind == "breath"), bank, channels=1)
    bells = Mixer(_only(timeline, lambda c: c.sound.kind == "bell"), bank, channels=1)
    bed = Mixer(_only(timeline, lambda c: False, background=True), bank, channels=2)
    lines = _Segments(narration, lambda x: loudness.integrated_loudness(x, rate))

    def top(x: np.ndarray) -> float:
        return float(loudness.momentary(x, rate).max())

    tone_cues = _Segments([c for c in timeline.cues if c.sound.kind == "breath"], top)
    bell_cues = _Segments([c for c in timeline.cues if c.sound.kind == "bell"], top)
    meter = loudness.HopMeter(rate, 2)
    tp = _TruePeak(2)
    ffmpeg = _Peer() if peer else None
    lo = 0
    while not mix.done:
        block = mix.render(BLOCK)
        tp.feed(block)
        if ffmpeg:
            ffmpeg.feed(block)
        lines.feed(lo, voice.render(BLOCK))
        tone_cues.feed(lo, tones.render(BLOCK))
        bell_cues.feed(lo, bells.render(BLOCK))
        meter.feed(bed.render(BLOCK))
        lo += block.shape[0]
    for segments in (lines, tone_cues, bell_cues):
        segments.finish()
    levels = np.array([v for _, v in sorted(lines.values, key=lambda cv: cv[0].start)])
    median = float(np.median(levels)) if levels.size else float("nan")
    powers = meter.powers
    between, under = _labels(timeline, powers.shape[0], meter.hop)

    def bg(keep: np.ndarray) -> float | None:
        value = loudness.gated_loudness(loudness.block_powers(powers, keep))
        return value - (median + STEREO) if np.isfinite(value) and timeline.background else None

    language = session.voice.language or session.language
    wpm = [
        word_count(c.text, language) / (c.length / rate) * 60
        for c in narration
        if c.sound.kind == "speech" and bank.narrator is not None
    ]
    peak, integrated = ffmpeg.result() if ffmpeg else (None, None)
    return Figures(
        name=name,
        minutes=timeline.length / rate / 60,
        lines=len(levels),
        voice=median,
        spread=float(levels.max() - levels.min()) if levels.size else 0.0,
        last=float(levels[-1] - median) if levels.size else 0.0,
        tones=max((v for _, v in tone_cues.values), default=None),
        bells=max((v for _, v in bell_cues.values), default=None),
        between=bg(between),
        under=bg(under),
        true_peak=tp.finish(),
        wpm=float(np.median(wpm)) if wpm else float("nan"),
        peer_peak=peak,
        peer_integrated=integrated,
        line_levels=tuple(levels.tolist()),
    )


def timing_row(name: str, session: Session, bank: SoundBank, rate: int = RATE) -> str:
    """Lead-in before the first words, words on a bell's strike, where the end fade starts."""
    t = build_timeline(session, rate, bank.measure)
    words = [c for c in t.cues if c.narration]
    first = min((c.start for c in words), default=0) / rate
    last = max((c.end for c in words), default=0) / rate
    return (
        f"| {name} | {first:5.1f} | {len(lines_near_bells(t))} | {t.steps_end / rate / 60:5.2f} "
        f"| {last / 60:5.2f} | {t.fade_start / rate / 60:5.2f} | {t.length / rate / 60:5.2f} |"
    )


TIMING_HEADER = (
    "| session | first words s | words on a bell | steps end min | last words end min "
    "| fade starts min | length min |"
)


def _rel(value: float | None, voice: float) -> str:
    return f"{value - voice:+6.1f}" if value is not None else "     -"


def _lu(value: float | None) -> str:
    return f"{value:+6.1f}" if value is not None else "     -"


HEADER = (
    "| session | min | lines | voice LUFS | spread LU | last LU | tones LU | bells LU "
    "| bg between LU | bg under LU | true peak dBTP | ffmpeg TP | wpm |"
)


def row(f: Figures) -> str:
    peer = f"{f.peer_peak:+5.1f}" if f.peer_peak is not None else "-"
    return (
        f"| {f.name} | {f.minutes:4.1f} | {f.lines} | {f.voice:6.1f} | {f.spread:4.1f} "
        f"| {f.last:+5.1f} | {_rel(f.tones, f.voice)} | {_rel(f.bells, f.voice)} "
        f"| {_lu(f.between)} | {_lu(f.under)} | {f.true_peak:+5.1f} | {peer} | {f.wpm:4.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="built-in session names (default: all)")
    parser.add_argument("--voice", default="piper", choices=("piper", "espeak"))
    parser.add_argument("--user-cache", action="store_true", help="keep lines in the user cache")
    parser.add_argument("--no-peer", action="store_true", help="skip ffmpeg's ebur128 check")
    args = parser.parse_args()
    temp = None
    if not args.user_cache:
        temp = tempfile.TemporaryDirectory(prefix="relaxplayer-listening-")
        os.environ["RELAXPLAYER_CACHE"] = temp.name
    paths = sorted(builtin_dir().glob("*.yaml"))
    if args.names:
        paths = [p for p in paths if p.stem in args.names]
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1))
    all_wpm, started, timings = [], time.perf_counter(), []
    for path in paths:
        session = load_session(path)
        voice = Voice(
            engine=args.voice,
            speed=session.voice.speed,
            language=session.voice.language,
            model=session.voice.model,
        )
        narrator = Narrator(voice)
        bank = SoundBank(RATE, narrator)
        figures = measure_session(path.stem, session, bank, peer=not args.no_peer)
        all_wpm.append(figures.wpm)
        print(row(figures), flush=True)
        timings.append(timing_row(path.stem, session, bank))
    print("\n" + TIMING_HEADER)
    print("|" + "---|" * (TIMING_HEADER.count("|") - 1))
    print("\n".join(timings))
    print(
        f"\nmedian words a minute over the sessions: {np.median(all_wpm):.0f}; "
        f"{time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    if temp:
        temp.cleanup()


if __name__ == "__main__":
    main()
