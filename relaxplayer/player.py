"""The player: owns the audio clock and the transport, and tells listeners what is heard.

Two threads meet here. The output's thread (or PortAudio callback) calls
``pull`` for each block: only that thread touches the mixer, applies the
pause / seek / quit ramps and the volume, and logs which session frames went
into which output frames. The main thread runs ``run``: it reads how many
frames the output has *played* (the audio clock), maps that back through the
log to a session position, and emits events. Controls (keys, signals, GPIO, a
web remote) call the public methods, which only enqueue commands; every
transport decision (is it paused? what does a toggle mean?) is taken by the
audio thread from its own state, so no command is lost or misread however fast
they come.

Outputs with a clock (``realtime``: devices, null) get silence while paused or
while a line of narration is not synthesized yet: their clock must go on.
Outputs without one (a file, a pipe whose reader takes what it is given) never
get silence that stands for waiting: ``pull`` blocks instead (a short wait on
an event, applying commands and honouring a quit meanwhile), so a file
written by ``play`` is exactly what ``render`` writes, however long it waited.
"""

from __future__ import annotations

import bisect
import gc
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from relaxplayer import events as ev
from relaxplayer.commands import QUIT_FADE
from relaxplayer.errors import OutputError
from relaxplayer.mixer import Mixer
from relaxplayer.outputs.base import Output
from relaxplayer.timeline import Cue, StepSpan, Timeline

RAMP_SECONDS = (
    0.03  # pause, resume and seek ramps: short enough to feel instant, long enough not to click
)
PREVIOUS_WINDOW = 3.0  # 'p' within this many seconds of a step's start goes to the previous step
VOLUME_STEP = 0.1
TICKS_PER_SECOND = 10
IDLE_WAIT = 0.05  # seconds: a non-real-time output's blocked pull looks again this often


