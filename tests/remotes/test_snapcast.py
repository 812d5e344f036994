"""Two rooms over Snapcast on loopback: ``serve --output pipe:FIFO`` -> snapserver -> two
``snapclient --player file`` captures, compared with ``render`` of the same session.

What is compared, and why. The session (a pink-noise background and two bells: no two
stretches alike, so the alignment is unique) is played twice by one ``serve`` process,
which proves the FIFO is held between sessions (Debian 12's snapserver 0.26 stops reading
a FIFO for good after one end of file). snapserver sends it with the ``pcm`` codec
(lossless) and snapclient writes what it plays with ``--mixer none`` (no volume applied),
so the samples can be compared exactly. Each played session is found in a capture by
cross-correlation with the render (at the same rate, 48 kHz). Two things snapclient may
do are allowed for, and nothing else: at a stream's start after idle it may play silence
for its first chunks instead of them (seen: 40 ms), so the first 100 ms must be the
render or silence; and to stay in sync it may insert or drop single frames, which moves
what follows by a frame or so, so the rest is cut into 100 ms pieces, each looked for
bit-exact within +-10 ms of where it belongs, and at least 90 % must be found (on
loopback all are, as a rule; a piece holding a correction fails). Every wait is bounded
by the captures' growth, which snapclient's own clock paces, not by sleeps.
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

from tests.remotes.test_serve_remotes import free_port
from tests.service.box import WAIT, Serve

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("snapserver") is None or shutil.which("snapclient") is None,
        reason="needs Debian's snapserver and snapclient",
    ),
]

RATE = 48000
FRAME_BYTES = 4  # 16-bit stereo
RUN = 32  # frames that must agree again after a resync (pink noise: never by chance)
SEARCH = RATE // 10  # how far a resync looks: 100 ms
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


def _offsets(capture: np.ndarray, expected: np.ndarray, count: int) -> list[int]:
    """Where the best ``count`` non-overlapping copies of ``expected`` start (left channel)."""
    x, y = capture[:, 0].astype(np.float64), expected[:, 0].astype(np.float64)
    n = 1 << int(np.ceil(np.log2(len(x) + len(y))))
    cc = np.fft.irfft(np.fft.rfft(x, n) * np.conj(np.fft.rfft(y, n)), n)[: len(x) - len(y) + 1]
    found: list[int] = []
    for _ in range(count):
        best = int(np.argmax(cc))
        found.append(best)
        cc[max(best - len(y), 0) : best + len(y)] = -np.inf
    return sorted(found)


def _matched(capture: np.ndarray, expected: np.ndarray, start: int) -> tuple[int, int]:
    """(frames of the render found bit-exact and in order, resyncs), walking both from ``start``.

    Runs of equal frames are followed; at a mismatch the walk resyncs on the nearest
    skip after which ``RUN`` frames agree again, up to ``SEARCH`` frames: in the capture
    alone (frames snapclient inserted), in the render alone (frames it dropped), or in
    both (frames it replaced by silence).
    """
    p, q, found, resyncs = start, 0, 0, 0
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
        resyncs += 1
        p, q = p + skip[0], q + skip[1]
    return found, resyncs


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
        starts = _offsets(played, expected, 2)
        assert starts[1] - starts[0] >= len(expected), (capture.name, starts)
        for start in starts:
            found, resyncs = _matched(played, expected, start)
            assert found >= 0.97 * len(expected), (capture.name, start, found, resyncs)
        assert not np.any(played[: starts[0]]), "sound before the first session"


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
