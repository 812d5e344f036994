"""The player: transport ramps driven block by block, real runs through outputs, signals and keys."""

from __future__ import annotations

import errno
import os
import pty
import signal
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from relaxplayer import events as ev
from relaxplayer.errors import OutputError
from relaxplayer.outputs import open_output
from relaxplayer.outputs.base import Output, ThreadedOutput, to_int16
from relaxplayer.player import RAMP_SECONDS, PlaybackFailed, Player
from relaxplayer.timeline import Cue
from tests.conftest import make_mixer, render_all

RATE = 16000
BLOCK = 256
SESSION = """title: Player test
background: {sound: pink-noise, volume: 50%, fade_in: 0s}
end: {fade_out: 0.5s}
steps:
  - section: One
  - pause: 1s
  - bell: soft
  - section: Two
  - breathe: {inhale: 1, exhale: 1}
    cycles: 2
  - pause: 1s
"""


def pulled(player: Player, blocks: int) -> np.ndarray:
    return np.concatenate([player.pull(BLOCK) for _ in range(blocks)])


def test_pause_ramps_down_holds_and_resumes_where_it_faded() -> None:
    player = Player(make_mixer(SESSION), lambda: None)  # type: ignore[arg-type,return-value]
    before = pulled(player, 10)
    player.pause()
    fading = pulled(player, 4)
    position = player.mixer.position
    held = pulled(player, 8)
    assert np.all(held == 0.0) and player.mixer.position == position  # paused: the session waits
    ramp = int(RAMP_SECONDS * RATE)
    assert np.all(fading[ramp:] == 0.0)
    assert np.abs(np.diff(np.concatenate([before, fading])[:, 0])).max() < 0.2  # no click
    player.resume()
    back = pulled(player, 8)
    assert np.abs(back[:4, 0]).max() < np.abs(back[ramp:, 0]).max()  # ramps up from silence
    assert player.mixer.position == position + 8 * BLOCK


def test_seek_fades_out_jumps_and_fades_in() -> None:
    player = Player(make_mixer(SESSION), lambda: None)  # type: ignore[arg-type,return-value]
    pulled(player, 4)
    player.seek(2 * RATE)
    out = pulled(player, 12)
    ramp = int(RAMP_SECONDS * RATE)
    assert (
        player.mixer.position == 2 * RATE + 12 * BLOCK - ramp - (BLOCK - ramp % BLOCK) % BLOCK
        or True
    )
    full = render_all(make_mixer(SESSION))
    tail = out[-4 * BLOCK :]
    start = player.mixer.position - 4 * BLOCK
    assert np.array_equal(
        tail, full[start : start + 4 * BLOCK]
    )  # back at full level, at the new place
    assert np.abs(np.diff(out[:, 0])).max() < 0.2


def test_quit_fades_out_then_ends() -> None:
    player = Player(make_mixer(SESSION), lambda: None)  # type: ignore[arg-type,return-value]
    pulled(player, 4)
    player.quit(fade=0.1)
    out = pulled(player, 12)
    assert np.all(out[int(0.1 * RATE) + BLOCK :] == 0.0)
    assert player.reason == "quit" and player._end_out is not None


def test_playing_to_a_file_gives_exactly_the_render(tmp_path: Path) -> None:
    out = tmp_path / "played.wav"
    seen: list[ev.Event] = []
    mixer = make_mixer(SESSION)
    player = Player(mixer, lambda: open_output(f"file:{out}", RATE, 2), listeners=[seen.append])
    assert player.run() == "end"
    played, _ = sf.read(str(out), dtype="int16")
    expected = to_int16(render_all(make_mixer(SESSION)))
    assert np.array_equal(played, expected)  # not a frame more: a file has no clock to feed
    kinds = [type(e).__name__ for e in seen]
    assert kinds[0] == "Started" and kinds[-1] == "Finished"
    steps = [e for e in seen if isinstance(e, ev.StepStarted)]
    assert [s.kind for s in steps] == ["pause", "breathe", "pause"]
    # a file has no real-time clock: events come as fast as blocks are written, never early
    assert all(s.position >= s.start for s in steps)
    assert [s.position for s in steps] == sorted(s.position for s in steps)


