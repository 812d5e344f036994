"""`relaxplayer serve` with both remotes up and clients connected: memory, latency, load.

    .venv/bin/python benchmarks/bench_remotes.py [--seconds 10]

Runs three processes in the same run, each on the ``null`` output at 16 kHz:
a bare interpreter (the peer: what Python alone costs), ``serve --no-web``
(the service alone) and ``serve --listen … --mpd …`` with a session playing,
one phone page (an event stream) and one MPD client idling. Prints their RSS,
the round trip of MPD ``status`` and of ``GET /api/status`` (median and
worst of 50), and what 100 concurrent HTTP requests plus 20 MPD clients
polling do: every answer counted, and the playback still running after.
Target (issue 12): RSS with both servers up and a client connected <= 90 MB.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import mpd
import psutil

ROOT = Path(__file__).resolve().parent.parent
SESSION = "title: Bench\nbackground: {sound: pink-noise, volume: 20%}\nsteps:\n  - pause: 10m\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], env: dict[str, str], ready: str | None) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    if ready is not None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith(ready):
                break
    threading.Thread(target=lambda: proc.stderr and proc.stderr.read(), daemon=True).start()
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(30)


def rss(proc: subprocess.Popen[str]) -> float:
    return psutil.Process(proc.pid).memory_info().rss / 1e6


def http_get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def http_post(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=b"{}", headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def get_json(port: int, path: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def press_to_state(port: int, path: str, state: str) -> float:
    """ms from a POST until /api/status reports ``state`` (the player has applied it)."""
    t = time.perf_counter()
    http_post(port, path)
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/status")

        now = json.loads(conn.getresponse().read())["state"]
        conn.close()
        if now == state:
            return (time.perf_counter() - t) * 1000
        time.sleep(0.005)


def timed(fn, n: int = 50) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "config" / "sessions").mkdir(parents=True)
        (base / "config" / "sessions" / "bench.yaml").write_text(SESSION)
        (base / "config" / "config.yaml").write_text("default_session: bench\n")
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "RELAXPLAYER_CONFIG": str(base / "config"),
            "RELAXPLAYER_DATA": str(base / "data"),
            "RELAXPLAYER_STATE": str(base / "state"),
            "RELAXPLAYER_CACHE": str(base / "cache"),
        }
        serve = [
            sys.executable,
            "-m",
            "relaxplayer",
            "serve",
            "--output",
            "null",
            "--rate",
            "16000",
        ]

        peer = start([sys.executable, "-c", "import time; time.sleep(60)"], env, None)
        time.sleep(1.0)
        peer_rss = rss(peer)
        stop(peer)

        alone = start([*serve, "--no-web"], env, "relaxplayer ")
        time.sleep(args.seconds / 2)
        alone_rss = rss(alone)
        stop(alone)

        web_port, mpd_port = free_port(), free_port()
        box = start(
            [*serve, "--listen", f"127.0.0.1:{web_port}", "--mpd", f"127.0.0.1:{mpd_port}"],
            env,
            "web: phone page on",
        )
        try:
            client = mpd.MPDClient()
            client.timeout = 30
            client.connect("127.0.0.1", mpd_port)
            client.load("bench")
            client.play()
            idler = socket.create_connection(("127.0.0.1", mpd_port), timeout=30)
            idler.recv(64)  # the greeting
            idler.sendall(b"idle mixer\n")  # waits for the whole run
            page = http.client.HTTPConnection("127.0.0.1", web_port, timeout=30)
            page.request("GET", "/api/events")
            stream = page.getresponse()
            stream.readline()
            time.sleep(args.seconds)
            both_rss = rss(box)
            mpd_ms = timed(client.status)
            web_ms = timed(lambda: http_get(web_port, "/api/status"))

            answers: list[int] = []
            lock = threading.Lock()

            def web_worker() -> None:
                code = http_get(web_port, "/api/status")
                with lock:
                    answers.append(code)

            def mpd_worker() -> None:
                c = mpd.MPDClient()
                c.timeout = 30
                c.connect("127.0.0.1", mpd_port)
                for _ in range(10):
                    c.status()
                    c.currentsong()
                c.disconnect()
                with lock:
                    answers.append(0)

            t0 = time.perf_counter()
            workers = [threading.Thread(target=web_worker) for _ in range(100)]
            workers += [threading.Thread(target=mpd_worker) for _ in range(20)]
            for w in workers:
                w.start()
            for w in workers:
                w.join(60)
            load_s = time.perf_counter() - t0
            state = client.status()["state"]
            underruns = get_json(web_port, "/api/status").get("underruns")
            peak_rss = rss(box)
            presses = []
            for _ in range(10):
                presses.append(press_to_state(web_port, "/api/pause", "paused"))
                presses.append(press_to_state(web_port, "/api/resume", "playing"))
            client.stop()
            client.disconnect()
            page.close()
            idler.close()
        finally:
            stop(box)
        ok_web = sum(1 for a in answers if a == 200)
        ok_mpd = sum(1 for a in answers if a == 0)
        print(f"peer: bare python interpreter           RSS {peer_rss:6.1f} MB")
        print(f"serve --no-web (service alone, idle)     RSS {alone_rss:6.1f} MB")
        print(
            f"serve --listen --mpd, playing, 1 page + 1 MPD client  RSS {both_rss:6.1f} MB "
            f"(target <= 90 MB: {'ok' if both_rss <= 90 else 'OVER'})"
        )
        print(f"MPD status round trip:      median {mpd_ms[0]:.1f} ms, worst {mpd_ms[1]:.1f} ms")
        print(f"GET /api/status round trip: median {web_ms[0]:.1f} ms, worst {web_ms[1]:.1f} ms")
        print(
            f"100 HTTP + 20 MPD clients at once: {ok_web}/100 HTTP 200, {ok_mpd}/20 MPD clients "
            f"done in {load_s:.2f} s; state after: {state}, underruns so far: {underruns} "
            f"(target 0); RSS then {peak_rss:.1f} MB"
        )
        print(
            f"page press -> player paused/resumed (status): median {statistics.median(presses):.0f} ms, "
            f"worst {max(presses):.0f} ms (target: heard within 200 ms)"
        )


if __name__ == "__main__":
    main()
