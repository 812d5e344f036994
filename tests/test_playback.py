"""One playback end to end: narration made by the worker while playing, and every way it stops.

Most tests run ``relaxplayer play`` as a real process (signals, exit codes, the
worker's pid) with espeak-ng slowed down by a stand-in on PATH, so a line is
reliably still being made when the signal arrives.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from relaxplayer import events as ev
from relaxplayer.cli import main
from relaxplayer.loader import parse_session
from relaxplayer.narration import NarrationWorker
from relaxplayer.outputs.null import NullOutput
from relaxplayer.playback import Playback, narrator_for
from relaxplayer.sounds.speech import espeak_binary, piper_available
from tests.test_narration_worker import FAKE, gone, slow_espeak

pytestmark = pytest.mark.skipif(espeak_binary() is None, reason="espeak-ng not installed")

SLOW = """title: Slow
voice: {engine: espeak}
steps:
  - say: The first line takes a while to make.
  - pause: 1s
  - say: The second line is made while the first one plays.
  - pause: 1s
  - say: The third line comes after that.
  - say: And a fourth keeps the worker busy.
"""


def script(tmp_path: Path, text: str = SLOW, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


class Run:
    """``relaxplayer play`` in a child process, its output collected as it comes."""

    def __init__(self, tmp_path: Path, session: Path, delay: float, *args: str) -> None:
        env = dict(os.environ)
        env["RELAXPLAYER_CACHE"] = str(tmp_path / "cache")  # empty: every line is made now
        env["PATH"] = f"{slow_espeak(tmp_path / 'bin', delay)}{os.pathsep}{env['PATH']}"
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent.parent), *sys.path])
        cmd = [sys.executable, "-m", "relaxplayer", "play", str(session), "--output", "null"]
        self.proc = subprocess.Popen(
            [*cmd, "--plain", "-v", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: object, into: list[str]) -> None:
        with stream:  # type: ignore[attr-defined]
            for line in stream:  # type: ignore[attr-defined]
                into.append(line)

    def worker_pid(self, seconds: float = 20.0) -> int:
        """The narration worker this player started (found by its parent pid)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    fields = stat.read_text().rsplit(")", 1)[1].split()
                    cmdline = (stat.parent / "cmdline").read_bytes()
                except OSError:
                    continue
                if int(fields[1]) == self.proc.pid and b"relaxplayer.narration_worker" in cmdline:
                    return int(stat.parent.name)
            time.sleep(0.02)
        raise AssertionError("no narration worker started")

    def wait_for_output(self, needle: str, seconds: float = 30.0) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if any(needle in line for line in self.out):
                return
            time.sleep(0.02)
        raise AssertionError(f"{needle!r} never printed; got {self.out} {self.err}")

    def finish(self, seconds: float) -> int:
        try:
            code = self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"still running after {seconds} s: {self.out} {self.err}"
            ) from None
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    @property
    def stdout(self) -> str:
        return "".join(self.out)


# SIGTERM and SIGINT fade out and exit 0 (README, controls/signals.py); SIGHUP is treated
# like SIGTERM (issue 13; the signal handling itself is the player helper's work).
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("moment", ["first-line", "background"])
def test_a_stop_while_narration_is_made_exits_cleanly_and_ends_the_worker(
    tmp_path: Path, signum: int, moment: str
) -> None:
    run = Run(tmp_path, script(tmp_path), 2.0)
    pid = run.worker_pid()
    if moment == "first-line":
        time.sleep(0.5)
        assert not any(" on null" in line for line in run.out)  # not playing yet
    else:
        run.wait_for_output(" on null")
        time.sleep(0.3)  # the second line is being made now (2 s)
    assert not gone(pid)
    sent = time.monotonic()
    run.proc.send_signal(signum)
    code = run.finish(5.0)
    took = time.monotonic() - sent
    assert code == 0, run.stderr
    assert took < 3.0
    assert "terminate called" not in run.stderr and "Traceback" not in run.stderr
    assert gone(pid), "the narration worker outlived the player"
    assert run.stdout.rstrip().endswith("stopped")