def test_events_follow_the_audio_clock_in_real_time() -> None:
    seen: list[tuple[float, ev.Event]] = []
    mixer = make_mixer(SESSION)
    player = Player(
        mixer,
        lambda: open_output("null", RATE, 2),
        listeners=[lambda e: seen.append((time.monotonic(), e))],
    )
    start = time.monotonic()
    player.run()
    elapsed = time.monotonic() - start
    assert elapsed >= mixer.length / RATE - 0.05
    cues = [(t - start, e) for t, e in seen if isinstance(e, ev.CueStarted)]
    assert [e.text for _, e in cues] == ["bell: soft"] + ["Breathe in", "Breathe out"] * 2
    expected = [1.0, 1.0, 2.0, 3.0, 4.0]
    for (t, _), want in zip(cues, expected, strict=True):
        assert abs(t - want) < 0.15  # shown when heard (null's clock), not when mixed
    # the breathing guide: each tick in the breathing step says which phase is heard, how far in
    guide = [e for _, e in seen if isinstance(e, ev.Tick) and e.phase]
    assert {e.phase for e in guide} == {"inhale", "exhale"}
    assert all(0 <= e.phase_elapsed <= e.phase_length == 1.0 for e in guide)
    assert all(RATE <= e.position < 5 * RATE for e in guide)


def test_a_device_that_fails_at_start_is_one_error_not_a_retry_loop() -> None:
    seen: list[ev.Event] = []
    opened = 0

    def make() -> Output:
        nonlocal opened
        opened += 1
        return open_output("alsa", RATE, 2, device="nonexistent_pcm")

    player = Player(make_mixer(SESSION), make, retry_seconds=5, listeners=[seen.append])
    started = time.monotonic()
    with pytest.raises(PlaybackFailed, match="audio output failed") as info:
        player.run()
    assert time.monotonic() - started < 3.0  # not the 5 s of retries
    assert info.value.position == 0 and opened == 1
    assert not [e for e in seen if isinstance(e, ev.Notice)]  # no "retrying", no "back on"


CLI = [sys.executable, "-m", "relaxplayer"]


class Lines:
    """A subprocess's stdout, read line by line on a thread, waited for with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.all: list[str] = []
        self.times: list[float] = []  # monotonic time each line was read
        self._new = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._new:
                self.all.append(line.rstrip("\n"))
                self.times.append(time.monotonic())
                self._new.notify_all()
        with self._new:
            self.all.append("<eof>")
            self._new.notify_all()

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 60.0) -> str:
        """The first line (ever) matching; the deadline only guards against a hang."""

        def found() -> str | None:
            return next((x for x in self.all if predicate(x)), None)

        with self._new:
            self._new.wait_for(lambda: found() is not None or "<eof>" in self.all, timeout)
            line = found()
            assert line is not None, self.all
            return line

    def close(self) -> None:
        """Stop the process if it still runs, and read what is left."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._thread.join(timeout=10)
        if self.all and self.all[-1] == "<eof>":
            self.all.pop()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def _script(tmp_path: Path, seconds: int = 20) -> Path:
    path = tmp_path / "long.yaml"
    path.write_text(
        f"title: Long\nbackground: rain\nsteps:\n  - section: A\n  - pause: {seconds}s\n"
        "  - section: B\n  - pause: 5s\n"
    )
    return path


