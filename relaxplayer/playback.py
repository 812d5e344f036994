"""One playback, prepared and driven: session -> timeline -> narration -> mixer -> player.

The one place that wires loader, timeline, narration worker, mixer and player,
so ``play`` (and later the bedside service) only build a ``Playback``,
attach listeners and controls, and call ``run``. What happens is reported as
events to the listeners; nothing here prints, sleeps for timing or exits.

The order of work is the listener's: the first line heard (from
``start_at``) is synthesized before the sound starts, the rest in the
narration worker while the session plays, each finished line re-timing the
player, which waits in silence at a line that is not ready yet. A line the
voice fails on, in any way, becomes a soft chime at once.

Lines are decoded (checksum, int16 to float, resampled to the output rate)
ahead of their cue by a low-priority thread (``AheadLines``), never by the
audio thread on the cue's first block: a long line costs 10-30 ms of CPU,
which on a quarter of a core's budget is a stall longer than the device's
buffer.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable

import numpy as np

from relaxplayer import events as ev
from relaxplayer import units
from relaxplayer.commands import QUIT_FADE
from relaxplayer.errors import AssetError, ConfigError
from relaxplayer.mixer import Mixer, SoundBank
from relaxplayer.model import Session, Voice
from relaxplayer.narration import NarrationWorker, Result
from relaxplayer.outputs.base import Output, name_native_thread
from relaxplayer.player import Player
from relaxplayer.timeline import Cue, Timeline, build_timeline

Listener = Callable[[ev.Event], None]
AHEAD_SECONDS = 6.0  # a line is decoded when its cue starts within this much of the listener:
# far more than decoding takes on a small board (~0.2 s), and it keeps one or two lines held
AHEAD_POLL = 0.25  # seconds between looks at what is coming
AHEAD_NICE = 10  # the decoding thread's nice value, above the audio thread's


def narrator_for(session: Session, engine: str | None, synthesizes: bool = False) -> object | None:
    """The session's narrator, or None for no voice; ``engine`` overrides the session's.

    By default it only reads the cache: synthesis is the narration worker's.
    """
    from relaxplayer.sounds.speech import Narrator

    voice = session.voice
    if engine is not None:
        voice = Voice(engine=engine, model=voice.model, speed=voice.speed, language=voice.language)
    if voice.engine == "none":
        return None
    narrator = Narrator(voice, synthesizes=synthesizes)
    return narrator if narrator.engine != "none" else None


def worker_for(
    narrator: object, on_result: Callable[[Result], None] | None = None
) -> NarrationWorker:
    """A narration worker speaking with ``narrator``'s voice into its cache folder.

    The engine it chose is passed on, so the worker makes exactly the entries
    this narrator will look for.
    """
    voice: Voice = narrator.voice  # type: ignore[attr-defined]
    chosen = Voice(
        engine=narrator.engine,  # type: ignore[attr-defined]
        model=narrator.model or voice.model,  # type: ignore[attr-defined]
        speed=voice.speed,
        language=voice.language,
    )
    return NarrationWorker(chosen, narrator.cache_root, on_result=on_result)  # type: ignore[attr-defined]


def speech_texts(timeline: Timeline) -> list[str]:
    """Every text the voice speaks, once each, in timeline order."""
    return list(dict.fromkeys(str(c.sound.name) for c in timeline.cues if c.sound.kind == "speech"))


def unspoken(timeline: Timeline, bank: SoundBank, start: int = 0) -> list[str]:
    """Texts not synthesized yet, in the order they will be heard from frame ``start``.

    Lines before ``start`` (``--start-at``) come last: a skip back may need them.
    """
    cues = [c for c in timeline.cues if c.sound.kind == "speech" and not bank.ready(c.sound)]
    ahead = [c for c in cues if c.end > start] + [c for c in cues if c.end <= start]
    return list(dict.fromkeys(str(c.sound.name) for c in ahead))


def synthesize_all(
    narrator: object, texts: list[str], progress: Callable[[str], None] | None = None
) -> None:
    """Make every line through the worker, for ``prepare`` and ``render``: all or nothing.

    Raises ``AssetError`` naming the first line that failed, after the others
    were tried (what was made stays in the cache).
    """
    if not texts:
        return
    failures: list[Result] = []
    with worker_for(narrator) as worker:
        worker.request(texts)
        for text in texts:
            result = worker.wait_for(text)
            assert result is not None
            if result.error is not None:
                failures.append(result)
            if progress is not None:
                progress(text)
    if failures:
        first = failures[0]
        more = f" (and {len(failures) - 1} more lines)" if len(failures) > 1 else ""
        raise AssetError(f"cannot speak {_short(first.text)}{more}: {first.error}")


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def start_frame(timeline: Timeline, start_at: str | None) -> int:
    """``start_at``: a section title (case-insensitive), a time such as 5m, or a position
    as ``show`` prints it (1:00, 1:02:03); frames."""
    if not start_at:
        return 0
    sections = [s for s in timeline.steps if s.kind == "section"]
    for span in sections:
        if span.label.casefold() == start_at.casefold():
            return span.start
    try:
        seconds = units.parse_position(start_at)
    except ValueError:
        names = ", ".join(repr(s.label) for s in sections) or "(this session has no sections)"
        raise ConfigError(
            f"--start-at {start_at!r} is neither a section nor a time (5m, 1:30, 1:02:03); "
            f"sections: {names}"
        ) from None
    if seconds * timeline.rate >= timeline.length:
        raise ConfigError(
            f"--start-at {start_at} is past the end ({units.format_time(timeline.seconds)})"
        )
    return units.frames(seconds, timeline.rate)


class AheadLines:
    """The narrator the mixer reads lines from, with the lines about to be heard decoded ahead.

    ``load`` gives a decoded line from memory when it is there (the very array
    ``narrator.load`` returned, so play still equals render) and decodes it
    itself otherwise (a seek, a line that came late). Everything else is the
    narrator's. Only the lines of cues sounding now or starting within
    ``AHEAD_SECONDS`` are held: one or two arrays of a few MB.
    """

    def __init__(self, narrator: object, rate: int) -> None:
        self.narrator = narrator
        self.rate = rate
        self._decoded: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self.decoded = 0  # lines decoded ahead (tests, the benchmark)

    def __getattr__(self, name: str) -> object:
        return getattr(self.narrator, name)

    def load(self, text: str, rate: int) -> np.ndarray:
        found = self._decoded.get(text) if rate == self.rate else None
        if found is not None:
            return found
        return self.narrator.load(text, rate)  # type: ignore[attr-defined]

    def has(self, text: str) -> bool:
        return text in self._decoded

    def decode(self, text: str) -> None:
        """Decode ``text`` now (on the caller's thread) unless it is held already."""
        with self._lock:  # two threads asking for one line decode it once
            if text not in self._decoded:
                self._decoded[text] = self.narrator.load(text, self.rate)  # type: ignore[attr-defined]
                self.decoded += 1

    def keep(self, texts: set[str]) -> None:
        """Forget every decoded line not in ``texts`` (their cues are over or far away)."""
        for text in [t for t in self._decoded if t not in texts]:
            self._decoded.pop(text, None)


def coming_lines(
    timeline: Timeline, frame: int, rate: int, ready: Callable[[Cue], bool]
) -> list[str]:
    """Texts of the spoken cues sounding at ``frame`` or starting within ``AHEAD_SECONDS``
    of it, that can be decoded now (``ready``), soonest first."""
    until = frame + int(AHEAD_SECONDS * rate)
    cues = [
        c for c in timeline.cues if c.sound.kind == "speech" and c.end > frame and c.start < until
    ]
    return list(dict.fromkeys(str(c.sound.name) for c in cues if ready(c)))


def lower_thread_priority(nice: int) -> None:
    """The calling thread only (Linux nice values are per thread); never fatal."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)


class Playback:
    """Prepares and plays one session; a ``commands.Commands`` from the moment it exists.

    Commands sent while the first line is still being made are kept: a quit
    cancels the preparation (``run`` returns ``"quit"`` at once), a pause or
    a volume change applies when the sound starts; skips wait for the sound.
    """

    def __init__(
        self,
        session: Session,
        open_output: Callable[[], Output],
        *,
        narrator: object | None,
        rate: int = 44100,
        volume: float = 1.0,
        start_at: str | None = None,
        fade_in: float = 0.0,
        listeners: Iterable[Listener] = (),
        worker: Callable[[Callable[[Result], None]], NarrationWorker] | None = None,
    ) -> None:
        self.session = session
        self.rate = rate
        self._open_output = open_output
        self._volume = volume
        self._start_at = start_at
        self._fade_in = fade_in  # seconds from silence at the start (a resume)
        self._listeners = list(listeners)
        self.lines = AheadLines(narrator, rate) if narrator is not None else None
        self.bank = SoundBank(rate, self.lines, synthesize=False)
        self.timeline = build_timeline(session, rate, self.bank.measure)
        self.start = start_frame(self.timeline, start_at)  # a bad --start-at fails before any work
        self._make_worker = worker or (lambda done: worker_for(narrator, done))
        self.worker: NarrationWorker | None = None
        self.player: Player | None = None
        self.lines_failed: list[Result] = []
        self._lock = threading.Lock()  # the bank and player hand-over; never taken by commands
        self._ahead_wake = threading.Event()  # a line arrived, or the playback is ending
        self._ending = False
        # Commands only store plain values (safe in a signal handler); _prepare reads them.
        self._quit_fade: float | None = None
        self._paused = False
        self._volume_delta = 0.0

    # --- commands (any thread, signal handlers included: no locks) ------------------------

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)
        if self.player is not None:
            self.player.listen(listener)

    def toggle_pause(self) -> None:
        if self.player is not None:
            self.player.toggle_pause()
        else:
            self._paused = not self._paused

    def pause(self) -> None:
        if self.player is not None:
            self.player.pause()
        else:
            self._paused = True

    def resume(self) -> None:
        if self.player is not None:
            self.player.resume()
        else:
            self._paused = False

    def next_step(self) -> None:
        if self.player is not None:
            self.player.next_step()

    def restart_step(self) -> None:
        if self.player is not None:
            self.player.restart_step()

    def next_section(self) -> None:
        if self.player is not None:
            self.player.next_section()

    def seek(self, frame: int) -> None:
        """Jump to session frame ``frame`` (a remote's ``seekcur``); only once the sound plays."""
        if self.player is not None:
            self.player.seek(frame)

    def change_volume(self, delta: float) -> None:
        if self.player is not None:
            self.player.change_volume(delta)
        else:
            self._volume_delta += delta

    def quit(self, fade: float = QUIT_FADE) -> None:
        self._quit_fade = fade
        if self.player is not None:
            self.player.quit(fade)

    # --- driving -------------------------------------------------------------------

    @property
    def pending(self) -> list[str]:
        """Lines still to be synthesized, in the order they will be needed."""
        return unspoken(self.timeline, self.bank, self.start)

    def run(self) -> str:
        """Prepare, then play to the end or a quit: ``"end"`` or ``"quit"``.

        Raises ``PlaybackFailed`` (its ``position`` is where the listener was:
        the resume listener keeps it) when the output fails for good. The
        narration worker is ended on every way out.
        """
        ahead: threading.Thread | None = None
        try:
            player = self._prepare()
            if player is None:
                self._emit(ev.Finished(self.start, "quit"))
                return "quit"
            if self.lines is not None:
                ahead = threading.Thread(target=self._decode_ahead, name="ahead", daemon=True)
                ahead.start()
            return player.run()
        finally:
            self._ending = True
            self._ahead_wake.set()
            if self.worker is not None:
                self.worker.close()
            if ahead is not None:
                ahead.join(timeout=2.0)

    def _decode_ahead(self) -> None:
        """Until the playback ends: decode the lines coming up, forget those heard."""
        name_native_thread("relax-ahead")
        lower_thread_priority(AHEAD_NICE)
        assert self.lines is not None and self.player is not None
        while not self._ending:
            with self._lock:
                timeline = self.timeline
            texts = coming_lines(timeline, self.player.heard, self.rate, self.bank.exact)
            self.lines.keep(set(texts))
            for text in texts:
                if self._ending:
                    return
                try:
                    self.lines.decode(text)
                except Exception:  # the audio thread decodes it itself (and reports)
                    break
            self._ahead_wake.wait(AHEAD_POLL)
            self._ahead_wake.clear()

    def _prepare(self) -> Player | None:
        """The first line heard, then the player; None when a quit came first."""
        pending = self.pending
        if pending:
            quitting = lambda: self._quit_fade is not None  # noqa: E731
            self.worker = self._make_worker(self._line_done)
            self.worker.request(pending)
            first = self.worker.wait_for(pending[0], cancelled=quitting)
            if first is None:
                return None
            with self._lock:
                if first.error is not None:  # _line_done does it too, maybe a moment later
                    self.bank.give_up(first.text)
                self.timeline = build_timeline(self.session, self.rate, self.bank.measure)
                self.start = start_frame(self.timeline, self._start_at)
        if self._quit_fade is not None:
            return None
        if self.lines is not None:  # the first words, decoded before the sound starts
            for text in coming_lines(self.timeline, self.start, self.rate, self.bank.exact)[:1]:
                self.lines.decode(text)
        mixer = Mixer(self.timeline, self.bank, channels=2)
        mixer.seek(self.start)
        player = Player(
            mixer,
            self._open_output,
            volume=min(max(self._volume + self._volume_delta, 0.0), 1.0),
            listeners=self._listeners,
            ready=self.bank.exact,
            fade_in=self._fade_in,
        )
        with self._lock:
            self.player = player
            player.retime(build_timeline(self.session, self.rate, self.bank.measure))
        if self._paused:
            player.pause()
        if self._quit_fade is not None:
            player.quit(self._quit_fade)
        return player

    def _line_done(self, result: Result) -> None:
        """A line was made (or failed): let a chime stand in for a failure, re-time the player.

        A line made for a cue coming soon is decoded before the re-timing that
        lets the player play it, so a late line is not decoded by the audio thread.
        """
        with self._lock:
            if result.error is not None:
                self.bank.give_up(result.text)
                self.lines_failed.append(result)
            self.timeline = build_timeline(self.session, self.rate, self.bank.measure)
            timeline, player = self.timeline, self.player
        soon = (
            result.error is None
            and player is not None
            and self.lines is not None
            and result.text in coming_lines(timeline, player.heard, self.rate, self.bank.exact)
        )
        if soon:
            with contextlib.suppress(Exception):  # the audio thread tries again, and reports
                self.lines.decode(result.text)  # type: ignore[union-attr]
        with self._lock:
            if self.player is not None:
                self.player.retime(self.timeline)
        self._ahead_wake.set()

    def _emit(self, event: ev.Event) -> None:
        for listener in self._listeners:
            listener(event)
