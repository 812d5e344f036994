"""The player's side of the narration worker: lines in, "ready" or "failed" out, never a hang.

``NarrationWorker`` starts ``python -m relaxplayer.narration_worker`` when a
line is first asked for, feeds it one line at a time (so the next line asked
for first can jump the queue), and reports each finished line to a callback
and to ``wait_for``. The worker is ended when nothing is left to make and on
``close``; it runs in its own session, so a terminal's Ctrl-C reaches only
the player, which then closes it. Nothing here imports an engine: the
player process only ever reads the cache the worker writes.

Every wait is bounded: a line that takes longer than ``line_seconds`` gets
the worker killed (the next line starts a new one), and a worker that dies
on its own fails the line in hand and every line after it, so the player's
chimes stand in and the session plays on.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from relaxplayer.model import Voice

LINE_SECONDS = (
    120.0  # one line, worker start and voice load included; a 500-word line is ~60 s on a Pi 4
)
# Seconds between looks at a cancel flag or a stop request: a stop is felt within 100 ms.
POLL = 0.05
CLOSE_GRACE = 0.5  # seconds an idle worker gets to leave on its own before it is terminated
CLIENT_NICE = 10  # the player's thread that talks to the worker and re-times the player
FALLBACK_NICE = 19  # where SCHED_IDLE is refused: the weakest ordinary priority


@dataclass(frozen=True)
class Result:
    """One line's outcome: ``error`` is None when the clip is in the cache."""

    text: str
    error: str | None = None
    kind: str = "text"


Job = tuple[str, str, int]  # (kind, text, rate): kind is always "text" today


Listener = Callable[[Result], None]


def lower_priority(pid: int) -> str:
    """Put the worker below everything else for the CPU; which way worked ("" if none).

    ``SCHED_IDLE`` (no root needed; on every Raspberry Pi OS kernel) gives it
    the CPU only when nothing else in its cgroup wants it: on a small board's
    quota the player and aplay, woken, preempt it at once. Nice 19 (weight 15
    against the player's 1024) is the fallback. Set by the player right after
    the worker starts, before it has made any thread: its threads (onnxruntime's)
    inherit the policy.
    """
    try:
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
        return "SCHED_IDLE"
    except (OSError, AttributeError):
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, pid, FALLBACK_NICE)
        return f"nice {FALLBACK_NICE}"
    except OSError:
        return ""


def worker_command() -> list[str]:
    return [sys.executable, "-m", "relaxplayer.narration_worker"]