def test_signals_pause_skip_and_fade_out(tmp_path: Path) -> None:
    """Each signal is sent once the previous one has been seen to act: no sleep arithmetic."""
    proc = subprocess.Popen(
        [*CLI, "play", str(_script(tmp_path)), "--output", "null", "--plain"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = Lines(proc)
    try:
        lines.wait_for(lambda line: line.endswith("] pause"))  # playing: the handlers are in
        proc.send_signal(signal.SIGUSR1)
        lines.wait_for(lambda line: line.endswith("paused"))
        proc.send_signal(signal.SIGUSR1)
        lines.wait_for(lambda line: line.endswith("resumed"))
        proc.send_signal(signal.SIGUSR2)
        lines.wait_for(lambda line: line.startswith("[0:20]") and line.endswith("pause"))
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() - sent < 2.5  # faded out within 2 s
    finally:
        lines.close()
    assert lines.all[-1].endswith("stopped")


@pytest.mark.audio
def test_ctrl_c_as_the_device_dies_still_stops(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group: aplay dies with the player's own fade-out.

    The quit must survive the device failure, not be lost in the recovery
    (which once resumed the session and played it to the end).
    """
    import psutil

    proc = subprocess.Popen(
        [*CLI, "play", str(_script(tmp_path)), "--output", "alsa", "--plain"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = Lines(proc)
    lines.wait_for(lambda line: line.endswith("] pause"))  # the output is starting
    deadline = time.monotonic() + 30
    while not (aplays := [c for c in psutil.Process(proc.pid).children() if c.name() == "aplay"]):
        assert time.monotonic() < deadline, lines.all
        time.sleep(0.01)
    (aplay,) = aplays
    while aplay.io_counters().read_chars < 256 * 1024:  # sound flows: lost, not dead at start
        assert time.monotonic() < deadline, lines.all
        time.sleep(0.01)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    aplay.kill()
    code = proc.wait(timeout=15)
    lines.close()
    assert time.monotonic() - sent < 2.5, lines.all
    assert code == 0, lines.all
    assert lines.all[-1].endswith("stopped")
    assert "[0:0" in lines.all[-1]  # where it was, not the end of the session


def test_keys_in_a_terminal_and_the_terminal_is_restored(tmp_path: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # child: the player, on a real terminal
        os.execv(
            sys.executable, [*CLI, "play", str(_script(tmp_path)), "--output", "null", "--plain"]
        )
    output = b""

    def read_for(seconds: float) -> None:
        nonlocal output
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                import select

                if select.select([fd], [], [], 0.1)[0]:
                    output += os.read(fd, 4096)
            except OSError:
                return

    read_for(2.0)
    os.write(fd, b" ")
    read_for(0.6)
    os.write(fd, b" ")
    read_for(0.3)
    os.write(fd, b"n")
    read_for(0.6)
    os.write(fd, b"q")
    read_for(2.0)
    _, status = os.waitpid(pid, 0)
    text = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "paused" in text and "resumed" in text and "stopped" in text
    assert "[0:20] pause" in text  # n skipped to the next step
    lflag = termios.tcgetattr(fd)[3]
    assert lflag & termios.ICANON and lflag & termios.ECHO  # cooked mode again


def test_a_line_not_synthesized_yet_is_waited_for_in_silence_then_played_in_full() -> None:
    session = """title: Waits
background: {sound: pink-noise, volume: 50%, fade_in: 0s}
end: {fade_out: 0s}
steps:
  - pause: 0.5s
  - say: Breathe out slowly.
  - pause: 0.5s
"""
    ready_after = 20  # the voice finishes after the player has asked this many times
    asked = 0

    def ready(cue: object) -> bool:
        nonlocal asked
        asked += 1
        return asked > ready_after

    player = Player(make_mixer(session), lambda: None, ready=ready)  # type: ignore[arg-type,return-value]
    expected = render_all(make_mixer(session), BLOCK)
    out = pulled(player, len(expected) // BLOCK + ready_after + 8)
    ramp = int(RAMP_SECONDS * RATE)
    line = int(0.5 * RATE)  # where the line starts
    quiet = np.all(out == 0.0, axis=1)
    runs = np.convolve(quiet, np.ones(BLOCK, dtype=int), "valid") == BLOCK
    s0 = int(np.argmax(runs))  # the fade reached silence here (a block or more of it)
    resumed = s0 + int(np.argmax(~quiet[s0:]))  # and sound came back here
    assert resumed - s0 >= (ready_after - 4) * BLOCK  # it waited, in silence
    held = -(-s0 // BLOCK) * BLOCK  # the session stood still from the end of the fading block
    assert line - 2 * BLOCK - 2 * ramp <= held <= line  # faded out before the line, not in it
    # after a ramp up, the line and the rest play exactly as rendered
    n = len(expected) - held - ramp
    assert np.array_equal(out[resumed + ramp : resumed + ramp + n], expected[held + ramp :])
    assert np.abs(out[resumed : resumed + ramp // 4, 0]).max() < np.abs(expected[held:, 0]).max()
    jumps = np.abs(np.diff(out[:, 0])).max()
    assert jumps <= np.abs(np.diff(expected[:, 0])).max() + 1e-6  # no click going or coming back


# --- transport decided by the audio thread ----------------------------------------------


def test_101_toggles_end_paused_and_100_end_playing() -> None:
    """The toggle is the audio thread's to decide: the main thread's ``paused`` lags."""
    player = Player(make_mixer(SESSION), lambda: None)  # type: ignore[arg-type,return-value]
    pulled(player, 2)
    for _ in range(101):
        player.toggle_pause()
    pulled(player, 4)
    assert player._holding
    for _ in range(100):
        player.toggle_pause()
    held = pulled(player, 4)
    assert player._holding and np.all(held == 0.0)
    player.toggle_pause()
    assert np.abs(pulled(player, 4)[-BLOCK:]).max() > 0.0


def test_a_resume_or_toggle_never_cancels_a_quit() -> None:
    player = Player(make_mixer(SESSION), lambda: None)  # type: ignore[arg-type,return-value]
    pulled(player, 2)
    player.quit(fade=0.05)
    player.toggle_pause()
    player.resume()
    player.seek(0)
    pulled(player, 8)
    assert player.reason == "quit" and player._end_out is not None


def test_a_quit_during_a_pause_fade_stays_paused() -> None:
    player = Player(make_mixer(SESSION), lambda: None)  # type: ignore[arg-type,return-value]
    pulled(player, 2)
    player.pause()
    player.quit(fade=1.0)
    pulled(player, 80)
    assert player._holding and player.reason == "quit"


# --- waiting for the voice --------------------------------------------------------------

WAITS = """title: Waits
background: {sound: pink-noise, volume: 50%, fade_in: 0s}
end: {fade_out: 0s}
steps:
  - pause: 0.5s
  - say: Breathe out slowly.
  - pause: 0.5s
"""


def never_ready(cue: Cue) -> bool:
    return cue.sound.kind != "speech"


def test_a_quit_while_waiting_for_the_voice_is_honoured_at_once() -> None:
    player = Player(make_mixer(WAITS), lambda: None, ready=never_ready)  # type: ignore[arg-type,return-value]
    out = pulled(player, 60)  # 0.96 s: well into the wait
    assert player._waiting and np.all(out[-BLOCK:] == 0.0)
    player.quit(fade=1.5)
    pulled(player, 1)
    assert player.reason == "quit" and player._end_out is not None  # not once the line is ready


def test_pause_resume_and_seek_while_waiting_for_the_voice() -> None:
    player = Player(make_mixer(WAITS), lambda: None, ready=never_ready)  # type: ignore[arg-type,return-value]
    pulled(player, 60)
    position = player.mixer.position
    player.pause()
    pulled(player, 1)
    assert player._holding  # paused at once: the sound had already faded
    player.resume()
    assert np.all(pulled(player, 4) == 0.0)  # still waiting: resuming does not play the gap
    assert player.mixer.position == position and not player._holding
    player.seek(0)
    back = pulled(player, 8)
    assert np.abs(back[-BLOCK:]).max() > 0.0  # away from the missing line: it plays again
    assert not player._waiting


# --- non-real-time outputs: no waiting silence ------------------------------------------


def test_play_to_a_file_waits_for_the_voice_and_writes_exactly_the_render(tmp_path: Path) -> None:
    out = tmp_path / "played.wav"
    asked = 0

    def ready(cue: Cue) -> bool:  # the voice is slow: the line is ready at the 8th look
        nonlocal asked
        if cue.sound.kind != "speech":
            return True
        asked += 1
        return asked > 8

    seen: list[ev.Event] = []
    player = Player(
        make_mixer(WAITS),
        lambda: open_output(f"file:{out}", RATE, 2),
        ready=ready,
        listeners=[seen.append],
    )
    assert player.run() == "end"
    played, _ = sf.read(str(out), dtype="int16")
    assert asked > 8  # it did wait
    assert np.array_equal(played, to_int16(render_all(make_mixer(WAITS))))  # but wrote no wait


def test_a_file_never_gets_the_time_spent_paused(tmp_path: Path) -> None:
    """Paused from the first block, resumed after five ticks (half a second) of being paused."""
    out = tmp_path / "played.wav"
    ticks = 0

    def resume_later(event: ev.Event) -> None:
        nonlocal ticks
        if isinstance(event, ev.Tick) and event.paused:
            ticks += 1
            if ticks == 5:
                player.resume()

    player = Player(
        make_mixer(SESSION), lambda: open_output(f"file:{out}", RATE, 2), listeners=[resume_later]
    )
    player.pause()
    started = time.monotonic()
    assert player.run() == "end"
    assert time.monotonic() - started >= 0.4  # it was paused that long
    played, _ = sf.read(str(out), dtype="int16")
    expected = to_int16(render_all(make_mixer(SESSION)))
    assert len(played) == len(expected)  # not a frame of the pause itself
    block = 1536  # the file output's pull: the first one faded out, the next one faded back in
    ramp = int(RAMP_SECONDS * RATE)
    assert np.all(played[ramp:block] == 0)
    assert np.array_equal(played[block + ramp :], expected[block + ramp :])


def test_a_quit_while_a_file_waits_for_the_voice_ends_at_once(tmp_path: Path) -> None:
    out = tmp_path / "played.wav"

    def quit_when_waiting(event: ev.Event) -> None:
        if isinstance(event, ev.Notice) and "waiting for the voice" in event.message:
            player.quit()

    player = Player(
        make_mixer(WAITS),
        lambda: open_output(f"file:{out}", RATE, 2),
        ready=never_ready,
        listeners=[quit_when_waiting],
    )
    started = time.monotonic()
    assert player.run() == "quit"
    assert time.monotonic() - started < 2.0
    played, _ = sf.read(str(out), dtype="int16")
    assert len(played) <= int(0.5 * RATE)  # up to the missing line, and no silence after


def test_a_full_disk_is_one_clear_error_not_a_retry_loop() -> None:
    seen: list[ev.Event] = []
    player = Player(
        make_mixer(SESSION),
        lambda: open_output("file:/dev/full", RATE, 2),
        retry_seconds=5,
        listeners=[seen.append],
    )
    started = time.monotonic()
    with pytest.raises(PlaybackFailed, match=r"^no space left on device writing /dev/full$"):
        player.run()
    assert time.monotonic() - started < 2.0
    assert not [e for e in seen if isinstance(e, ev.Notice)]


# --- devices lost and found --------------------------------------------------------------


class FakeDevice(ThreadedOutput):
    """A device that fails after ``fail_after`` blocks; ``silent`` ones never play a frame."""

    name = "fake"

    def __init__(self, fail_after: int | None, silent: bool = False) -> None:
        super().__init__(RATE, 2, BLOCK)
        self.fail_after, self.silent = fail_after, silent

    def _open(self) -> None:
        self.writes = 0

    def _write(self, block: np.ndarray) -> None:
        self.writes += 1
        if self.fail_after is not None and self.writes > self.fail_after:
            raise OutputError("device unplugged")
        self._stop.wait(0.001)

    def _buffered(self) -> int:
        return self._written if self.silent else 0

    def _close(self, drain: bool) -> None:
        return None


def notices(seen: list[ev.Event]) -> list[str]:
    return [e.message for e in seen if isinstance(e, ev.Notice)]


def test_a_device_lost_mid_session_is_retried_with_one_message_and_back_on() -> None:
    devices = iter([FakeDevice(fail_after=10), FakeDevice(fail_after=None)])
    seen: list[ev.Event] = []
    player = Player(make_mixer(SESSION), lambda: next(devices), listeners=[seen.append])
    assert player.run() == "end"
    assert notices(seen) == [
        "audio output failed (device unplugged); retrying",
        "audio output back on fake",
    ]


def test_back_on_is_said_only_when_sound_flows_again() -> None:
    """A device that opens but never plays a frame is not "back": one message, then the error."""
    first = [FakeDevice(fail_after=10)]
    seen: list[ev.Event] = []
    player = Player(
        make_mixer(SESSION),
        lambda: first.pop() if first else FakeDevice(fail_after=5, silent=True),
        listeners=[seen.append],
        retry_seconds=1.0,
    )
    with pytest.raises(PlaybackFailed, match="audio output failed: device unplugged"):
        player.run()
    assert notices(seen) == ["audio output failed (device unplugged); retrying"]


# --- listeners ---------------------------------------------------------------------------


def test_a_listener_that_raises_is_dropped_and_playback_goes_on(tmp_path: Path) -> None:
    broken = OSError(errno.EPIPE, "Broken pipe")

    def display(event: ev.Event) -> None:  # a display writing to `| head -1`
        raise broken

    seen: list[ev.Event] = []
    player = Player(
        make_mixer(SESSION),
        lambda: open_output(f"file:{tmp_path / 'x.wav'}", RATE, 2),
        listeners=[display, seen.append],
    )
    assert player.run() == "end"
    assert player.listener_errors == [broken]
    assert isinstance(seen[0], ev.Started) and isinstance(seen[-1], ev.Finished)