def test_a_crashed_worker_turns_the_remaining_lines_into_chimes_and_the_session_ends(
    tmp_path: Path,
) -> None:
    run = Run(tmp_path, script(tmp_path), 1.0)
    pid = run.worker_pid()
    run.wait_for_output(" on null")
    os.kill(pid, signal.SIGKILL)
    code = run.finish(30.0)
    assert code == 0, run.stderr
    assert run.stdout.rstrip().endswith("finished")
    assert "a chime stood in" in run.stderr
    assert "the narration worker stopped (signal 9)" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_line_the_engine_cannot_speak_becomes_a_chime_at_once(tmp_path: Path) -> None:
    text = SLOW.replace("The second line is made", "Unspeakable, the second line is made")
    run = Run(tmp_path, script(tmp_path, text), 0.0)
    code = run.finish(60.0)
    assert code == 0, run.stderr
    assert "1 failed (a chime stood in)" in run.stderr
    assert "no voice for this line" in run.stderr
    assert "waiting for the voice" not in run.stdout  # the chime was ready at once


@pytest.mark.voice
@pytest.mark.skipif(not piper_available(), reason="piper-tts not installed")
def test_with_piper_the_player_never_loads_onnxruntime_and_stays_small(tmp_path: Path) -> None:
    session = script(
        tmp_path,
        "title: Piper\nvoice: {engine: piper}\nsteps:\n  - say: Hello there.\n"
        "  - say: Breathe out slowly.\n  - say: And rest.\n",
    )
    probe = (
        "import sys\n"
        "from relaxplayer.cli import main\n"
        "from relaxplayer.narration_worker import peak_rss_kb\n"
        f"main(['play', {str(session)!r}, '--output', 'null', '--plain', '-v'],"
        " standalone_mode=False)\n"
        "print('onnxruntime' in sys.modules, 'piper' in sys.modules, peak_rss_kb())\n"
    )
    env = dict(os.environ, RELAXPLAYER_CACHE=str(tmp_path / "cache"))
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent.parent), *sys.path])
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    onnx, piper, player_kb = done.stdout.splitlines()[-1].split()
    assert (onnx, piper) == ("False", "False")
    assert int(player_kb) < 80 * 1024
    worker = [ln for ln in done.stderr.splitlines() if ln.startswith("narration worker:")]
    assert worker and "failed" not in worker[0], done.stderr
    worker_mb = int(worker[0].split("peak memory ")[1].split()[0])
    # Issue 9's goal: 250 MB. These three short lines measure about 175 MB; the default
    # session's 13 lines 234-239 MB (benchmarks/bench_worker_memory.py, docs/narration.md).
    assert worker_mb <= 250
    assert list((tmp_path / "cache" / "speech").glob("*.wav"))  # made by the worker


SPOKEN = """title: Spoken
voice: {engine: espeak}
background: {sound: rain, fade_in: 1s, volume: 20%}
steps:
  - say: Let your shoulders soften.
  - pause: 1s
  - say: Breathe out slowly, and let the breath go.
  - bell: soft
  - say: Rest here for a moment.
  - pause: 1s
"""


