"""A first run on a small board: the default session on an EMPTY narration cache, on a Pi's budget.

``relaxplayer play default --output alsa -v --plain`` runs through the virtual
sound card (scripts/test-audio.sh) inside scripts/small_board.sh: a CPU quota
of 25 % of one core (10 ms period) and a memory limit, shared by the player,
its narration worker and the aplay it pipes to. Every line is synthesized
while the session plays. Reported: underruns (the player's count, as shown by
-v), time from launch to the first audio block, lines the player had to wait
for, and the peak RSS (VmHWM) of the player and of the worker, sampled from
/proc and as the processes report it themselves. The peer, under the same
budget in the same run: aplay playing the rendered session (the cheapest
possible player) for its underruns and memory.

    .venv/bin/python benchmarks/bench_small_board.py [--cpu 25] [--mem 512] [--runs 1]

Goals (issue 9): 0 underruns; player <= 80 MB, worker <= 250 MB. Where the
cgroups cannot be written (not root, cgroup v2 only) it says so and skips.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXE = [sys.executable, "-m", "relaxplayer"]
BOARD = ROOT / "scripts" / "small_board.sh"
SKIPPED = 3  # small_board.sh: cgroups not writable


def virtual_card(folder: Path) -> dict[str, str]:
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "test-audio.sh"), str(folder)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    env = dict(os.environ)
    for part in out.strip().removeprefix("export ").split(" "):
        name, _, value = part.partition("=")
        env[name] = value.strip("'")
    return env


def stop_virtual_card(folder: Path) -> None:
    """Stop what test-audio.sh started for this benchmark (its PulseAudio and keep-alive)."""
    keepalive = folder / "keepalive.pid"
    if keepalive.is_file():
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(keepalive.read_text()), 15)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(folder / "run"))
    subprocess.run(["pulseaudio", "-k"], env=env, capture_output=True, check=False)


@dataclass
class Sampled:
    """Peak RSS (kB) seen per kind of process in a run's process tree."""

    peaks: dict[str, int] = field(default_factory=dict)
    pids: dict[str, set[int]] = field(default_factory=dict)


def _kind(cmdline: bytes) -> str | None:
    if b"relaxplayer.narration_worker" in cmdline:
        return "worker"
    if b"relaxplayer\0play" in cmdline:
        return "player"
    if cmdline.startswith(b"aplay") or b"/aplay\0" in cmdline:
        return "aplay"
    return None


def sample_tree(root: int, into: Sampled, stop: threading.Event) -> None:
    """Every 50 ms: VmHWM of each descendant of ``root`` (the peak so far, so the last look wins)."""
    while not stop.is_set():
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
        family = {root}
        grew = True
        while grew:
            grew = False
            for pid, ppid in parents.items():
                if ppid in family and pid not in family:
                    family.add(pid)
                    grew = True
        for pid in family:
            try:
                kind = _kind(Path(f"/proc/{pid}/cmdline").read_bytes())
                if kind is None:
                    continue
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(r"VmHWM:\s+(\d+)", status)
            if match:
                kb = int(match.group(1))
                into.peaks[kind] = max(into.peaks.get(kind, 0), kb)
                into.pids.setdefault(kind, set()).add(pid)
        stop.wait(0.05)


