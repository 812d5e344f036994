"""The narration worker and its client: lines made in another process, every wait bounded."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from relaxplayer.model import Voice
from relaxplayer.narration import NarrationWorker, Result
from relaxplayer.sounds.speech import Narrator, espeak_binary

needs_espeak = pytest.mark.skipif(espeak_binary() is None, reason="espeak-ng not installed")
ESPEAK = Voice(engine="espeak")

# A stand-in worker speaking the same protocol: "hang" never answers, "die" kills the
# process, "slow" takes 5 s, anything else is "made" at once (nothing is written).
FAKE = """
import json, os, signal, sys, time
sys.stdin.readline()
for line in sys.stdin:
    text = json.loads(line)["text"]
    if text == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if text == "hang":
        time.sleep(3600)
    if text == "slow":
        time.sleep(5)
    print(json.dumps({"text": text, "ok": True}), flush=True)
print(json.dumps({"done": True, "peak_rss_kb": 1234}), flush=True)
"""


def slow_espeak(folder: Path, seconds: float) -> Path:
    """A folder with an ``espeak-ng`` that takes ``seconds`` per sentence, then runs the real one.

    A sentence containing "Unspeakable" fails the way a missing language does.
    """
    real = espeak_binary()
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "espeak-ng"
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in *Unspeakable*) echo "no voice for this line" >&2; exit 1;; esac\n'
        f"sleep {seconds}\n"
        f'exec {real} "$@"\n'
    )
    script.chmod(0o755)
    return folder


def fake(tmp_path: Path, **kwargs: object) -> NarrationWorker:
    return NarrationWorker(
        ESPEAK,
        tmp_path,
        command=[sys.executable, "-c", FAKE],
        **kwargs,  # type: ignore[arg-type]
    )


def gone(pid: int) -> bool:
    """No such process any more (a zombie nobody reaped would count as still there)."""
    return not Path(f"/proc/{pid}").exists()


def wait_gone(pid: int, seconds: float = 3.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if gone(pid):
            return True
        time.sleep(0.02)
    return gone(pid)


@needs_espeak
@pytest.mark.voice
def test_lines_are_made_into_the_cache_in_order_and_the_idle_worker_leaves(
    tmp_path: Path,
) -> None:
    seen: list[Result] = []
    texts = ["First line.", "Second line.", "Third line."]
    with NarrationWorker(ESPEAK, tmp_path, on_result=seen.append) as worker:
        worker.request(texts)
        assert worker.wait_for(texts[-1], timeout=60) == Result(texts[-1])
        assert [r.text for r in seen] == texts and all(r.error is None for r in seen)
        reader = Narrator(ESPEAK, tmp_path, synthesizes=False)
        assert all(reader.cached(t) is not None for t in texts)
        assert len(worker.pids) == 1
        assert wait_gone(worker.pids[0]), "the worker stays after its queue is empty"
        assert worker.peak_rss_kb and worker.peak_rss_kb > 1000
        worker.request(["Fourth line."])  # a new request starts a new worker
        assert worker.wait_for("Fourth line.", timeout=60) == Result("Fourth line.")
        assert len(worker.pids) == 2


@needs_espeak
def test_the_worker_runs_nicer_than_the_player_in_its_own_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = slow_espeak(tmp_path / "bin", 3)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with NarrationWorker(ESPEAK, tmp_path) as worker:
        worker.request(["Slow to say."])
        end = time.monotonic() + 20
        nice = None
        while time.monotonic() < end:  # the child lowers its own priority once Python is up
            if worker.pids:
                fields = Path(f"/proc/{worker.pids[0]}/stat").read_text().rsplit(")", 1)[1].split()
                nice, session = int(fields[16]), int(fields[3])
                if nice - os.nice(0) >= 10:
                    break
            time.sleep(0.02)
        assert nice is not None and nice - os.nice(0) >= 10
        assert session != os.getsid(0)  # a terminal's Ctrl-C never reaches it


@needs_espeak
def test_a_line_that_fails_is_reported_and_the_rest_are_still_made(tmp_path: Path) -> None:
    with NarrationWorker(ESPEAK, tmp_path) as worker:
        worker.request(["a\0b", "Still spoken."])
        bad = worker.wait_for("a\0b", timeout=60)
        assert bad is not None and bad.error and "embedded null" in bad.error
        assert worker.wait_for("Still spoken.", timeout=60) == Result("Still spoken.")


def test_a_crashed_worker_fails_its_line_and_every_later_one_at_once(tmp_path: Path) -> None:
    seen: list[Result] = []
    with fake(tmp_path, on_result=seen.append) as worker:
        worker.request(["one", "die", "three", "four"])
        assert worker.wait_for("four", timeout=10) is not None
    assert [r.text for r in seen] == ["one", "die", "three", "four"]
    assert seen[0].error is None
    assert all(r.error == "the narration worker stopped (signal 9)" for r in seen[1:])
    assert wait_gone(worker.pids[0])


def test_a_line_past_its_deadline_kills_the_worker_and_the_next_gets_a_new_one(
    tmp_path: Path,
) -> None:
    with fake(tmp_path, line_seconds=0.5) as worker:
        worker.request(["hang", "after"])
        hung = worker.wait_for("hang", timeout=10)
        assert hung is not None and hung.error == "the voice took longer than 0.5 s"
        assert worker.wait_for("after", timeout=10) == Result("after")
        assert len(worker.pids) == 2 and wait_gone(worker.pids[0])


def test_a_cancelled_wait_returns_within_100_ms_and_close_ends_a_busy_worker(
    tmp_path: Path,
) -> None:
    worker = fake(tmp_path)
    worker.request(["hang"])
    flag = {"stop": False}
    start = time.monotonic()
    deadline = start + 0.3

    def cancelled() -> bool:
        flag["stop"] = flag["stop"] or time.monotonic() >= deadline
        return flag["stop"]

    assert worker.wait_for("hang", cancelled=cancelled) is None
    assert time.monotonic() - deadline < 0.1
    end = time.monotonic() + 10
    while not worker.pids and time.monotonic() < end:
        time.sleep(0.01)
    pid = worker.pids[0]
    begun = time.monotonic()
    worker.close()
    assert time.monotonic() - begun < 2.0
    assert gone(pid)
    assert worker.result("hang") == Result("hang", "narration stopped")


def test_a_worker_that_cannot_start_fails_every_line_instead_of_waiting(tmp_path: Path) -> None:
    worker = NarrationWorker(ESPEAK, tmp_path, command=[str(tmp_path / "no-such-program")])
    with worker:
        worker.request(["one", "two"])
        one, two = worker.wait_for("one", timeout=5), worker.wait_for("two", timeout=5)
    assert one is not None and one.error and "cannot start the narration worker" in one.error
    assert two is not None and two.error == one.error


def test_a_voice_the_worker_cannot_set_up_fails_each_line_with_its_reason(
    tmp_path: Path,
) -> None:
    broken = Voice(engine="piper", model=tmp_path / "missing.onnx")
    with NarrationWorker(broken, tmp_path) as worker:
        result = worker.wait_for("Hello.", timeout=60)
    assert result is not None and result.error is not None
    assert "missing.onnx" in result.error


def test_a_line_asked_for_after_close_fails_at_once(tmp_path: Path) -> None:
    worker = fake(tmp_path)
    worker.close()
    assert worker.wait_for("late", timeout=5) == Result("late", "narration stopped")
    assert worker.pids == []


@needs_espeak
def test_the_worker_levels_a_line_without_importing_scipy_or_pyloudnorm(tmp_path: Path) -> None:
    """BS.1770 levelling is libebur128's (ctypes): scipy alone cost the worker 91 MB."""
    import json
    import subprocess

    probe = (
        "import io, json, sys\n"
        "from relaxplayer import narration_worker\n"
        "out = io.StringIO()\n"
        "narration_worker.serve(io.StringIO(sys.argv[1]), out)\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'scipy', 'pyloudnorm'})\n"
        "print(json.dumps([out.getvalue(), heavy]))\n"
    )
    voice = {"engine": "espeak", "model": None, "speed": 1.0, "language": "en"}
    request = "\n".join(
        [json.dumps({"voice": voice, "cache": str(tmp_path)}), json.dumps({"text": "Rest now."})]
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent.parent))
    done = subprocess.run(
        [sys.executable, "-c", probe, request + "\n"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    replies, heavy = json.loads(done.stdout)
    assert '"ok": true' in replies
    assert heavy == []
    assert list((tmp_path / "speech").glob("*.wav"))
