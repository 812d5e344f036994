"""The mixer: ``render(n)`` pulls the next ``n`` frames of a timeline, nothing else.

It is pure (no clock, no I/O beyond decoding the clips it plays), so ``render``
to a file and ``play`` to a sound card run the very same code: what you render
is what you hear. Memory stays bounded however long the session: only the cues
sounding now are decoded, and the background is generated block by block.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from relaxplayer.cache import cached_array
from relaxplayer.sounds import ambience, bells, clips, tones
from relaxplayer.sounds.base import ArraySource, LazySource, Source
from relaxplayer.timeline import Cue, Envelope, SoundRef, Timeline

# The master limiter: a stateless curve, so a block of any size gives the same
# samples (play equals render). It starts bending at -3 dBFS (narration lines
# are already held at -3 dBTP, so it leaves them alone) and approaches, but
# never reaches, -2 dBFS: the 1 dB left between that and the -1 dBTP ceiling
# (sounds/loudness.py) is room for the peaks a DAC or an MP3 encoder
# reconstructs between samples.
LIMIT_KNEE = 0.708  # -3 dBFS
CEILING = 0.794  # -2 dBFS
# Stand-in for speech when no voice engine is installed: a soft two-note chime,
# about as loud as a bell (-26 LUFS), so it marks the place of the words quietly.
CHIME_NOTES = (660.0, 880.0)
CHIME_SECONDS = 0.6
CHIME_LEVEL = 0.075  # peak of each note
SOUNDS_VERSION = 2  # the same for bells and breathing tones


class SoundBank:
    """Turns ``SoundRef``s into ``Source``s at one sample rate, caching small synthesized sounds.

    ``narrator`` (a ``sounds.speech.Narrator`` or None for no voice) speaks
    ``speech`` refs. With ``synthesize=False`` speech that is not cached yet is
    measured by estimate instead of being synthesized (for a quick ``show``).
    """

    def __init__(self, rate: int, narrator: object | None = None, synthesize: bool = True) -> None:
        self.rate = rate
        self.narrator = (
            narrator
            if narrator is not None and getattr(narrator, "engine", "none") != "none"
            else None
        )
        self.synthesize = synthesize
        self._arrays: dict[tuple, np.ndarray] = {}
        self._lengths: dict[SoundRef, int] = {}
        self._failed: set[str] = set()  # texts the voice could not speak: a chime stands in
        self.estimated = False

    def measure(self, ref: SoundRef) -> int:
        """Length of ``ref`` in frames at the bank's rate (an estimate for speech not made yet)."""
        if ref in self._lengths:
            return self._lengths[ref]
        length = self._measure(ref)
        if self.ready(ref):
            self._lengths[ref] = length
        return length

    def ready(self, ref: SoundRef) -> bool:
        """Whether ``ref`` exists now (speech: synthesized and in the cache)."""
        if not self._speaks(ref) or ref in self._lengths:
            return True
        return self.narrator.cached(str(ref.name)) is not None  # type: ignore[attr-defined]

    def exact(self, cue: Cue) -> bool:
        """Whether ``cue`` can play as placed: its sound exists and was measured, not estimated."""
        if not self._speaks(cue.sound):
            return cue.length == self.measure(cue.sound)
        return self._lengths.get(cue.sound) == cue.length

    def give_up(self, text: str) -> None:
        """Let a chime stand in for a line the voice failed to speak, instead of waiting forever."""
        self._failed.add(text)
        self._lengths.pop(SoundRef("speech", text), None)

    def _speaks(self, ref: SoundRef) -> bool:
        return (
            ref.kind == "speech" and self.narrator is not None and str(ref.name) not in self._failed
        )

    def _measure(self, ref: SoundRef) -> int:
        if self._speaks(ref):
            text = str(ref.name)
            length = self.narrator.length(text, self.rate)  # type: ignore[attr-defined]
            if length is None and not self.synthesize:
                self.estimated = True
                return int(self.narrator.estimate(text, self.rate))  # type: ignore[attr-defined]
            if length is None:
                self.narrator.synthesize(text)  # type: ignore[attr-defined]
                length = self.narrator.length(text, self.rate)  # type: ignore[attr-defined]
            return int(length)
        if ref.kind == "clip" or (ref.kind == "bell" and isinstance(ref.name, Path)):
            info = clips.probe(Path(ref.name))
            if self.synthesize:  # measure the level now, not when the cue starts on the audio path
                clips.clip_level(Path(ref.name), self.rate, 1)
            return round(info.frames * self.rate / info.rate)
        return len(self._array(ref))

    def source(self, ref: SoundRef) -> Source:
        """A fresh ``Source`` for one cue; speech and clips decode lazily."""
        if self._speaks(ref):
            text, narrator = str(ref.name), self.narrator
            return LazySource(lambda: narrator.load(text, self.rate), self.measure(ref))  # type: ignore[attr-defined]
        if ref.kind == "clip" or (ref.kind == "bell" and isinstance(ref.name, Path)):
            # streamed block by block: a 6-hour recording costs what a bell does
            return clips.open_clip(Path(ref.name), self.rate, 1, self.measure(ref))
        return ArraySource(self._array(ref))

    def background(self, sound: str | Path) -> Source:
        """The endless ambience bed: a user's file loops; a built-in bed is generated as it plays.

        Built-in beds are not cached on disk: their tables take a fraction of a
        second to make and are a few MB, so there is nothing worth keeping.
        """
        if isinstance(sound, Path):
            return clips.open_loop(sound, self.rate)
        return ambience.open_ambience(sound, self.rate)

    def _array(self, ref: SoundRef) -> np.ndarray:
        """A built-in sound; bells and tones come from the disk cache after their first use.

        Synthesizing a bell costs ~40 ms, reading it back well under 1 ms: that
        is most of the time from ``play`` to the first sound.
        """
        key = (ref.kind, ref.name, ref.seconds)
        if key not in self._arrays:
            if ref.kind in ("bell", "breath"):
                name = f"{ref.kind}-{ref.name}-{ref.seconds}-{self.rate}-v{SOUNDS_VERSION}"
                self._arrays[key] = cached_array("sounds", name, lambda: self._synth(ref))
            else:
                self._arrays[key] = self._synth(ref)
        return self._arrays[key]

    def _synth(self, ref: SoundRef) -> np.ndarray:
        if ref.kind == "bell":
            return bells.make_bell(str(ref.name), self.rate)
        if ref.kind == "breath":
            return tones.breath_cue(str(ref.name), ref.seconds, self.rate)
        if ref.kind == "speech":  # no voice: a soft chime marks where the words would be
            notes = [
                tones.tone(f, CHIME_SECONDS, self.rate, level=CHIME_LEVEL) for f in CHIME_NOTES
            ]
            return np.concatenate(notes)
        raise ValueError(f"unknown sound kind {ref.kind!r}")


