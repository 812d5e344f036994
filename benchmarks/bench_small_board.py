"""A first run on a small board: the default session on an EMPTY narration cache, on a Pi's budget.

``relaxplayer play default --output alsa --device vsink -v --plain`` runs
through the virtual sound card (scripts/test-audio.sh) inside
scripts/small_board.sh: a CPU quota of 25 % of one core (10 ms period) and a
memory limit, shared by the player, its narration worker and the aplay it
pipes to. Every line is synthesized while the session plays. Reported:
underruns (the player's count, as shown by -v), time from launch to the first
audio block (and when the worker started and the first line reached the
cache), lines the player had to wait for, the peak RSS (VmHWM) of the player
and of the worker (sampled from /proc and as the processes report it
themselves), the CPU time of each process and of the player's threads
(``relax-audio``, ``relax-ahead``, ``relax-narration``, main), and for each
underrun: when (seconds after launch), what the player was doing (starting,
a line arriving, the display's last lines) and, over the 1.5 s before it,
who used the CPU and how many 10 ms periods the cgroup was throttled in.

The peer, under the same budget in the same run: aplay playing the rendered
session with the player's own buffer (the cheapest possible player).

Making it measure the board, not this machine (2 cores shared with other
jobs): the cgroup gets cpu.shares 10240 (``--shares``), so host load cannot
starve it below its quota while the quota still caps it; it is pinned to one
CPU (``--core``), as a quota of one core spread over two CPUs lets a busy
SCHED_IDLE worker on one of them throttle the player on the other; the virtual card's
PulseAudio, which stands in for a card's DMA clock, runs at SCHED_RR
(``--host-card`` leaves it be); and the player plays to ``vsink`` (PulseAudio
directly), not ``default``, which also pipes every sample through ``cat``
into a capture file (``--device default``).

    .venv/bin/python benchmarks/bench_small_board.py [--cpu 25] [--mem 512] [--runs 1]

Goals (issue 9): 0 underruns; player <= 80 MB, worker <= 250 MB. Where the
cgroups cannot be written (not root, cgroup v2 only) it says so and skips.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
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

from vcard import virtual_card

from relaxplayer.outputs import alsa

ROOT = Path(__file__).resolve().parent.parent
EXE = [sys.executable, "-m", "relaxplayer"]
BOARD = ROOT / "scripts" / "small_board.sh"
SKIPPED = 3  # small_board.sh: cgroups not writable


CARD_PRIORITY = 10  # SCHED_RR priority of the virtual card's PulseAudio


def steady_card(folder: Path) -> str:
    """Give the virtual card's PulseAudio (every thread) a real-time priority; what was done.

    On a board the sound card drains its buffer by DMA whatever the load; here
    a PulseAudio null sink, outside the cgroup, does it, at the mercy of the
    host's other jobs. Late, it then takes a large chunk at once, and aplay
    underruns though the player kept up (seen: underruns with no throttling and
    the player idle). SCHED_RR makes it a clock again; nice -11 (what PulseAudio
    asks for itself) is the fallback.
    """
    try:
        pid = int((folder / "run" / "pulse" / "pid").read_text())
        tasks = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    except (OSError, ValueError):
        return "the virtual card's PulseAudio was not found: its priority is the host's"
    try:
        for tid in tasks:
            os.sched_setscheduler(tid, os.SCHED_RR, os.sched_param(CARD_PRIORITY))
        return f"virtual card: PulseAudio ({len(tasks)} threads) at SCHED_RR {CARD_PRIORITY}"
    except OSError:
        pass
    with contextlib.suppress(OSError):
        for tid in tasks:
            os.setpriority(os.PRIO_PROCESS, tid, -11)
        return "virtual card: PulseAudio at nice -11 (SCHED_RR refused)"
    return "virtual card: PulseAudio's priority could not be raised"


TICK = os.sysconf("SC_CLK_TCK")  # /proc's CPU time unit (usually 100 per second)
SAMPLE = 0.05  # seconds between looks at /proc and the cgroup
WINDOW = 1.5  # seconds before an underrun's report that its context is taken from


@dataclass
class Sample:
    """One look at the run, ``t`` seconds after launch; CPU times in ms, cumulative."""

    t: float
    throttled: int  # periods the cgroup was throttled in
    throttled_ms: float
    cpu: dict[str, float]  # per process kind, and per player thread as "player/<comm>"
    lines: int  # WAVs in the narration cache


@dataclass
class Sampled:
    """What a run's sampler saw: peak RSS (kB) per kind, pids, and the samples over time."""

    peaks: dict[str, int] = field(default_factory=dict)
    pids: dict[str, set[int]] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    worker_seen: float | None = None  # seconds after launch the first worker appeared
    last_cpu: dict[tuple[str, int], float] = field(default_factory=dict)  # (key, pid or tid)


