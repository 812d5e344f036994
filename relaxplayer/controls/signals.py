"""Control without a terminal: a service manager, a cron job or a button script sends signals.

SIGTERM, SIGINT and SIGHUP fade out over ``SIGNAL_FADE`` (inside 2 s) and
``play`` exits 0; a second SIGINT quits at once (no fade) and ``play`` exits
130 like any Ctrl-C; SIGUSR1 toggles pause; SIGUSR2 skips to the next step.

Why the handlers do nothing: Python runs a signal handler on the main thread
between two bytecodes, maybe while that thread holds a lock (the one inside a
``threading.Event``). A handler that called into the player could then wait
for that very lock, or a nested one could, and playback deadlocked. Here
Python's own C-level handler writes each signal's number, one byte per
signal, to a non-blocking socket (``signal.set_wakeup_fd``), and a small
dispatcher thread reads those bytes and calls the target's commands in the
order the signals came. No handler takes a lock or calls into anything.

The dispatcher runs from the moment the context is entered, whether or not a
player loop runs yet: a target still preparing (a ``Playback`` synthesizing
its first line) is told of a quit at once and can cancel.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from relaxplayer.commands import SIGNAL_FADE, Commands

STOPS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
HANDLED = (*STOPS, signal.SIGUSR1, signal.SIGUSR2)


class SignalDispatcher:
    """Reads signal numbers from a socket and hands each to ``deliver``, on its own thread.

    ``errors`` keeps what ``deliver`` raised (the dispatcher never dies of it).
    """

    def __init__(self, deliver: Callable[[int], None], reader: socket.socket) -> None:
        self.deliver = deliver
        self.errors: list[Exception] = []
        self._reader = reader
        self._thread = threading.Thread(target=self._loop, name="signals", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            try:
                data = self._reader.recv(4096)
            except OSError:
                return
            if not data:
                return
            for signum in data:
                try:
                    self.deliver(signum)
                except Exception as exc:  # a command's bug must not stop the next signal
                    self.errors.append(exc)


class PlaySignals:
    """What each signal means to a playback: stop with a fade, toggle pause, next step.

    ``interrupted`` becomes true at the second SIGINT (which stops at once).
    """

    def __init__(self, target: Commands) -> None:
        self.target = target
        self.interrupted = False
        self._interrupts = 0

    def deliver(self, signum: int) -> None:
        """One signal, as a command (also callable directly, e.g. by a test)."""
        if signum == signal.SIGINT:
            self._interrupts += 1
            if self._interrupts > 1:
                self.interrupted = True
                self.target.quit(fade=0.0)
                return
        if signum in STOPS:
            self.target.quit(fade=SIGNAL_FADE)
        elif signum == signal.SIGUSR1:
            self.target.toggle_pause()
        elif signum == signal.SIGUSR2:
            self.target.next_step()


def _record_only(signum: int, frame: FrameType | None) -> None:
    """The Python-level handler: nothing. The C-level one already wrote ``signum`` to the socket."""


@contextmanager
def dispatched_signals(deliver: Callable[[int], None]) -> Iterator[SignalDispatcher]:
    """The ``HANDLED`` signals go to ``deliver(signum)`` on a dispatcher thread, in order.

    Must be entered on the main thread (Python's rule for signal handlers);
    on leaving, the previous handlers and wakeup fd come back and what is
    still queued is delivered first.
    """
    reader, writer = socket.socketpair()
    writer.setblocking(False)  # set_wakeup_fd's rule: a full buffer drops a byte, never blocks
    try:  # ValueError off the main thread: nothing is left behind
        previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except ValueError:
        reader.close()
        writer.close()
        raise
    dispatcher = SignalDispatcher(deliver, reader)
    dispatcher.start()
    previous = {sig: signal.signal(sig, _record_only) for sig in HANDLED}
    try:
        yield dispatcher
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        signal.set_wakeup_fd(previous_fd)
        writer.close()  # the dispatcher delivers what is left, then reads the end of the stream
        dispatcher.join(timeout=1.0)
        reader.close()


@contextmanager
def signal_controls(target: Commands) -> Iterator[SignalDispatcher]:
    """Signals become ``target``'s commands for the duration; then the previous handlers return.

    ``target`` is anything implementing ``relaxplayer.commands.Commands`` (a
    Player, a Playback). If a second SIGINT came, ``KeyboardInterrupt`` is
    raised on leaving, from ordinary code, so the cli exits 130.
    """
    meaning = PlaySignals(target)
    with dispatched_signals(meaning.deliver) as dispatcher:
        yield dispatcher
    if meaning.interrupted:
        raise KeyboardInterrupt