class NarrationWorker:
    """Synthesizes lines for one voice and cache folder in a worker process (one per playback).

    Thread-safe; ``request`` and ``close`` may be called from any thread,
    ``on_result`` is called on the client's own thread.
    """

    def __init__(
        self,
        voice: Voice,
        cache_dir: Path,
        *,
        on_result: Listener | None = None,
        line_seconds: float = LINE_SECONDS,
        command: list[str] | None = None,
    ) -> None:
        self.voice = voice
        self.cache_dir = cache_dir
        self.on_result = on_result
        self.line_seconds = line_seconds
        self.command = command or worker_command()
        self.pids: list[int] = []  # every worker started, in order (tests, -v, the benchmark)
        self.peak_rss_kb: int | None = None  # the largest VmHWM a worker reported
        self.started = 0
        self.priority = ""  # how the last worker was lowered: "SCHED_IDLE" or "nice 19"
        self._cond = threading.Condition()
        self._queue: deque[Job] = deque()
        self._asked: set[Job] = set()
        self._results: dict[Job, Result] = {}
        self._closing = False
        self._broken: str | None = None  # the worker crashed: every later line fails with this
        self._thread: threading.Thread | None = None

    # --- any thread -----------------------------------------------------------------

    def request(self, texts: Iterable[str], first: bool = False) -> None:
        """Queue lines in the order given (with ``first``, ahead of those already queued)."""
        self._request([("text", t, 0) for t in texts], first)

    def _request(self, jobs: list[Job], first: bool) -> None:
        with self._cond:
            new = [t for t in dict.fromkeys(jobs) if t not in self._asked]
            if not new:
                return
            self._asked.update(new)
            if self._closing:  # closed: nothing will be made, and nobody may wait for it
                self._results.update({job: _result(job, "narration stopped") for job in new})
                self._cond.notify_all()
                return
            if first:
                self._queue.extendleft(reversed(new))
            else:
                self._queue.extend(new)
            if self._thread is None and not self._closing:
                self._thread = threading.Thread(target=self._run, name="narration", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def result(self, text: str) -> Result | None:
        with self._cond:
            return self._results.get(("text", text, 0))

    def wait_for(
        self,
        text: str,
        cancelled: Callable[[], bool] = lambda: False,
        timeout: float | None = None,
    ) -> Result | None:
        """Block until ``text`` is made or has failed; None once ``cancelled()`` is true.

        ``cancelled`` is polled every ``POLL`` seconds (it must only read a flag:
        a signal handler may be what sets it). A line never asked for is asked for
        now. ``timeout`` (seconds) turns a wait that long into a failure.
        """
        return self._wait(("text", text, 0), cancelled, timeout)

    def _wait(
        self, job: Job, cancelled: Callable[[], bool], timeout: float | None
    ) -> Result | None:
        self._request([job], first=False)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while job not in self._results:
                if cancelled():
                    return None
                if deadline is not None and time.monotonic() >= deadline:
                    return _result(job, f"the voice took longer than {timeout:g} s")
                self._cond.wait(POLL)
            return self._results[job]

    def close(self) -> None:
        """End the worker now (the line in hand is abandoned); returns within about 2 s."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=3.0)

    def __enter__(self) -> NarrationWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the client thread ------------------------------------------------------------

    def _next(self) -> Job | None:
        """The next line to make, waiting while there is none; None when closing."""
        with self._cond:
            while not self._queue and not self._closing:
                self._cond.wait()
            return None if self._closing else self._queue.popleft()

    def _run(self) -> None:
        _name_thread("relax-narration")
        with contextlib.suppress(OSError):  # re-timing the player on each line: below its audio
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CLIENT_NICE)
        process: _Process | None = None
        try:
            while (job := self._next()) is not None:
                if self._broken is not None:
                    self._finish(job, self._broken)
                    continue
                if process is None:
                    try:
                        process = self._start()
                    except OSError as exc:
                        self._broken = f"cannot start the narration worker: {exc}"
                        self._finish(job, self._broken)
                        continue
                process = self._make(process, job)
                with self._cond:  # nothing more to do: let the worker go
                    idle = not self._queue
                if idle and process is not None:
                    self._end(process)
                    process = None
        finally:
            if process is not None:
                self._end(process)
            with self._cond:
                left = list(self._queue) + [t for t in self._asked if t not in self._results]
                self._queue.clear()
                closing = self._closing
            for job in dict.fromkeys(left):  # a bug above must not leave the player waiting
                self._finish(job, "narration stopped", notify=not closing)
            with self._cond:
                self._thread = None

    def _start(self) -> _Process:
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        try:
            popen = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,  # a terminal's Ctrl-C goes to the player, which closes us
                env=env,
            )
        except OSError:
            stderr.close()
            raise
        self.pids.append(popen.pid)
        self.started += 1
        self.priority = lower_priority(popen.pid)
        process = _Process(popen, stderr)
        process.send(
            {
                "voice": {
                    "engine": self.voice.engine,
                    "model": str(self.voice.model) if self.voice.model else None,
                    "speed": self.voice.speed,
                    "language": self.voice.language,
                },
                "cache": str(self.cache_dir),
            }
        )
        return process

    def _make(self, process: _Process, job: Job) -> _Process | None:
        """Have ``job`` made; returns the process to use next (None: start a new one)."""
        request = {"text": job[1]}
        if not process.send(request):
            self._crashed(process, job)
            return None
        deadline = time.monotonic() + self.line_seconds
        while True:
            with self._cond:
                closing = self._closing
            if closing:  # the line in hand is abandoned: no grace for a busy worker
                process.kill()
                self._finish(job, "narration stopped", notify=False)
                return None
            message = process.receive(POLL)
            if message is _EOF:
                self._crashed(process, job)
                return None
            if isinstance(message, dict):
                if "peak_rss_kb" in message:
                    self._note_rss(message)
                elif all(message.get(k) == v for k, v in request.items()):
                    error = None if message.get("ok") else str(message.get("error") or "failed")
                    self._finish(job, error)
                    return process
            if time.monotonic() > deadline:
                process.kill()
                self._finish(job, f"the voice took longer than {self.line_seconds:g} s")
                return None

    def _crashed(self, process: _Process, job: Job) -> None:
        code = process.kill()
        how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        last = process.last_words
        self._broken = f"the narration worker stopped ({how})" + (f": {last}" if last else "")
        self._finish(job, self._broken)

    def _end(self, process: _Process) -> None:
        """Close the worker's input; give an idle one a moment to leave, then make sure."""
        process.close_input()
        end = time.monotonic() + CLOSE_GRACE
        while time.monotonic() < end:
            message = process.receive(POLL)
            if message is _EOF:
                break
            if isinstance(message, dict) and "peak_rss_kb" in message:
                self._note_rss(message)
        process.kill()

    def _note_rss(self, message: dict[str, Any]) -> None:
        kb = message.get("peak_rss_kb")
        if isinstance(kb, int):
            self.peak_rss_kb = max(self.peak_rss_kb or 0, kb)

    def _finish(self, job: Job, error: str | None, notify: bool = True) -> None:
        result = _result(job, error)
        with self._cond:
            if job in self._results:
                return
            self._results[job] = result
            self._cond.notify_all()
        if notify and self.on_result is not None:
            self.on_result(result)


def _name_thread(name: str) -> None:
    """The calling thread's name in /proc and ``top -H`` (the small-board benchmark reads it)."""
    path = f"/proc/self/task/{threading.get_native_id()}/comm"
    with contextlib.suppress(OSError), open(path, "w") as comm:
        comm.write(name[:15])


def _result(job: Job, error: str | None) -> Result:
    return Result(job[1], error, job[0])


class _EOFType:
    pass


_EOF = _EOFType()


class _Process:
    """One running worker: JSON lines to its stdin, from its stdout; stderr kept for messages."""

    def __init__(self, popen: subprocess.Popen, stderr: IO[bytes]) -> None:
        self.popen = popen
        self.stderr = stderr
        self._buffer = b""
        self.last_words = ""  # the last line of its stderr, once it is gone
        assert popen.stdout is not None
        self._fd = popen.stdout.fileno()

    def send(self, message: dict[str, Any]) -> bool:
        assert self.popen.stdin is not None
        try:
            self.popen.stdin.write((json.dumps(message) + "\n").encode("utf-8"))
            self.popen.stdin.flush()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False

    def receive(self, timeout: float) -> dict[str, Any] | _EOFType | None:
        """The next message, None if none came within ``timeout`` s, ``_EOF`` if the worker left."""
        if b"\n" not in self._buffer:
            ready, _, _ = select.select([self._fd], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self._fd, 65536)
            if not chunk:
                return _EOF
            self._buffer += chunk
            if b"\n" not in self._buffer:
                return None
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            message = json.loads(line)
        except ValueError:
            return None
        return message if isinstance(message, dict) else None

    def close_input(self) -> None:
        try:
            assert self.popen.stdin is not None
            self.popen.stdin.close()
        except OSError:
            pass

    def kill(self) -> int | None:
        """Make sure the worker is gone (terminate, then kill) and reaped; its exit code."""
        self.close_input()
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self.popen.stdout is not None and not self.popen.stdout.closed:
            self.popen.stdout.close()
            self.last_words = self._last_error()
            self.stderr.close()
        return self.popen.returncode

    def _last_error(self) -> str:
        """The last line the worker wrote to stderr (a crash's own words), shortened."""
        try:
            self.stderr.seek(0)
            lines = [ln for ln in self.stderr.read().decode("utf-8", "replace").splitlines() if ln]
        except (OSError, ValueError):
            return ""
        return lines[-1][:200] if lines else ""