class Mixer:
    """Pull-based renderer of one ``Timeline`` into float32 ``(n, channels)`` blocks."""

    def __init__(self, timeline: Timeline, bank: SoundBank, channels: int = 2) -> None:
        self.bank = bank
        self.channels = channels
        self.position = 0
        self._next = 0
        self._active: dict[int, Source] = {}
        plan = timeline.background
        self._background = bank.background(plan.sound) if plan else None
        self._use(timeline)

    def _use(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.starts = [c.start for c in timeline.cues]
        self._duck = _Env(timeline.background.duck if timeline.background else ())
        self._master = _Env(timeline.master)

    def retime(self, timeline: Timeline) -> int:
        """Switch to a re-measured timeline of the same session (narration synthesized since).

        The position moves to the same place in the new timeline (same step,
        same offset), and the cues sounding there are re-read at the same
        offsets, so the audio continues without a seam. Returns the frames the
        position moved by (non-zero only when lines before it changed length).
        """
        old, position = self.timeline, self.position
        self._use(timeline)
        self.seek(old.same_place(position, timeline))
        return self.position - position

    @property
    def length(self) -> int:
        return self.timeline.length

    @property
    def done(self) -> bool:
        return self.position >= self.timeline.length

    def seek(self, frame: int) -> None:
        """Jump to ``frame``; cues already sounding there resume mid-way."""
        self.position = min(max(frame, 0), self.timeline.length)
        for source in self._active.values():
            source.release()
        self._active.clear()
        self._next = bisect.bisect_right(self.starts, self.position)
        for i in range(self._next):
            cue = self.timeline.cues[i]
            if cue.end > self.position:
                self._active[i] = self.bank.source(cue.sound)

    def render(self, n: int) -> np.ndarray:
        """The next ``min(n, frames left)`` frames; an empty block once the session is over."""
        lo = self.position
        n = max(0, min(n, self.timeline.length - lo))
        if n == 0:
            return np.zeros((0, self.channels), dtype=np.float32)
        hi = lo + n
        out = self._background_block(lo, n)  # the bed first: it fills the block, cues add to it
        self._start_cues(hi)
        self._mix_cues(out, lo, hi)
        if (master := self._master.gains(lo, n)) is not None:
            _scale(out, master)
        soft_limit(out)
        self.position = hi
        return out

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        """Render the rest of the session in blocks of ``size`` frames."""
        while not self.done:
            yield self.render(size)

    def _start_cues(self, hi: int) -> None:
        cues = self.timeline.cues
        while self._next < len(cues) and cues[self._next].start < hi:
            self._active[self._next] = self.bank.source(cues[self._next].sound)
            self._next += 1

    def _mix_cues(self, out: np.ndarray, lo: int, hi: int) -> None:
        finished = []
        for i, source in self._active.items():
            cue: Cue = self.timeline.cues[i]
            a, b = max(cue.start, lo), min(cue.end, hi)
            if b > a:
                data = source.read(a - cue.start, b - a)
                _add(out[a - lo : b - lo], data, cue.gain)
            if cue.end <= hi:
                finished.append(i)
        for i in finished:
            self._active.pop(i).release()

    def _background_block(self, lo: int, n: int) -> np.ndarray:
        """A fresh ``(n, channels)`` block holding the ducked, faded background (or silence)."""
        plan = self.timeline.background
        if plan is None or self._background is None:
            return np.zeros((n, self.channels), dtype=np.float32)
        data = self._background.read(lo, n)
        gain = self._duck.gains(lo, n)
        if lo < plan.fade_in:
            ramp = np.minimum(np.arange(lo, lo + n, dtype=np.float32) / plan.fade_in, 1.0)
            gain = ramp if gain is None else gain * ramp
        _scale(data, plan.volume if gain is None else gain * np.float32(plan.volume))
        if data.shape[1] == self.channels:
            return data
        out = np.empty((n, self.channels), dtype=np.float32)
        out[:] = data.mean(axis=1, keepdims=True) if data.shape[1] > 1 else data
        return out


def _add(out: np.ndarray, data: np.ndarray, gain: float | np.ndarray) -> None:
    """Mix ``data`` into ``out`` scaled by ``gain`` (a number or per-frame gains), in place.

    ``data`` is a fresh block from a source, so it is scaled in place: no
    temporaries on the hot path. Mono goes to every channel; stereo into a
    mono output is averaged.
    """
    if data.shape[1] != out.shape[1] and data.shape[1] > 1:
        data = data.mean(axis=1, keepdims=True)
    if data.shape[1] == 1 and out.shape[1] == 2 and out.flags.c_contiguous:
        # mono into stereo: frames seen as complex numbers (left + i right), the mono sample
        # times (g + ig) adds to both in one contiguous pass, the gain on the way: 1.8x
        # faster than two strided column adds (the tones sound under most of a session)
        both = np.complex64(1 + 1j)
        if isinstance(gain, np.ndarray):
            _scale(data, gain)
        else:
            both *= np.float32(gain)
        frames = out.view(np.complex64)[:, 0]
        frames += np.multiply(data[:, 0], both)
        return
    _scale(data, gain)
    if data.shape[1] == out.shape[1]:
        out += data
        return
    mono = data[:, 0]
    for c in range(out.shape[1]):  # column by column: broadcasting (n, 1) over 2 is 5x slower
        out[:, c] += mono


def _scale(data: np.ndarray, gain: float | np.ndarray) -> None:
    """``data *= gain`` in place, per frame when ``gain`` is an array (column by column: faster)."""
    if isinstance(gain, np.ndarray):
        for c in range(data.shape[1]):
            data[:, c] *= gain
    elif gain != 1.0:
        data *= np.float32(gain)


class _Env:
    """A piecewise-linear gain envelope, evaluated per block (1.0 outside its points)."""

    def __init__(self, points: Envelope) -> None:
        self._x = [float(x) for x, _ in points]  # plain lists: bisect beats numpy for two lookups
        self._y = [float(y) for _, y in points]

    def _at(self, frame: float, k: int) -> float:
        """The envelope at ``frame``, which lies before breakpoint ``k`` (and after ``k - 1``)."""
        if k == 0:
            return self._y[0]
        if k == len(self._x):
            return self._y[-1]
        x0, x1, y0, y1 = self._x[k - 1], self._x[k], self._y[k - 1], self._y[k]
        return y0 + (y1 - y0) * (frame - x0) / (x1 - x0)

    def gains(self, lo: int, n: int) -> np.ndarray | float | None:
        """Gains for frames ``[lo, lo+n)``: None when all exactly 1.0, one number when constant.

        Called for every block while playing, so the common cases (outside the
        envelope, on a flat stretch, on one straight ramp) cost a couple of
        bisections and no arrays at all, or a single ``linspace``.
        """
        if not self._x:
            return None
        last = lo + n - 1
        i = bisect.bisect_right(self._x, lo)
        j = bisect.bisect_left(self._x, last)
        if i >= j:  # no breakpoint strictly inside the block: one straight piece
            a, b = self._at(lo, i), self._at(last, j)
            if a == b:
                return None if a == 1.0 else a
            return np.linspace(a, b, n, dtype=np.float32)
        pos = np.arange(lo, lo + n, dtype=np.float64)
        return np.interp(pos, self._x, self._y).astype(np.float32)


def soft_limit(out: np.ndarray) -> None:
    """Bend peaks above ``LIMIT_KNEE`` smoothly towards (never past) ``CEILING``, in place.

    Stateless (each sample on its own), so it cannot pump and block sizes
    cannot change its output. The curve has slope 1 at the knee, so a peak
    that only just passes it is barely touched; measured on every built-in
    session the mix stays under -1 dBTP (docs/listening.md).
    """
    peak = max(float(out.max()), -float(out.min())) if out.size else 0.0
    if peak <= LIMIT_KNEE:
        return
    over = np.abs(out) > LIMIT_KNEE
    x = out[over]
    room = CEILING - LIMIT_KNEE
    excess = (np.abs(x) - LIMIT_KNEE) / room
    bent = LIMIT_KNEE + room * excess / (1.0 + excess)  # slope 1 at the knee
    out[over] = np.sign(x) * np.minimum(bent, CEILING)
