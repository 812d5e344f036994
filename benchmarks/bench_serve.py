"""`relaxplayer serve` idle: resident memory and CPU, beside a bare Python interpreter idling.

    .venv/bin/python benchmarks/bench_serve.py [--seconds 30]

Targets (issue 11): serve idle RSS at most 60 MB and CPU at most 0.2 % of one
core. The peer, in the same run, is `python -c "import time; time.sleep(…)"`:
what the interpreter alone costs. Config, data and state go to a temporary
folder; a button on pin 17 is configured, so the no-GPIO path is included.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def measure(
    cmd: list[str], env: dict[str, str], seconds: float, ready: str | None
) -> tuple[float, float]:
    """(RSS MB at the end, CPU % of one core over ``seconds`` after start-up)."""
    proc = subprocess.Popen(
        cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        if ready is not None:
            assert proc.stderr is not None
            for line in proc.stderr:
                if line.startswith(ready):
                    break
        else:
            time.sleep(1.0)
        p = psutil.Process(proc.pid)
        before = p.cpu_times()
        start = time.monotonic()
        time.sleep(seconds)
        after = p.cpu_times()
        cpu = (after.user + after.system - before.user - before.system) / (time.monotonic() - start)
        rss = p.memory_info().rss / 1e6
    finally:
        proc.terminate()
        proc.wait(30)
        if proc.stderr is not None:
            proc.stderr.close()
    return rss, max(cpu, 0.0) * 100


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
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
            "RELAXPLAYER_CACHE": str(folder / "cache"),
        }
        rss, cpu = measure(
            [sys.executable, "-m", "relaxplayer", "serve", "--output", "null"],
            env,
            args.seconds,
            ready="relaxplayer ",
        )
        peer_rss, peer_cpu = measure(
            [sys.executable, "-c", "import time; time.sleep(3600)"], env, args.seconds, ready=None
        )
    print(f"serve idle over {args.seconds:g} s: RSS {rss:.1f} MB, CPU {cpu:.3f} % of one core")
    print(f"bare python idle (peer):      RSS {peer_rss:.1f} MB, CPU {peer_cpu:.3f} %")
    print(
        f"targets: RSS <= 60 MB ({'ok' if rss <= 60 else 'OVER'}), "
        f"CPU <= 0.2 % ({'ok' if cpu <= 0.2 else 'OVER'})"
    )


if __name__ == "__main__":
    main()
