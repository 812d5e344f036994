"""The service core: owns at most one playback at a time, and one command interface for all.

mopidy's core is the model: the button, the keyboard, the web page and the
MPD server all call these methods and subscribe to one event stream; none of
them reaches into a playback. Playbacks come from an injected factory
(``make_playback(session_name, **options)`` -> an object with the
``Commands`` methods, ``listen(listener)`` and ``run() -> reason``), so the
core neither knows how a session is prepared nor which output it plays on.

One worker thread runs the playbacks one after another: ``play`` only records
the request (fading out what plays), so every command returns at once, from
any thread. History and resume points are listeners of each playback. Time
comes from two injected clocks: ``now`` (aware wall clock, for schedules) and
``monotonic`` (seconds, for the sleep timer); ``tick`` is called regularly by
``serve`` (about once a second) and directly by tests.

A sound device that goes away does not end the session (``DeviceWait``): the
worker keeps it, waits for the device with a backoff, and continues it with a
new playback from the factory (``start_at``, ``fade_in``) a few seconds before
where it stopped, in the same history row.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from relaxplayer import events as ev
from relaxplayer import library, units
from relaxplayer.commands import QUIT_FADE
from relaxplayer.errors import ConfigError, OutputError, RelaxError
from relaxplayer.history import History, HistoryListener
from relaxplayer.resume import BACK_OFF, ResumeListener
from relaxplayer.service.config import Config
from relaxplayer.service.scheduler import Run, Scheduler

SWITCH_FADE = 1.0  # seconds: fading out one session to start another
# Seconds between tries for a lost sound device; the last one repeats for ever.
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 10.0)
DEVICE_FADE_IN = 3.0  # seconds: a session continued on a device that came back, from silence


def _wait_on(cond: threading.Condition, seconds: float) -> None:
    cond.wait(seconds)


@dataclass(frozen=True)
class DeviceWait:
    """How ``serve`` waits for a sound device that went away (or was not there).

    The session is kept, not ended: every ``delays`` seconds (the last one
    repeating) ``probe`` is asked whether the device plays now (None: yes; a
    string says why not; no probe: a new playback is simply tried), and when it
    does the session goes on a few seconds before where it stopped, fading in.
    ``sleep(cond, seconds)`` is called with the service's condition held and
    must release it while it waits (``Condition.wait``): every command notifies
    it, so a stop or a quit ends the wait at once. Tests inject it.
    """

    probe: Callable[[], str | None] | None = None
    delays: tuple[float, ...] = RETRY_DELAYS
    sleep: Callable[[threading.Condition, float], object] = _wait_on

    def schedule(self) -> Iterator[float]:
        """The waits, in seconds: ``delays``, then its last one for ever."""
        return itertools.chain(self.delays, itertools.repeat(self.delays[-1]))


class PlaybackLike(Protocol):
    def toggle_pause(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def next_step(self) -> None: ...
    def restart_step(self) -> None: ...
    def next_section(self) -> None: ...
    def change_volume(self, delta: float) -> None: ...
    def quit(self, fade: float = QUIT_FADE) -> None: ...
    def listen(self, listener: Callable[[ev.Event], None]) -> None: ...
    def run(self) -> str: ...


MakePlayback = Callable[..., PlaybackLike]


@dataclass(frozen=True)
class SessionChanged(ev.Event):
    """The service began preparing ``session``, or went idle (``session`` is None)."""

    session: str | None


@dataclass(frozen=True)
class SleepTimerSet(ev.Event):
    """The sleep timer was set (``seconds`` until the end of its fade) or cancelled (None)."""

    seconds: float | None


class SleepTimer:
    """A sleep timer for one playback, as a listener: ``play --sleep 30m``.

    Subscribed to the player, it looks at the clock on every event (ticks
    come ten times a second, paused or not) and, ``fade`` seconds before the
    deadline, marks the recorders (history, resume) as ended by the
    ``sleep-timer`` and asks the target to quit with a fade that ends at the
    deadline. ``monotonic`` is injected for tests.
    """

    def __init__(
        self,
        target: Any,
        seconds: float,
        fade: float = 60.0,
        *,
        recorders: tuple[Any, ...] = (),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if seconds <= 0:
            raise ConfigError("a sleep timer needs a time in the future, like 30m")
        self.target = target
        self.fade = fade
        self.recorders = recorders
        self._monotonic = monotonic
        self.deadline = monotonic() + seconds
        self.fired = False

    def __call__(self, event: ev.Event) -> None:
        self.check()

    def check(self) -> bool:
        """Start the fade if it is time; True once it has been started."""
        if self.fired:
            return True
        remaining = self.deadline - self._monotonic()
        if remaining > self.fade:
            return False
        self.fired = True
        for recorder in self.recorders:
            recorder.ending = "sleep-timer"
        self.target.quit(fade=max(remaining, 0.05))
        return True


@dataclass
class _Request:
    session: str
    options: dict[str, Any]
    sleep: float | None
    origin: str  # "command" or "schedule", for the log


class _Current:
    """What plays now, and the listeners that record it."""

    def __init__(
        self,
        name: str,
        playback: PlaybackLike,
        history: HistoryListener | None,
        resume: ResumeListener,
    ) -> None:
        self.name = name
        self.playback = playback
        self.history = history
        self.resume = resume
        self.title = ""
        self.rate = 1
        self.length = 0
        self.position = 0
        self.paused = False
        self.volume = 1.0
        self.underruns = 0  # as the output last reported them (remotes, benchmarks)
        self.started = False
        self.stopped = False  # a stop (or the sleep timer) was asked for: never wait for a device
        self.waiting = False  # for the sound device to come back
        self.back_from: int | None = None  # continued here after an outage; "back" not said yet


class Service:
    """At most one playback at a time; commands in, events out."""

    def __init__(
        self,
        make_playback: MakePlayback,
        config: Config | None = None,
        *,
        history: History | None = None,
        now: Callable[[], datetime] = lambda: datetime.now().astimezone(),
        monotonic: Callable[[], float] = time.monotonic,
        scheduler: Scheduler | None = None,
        find: Callable[[str], library.Entry] = library.find,
        log: Callable[[str], None] = lambda line: None,
        device_wait: DeviceWait | None = None,
    ) -> None:
        """``device_wait`` None: a failed output ends the session (a file, null); see DeviceWait."""
        self.config = config or Config()
        self._make = make_playback
        self._device_wait = device_wait
        self._history = history
        self._monotonic = monotonic
        self._find = find
        self.log = log
        self.scheduler = (
            scheduler
            if scheduler is not None
            else Scheduler(self.config.schedules, now, plausible=self._clock_problem)
        )
        self._subscribers: list[Callable[[ev.Event], None]] = []
        self._cond = threading.Condition()
        self._request: _Request | None = None
        self._current: _Current | None = None
        self._preparing = False  # between taking a request and having its playback
        self._cancelled = False  # a quit arrived while preparing
        self._closing = False
        self._sleep_at: float | None = None  # monotonic time the sleep fade must end
        self._said_clock: str | None = None
        self._worker = threading.Thread(target=self._work, name="service", daemon=True)
        self._worker.start()

    # --- events -------------------------------------------------------------------

    def subscribe(self, listener: Callable[[ev.Event], None]) -> None:
        with self._cond:
            self._subscribers.append(listener)

    def unsubscribe(self, listener: Callable[[ev.Event], None]) -> None:
        with self._cond:
            if listener in self._subscribers:
                self._subscribers.remove(listener)

    def _emit(self, event: ev.Event) -> None:
        for listener in list(self._subscribers):
            try:
                listener(event)
            except Exception as exc:  # a broken remote must not stop the music
                self.log(f"a listener failed on {type(event).__name__}: {exc!r}")

    # --- commands (any thread; each returns at once) -------------------------------

    @property
    def idle(self) -> bool:
        with self._cond:
            return self._is_idle()

    def _is_idle(self) -> bool:
        return self._current is None and self._request is None and not self._preparing

    def play(
        self, session: str, *, sleep: float | None = None, origin: str = "command", **options: Any
    ) -> None:
        """Play ``session`` (a library name or a path), fading out what plays now.

        ``sleep`` (seconds) starts a sleep timer with it; ``options`` go to the
        factory (``volume`` as a linear gain, ``start`` …). An unknown session
        raises ``ConfigError`` here, to the caller.
        """
        self._find(session)
        with self._cond:
            if self._closing:
                raise ConfigError("the service is shutting down")
            self._request = _Request(session, dict(options), sleep, origin)
            self._cancelled = self._preparing  # what is being prepared is replaced
            if self._current is not None:
                self._current.playback.quit(fade=SWITCH_FADE)
            self._sleep_at = None
            self._cond.notify_all()

    def play_default(self) -> None:
        self.play(self.config.default_session, volume=self.config.volume)

    def _playing(self) -> PlaybackLike | None:
        with self._cond:
            return self._current.playback if self._current is not None else None

    def _while_waiting(self, paused: bool | None) -> bool:
        """A pause or resume while the device is away: kept for when it is back (None toggles)."""
        with self._cond:
            c = self._current
            if c is None or not c.waiting:
                return False
            c.paused = (not c.paused) if paused is None else paused
            return True

    def toggle_pause(self) -> None:
        if not self._while_waiting(None) and (p := self._playing()):
            p.toggle_pause()

    def pause(self) -> None:
        if not self._while_waiting(True) and (p := self._playing()):
            p.pause()

    def resume(self) -> None:
        if not self._while_waiting(False) and (p := self._playing()):
            p.resume()

    def next_step(self) -> None:
        if p := self._playing():
            p.next_step()

    def restart_step(self) -> None:
        if p := self._playing():
            p.restart_step()

    def next_section(self) -> None:
        if p := self._playing():
            p.next_section()

    def change_volume(self, delta: float) -> None:
        if p := self._playing():
            p.change_volume(delta)

    def seek(self, seconds: float) -> None:
        """Jump to ``seconds`` into what plays (remotes: MPD ``seekcur``, ``play POS``)."""
        p = self._playing()
        if p is not None and hasattr(p, "seek"):
            rate = getattr(getattr(p, "timeline", None), "rate", 1)
            p.seek(int(max(seconds, 0.0) * rate))

    def timeline(self) -> Any:
        """The timeline of what plays (its steps are a remote's queue), or None."""
        return getattr(self._playing(), "timeline", None)

    def quit(self, fade: float = QUIT_FADE) -> None:
        """Stop what plays (and anything about to start) with a fade of ``fade`` seconds."""
        with self._cond:
            self._request = None
            self._sleep_at = None
            self._cancelled = self._preparing
            current = self._current
            if current is not None:
                current.stopped = True  # also ends a wait for the device, at once
            self._cond.notify_all()
        if current is not None:
            current.playback.quit(fade=fade)

    stop = quit

    def sleep(self, seconds: float | None) -> None:
        """Stop in ``seconds``: a fade of ``config.sleep_fade`` that ends then (None cancels).

        Recorded in the history as ``sleep-timer``.
        """
        with self._cond:
            if seconds is None:
                self._sleep_at = None
            else:
                if self._is_idle():
                    raise ConfigError("nothing is playing, so there is nothing to put to sleep")
                if seconds <= 0:
                    raise ConfigError("a sleep timer needs a time in the future, like 30m")
                self._sleep_at = self._monotonic() + seconds
        self._emit(SleepTimerSet(0, seconds))

    @property
    def sleep_remaining(self) -> float | None:
        """Seconds until the sleep timer's fade ends, or None."""
        at = self._sleep_at
        return None if at is None else max(0.0, at - self._monotonic())

    def reload(self, config: Config) -> None:
        """Adopt a new config (SIGHUP): schedules, default session, sleep fade; what plays goes on."""
        self.config = config
        self.scheduler = Scheduler(
            config.schedules, self.scheduler.now, plausible=self._clock_problem
        )

    # --- time -----------------------------------------------------------------------

    def tick(self) -> None:
        """Fire due schedules and the sleep timer; call about once a second."""
        self._check_sleep()
        for run in self.scheduler.due():
            self._fire(run)
        problem = self.scheduler.problem
        if problem != self._said_clock:
            self._said_clock = problem
            self.log(f"schedules paused: {problem}" if problem else "clock ok: schedules active")

    def _check_sleep(self) -> None:
        with self._cond:
            at, current = self._sleep_at, self._current
            if at is None or current is None:
                return
            remaining = at - self._monotonic()
            fade = self.config.sleep_fade
            if remaining > fade:
                return
            self._sleep_at = None
            if current.history is not None:
                current.history.ending = "sleep-timer"
            current.resume.ending = "sleep-timer"
            current.stopped = True
            self._cond.notify_all()
        self.log(f"sleep timer: fading out {current.name} over {max(remaining, 0.05):.0f} s")
        current.playback.quit(fade=max(remaining, 0.05))

    def _fire(self, run: Run) -> None:
        if not self.idle:
            self.log(f"schedule {run.schedule.at} {run.schedule.session}: skipped, already playing")
            return
        options: dict[str, Any] = {
            "volume": run.schedule.volume if run.schedule.volume is not None else self.config.volume
        }
        self.log(f"schedule {run.schedule.at}: playing {run.schedule.session}")
        try:
            self.play(run.schedule.session, sleep=run.schedule.sleep, origin="schedule", **options)
        except RelaxError as exc:
            self.log(f"schedule {run.schedule.at} {run.schedule.session}: {exc}")

    def _clock_problem(self, moment: datetime) -> str | None:
        from relaxplayer.service.scheduler import clock_problem

        newest = self._history.newest_start() if self._history is not None else None
        return clock_problem(moment, newest_history=newest)

    # --- status ---------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """A snapshot for remotes: what plays, where, paused, volume, sleep timer."""
        with self._cond:
            c = self._current
            pending = self._request.session if self._request is not None else None
            preparing = self._preparing
        if c is None:
            return {
                "state": "starting" if pending or preparing else "idle",
                "session": pending,
                "sleep_remaining": self.sleep_remaining,
            }
        if c.waiting:
            state = "waiting"  # for the sound device
        else:
            state = "paused" if c.paused else ("playing" if c.started else "starting")
        return {
            "state": state,
            "session": c.name,
            "title": c.title,
            "position": c.position / c.rate,
            "length": c.length / c.rate,
            "volume": c.volume,
            "underruns": c.underruns,
            "sleep_remaining": self.sleep_remaining,
        }

    # --- the worker -----------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                while self._request is None and not self._closing:
                    self._cond.wait()
                if self._request is None:
                    return
                request, self._request = self._request, None
                self._preparing, self._cancelled = True, False
            try:
                self._run(request)
            finally:
                with self._cond:
                    self._preparing = False
                    self._cond.notify_all()

    def _run(self, request: _Request) -> None:
        name = request.session
        source = self._source(name)
        self._emit(SessionChanged(0, name))
        try:
            playback = self._make(name, **request.options)
        except RelaxError as exc:
            self.log(f"cannot play {name}: {exc}")
            self._emit(ev.Notice(0, f"cannot play {name}: {exc}"))
            self._emit(SessionChanged(0, None))
            return
        history = (
            HistoryListener(self._history, name, source)
            if self._history is not None and self.config.history
            else None
        )
        resume = ResumeListener(name, source, warn=self.log)
        current = _Current(name, playback, history, resume)
        playback.listen(lambda event: self._on_event(current, event))
        with self._cond:
            if self._request is not None or self._closing or self._cancelled:
                self._emit(SessionChanged(0, None))
                return  # stopped or replaced while it was being prepared: never started
            self._current = current
            if request.sleep is not None:
                self._sleep_at = self._monotonic() + request.sleep
            self._preparing = False
        self.log(f"playing {name}" + (" (schedule)" if request.origin == "schedule" else ""))
        try:
            self._drive(current, request)
        finally:
            with self._cond:
                self._current = None
                if self._request is None:
                    self._sleep_at = None
                self._cond.notify_all()
            self._emit(SessionChanged(current.position, None))

    def _drive(self, current: _Current, request: _Request) -> None:
        """Run the playback; a lost device is waited for and the session continued on it."""
        name, lost = current.name, False
        lost_at = 0  # frames: where the listener was when the device went
        while True:
            try:
                reason = current.playback.run()
                self.log(f"{name}: {reason}")
                return
            except OutputError as exc:
                position = getattr(exc, "position", current.position)
                if self._device_wait is None or current.stopped:
                    self._failed(current, exc, position)
                    return
                with self._cond:
                    current.waiting = True
                if not lost or current.back_from is None:  # once per outage, not once per try
                    lost, lost_at = True, position
                    what = "sound device lost" if current.started else "no sound device"
                    self.log(f"{what}: {exc}; waiting for it")
                    self._emit(ev.Notice(position, f"{what}; waiting for it"))
                    current.resume.failed(position)  # kept there should the box go off now
                current.position = position = lost_at
                if not self._wait_for_device(current, request, lost_at):
                    self.log(f"{name}: stopped while waiting for the sound device")
                    self._failed(current, exc, position, said=True)
                    return
            except RelaxError as exc:
                self._failed(current, exc, getattr(exc, "position", None))
                return
            except Exception as exc:  # a bug in one playback must not end the service
                self.log(f"{name}: playback crashed: {exc!r}")
                if current.history is not None:
                    current.history.failed()
                current.resume.failed()
                return

    def _failed(
        self, current: _Current, exc: Exception, position: int | None, said: bool = False
    ) -> None:
        """The session ends as ``device-failed`` in the history; its resume point is kept."""
        if not said:
            self.log(f"{current.name}: playback failed: {exc}")
        if current.history is not None:
            current.history.failed()
        current.resume.failed(position)
        self._emit(ev.Notice(current.position, f"playback failed: {exc}"))

    def _give_up(self, current: _Current) -> bool:
        """Stop waiting for the device: a stop, another session, or the service closing."""
        return current.stopped or self._closing or self._request is not None

    def _wait_for_device(self, current: _Current, request: _Request, lost_at: int) -> bool:
        """Wait (backing off) until the device plays, then swap in a playback that continues.

        False when the wait was given up (see ``_give_up``) or the session can
        no longer be prepared.
        """
        wait = self._device_wait
        assert wait is not None
        delays = wait.schedule()
        try:
            while True:
                with self._cond:
                    if self._give_up(current):
                        return False
                    wait.sleep(self._cond, next(delays))
                    if self._give_up(current):
                        return False
                if wait.probe is not None and wait.probe() is not None:
                    continue
                try:
                    options = self._continuation(current, request, lost_at)
                    playback = self._make(current.name, **options)
                except RelaxError as exc:
                    self.log(f"cannot continue {current.name}: {exc}")
                    return False
                with self._cond:
                    if self._give_up(current):
                        return False
                    if current.paused:
                        playback.pause()
                    current.playback, current.back_from = playback, -1  # -1: not started yet
                playback.listen(lambda event: self._on_event(current, event))
                return True
        finally:
            with self._cond:
                current.waiting = False

    def _continuation(self, current: _Current, request: _Request, lost_at: int) -> dict[str, Any]:
        """The factory's options for going on: ``BACK_OFF`` s before the loss, fading in."""
        options = dict(request.options)
        if not current.started:  # it never played: start as asked
            return options
        seconds = max(lost_at / current.rate - BACK_OFF, 0.0)
        options.update(volume=current.volume, start_at=f"{seconds:.3f}s", fade_in=DEVICE_FADE_IN)
        return options

    def _on_event(self, current: _Current, event: ev.Event) -> None:
        if current.back_from is not None and self._flows(current, event):
            current.back_from = None
            at = units.format_time(event.position / max(current.rate, 1))
            line = f"sound device back: continuing {current.name} at {at}"
            self.log(line)
            self._emit(ev.Notice(event.position, line))
        if isinstance(event, ev.Started):
            current.title, current.rate, current.length = (
                event.title,
                max(event.rate, 1),
                event.length,
            )
            current.started = True
        current.position = event.position
        if isinstance(event, ev.Tick):
            current.paused, current.volume = event.paused, event.volume
            current.underruns = event.underruns
        elif isinstance(event, ev.Paused | ev.Resumed):
            current.paused = isinstance(event, ev.Paused)
        elif isinstance(event, ev.VolumeChanged):
            current.volume = event.volume
        for recorder in (current.history, current.resume):
            if recorder is current.history and isinstance(event, ev.Started) and recorder.row:
                continue  # the same row goes on after a lost device
            if recorder is not None:
                try:
                    recorder(event)
                except Exception as exc:  # recording never stops playback
                    self.log(f"recording failed: {exc!r}")
        self._emit(event)

    @staticmethod
    def _flows(current: _Current, event: ev.Event) -> bool:
        """Sound really flows again: the heard position moved past where the new output started."""
        back_from = current.back_from
        if isinstance(event, ev.Started):
            current.back_from = event.position
            return False
        return (
            isinstance(event, ev.Tick) and back_from is not None and 0 <= back_from < event.position
        )

    def _source(self, name: str) -> str:
        try:
            return str(self._find(name).path)
        except RelaxError:
            return ""

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing plays or is about to (``serve``'s shutdown, tests); False on timeout."""
        with self._cond:
            return self._cond.wait_for(self._is_idle, timeout)

    def close(self, fade: float = QUIT_FADE, timeout: float = 30.0) -> None:
        """Fade out, stop the worker and wait for it (SIGTERM in ``serve``)."""
        with self._cond:
            self._closing = True
            self._request = None
            current = self._current
            self._cond.notify_all()
        if current is not None:
            current.playback.quit(fade=fade)
        self._worker.join(timeout)