def test_play_to_a_file_on_an_empty_cache_equals_render_sample_for_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Needs the player to wait for a line without writing silence (non-real-time outputs)."""
    session = script(tmp_path, SPOKEN)
    played, rendered = tmp_path / "played.wav", tmp_path / "rendered.wav"
    runner = CliRunner()
    monkeypatch.setenv("RELAXPLAYER_CACHE", str(tmp_path / "cache-play"))
    result = runner.invoke(
        main, ["play", str(session), "--output", f"file:{played}", "--plain", "--rate", "16000"]
    )
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("RELAXPLAYER_CACHE", str(tmp_path / "cache-render"))
    result = runner.invoke(main, ["render", str(session), "-o", str(rendered), "--rate", "16000"])
    assert result.exit_code == 0, result.output
    a, rate_a = sf.read(played, dtype="int16")
    b, rate_b = sf.read(rendered, dtype="int16")
    assert rate_a == rate_b == 16000
    assert a.shape == b.shape
    assert np.array_equal(a, b)


def test_a_quit_while_the_first_line_is_made_returns_quit_within_2_s(tmp_path: Path) -> None:
    session = parse_session(
        "title: Q\nvoice: {engine: espeak}\nsteps:\n  - say: hang\n", "q.yaml", tmp_path
    )
    workers: list[NarrationWorker] = []

    def make_worker(done: object) -> NarrationWorker:
        worker = NarrationWorker(
            session.voice,
            tmp_path,
            on_result=done,  # type: ignore[arg-type]
            command=[sys.executable, "-c", FAKE],
        )
        workers.append(worker)
        return worker

    heard: list[ev.Event] = []
    playback = Playback(
        session,
        lambda: NullOutput(16000, 2),
        narrator=narrator_for(session, None),
        rate=16000,
        listeners=[heard.append],
        worker=make_worker,
    )
    outcome: list[str] = []
    thread = threading.Thread(target=lambda: outcome.append(playback.run()))
    thread.start()
    end = time.monotonic() + 20
    while not (workers and workers[0].pids) and time.monotonic() < end:
        time.sleep(0.01)
    time.sleep(0.2)
    asked = time.monotonic()
    playback.quit()
    thread.join(timeout=5)
    assert time.monotonic() - asked < 2.0
    assert outcome == ["quit"] and playback.player is None
    assert heard == [ev.Finished(0, "quit")]
    assert gone(workers[0].pids[0])


SCHED_IDLE = 5  # /proc/PID/stat field 41 (policy)


def test_the_worker_runs_at_sched_idle_or_nice_19_and_the_player_does_not(
    tmp_path: Path,
) -> None:
    """On a small board's quota the worker must only get what the player and aplay leave."""
    run = Run(tmp_path, script(tmp_path), 2.0)
    try:
        pid = run.worker_pid()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        policy, nice = int(fields[38]), int(fields[16])
        assert policy == SCHED_IDLE or nice >= 19, (policy, nice)
        mine = Path(f"/proc/{run.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        assert int(mine[38]) != SCHED_IDLE and int(mine[16]) == os.nice(0)
    finally:
        run.proc.send_signal(signal.SIGTERM)
        assert run.finish(20) == 0, run.stderr
    assert gone(pid)


LEAD_IN = """title: Lead-in
voice: {engine: espeak}
background: {sound: rain, fade_in: 1s, volume: 20%}
steps:
  - pause: 4s
  - say: Let your shoulders soften.
  - pause: 1s
  - say: Breathe out slowly, and let the breath go.
  - say: Rest here for a moment.
"""


def test_lines_are_decoded_ahead_never_on_the_audio_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decoding a line costs 10-30 ms of CPU: on the audio thread that is an underrun on a Pi."""
    monkeypatch.setenv("RELAXPLAYER_CACHE", str(tmp_path / "cache"))
    session = parse_session(LEAD_IN, "lead.yaml", tmp_path)
    narrator = narrator_for(session, None)
    assert narrator is not None
    real_load = type(narrator).load
    threads: list[str] = []

    def load(self: object, text: str, rate: int) -> np.ndarray:  # the real one, watched
        threads.append(threading.current_thread().name)
        return real_load(self, text, rate)  # type: ignore[arg-type]

    monkeypatch.setattr(type(narrator), "load", load)
    frozen: list[int] = []

    def listener(event: ev.Event) -> None:
        if isinstance(event, ev.Tick):
            frozen.append(gc.get_freeze_count())

    playback = Playback(
        session, lambda: NullOutput(16000, 2), narrator=narrator, rate=16000, listeners=[listener]
    )
    assert playback.run() == "end"
    assert playback.lines is not None and playback.lines.decoded == 3
    assert threads and not [t for t in threads if t.startswith("output-")], threads
    # start-up's objects are frozen while playing (no full collection walks them), given back after
    assert frozen and frozen[0] > 0 and gc.get_freeze_count() == 0
