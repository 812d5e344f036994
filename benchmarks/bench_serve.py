"""`relaxplayer serve`: resident memory and CPU idle, and while a session plays.

    .venv/bin/python benchmarks/bench_serve.py [--seconds 30] [--no-playing]

Idle (issue 11): serve's RSS at most 60 MB and CPU at most 0.2 % of one core,
beside a bare Python interpreter idling (``python -c "import time; ..."``),
what the interpreter alone costs. Config, data and state go to a temporary
folder; a button on pin 17 is configured, so the no-GPIO path is included.

While playing with narration cached (issue 11: "the same budgets as play"):
the default session, prepared first, started in ``serve`` by SIGUSR1 (a
button press), through the virtual sound card of scripts/test-audio.sh with
``--output portaudio``, beside ``relaxplayer play`` of the same session on the
same output in the same run. The budgets are play's (README): RSS at most
80 MB, steady CPU at most 2 % of one core. ``serve`` is measured as shipped
(the phone page on, if starlette and uvicorn are installed) and with
``--no-web``. CPU is counted after 2 s of playing (steady playback only).
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from vcard import virtual_card

ROOT = Path(__file__).resolve().parent.parent
EXE = [sys.executable, "-m", "relaxplayer"]
SETTLE = 2.0  # seconds of playing before CPU is counted
RSS_BUDGET, CPU_BUDGET = 80.0, 2.0  # play's budgets (README)


class Proc:
    """A process whose stderr lines are read by a thread, so ``expect`` can wait for one."""

    def __init__(self, cmd: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line.rstrip("\n"))

    def expect(self, start: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise SystemExit(f"no line starting {start!r} from {self.proc.args}") from None
            self.seen.append(line)
            if line.startswith(start):
                return

    def measure(self, seconds: float) -> tuple[float, float]:
        """(peak RSS MB, CPU % of one core) over ``seconds``, RSS sampled every 0.25 s."""
        p = psutil.Process(self.proc.pid)
        before, start, peak = p.cpu_times(), time.monotonic(), 0.0
        while time.monotonic() - start < seconds:
            peak = max(peak, p.memory_info().rss / 1e6)
            time.sleep(0.25)
        after = p.cpu_times()
        cpu = (after.user + after.system - before.user - before.system) / (time.monotonic() - start)
        return peak, max(cpu, 0.0) * 100

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def idle(env: dict[str, str], seconds: float) -> None:
    serve = Proc([*EXE, "serve", "--output", "null"], env)
    try:
        serve.expect("relaxplayer ")
        rss, cpu = serve.measure(seconds)
    finally:
        serve.stop()
    peer = Proc([sys.executable, "-c", "import time; time.sleep(3600)"], env)
    try:
        time.sleep(1.0)
        peer_rss, peer_cpu = peer.measure(seconds)
    finally:
        peer.stop()
    print(f"serve idle over {seconds:g} s: RSS {rss:.1f} MB, CPU {cpu:.3f} % of one core")
    print(f"bare python idle (peer):      RSS {peer_rss:.1f} MB, CPU {peer_cpu:.3f} %")
    print(
        f"idle targets: RSS <= 60 MB ({'ok' if rss <= 60 else 'OVER'}), "
        f"CPU <= 0.2 % ({'ok' if cpu <= 0.2 else 'OVER'})"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def playing(env: dict[str, str], seconds: float) -> None:
    """serve (page on, and --no-web) and play of the default session, narration cached."""
    subprocess.run([*EXE, "prepare", "default"], env=env, check=True, capture_output=True)
    rows = []
    for label, extra in (("serve (page on)", []), ("serve --no-web", ["--no-web"])):
        listen = ["--listen", f"127.0.0.1:{free_port()}"]
        serve = Proc([*EXE, "serve", "--output", "portaudio", *listen, *extra], env)
        try:
            serve.expect("relaxplayer ")
            page = any(line.startswith("web: phone page on") for line in serve.seen)
            if page == bool(extra):
                raise SystemExit(f"{label}: the phone page is {'on' if page else 'off'}")
            serve.proc.send_signal(signal.SIGUSR1)  # a button press: the default session
            serve.expect("playing default")
            time.sleep(SETTLE)
            rows.append((label, *serve.measure(seconds)))
        finally:
            serve.stop()
    play = Proc([*EXE, "play", "default", "--output", "portaudio", "--plain"], env)
    try:
        time.sleep(SETTLE + 1.0)  # start-up (about 0.3 s) and the same settling
        rows.append(("play (peer)", *play.measure(seconds)))
    finally:
        play.stop()
    print(f"while playing the default session, narration cached, over {seconds:g} s:")
    for label, rss, cpu in rows:
        verdict = "ok" if rss <= RSS_BUDGET and cpu <= CPU_BUDGET else "OVER"
        print(f"  {label:<16} RSS {rss:5.1f} MB, CPU {cpu:.2f} % of one core  ({verdict})")
    print(f"playing budgets (play's): RSS <= {RSS_BUDGET:g} MB, CPU <= {CPU_BUDGET:g} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--no-playing", action="store_true", help="only the idle figures")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "config").mkdir()
        (folder / "config" / "config.yaml").write_text(
            "button: {pin: 17}\nschedules:\n  - {at: '03:00', session: default}\n"
        )
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "RELAXPLAYER_CONFIG": str(folder / "config"),
            "RELAXPLAYER_DATA": str(folder / "data"),
            "RELAXPLAYER_STATE": str(folder / "state"),
        }
        idle({**env, "RELAXPLAYER_CACHE": str(folder / "cache")}, args.seconds)
        if args.no_playing:
            return
        with virtual_card(folder / "vsnd") as card:
            # the user's narration cache (as bench_play.py): `prepare` is quick once it is made
            playing({**env, **card}, args.seconds)


if __name__ == "__main__":
    main()