def _kind(cmdline: bytes) -> str | None:
    if b"relaxplayer.narration_worker" in cmdline:
        return "worker"
    if b"relaxplayer\0play" in cmdline:
        return "player"
    if cmdline.startswith(b"aplay") or b"/aplay\0" in cmdline:
        return "aplay"
    return None


def _cpu_ms(stat_path: Path) -> tuple[str, float]:
    """(comm, utime + stime in ms) of one /proc/.../stat."""
    text = stat_path.read_text()
    comm = text[text.index("(") + 1 : text.rindex(")")]
    fields = text.rsplit(")", 1)[1].split()
    return comm, (int(fields[11]) + int(fields[12])) * 1000 / TICK


def _cgroup_cpu(board: int) -> Path | None:
    """The cpu cgroup small_board.sh made for the shell ``board`` (named after its pid)."""
    found = list(Path("/sys/fs/cgroup/cpu").glob(f"**/relaxplayer-small-board-{board}"))
    return found[0] if found else None


def _look(into: Sampled, cgroup: Path, cache: Path | None, t: float) -> None:
    try:
        procs = [int(p) for p in (cgroup / "cgroup.procs").read_text().split()]
        stat = dict(line.split() for line in (cgroup / "cpu.stat").read_text().splitlines() if line)
    except (OSError, ValueError):
        return
    seen = into.last_cpu  # a process or thread that has ended keeps its last CPU time
    for pid in procs:
        try:
            kind = _kind(Path(f"/proc/{pid}/cmdline").read_bytes())
            if kind is None:
                continue
            status = Path(f"/proc/{pid}/status").read_text()
            if kind == "player":
                for task in Path(f"/proc/{pid}/task").iterdir():
                    with contextlib.suppress(OSError, ValueError):
                        comm, ms = _cpu_ms(task / "stat")
                        name = "main" if task.name == str(pid) else comm
                        seen[(f"player/{name}", int(task.name))] = ms
            seen[(kind, pid)] = _cpu_ms(Path(f"/proc/{pid}/stat"))[1]
        except (OSError, ValueError):
            continue
        if kind == "worker" and into.worker_seen is None:
            into.worker_seen = t
        match = re.search(r"VmHWM:\s+(\d+)", status)
        if match:
            into.peaks[kind] = max(into.peaks.get(kind, 0), int(match.group(1)))
            into.pids.setdefault(kind, set()).add(pid)
    cpu: dict[str, float] = {}
    for (key, _), ms in seen.items():
        cpu[key] = cpu.get(key, 0.0) + ms
    lines = len(list((cache / "speech").glob("*.wav"))) if cache else 0
    into.samples.append(
        Sample(
            t,
            int(stat.get("nr_throttled", 0)),
            int(stat.get("throttled_time", 0)) / 1e6,
            cpu,
            lines,
        )
    )


def sample_board(
    board: int, cache: Path | None, into: Sampled, start: float, stop: threading.Event
) -> None:
    """Every ``SAMPLE`` s: the cgroup's throttling, each process's CPU time and peak RSS
    (VmHWM), the player's per-thread CPU time and the lines in the cache."""
    cgroup = None
    while not stop.is_set():
        cgroup = cgroup or _cgroup_cpu(board)
        if cgroup is not None:
            _look(into, cgroup, cache, time.monotonic() - start)
        stop.wait(SAMPLE)


@dataclass
class Run:
    code: int
    out: list[tuple[float, str]]  # stdout lines with the seconds after launch they came
    err: str
    sampled: Sampled
    seconds: float


