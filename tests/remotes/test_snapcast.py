"""Two rooms over Snapcast on loopback: ``serve --output pipe:FIFO`` -> snapserver -> two
``snapclient --player file`` captures, compared with ``render`` of the same session.

What is compared, and why. The session (a pink-noise background and two bells: no two
stretches alike, so an alignment is unique) is played twice by one ``serve`` process,
which proves the FIFO is held between sessions (Debian 12's snapserver 0.26 stops reading
a FIFO for good after one end of file). snapserver sends it with the ``pcm`` codec
(lossless) and snapclient writes what it plays with ``--mixer none`` (no volume applied),
so samples can be compared exactly. Each played session is found in a capture where a
piece of the render (32 frames of every 100 ms, rendered at the same 48 kHz) first shows
up bit-exact, and from there the two are walked side by side, frame by frame. snapclient keeps its rooms in sync by playing
frames twice or leaving some out, and when its thread is starved (a busy machine) it
plays silence and catches up; so at a mismatch the walk looks up to 1 s ahead for where
32 frames agree again (frames inserted, dropped, or replaced by silence) and goes on.
The test asks that at least 97 % of the render's frames arrive bit-exact and in order
in every room, for both sessions (on an idle machine: all of them, with no correction).
Every wait is bounded by the captures' growth, which snapclient's own clock paces.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from relaxplayer.errors import OutputError
from relaxplayer.outputs import pipe
from relaxplayer.outputs.base import to_int16
from tests.remotes.test_serve_remotes import free_port
from tests.service.box import WAIT, Serve

needs_snapcast = pytest.mark.skipif(
    shutil.which("snapserver") is None or shutil.which("snapclient") is None,
    reason="needs Debian's snapserver and snapclient",
)

RATE = 48000
FRAME_BYTES = 4  # 16-bit stereo
RUN = 32  # frames that must agree again after a resync (pink noise: never by chance)
SEARCH = RATE  # how far a resync looks: 1 s
SNAPCLIENT = ("snapclient", "-h", "127.0.0.1", "--mixer", "none", "--logsink", "null")
# snapclient 0.26 writes what it plays to a file with --player file:filename=PATH
SESSION = """\
title: Snap
background: {sound: pink-noise, volume: -20 dB}
steps:
  - bell: bowl
  - pause: 3s
  - bell: chime
  - pause: 2s