class PlaybackFailed(OutputError):
    """The output failed and could not be reopened; ``position`` is where the listener was (frames)."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


@dataclass
class _Block:
    """One pulled block: output frames ``[out, out+n)`` carried session frames ``[pos, pos+advanced)``."""

    out: int
    n: int
    pos: int
    advanced: int


class Player:
    """Plays one mixer through outputs made by ``open_output`` (called again to recover a failed device)."""

    def __init__(
        self,
        mixer: Mixer,
        open_output: Callable[[], Output],
        *,
        volume: float = 1.0,
        listeners: Iterable[Callable[[ev.Event], None]] = (),
        retry_seconds: float = 5.0,
        ready: Callable[[Cue], bool] | None = None,
        fade_in: float = 0.0,
    ) -> None:
        """``fade_in`` (seconds) starts the sound from silence, e.g. when resuming mid-session."""
        self.mixer = mixer
        self.timeline = mixer.timeline
        self.rate = self.timeline.rate
        self._open_output = open_output
        self._listeners = list(listeners)
        self._retry_seconds = retry_seconds
        self._ready = ready  # narration still being synthesized is waited for, in silence
        self._waiting = False
        self._commands: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self._wake = threading.Event()  # wakes the main thread
        self._audio_wake = threading.Event()  # wakes a blocked pull (non-real-time outputs)
        self._halt = threading.Event()  # run is ending: a blocked pull returns at once
        self._realtime = True  # the output's `realtime`: does it need silence to keep its clock?
        # audio-thread state
        self._gain = 0.0 if fade_in > 0 else 1.0
        self._target = 1.0
        self._ramp = max(int(max(fade_in, RAMP_SECONDS) * self.rate), 1)
        self._pending: tuple | None = None
        self._holding = False
        self._volume = self._volume_target = float(volume)
        self._out_frames = 0
        self._end_out: int | None = None
        self._log: deque[_Block] = deque()
        self._log_lock = threading.Lock()
        self._fault: BaseException | None = None
        self.first_pull_at: float | None = (
            None  # monotonic time of the first block (start-up figure)
        )
        # main-thread state
        self.heard = 0
        self.paused = False
        self.reason = "end"
        self._output: Output | None = None
        self._outage: float | None = (
            None  # monotonic time a device outage began (retry policy only)
        )
        self._played_any = False  # some output has played a frame: a later failure is an outage
        self._in_outage = False  # "failed; retrying" said, "back on" not yet
        self._back_on: str | None = None  # output to announce once its clock has advanced
        self.listener_errors: list[Exception] = []  # listeners dropped because they raised
        self._step_index = -1
        self._seeks = 0  # seeks done by the audio thread (a jump, not playing on)
        self._seen_seeks = -1  # as last seen by the main thread; the start counts as a jump
        self._cue_index = 0
        self._last_tick = -(10**12)
        self._said_waiting = False

    # --- commands (any thread) -------------------------------------------------------

    def listen(self, listener: Callable[[ev.Event], None]) -> None:
        self._listeners.append(listener)

    def toggle_pause(self) -> None:
        """Decided by the audio thread from its own state: 101 toggles always end paused."""
        self._send("toggle")

    def pause(self) -> None:
        self._send("pause")

    def resume(self) -> None:
        self._send("resume")

    def seek(self, frame: int) -> None:
        self._send("seek", max(0, min(int(frame), self.timeline.length)))

    def next_step(self) -> None:
        target = next(
            (s.start for s in self.timeline.steps if s.length > 0 and s.start > self.heard), None
        )
        self.seek(target if target is not None else self.timeline.length)

    def restart_step(self) -> None:
        """Back to this step's start; within ``PREVIOUS_WINDOW`` of it, to the previous step."""
        timed = [s for s in self.timeline.steps if s.length > 0]
        current = max((i for i, s in enumerate(timed) if s.start <= self.heard), default=0)
        if (
            timed
            and self.heard - timed[current].start < PREVIOUS_WINDOW * self.rate
            and current > 0
        ):
            current -= 1
        self.seek(timed[current].start if timed else 0)

    def next_section(self) -> None:
        starts = [s.start for s in self.timeline.steps if s.kind == "section"]
        i = bisect.bisect_right(starts, self.heard)
        self.seek(starts[i] if i < len(starts) else self.timeline.length)

    def change_volume(self, delta: float) -> None:
        self._send("volume", delta)

    def retime(self, timeline: Timeline) -> None:
        """Adopt a re-measured timeline (narration synthesized while playing)."""
        self._send("retime", timeline)

    def quit(self, fade: float = QUIT_FADE) -> None:
        self._send("quit", fade)

    def _send(self, *command: object) -> None:
        self._commands.put(command)
        self._wake.set()
        self._audio_wake.set()

    # --- the audio thread -------------------------------------------------------------

    def pull(self, n: int) -> np.ndarray:
        """Called by the output for ``n`` more frames; never raises.

        For a real-time output it never blocks and always gives ``n`` frames.
        For a non-real-time one it blocks while paused or waiting for the voice,
        gives fewer frames for the session's last block, and after the end (or
        once ``run`` is ending) blocks until ``run`` ends, then gives none.
        """
        if self.first_pull_at is None:
            self.first_pull_at = time.monotonic()
        try:
            self._apply_commands()
            return self._render(n)
        except BaseException as exc:  # a bug must not kill the device thread: go quiet, report
            self._fault = exc
            self._end_out = self._out_frames
            return np.zeros((n, self.mixer.channels), dtype=np.float32)
        finally:
            if self._end_out is not None:  # the end (or a fault): tell the main thread now;
                self._wake.set()  # otherwise it reads the clock at its own 10 Hz pace

    def _apply_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            name = command[0]
            if name == "toggle":
                self._resume() if self._paused_now() else self._pause()
            elif name == "pause":
                self._pause()
            elif name == "resume":
                self._resume()
            elif name == "seek":
                self._seek(command[1])
            elif name == "volume":
                self._volume_target = float(np.clip(self._volume_target + command[1], 0.0, 1.0))
            elif name == "quit":
                self._quit(max(int(command[1] * self.rate), 1))
            elif name == "retime":
                self._retime(command[1])

    def _paused_now(self) -> bool:
        """Paused or fading to a pause, as the audio thread sees it (the truth, not a report)."""
        return self._holding or (self._pending is not None and self._pending[0] == "hold")

    def _pause(self) -> None:
        if self._paused_now() or self._quitting():
            return
        if self._pending is not None:  # a seek fading out: hold at the new place
            self._holding = True
            return
        self._fade_then(("hold",), self._default_ramp())

    def _resume(self) -> None:
        """Never cancels a quit or a seek being faded for; only the pause."""
        if self._quitting():
            return
        self._holding = False
        if self._pending is not None and self._pending[0] == "hold":
            self._pending = None
        if self._pending is None:
            self._target = 0.0 if self._waiting and self._realtime else 1.0
            self._ramp = self._default_ramp()

    def _seek(self, frame: int) -> None:
        if self._quitting():
            return
        self._fade_then(("seek", frame), self._default_ramp())

    def _quit(self, ramp: int) -> None:
        """A quit may shorten a quit already fading (a second Ctrl-C), never lengthen it."""
        if self._quitting():
            self._ramp = min(self._ramp, ramp)
            return
        self._fade_then(("quit",), ramp)

    def _quitting(self) -> bool:
        return self._pending is not None and self._pending[0] == "quit"

    def _default_ramp(self) -> int:
        return max(int(RAMP_SECONDS * self.rate), 1)

    def _retime(self, timeline: Timeline) -> None:
        """Adopt a re-measured timeline; blocks not heard yet move with the position."""
        old = self.timeline
        moved = self.mixer.retime(timeline)
        self.timeline = timeline
        self._seeks += 1  # step spans are the new timeline's: announce only where we are
        if moved:
            with self._log_lock:
                for block in self._log:
                    block.pos += moved
            if self._pending is not None and self._pending[0] == "seek":
                self._pending = ("seek", old.same_place(self._pending[1], timeline))

    def _fade_then(self, action: tuple, ramp: int) -> None:
        if self._pending is not None and self._pending[0] == "hold":
            self._holding = True  # the pause being faded for stays, whatever comes next
        if self._waiting and self._realtime:  # fading for the voice: a slow fade would reach it
            ramp = min(ramp, self._default_ramp())
        self._pending, self._target, self._ramp = action, 0.0, ramp

    def _wait_for_voice(self, n: int) -> None:
        """Fade to silence before a spoken cue that is not synthesized yet; come back when it is."""
        if self._ready is None:
            return
        lo = self.mixer.position
        hi = lo + n + 2 * max(int(RAMP_SECONDS * self.rate), 1)
        cues = self.timeline.cues
        i = bisect.bisect_left(self.mixer.starts, lo)
        missing = False
        while i < len(cues) and cues[i].start < hi:
            if not self._ready(cues[i]):
                missing = True
                break
            i += 1
        if missing and not self._waiting:
            self._waiting = True
            if self._pending is None and self._realtime:  # without a clock: stop, no fade
                self._target, self._ramp = 0.0, self._default_ramp()
        elif not missing and self._waiting:
            self._waiting = False
            if self._pending is None and not self._holding:
                self._target = 1.0

    def _render(self, n: int) -> np.ndarray:
        channels = self.mixer.channels
        while True:
            self._wait_for_voice(n)
            if self._pending is not None and (self._gain == 0.0 or self._stalled()):
                self._finish_pending()  # nothing audible left to fade: act now
                continue  # (a seek lands elsewhere: look at the voice there)
            if self._realtime or not self._idle():
                break
            if self._halt.is_set():
                return np.zeros((0, channels), dtype=np.float32)
            if self._end_out is not None:
                self._wake.set()  # the last frame is written: let run finish now
            self._audio_wake.wait(IDLE_WAIT)
            self._audio_wake.clear()
            self._apply_commands()
        silent = self._holding and self._pending is None
        if self._end_out is not None or silent or (self._waiting and self._gain == 0.0):
            self._record(n, 0)
            return np.zeros((n, channels), dtype=np.float32)
        audio = self.mixer.render(n)
        got = audio.shape[0]
        if got < n:
            if self._pending is None or self._pending[0] != "seek":
                self._end_out = self._out_frames + got
                if not self._realtime:  # no clock to feed: the session's last frame ends it
                    n = got
            audio = np.concatenate([audio, np.zeros((n - got, channels), np.float32)])
        gains = self._gains(n)
        if isinstance(gains, np.ndarray):
            for c in range(channels):  # column by column: broadcasting over 2 channels is slower
                audio[:, c] *= gains
        elif gains != 1.0:
            audio *= np.float32(gains)
        self._record(n, got)
        if self._gain == 0.0 and self._pending is not None:
            self._finish_pending()
        return audio

    def _stalled(self) -> bool:
        """Waiting for the voice with no clock to feed: nothing more may be written yet."""
        return self._waiting and not self._realtime

    def _idle(self) -> bool:
        """A non-real-time output would only be given silence that stands for waiting."""
        if self._end_out is not None:
            return True
        return self._pending is None and (self._holding or self._waiting)

    def _gains(self, n: int) -> np.ndarray | float:
        """Per-frame transport x volume gain, ramping linearly towards the targets.

        Steady (the usual case) it is one number, so most blocks cost no arrays.
        """
        if self._gain == self._target and self._volume == self._volume_target:
            return self._gain * self._volume
        delta = np.arange(1, n + 1, dtype=np.float64) / self._ramp
        if self._target >= self._gain:
            transport = np.minimum(self._gain + delta, self._target)
        else:
            transport = np.maximum(self._gain - delta, self._target)
        self._gain = float(transport[-1])
        volume = np.linspace(self._volume, self._volume_target, n + 1, dtype=np.float64)[1:]
        self._volume = self._volume_target
        return (transport * volume).astype(np.float32)

    def _finish_pending(self) -> None:
        action, self._pending = self._pending, None
        assert action is not None
        if action[0] == "hold":
            self._holding = True
        elif action[0] == "seek":
            self.mixer.seek(action[1])
            self._seeks += 1
            self._end_out = None
            quiet = self._holding or (self._waiting and self._realtime)
            self._target, self._ramp = (0.0 if quiet else 1.0), self._default_ramp()
        elif action[0] == "quit":
            self._end_out = self._out_frames
            self.reason = "quit"

    def _record(self, n: int, advanced: int) -> None:
        with self._log_lock:
            self._log.append(_Block(self._out_frames, n, self.mixer.position - advanced, advanced))
        self._out_frames += n

    # --- the main thread --------------------------------------------------------------

    def run(self) -> str:
        """Play to the end (or until quit); returns ``end`` or ``quit``. Raises on failure.

        A listener that raises is dropped (its error kept in ``listener_errors``);
        playback goes on without it.
        """
        self._output = self._open_output()
        self._realtime = getattr(self._output, "realtime", True)
        self._emit(
            ev.Started(
                self.mixer.position,
                self.timeline.title,
                self.timeline.length,
                self.rate,
                self._output.name,
            )
        )
        self.heard = self.mixer.position
        self._emit_progress()  # the first step begins with playback, however fast the output runs
        gc.freeze()  # what start-up made lives on: a full collection never walks it mid-session
        self._output.start(self.pull)
        try:
            while not self._finished():
                self._wake.wait(self._until_next())
                self._wake.clear()
                if self._fault is not None:
                    raise self._fault
                if self._output.error is not None:
                    self._recover()
                self._report()
        finally:
            self._halt.set()  # a blocked pull returns: the output's thread can end
            self._output.stop(drain=self._fault is None and self._output.error is None)
            gc.unfreeze()  # a service plays again: what this playback held may be freed
        self._report(force=True)
        self._emit(ev.Finished(self.heard, self.reason))
        return self.reason

    def _until_next(self) -> float:
        """Seconds to sleep: until the next cue or step is heard, at most one tick.

        Waking just when a cue becomes audible puts its words on screen within
        a few milliseconds of the sound, without polling the clock all the time.
        """
        tick = 1.0 / TICKS_PER_SECOND
        if self.paused:
            return tick
        cues, steps = self.timeline.cues, self.timeline.steps
        ahead = [cues[self._cue_index].start] if self._cue_index < len(cues) else []
        nxt = self._step_index + 1
        if 0 <= nxt < len(steps):
            ahead.append(steps[nxt].start)
        frames = min((f - self.heard for f in ahead if f > self.heard), default=None)
        return tick if frames is None else min(tick, frames / self.rate + 0.002)

    def _finished(self) -> bool:
        assert self._output is not None
        return self._end_out is not None and self._output.frames_played() >= self._end_out

    def _heard_position(self, played: int) -> int:
        """Session frame being heard now: the audio clock mapped back through the block log."""
        with self._log_lock:
            while len(self._log) > 1 and self._log[1].out <= played:
                self._log.popleft()
            if not self._log:
                return self.heard
            block = self._log[0]
        into = min(max(played - block.out, 0), block.advanced)
        return block.pos + into

    def _report(self, force: bool = False) -> None:
        assert self._output is not None
        played = self._output.frames_played()
        self.heard = self._heard_position(played)
        if played > 0:
            self._played_any = True
            if self._back_on is not None:  # sound really flows again, not just an open device
                self._emit(ev.Notice(self.heard, f"audio output back on {self._back_on}"))
                self._back_on, self._in_outage = None, False
        paused = self._holding or (self._pending is not None and self._pending[0] == "hold")
        if paused != self.paused:
            self.paused = paused
            self._emit(ev.Paused(self.heard) if paused else ev.Resumed(self.heard))
        if self._waiting != self._said_waiting:
            self._said_waiting = self._waiting
            message = (
                "waiting for the voice to finish synthesizing"
                if self._waiting
                else "narration ready"
            )
            self._emit(ev.Notice(self.heard, message))
        self._emit_progress()
        if force or abs(self.heard - self._last_tick) >= self.rate // TICKS_PER_SECOND or paused:
            self._last_tick = self.heard
            self._emit(
                ev.Tick(
                    self.heard,
                    self.timeline.length,
                    self.paused,
                    self._volume_target,
                    self._output.underruns,
                    *self._phase(),
                )
            )

    def _phase(self) -> tuple[str, float, float]:
        """The breathing phase being heard: name, seconds into it, its length in seconds."""
        span = self.timeline.step_at(self.heard)
        if span is None or not span.phases:
            return ("", 0.0, 0.0)
        i = bisect.bisect_right([p.start for p in span.phases], self.heard) - 1
        if i < 0:
            return ("", 0.0, 0.0)
        phase = span.phases[i]
        return (phase.name, (self.heard - phase.start) / self.rate, phase.length / self.rate)

    def _steps_passed(self, current: StepSpan) -> list[StepSpan]:
        """The timed steps heard since the last report, ending with ``current``.

        Playing on, a clock that advanced past whole steps between two looks
        (a file output, a stalled main thread) still announces each of them;
        after a seek only the step landed on is announced.
        """
        seeks, self._seen_seeks = self._seen_seeks, self._seeks
        if seeks != self._seeks or current.index < self._step_index:
            return [current]
        between = self.timeline.steps[self._step_index + 1 : current.index]
        return [s for s in between if s.length > 0] + [current]

    def _emit_progress(self) -> None:
        """StepStarted / CueStarted for everything whose start has now been heard."""
        cues = self.timeline.cues
        current = self.timeline.step_at(self.heard)
        if current is not None and current.index != self._step_index:
            for span in self._steps_passed(current):
                self._emit(
                    ev.StepStarted(
                        max(span.start, self.heard) if span is current else span.start,
                        span.index,
                        span.kind,
                        span.label,
                        span.section,
                        span.start,
                        span.length,
                    )
                )
            self._step_index = current.index
        if self._cue_index > len(cues) or (
            self._cue_index and cues[self._cue_index - 1].start > self.heard
        ):
            self._cue_index = bisect.bisect_right(
                [c.start for c in cues], self.heard
            )  # jumped back
        while self._cue_index < len(cues) and cues[self._cue_index].start <= self.heard:
            cue = cues[self._cue_index]
            self._cue_index += 1
            if cue.text and self.heard - cue.start < self.rate:
                self._emit(ev.CueStarted(self.heard, cue.sound.kind, cue.text))

    def _recover(self) -> None:
        """The output failed: reopen it for up to ``retry_seconds``, resuming where the listener was.

        Only a device lost mid-session is retried, with one message; one that
        fails before it has played anything, or one that cannot be resumed
        (``retryable`` False: a file on a full disk), is one clear error at once.
        A device that fails again before playing a second of audio counts as the
        same outage, so a dead device cannot keep "recovering" forever; "back
        on" is said only once the new one's clock advances (``_report``).
        """
        assert self._output is not None
        failed = self._output
        error, played = failed.error, failed.frames_played()
        failed.stop(drain=False)
        self._output = _DeadOutput(failed)  # until a new one plays, nothing to stop or read
        now = time.monotonic()
        if self._outage is None or played > self.rate:
            self._outage = now
        if self._quit_during_outage():
            return
        if not getattr(failed, "retryable", True):
            raise PlaybackFailed(str(error), self.heard)
        if not (self._played_any or played > 0):
            raise PlaybackFailed(f"audio output failed: {error}", self.heard)
        if not self._in_outage:
            self._in_outage = True
            self._emit(ev.Notice(self.heard, f"audio output failed ({error}); retrying"))
        while time.monotonic() - self._outage < self._retry_seconds:
            self._wake.wait(0.5)
            self._wake.clear()
            if self._quit_during_outage():
                return
            try:
                self._reset_for(self._open_output())
                return
            except OutputError:
                continue
        raise PlaybackFailed(f"audio output failed: {error}", self.heard)

    def _quit_during_outage(self) -> bool:
        """No audio thread runs now: apply commands here; a quit ends at once, where it was."""
        self._apply_commands()
        if self._pending is None or self._pending[0] != "quit":
            return False
        with self._log_lock:
            self._log.clear()  # the position stays where the listener was
        self._carry_over(self._pending)
        return True

    def _reset_for(self, output: Output) -> None:
        with self._log_lock:
            self._log.clear()
        self._out_frames = 0
        self.mixer.seek(self.heard)
        self._carry_over(self._pending)
        self._gain, self._target = 0.0, (0.0 if self._holding else 1.0)
        self._realtime = getattr(output, "realtime", True)
        output.start(self.pull)
        self._output = output
        self._back_on = output.name

    def _carry_over(self, pending: tuple | None) -> None:
        """Finish what the lost device was fading for: the new one starts silent anyway.

        Without this a quit (Ctrl-C, SIGTERM) or pause that arrived as the
        device failed would be forgotten, and the session would play on.
        """
        self._pending = None
        if pending is None:
            return
        if pending[0] == "quit":
            self._end_out, self.reason = 0, "quit"
        elif pending[0] == "hold":
            self._holding = True
        elif pending[0] == "seek":
            self.mixer.seek(pending[1])
            self._seeks += 1

    def _emit(self, event: ev.Event) -> None:
        """A listener that raises (a display on a closed stdout) is dropped; playback goes on."""
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception as exc:
                self._listeners.remove(listener)
                self.listener_errors.append(exc)


class _DeadOutput:
    """Stands in for a failed output so ``run``'s cleanup does not touch it twice."""

    def __init__(self, failed: Output) -> None:
        self.name = failed.name
        self.error = None
        self.underruns = failed.underruns

    def frames_played(self) -> int:
        return 0

    def stop(self, drain: bool = True) -> None:
        return None
