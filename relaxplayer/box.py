"""The bedside box: the one place that wires the service, its controls and its remotes.

``relaxplayer serve`` is ``run_box``: a Service over the playback factory, the
button, the MPD server and the phone page around it, signals turned into
service commands, the config reloaded on SIGHUP, and a tick once a second for
the scheduler and the sleep timer. Signals arrive through the lock-free
dispatcher of ``controls.signals`` (a handler that set an Event could deadlock
against the loop waiting on it).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from relaxplayer import __version__
from relaxplayer.commands import SIGNAL_FADE
from relaxplayer.controls.gpio import open_button
from relaxplayer.controls.signals import dispatched_signals
from relaxplayer.errors import RelaxError
from relaxplayer.history import History
from relaxplayer.service.config import Config, load_config
from relaxplayer.service.core import DeviceWait, Service

Log = Callable[[str], None]
TICK_SECONDS = 1.0  # the scheduler's and sleep timer's resolution


@dataclass(frozen=True)
class BoxOptions:
    """What the command line says about the box; None means the config's value."""

    config_path: Path | None
    make_playback: Callable[..., Any]
    history: bool = True
    mpd: str | None = None
    web: str | None = None
    device_wait: DeviceWait | None = None  # see ``device_wait_for``
    now: Callable[[], datetime] | None = None  # the schedules' wall clock (aware); tests inject it
    output: str | None = None  # the output spec: a ``pipe:PATH`` FIFO is held for the box's life


def device_wait_for(spec: str, device: str | None, rate: int) -> DeviceWait | None:
    """How ``serve`` waits for the output named by ``spec`` when it goes away; None: it does not.

    A sound card (``auto``, ``alsa``, ``portaudio``, ``simpleaudio``) is probed
    for real with a few milliseconds of silence (the outputs' own ``probe``);
    a FIFO (``pipe:PATH``, whose reader may come back) is simply tried again.
    A file, stdout and ``null`` cannot come back: their failure ends the session.
    """
    kind, _, arg = spec.partition(":")
    if kind in ("file", "null") or (kind == "pipe" and not arg):
        return None
    if kind == "pipe":
        return DeviceWait()
    return DeviceWait(probe=lambda: _probe(kind, device, rate))


def _probe(kind: str, device: str | None, rate: int) -> str | None:
    """Why the sound device does not play now, or None when it does (about 50 ms)."""
    from relaxplayer.outputs import alsa, portaudio, simpleaudio

    why: list[str] = []
    if kind in ("auto", "portaudio"):
        portaudio.rescan()  # a card plugged in again is a new device to PortAudio
        if (reason := portaudio.probe(rate, 2, device)) is None:
            return None
        why.append(reason)
    if kind in ("auto", "alsa"):
        if (reason := alsa.probe(rate, 2, device)) is None:
            return None
        why.append(reason)
    if kind == "simpleaudio":
        if (reason := simpleaudio.probe(rate, 2)) is None:
            return None
        why.append(reason)
    return "; ".join(why) or f"unknown output {kind}"


class _Signals:
    """Signal numbers queued by the dispatcher thread for the box's loop (never a handler)."""

    def __init__(self) -> None:
        self.wake = threading.Event()
        self.queue: list[int] = []
        self._lock = threading.Lock()

    def deliver(self, signum: int) -> None:
        with self._lock:
            self.queue.append(signum)
        self.wake.set()

    def take(self) -> list[int]:
        with self._lock:
            taken, self.queue = self.queue, []
        return taken


def run_box(config: Config, options: BoxOptions, log: Log) -> None:
    """Serve until SIGTERM or SIGINT, which fade the playing session out and return."""
    history = History(warn=log) if config.history and options.history else None
    clock = {"now": options.now} if options.now is not None else {}
    service = Service(
        options.make_playback,
        config,
        history=history,
        log=log,
        device_wait=options.device_wait,
        **clock,
    )
    signals = _Signals()
    extras: list[Any] = []
    release_fifo: Callable[[], None] | None = None
    try:
        release_fifo = _hold_fifo(options.output, log)
        with dispatched_signals(signals.deliver):
            extras = _start_extras(service, config, options, history, log)
            log(  # the first line: from here on signals are handled
                f"relaxplayer {__version__} serving; config {config.source or 'defaults'}; "
                f"{len(config.schedules)} schedule(s); history {'on' if history else 'off'}"
            )
            _loop(service, options, signals, log)
    finally:
        for extra in reversed(extras):
            extra.close()
        if history is not None:
            history.close()
        if release_fifo is not None:
            release_fifo()


def _hold_fifo(spec: str | None, log: Log) -> Callable[[], None] | None:
    """``pipe:PATH``: make the FIFO and keep it open from now until ``serve`` ends.

    snapserver (0.26) stops reading a FIFO after an end of file, which every
    session's own open and close would give it; so the box holds it once.
    """
    if not spec or not spec.startswith("pipe:") or spec == "pipe:":
        return None
    from relaxplayer.outputs.pipe import hold_fifo

    path = Path(spec.removeprefix("pipe:"))
    release = hold_fifo(path)
    log(f"pipe: holding the FIFO {path} open for its reader (e.g. snapserver)")
    return release


def _loop(service: Service, options: BoxOptions, signals: _Signals, log: Log) -> None:
    while True:
        service.tick()
        signals.wake.wait(TICK_SECONDS)
        signals.wake.clear()
        for signum in signals.take():
            if signum in (signal.SIGTERM, signal.SIGINT):
                log(f"{signal.Signals(signum).name}: fading out and stopping")
                service.close(fade=SIGNAL_FADE)
                return
            _on_signal(service, options, signum, log)


def _on_signal(service: Service, options: BoxOptions, signum: int, log: Log) -> None:
    """SIGHUP reloads the config (a broken one is refused); SIGUSR1 is a press; SIGUSR2 skips."""
    if signum == signal.SIGHUP:
        try:
            config = load_config(options.config_path)
        except RelaxError as exc:
            log(f"config not reloaded, keeping the old one:\n{exc}")
            return
        service.reload(config)
        log(f"config reloaded: {len(config.schedules)} schedule(s)")
    elif signum == signal.SIGUSR1:
        if service.idle:
            service.play_default()
        else:
            service.toggle_pause()
    elif signum == signal.SIGUSR2:
        service.next_step()


def _start_extras(
    service: Service, config: Config, options: BoxOptions, history: History | None, log: Log
) -> list[Any]:
    """The button and the remotes, each with ``close()``; on failure, those started are closed.

    An MPD address that cannot be used stops ``serve`` (it was asked for); the
    phone page is on by default, so its problems are logged and ``serve`` goes on.
    """
    started: list[Any] = []
    try:
        if config.button is not None:
            b = config.button
            button = open_button(
                service, b.pin, hold=b.hold, pull_up=b.pull_up, bounce=b.bounce, warn=log
            )
            if button is not None:
                started.append(button)
        if options.mpd:
            from relaxplayer.remotes import mpd

            started.append(mpd.start(service, options.mpd, log=log, say=log))
        if options.web:
            started += _start_web(service, options.web, history, log)
    except BaseException:
        for extra in reversed(started):
            extra.close()
        raise
    return started


def _start_web(service: Service, address: str, history: History | None, log: Log) -> list[Any]:
    try:
        from relaxplayer.remotes import web
    except ImportError as exc:
        log(
            f"phone page off: it needs starlette and uvicorn ({exc.name} is missing); "
            "pip install 'relaxplayer[web]', or pass --no-web"
        )
        return []
    try:
        return [web.start(service, address, log, log, history)]
    except RelaxError as exc:
        log(f"phone page off: {exc}")
        return []