def run_boarded(
    cmd: list[str], env: dict[str, str], args: argparse.Namespace, cache: Path | None = None
) -> Run:
    """``cmd`` inside the small board: its exit code, stdout lines (timed), stderr, samples."""
    sampled, stop = Sampled(), threading.Event()
    board = ["bash", str(BOARD)]
    if args.shares:
        board += ["--shares", str(args.shares)]
    if args.core:
        board += ["--core", args.core]
    start = time.monotonic()
    proc = subprocess.Popen(
        [*board, str(args.cpu), str(args.mem), "--", *cmd],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = threading.Thread(
        target=sample_board, args=(proc.pid, cache, sampled, start, stop), daemon=True
    )
    sampler.start()
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    out = [(time.monotonic() - start, line.rstrip("\n")) for line in proc.stdout]  # type: ignore[union-attr]
    proc.wait()
    reader.join()
    stop.set()
    sampler.join()
    return Run(proc.returncode, out, "".join(err), sampled, time.monotonic() - start)


def mb(kb: int | None) -> str:
    return f"{kb / 1024:.0f} MB" if kb else "?"


def _at(samples: list[Sample], t: float) -> Sample | None:
    """The last sample taken at or before ``t``."""
    before = [s for s in samples if s.t <= t]
    return before[-1] if before else (samples[0] if samples else None)


def _busy(a: Sample, b: Sample) -> str:
    """CPU ms per process kind and player thread between two samples, busiest first."""
    used = {k: b.cpu.get(k, 0.0) - a.cpu.get(k, 0.0) for k in b.cpu}
    shown = [f"{k} {v:.0f}" for k, v in sorted(used.items(), key=lambda kv: -kv[1]) if v >= 10]
    return ", ".join(shown) or "nothing"


def underrun_report(run: Run, first_sound: float | None) -> list[str]:
    """Each underrun (as the player's -v display counted it): when, and what went on before it.

    The display prints the count at its next tick, so an underrun happened up
    to ~0.2 s before the time shown; the context covers the ``WINDOW`` before that.
    """
    found, seen = [], 0
    samples = run.sampled.samples
    arrivals = [(b.t, b.lines) for a, b in itertools.pairwise(samples) if b.lines > a.lines]
    for t, line in run.out:
        match = re.search(r"\] underruns: (\d+)$", line.strip())
        if not match or int(match.group(1)) <= seen:
            continue
        count, seen = int(match.group(1)) - seen, int(match.group(1))
        a, b = _at(samples, t - WINDOW), _at(samples, t)
        if a is None or b is None:
            found.append(f"  underrun at {t:.1f} s (+{count})")
            continue
        doing = []
        if first_sound is not None and t - first_sound < 3.0:
            doing.append("starting")
        came = [f"line {n} at {at:.1f} s" for at, n in arrivals if t - WINDOW - 0.5 <= at <= t]
        doing += [f"{', '.join(came)} arrived"] if came else []
        said = [
            f"{text.strip()!r} at {at:.1f} s"
            for at, text in run.out
            if t - WINDOW <= at <= t and "underruns:" not in text
        ]
        doing += said[-2:]
        span = max(b.t - a.t, SAMPLE)
        found.append(
            f"  underrun at {t:.1f} s (+{count}): {'; '.join(doing) or 'ambience / a line playing'}"
            f"; CPU ms in the {span:.1f} s before: {_busy(a, b)};"
            f" throttled {b.throttled - a.throttled} periods ({b.throttled_ms - a.throttled_ms:.0f} ms)"
        )
    return found


def one_run(env: dict[str, str], args: argparse.Namespace, wav: Path, n: int) -> bool:
    cache = Path(tempfile.mkdtemp(prefix="relaxplayer-bench-cache-"))
    try:
        env = dict(env, RELAXPLAYER_CACHE=str(cache))
        cmd = [*EXE, "play", args.session, "--output", args.output, "-v", "--plain"]
        cmd += ["--device", args.device] if args.device else []
        load = os.getloadavg()[0]
        run = run_boarded(cmd, env, args, cache)
        code, err, sampled = run.code, run.err, run.sampled
        out = "\n".join(line for _, line in run.out)
        if code == SKIPPED and "cannot be written" in err:
            print(err.strip())
            print("skipped: this machine does not let us make cgroups (run as root, cgroup v1)")
            return False
        underruns = max((int(m) for m in re.findall(r"underruns: (\d+)", out)), default=0)
        first = re.search(r"first audio block delivered (\d+) ms", err)
        first_sound = int(first.group(1)) / 1000 if first else None
        waited = out.count("waiting for the voice")
        player_self = re.search(r"player peak memory (\d+) MB", err)
        worker_self = re.search(r"narration worker: started (\d+)x.*?peak memory (\d+) MB", err)
        board = re.search(r"small board: .*", err)
        lines = len(list((cache / "speech").glob("*.wav")))
        first_line = next((s.t for s in sampled.samples if s.lines), None)
        print(f"run {n}: {args.session} on an empty cache, cpu {args.cpu}% mem {args.mem} MB")
        print(
            f"  exit {code}, {run.seconds:.1f} s, {lines} lines synthesized while playing,"
            f" host load {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
        )
        print(f"  underruns {underruns}   first sound {first.group(1) if first else '?'} ms")
        print(
            "  first sound: worker started at "
            + (f"{sampled.worker_seen:.1f} s" if sampled.worker_seen is not None else "?")
            + ", first line in the cache at "
            + (f"{first_line:.1f} s" if first_line is not None else "?")
        )
        print(f"  lines waited for {waited}")
        print(
            f"  peak RSS player {mb(sampled.peaks.get('player'))} (self-reported "
            f"{player_self.group(1) + ' MB' if player_self else '?'}), worker "
            f"{mb(sampled.peaks.get('worker'))} (self-reported "
            f"{worker_self.group(2) + ' MB' if worker_self else '?'}, "
            f"{len(sampled.pids.get('worker', ()))} process(es)), "
            f"aplay {mb(sampled.peaks.get('aplay'))}"
        )
        if sampled.samples:
            last = sampled.samples[-1]
            print(f"  CPU ms over the run: {_busy(Sample(0, 0, 0, {}, 0), last)}")
        print(f"  {board.group(0) if board else 'small board: ?'}")
        for line in underrun_report(run, first_sound):
            print(line)
        chatter = [ln for ln in err.splitlines() if "Traceback" in ln or "terminate called" in ln]
        if code != 0 or chatter:
            print("  stderr:\n    " + "\n    ".join(err.splitlines()[-15:]))
        if args.peer_seconds:
            # the player's own aplay settings (its small buffer), fed from a file instead
            buffer = f"--buffer-time={int(alsa.BUFFER_SECONDS * 1e6)}"
            peer_cmd = ["aplay", "-q", buffer, "-d", str(args.peer_seconds), str(wav)]
            peer_cmd += ["-D", args.device] if args.device else []
            peer = run_boarded(peer_cmd, env, args)
            xruns = peer.err.count("underrun")
            board = re.search(r"small board: .*", peer.err)
            print(
                f"  peer: aplay of the rendered WAV (the player's {alsa.BUFFER_SECONDS * 1000:.0f} ms"
                f" buffer), first {args.peer_seconds} s, same budget: "
                f"exit {peer.code}, underruns {xruns}, peak RSS {mb(peer.sampled.peaks.get('aplay'))}"
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
    parser.add_argument("--peer-seconds", type=int, default=60, help="0: no peer")
    parser.add_argument(
        "--core",
        default="",
        help="the CPU the board runs on, or 'all' (default: small_board.sh's, the last CPU)",
    )
    parser.add_argument(
        "--device",
        default="vsink",
        help="the virtual card's PCM: vsink (default) goes straight to PulseAudio; "
        "'default' also pipes every sample through cat into a capture file, disk I/O a "
        "board's card does not do ('' for the output's own choice)",
    )
    parser.add_argument(
        "--host-card",
        dest="steady_card",
        action="store_false",
        help="leave the virtual card's PulseAudio at the host's priority (a loaded host then "
        "causes underruns of its own)",
    )
    parser.add_argument(
        "--shares",
        type=int,
        default=10240,
        help="the cgroup's cpu.shares: high, so host load cannot starve it below its quota "
        "(0: the kernel's 1024)",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("skipped: cgroups need root here (scripts/small_board.sh)")
        return
    folder = Path(tempfile.mkdtemp(prefix="relaxplayer-bench-vsnd-"))
    work = Path(tempfile.mkdtemp(prefix="relaxplayer-bench-"))
    try:
        with virtual_card(folder) as card:
            env = {**os.environ, **card}
            print(
                steady_card(folder) if args.steady_card else "virtual card: at the host's priority"
            )
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
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