def run_boarded(
    cmd: list[str], env: dict[str, str], cpu: int, mem: int
) -> tuple[int, str, str, Sampled, float]:
    """``cmd`` inside the small board; its exit code, stdout, stderr, memory samples, seconds."""
    sampled, stop = Sampled(), threading.Event()
    start = time.monotonic()
    proc = subprocess.Popen(
        ["bash", str(BOARD), str(cpu), str(mem), "--", *cmd],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = threading.Thread(target=sample_tree, args=(proc.pid, sampled, stop), daemon=True)
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    sampler.join()
    return proc.returncode, out, err, sampled, time.monotonic() - start


def mb(kb: int | None) -> str:
    return f"{kb / 1024:.0f} MB" if kb else "?"


def one_run(env: dict[str, str], args: argparse.Namespace, wav: Path, n: int) -> bool:
    cache = Path(tempfile.mkdtemp(prefix="relaxplayer-bench-cache-"))
    try:
        env = dict(env, RELAXPLAYER_CACHE=str(cache))
        cmd = [*EXE, "play", args.session, "--output", args.output, "-v", "--plain"]
        code, out, err, sampled, seconds = run_boarded(cmd, env, args.cpu, args.mem)
        if code == SKIPPED and "cannot be written" in err:
            print(err.strip())
            print("skipped: this machine does not let us make cgroups (run as root, cgroup v1)")
            return False
        underruns = max((int(m) for m in re.findall(r"underruns: (\d+)", out)), default=0)
        first = re.search(r"first audio block delivered (\d+) ms", err)
        waited = out.count("waiting for the voice")
        player_self = re.search(r"player peak memory (\d+) MB", err)
        worker_self = re.search(r"narration worker: started (\d+)x.*?peak memory (\d+) MB", err)
        board = re.search(r"small board: .*", err)
        lines = len(list((cache / "speech").glob("*.wav")))
        print(f"run {n}: {args.session} on an empty cache, cpu {args.cpu}% mem {args.mem} MB")
        print(f"  exit {code}, {seconds:.1f} s, {lines} lines synthesized while playing")
        print(f"  underruns {underruns}   first sound {first.group(1) if first else '?'} ms")
        print(f"  lines waited for {waited}")
        print(
            f"  peak RSS player {mb(sampled.peaks.get('player'))} (self-reported "
            f"{player_self.group(1) + ' MB' if player_self else '?'}), worker "
            f"{mb(sampled.peaks.get('worker'))} (self-reported "
            f"{worker_self.group(2) + ' MB' if worker_self else '?'}, "
            f"{len(sampled.pids.get('worker', ()))} process(es)), "
            f"aplay {mb(sampled.peaks.get('aplay'))}"
        )
        print(f"  {board.group(0) if board else 'small board: ?'}")
        chatter = [ln for ln in err.splitlines() if "Traceback" in ln or "terminate called" in ln]
        if code != 0 or chatter:
            print("  stderr:\n    " + "\n    ".join(err.splitlines()[-15:]))
        peer_cmd = ["aplay", "-q", "-d", str(args.peer_seconds), str(wav)]
        code, out, err, sampled, seconds = run_boarded(peer_cmd, env, args.cpu, args.mem)
        xruns = err.count("underrun")
        board = re.search(r"small board: .*", err)
        print(
            f"  peer: aplay of the rendered WAV, first {args.peer_seconds} s, same budget: "
            f"exit {code}, underruns {xruns}, peak RSS {mb(sampled.peaks.get('aplay'))}"
        )
        print(f"  peer {board.group(0) if board else 'small board: ?'}")
        return True
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--session", default="default")
    parser.add_argument("--output", default="alsa", help="alsa (default) or auto")
    parser.add_argument("--cpu", type=int, default=25, help="percent of one core")
    parser.add_argument("--mem", type=int, default=512, help="memory limit, MB")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--peer-seconds", type=int, default=60)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("skipped: cgroups need root here (scripts/small_board.sh)")
        return
    folder = Path(tempfile.mkdtemp(prefix="relaxplayer-bench-vsnd-"))
    work = Path(tempfile.mkdtemp(prefix="relaxplayer-bench-"))
    try:
        env = virtual_card(folder)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        wav = work / "rendered.wav"
        render_env = dict(env, RELAXPLAYER_CACHE=str(work / "render-cache"))
        subprocess.run(
            [*EXE, "render", args.session, "-o", str(wav)],
            env=render_env,
            check=True,
            capture_output=True,
        )
        for n in range(1, args.runs + 1):
            if not one_run(env, args, wav, n):
                return
    finally:
        stop_virtual_card(folder)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