"""


def _snapserver_conf(folder: Path, fifo: Path, port: int) -> Path:
    conf = folder / "snapserver.conf"
    conf.write_text(
        f"[server]\ndatadir = {folder}\n"
        "[http]\nenabled = false\n[tcp]\nenabled = false\n"
        f"[stream]\nbind_to_address = 127.0.0.1\nport = {port}\n"
        f"source = pipe://{fifo}?name=relaxplayer&sampleformat={RATE}:16:2&mode=read&codec=pcm\n"
        "[logging]\nsink = stderr\n"
    )
    return conf


def _wait_listening(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        assert proc.poll() is None, "snapserver ended"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"snapserver is not listening on {port}")


def _frames(path: Path) -> int:
    return path.stat().st_size // FRAME_BYTES if path.exists() else 0


def _wait_growth(captures: list[Path], frames: int) -> None:
    """Until every capture has ``frames`` more frames than now (snapclient's clock)."""
    targets = [_frames(c) + frames for c in captures]
    deadline = time.monotonic() + WAIT + frames / RATE
    while any(_frames(c) < t for c, t in zip(captures, targets, strict=True)):
        assert time.monotonic() < deadline, "a snapclient stopped writing"
        time.sleep(0.05)


def _anchors(capture: np.ndarray, expected: np.ndarray) -> list[tuple[int, int]]:
    """``(capture frame, render frame)`` of the first place each session shows up: every
    100 ms of the render is looked up bit-exact (RUN frames) in the capture; hits whose
    implied start lies within half a session of an earlier one belong to that session."""
    cap = np.ascontiguousarray(capture).view(np.int32).ravel()  # one int per stereo frame
    ren = np.ascontiguousarray(expected).view(np.int32).ravel()
    keys = _keys(cap)
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    hits: list[tuple[int, int]] = []
    for q in range(0, len(ren) - RUN, RATE // 10):
        key = _keys(ren[q : q + RUN])[0]
        lo, hi = np.searchsorted(ordered, key), np.searchsorted(ordered, key, side="right")
        hits += [
            (int(p), q) for p in order[lo:hi] if np.array_equal(cap[p : p + RUN], ren[q : q + RUN])
        ]
    firsts: list[tuple[int, int]] = []
    for p, q in sorted(hits, key=lambda h: (h[0] - h[1], h[1])):
        if not firsts or (p - q) - (firsts[-1][0] - firsts[-1][1]) > len(ren) // 2:
            firsts.append((p, q))
        elif q < firsts[-1][1]:
            firsts[-1] = (p, q)
    return firsts


def _keys(frames: np.ndarray) -> np.ndarray:
    """A hash of every RUN-frame window (collisions are checked by comparing the frames)."""
    windows = np.lib.stride_tricks.sliding_window_view(frames.astype(np.int64), RUN)
    weights = np.array([(1000003**i) % (1 << 61) for i in range(RUN)], dtype=np.int64)
    return windows @ weights


def _matched(
    capture: np.ndarray, expected: np.ndarray, start: int, first: int
) -> tuple[int, int, int]:
    """(render frames found bit-exact and in order, resyncs, capture frames skipped), walking
    both from capture frame ``start`` and render frame ``first``.

    Runs of equal frames are followed; at a mismatch the walk resyncs on the nearest
    skip after which ``RUN`` frames agree again, up to ``SEARCH`` frames: in the capture
    alone (frames snapclient inserted), in the render alone (frames it dropped), or in
    both (frames it replaced by silence).
    """
    p, q, found, resyncs, skipped = start, first, 0, 0, 0
    while q < len(expected) and p < len(capture):
        n = min(len(expected) - q, len(capture) - p)
        differ = np.flatnonzero(np.any(capture[p : p + n] != expected[q : q + n], axis=1))
        same = int(differ[0]) if len(differ) else n
        found, p, q = found + same, p + same, q + same
        if same == n:
            break
        skip = _resync(capture, expected, p, q)
        if skip is None:
            break
        resyncs, skipped = resyncs + 1, skipped + skip[0]
        p, q = p + skip[0], q + skip[1]
    return found, resyncs, skipped


def _windows(frames: np.ndarray, at: int) -> np.ndarray:
    """Every RUN-frame window starting at ``at`` .. ``at + SEARCH``: shape (k, RUN, 2)."""
    part = frames[at : at + SEARCH + RUN]
    if len(part) < RUN:
        return np.empty((0, RUN, 2), frames.dtype)
    return np.lib.stride_tricks.sliding_window_view(part, (RUN, 2))[:, 0]


def _resync(capture: np.ndarray, expected: np.ndarray, p: int, q: int) -> tuple[int, int] | None:
    """The smallest skip (capture frames, render frames) after which RUN frames agree."""
    cw, ew = _windows(capture, p), _windows(expected, q)
    if len(cw) < 2 or len(ew) < 2:
        return None
    n = min(len(cw), len(ew))
    candidates = [
        (np.flatnonzero(np.all(cw == ew[0], axis=(1, 2))), (1, 0)),  # inserted
        (np.flatnonzero(np.all(ew == cw[0], axis=(1, 2))), (0, 1)),  # dropped
        (np.flatnonzero(np.all(cw[:n] == ew[:n], axis=(1, 2))), (1, 1)),  # replaced
    ]
    best: tuple[int, int] | None = None
    for hits, (dc, de) in candidates:
        hits = hits[hits > 0]
        if len(hits) and (best is None or int(hits[0]) < max(best)):
            best = (int(hits[0]) * dc, int(hits[0]) * de)
    return best


@pytest.mark.slow
@needs_snapcast
def test_two_rooms_hear_two_sessions_as_rendered(env: dict[str, str], tmp_path: Path) -> None:
    sessions = tmp_path / "config" / "sessions"
    (sessions / "snap.yaml").write_text(SESSION)
    (tmp_path / "config" / "config.yaml").write_text("default_session: snap\n")
    rendered = tmp_path / "rendered.wav"
    to_file = ("--output", str(rendered), "--voice", "none")
    subprocess.run(
        [sys.executable, "-m", "relaxplayer", "render", "snap", "--rate", str(RATE), *to_file],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    expected, rate = sf.read(str(rendered), dtype="int16")
    assert rate == RATE

    fifo, snap = tmp_path / "snapfifo", tmp_path / "snapserver"
    snap.mkdir()
    port = free_port()
    captures = [tmp_path / "bedroom.raw", tmp_path / "childs-room.raw"]
    procs: list[subprocess.Popen] = []
    server_log = (snap / "snapserver.log").open("w")
    box = Serve(env, "--output", f"pipe:{fifo}", "--rate", str(RATE), "--no-web")
    try:
        box.expect(f"pipe: holding the FIFO {fifo} open")
        box.expect("relaxplayer ")  # serving: signals are handled from here
        server = subprocess.Popen(
            ["snapserver", "-c", str(_snapserver_conf(snap, fifo, port))],
            stdout=subprocess.DEVNULL,
            stderr=server_log,
            cwd=snap,
        )
        procs.append(server)
        _wait_listening(port, server)
        for capture in captures:
            procs.append(
                subprocess.Popen(
                    [
                        *SNAPCLIENT,
                        "-p",
                        str(port),
                        "--hostID",
                        capture.stem,
                        f"--player=file:filename={capture}",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    cwd=tmp_path,
                )
            )
        _wait_growth(captures, RATE // 2)  # both rooms connected and playing (silence)
        for _ in range(2):  # two sessions through the one held FIFO
            box.send(signal.SIGUSR1)
            box.expect("playing snap")
            box.expect("snap: end")
            _wait_growth(captures, RATE)  # a pause between them: snapserver goes idle
        _wait_growth(captures, 3 * RATE)  # the pipe's and snapcast's buffers (~1.4 s) play out
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        server_log.close()
        box.send(signal.SIGTERM)
        try:
            box.proc.wait(WAIT)
        finally:
            box.close()
    assert box.proc.returncode == 0, box.seen

    for capture in captures:
        played = np.fromfile(capture, dtype="<i2").reshape(-1, 2)
        anchors = _anchors(played, expected)
        assert len(anchors) == 2, (capture.name, anchors)  # both sessions, and nothing else
        for start, first in anchors:
            found, resyncs, skipped = _matched(played, expected, start, first)
            print(
                f"{capture.stem} at {start}: {found}/{len(expected)} frames as rendered, "
                f"{resyncs} resyncs, {skipped} frames of the capture skipped"
            )
            assert found >= 0.97 * len(expected), (capture.name, start, found, resyncs)
        assert not np.any(played[: anchors[0][0] - anchors[0][1]]), "sound before the sessions"


@pytest.mark.slow
def test_serve_makes_and_holds_the_fifo_and_lets_go(env: dict[str, str], tmp_path: Path) -> None:
    """A reader that opens the FIFO while ``serve`` idles sees an empty pipe, not an end of file."""
    fifo = tmp_path / "snapfifo"
    box = Serve(env, "--output", f"pipe:{fifo}", "--no-web")
    try:
        box.expect(f"pipe: holding the FIFO {fifo} open")
        box.expect("relaxplayer ")
        assert fifo.is_fifo()
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            with pytest.raises(BlockingIOError):  # a writer holds it: not b"" (end of file)
                os.read(fd, 4096)
            box.send(signal.SIGTERM)
            assert box.proc.wait(WAIT) == 0
            assert os.read(fd, 4096) == b""  # serve is gone: now the end of file
        finally:
            os.close(fd)
    finally:
        box.close()


def test_a_held_fifo_carries_sessions_without_an_end_of_file(tmp_path: Path) -> None:
    fifo = tmp_path / "snapfifo"
    release = pipe.hold_fifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        for value in (0.25, -0.5):  # two sessions, each its own output
            out = pipe.PipeOutput(fifo, RATE, 2)
            out.start(Feeder(np.full((1000, 2), value, np.float32)))
            got = _read_frames(reader, 1000)
            out.stop()
            assert out.error is None
            assert np.all(got == to_int16(np.full((1, 2), value, np.float32)))
            with pytest.raises(BlockingIOError):  # the session ended: empty, not ended
                os.read(reader, 4096)
    finally:
        os.close(reader)
        release()


def test_a_held_fifo_nobody_reads_fails_plainly_and_drops_what_waited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipe, "READER_WAIT", 0.2)
    fifo = tmp_path / "snapfifo"
    release = pipe.hold_fifo(fifo)
    try:
        out = pipe.PipeOutput(fifo, RATE, 2)
        out.start(Feeder(np.full((RATE * 10, 2), 0.25, np.float32)))  # more than a pipe holds
        out._thread.join(10)  # type: ignore[union-attr]
        out.stop()
        assert isinstance(out.error, OutputError)
        assert str(out.error) == (
            f"nothing has read the FIFO {fifo} for 0.2 s; is its reader (e.g. snapserver) running?"
        )
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            with pytest.raises(BlockingIOError):  # emptied: a later reader hears nothing stale
                os.read(reader, 4096)
        finally:
            os.close(reader)
    finally:
        release()


def test_holding_something_that_is_no_fifo_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "file.raw"
    plain.write_bytes(b"")
    with pytest.raises(OutputError, match=r"file\.raw is not a FIFO; remove it"):
        pipe.hold_fifo(plain)
    with pytest.raises(OutputError, match=r"cannot make the FIFO .*: No such file or directory"):
        pipe.hold_fifo(tmp_path / "missing" / "fifo")


class Feeder:
    """``pull`` for an output without a clock: ``frames`` once, then nothing (the end)."""

    def __init__(self, frames: np.ndarray) -> None:
        self.left = frames

    def __call__(self, n: int) -> np.ndarray:
        block, self.left = self.left[:n], self.left[n:]
        return block


def _read_frames(fd: int, frames: int) -> np.ndarray:
    data = b""
    deadline = time.monotonic() + WAIT
    while len(data) < frames * FRAME_BYTES:
        assert time.monotonic() < deadline, "the FIFO stayed empty"
        try:
            data += os.read(fd, frames * FRAME_BYTES - len(data))
        except BlockingIOError:
            time.sleep(0.01)
    return np.frombuffer(data, dtype="<i2").reshape(-1, 2)
