"""The narration worker process: ``python -m relaxplayer.narration_worker``.

All Piper / espeak-ng work happens here, never in the player: the neural
voice is heavy (onnxruntime, 100+ MB), holds the GIL for seconds at a time and
is native code that can crash or abort. The player's audio thread therefore
never waits for it, and a crash costs a line (a chime stands in), not the session.

Protocol, one JSON object per line (UTF-8), written by ``relaxplayer.narration``:

- stdin, first line: ``{"voice": {"engine", "model", "speed", "language"}, "cache": folder}``
- stdin, then: ``{"text": "..."}``, one line to synthesize into the cache
- stdout, per text: ``{"text": ..., "key": cache key, "ok": true}`` or ``{"text": ..., "error": message}``
- stdout, at the end: ``{"done": true, "peak_rss_kb": N}`` (``VmHWM``, for ``-v`` and the benchmark)

It exits when stdin is closed (after the line in hand), at the lowest CPU
priority it can get, and ignores SIGINT: the player decides when it ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
from pathlib import Path
from typing import IO, Any

NICE = 10  # well below the player: its audio thread (and its aplay) win every contention
# glibc's M_MMAP_THRESHOLD: blocks of 1 MiB and more are mapped on their own and unmapped
# when freed. Without a fixed value glibc raises the threshold after each large free, so
# onnxruntime's freed arena chunks and numpy's line buffers stay in the heap for good.
MMAP_THRESHOLD = 1 << 20
_M_MMAP_THRESHOLD = -3  # malloc.h


def lower_priority() -> None:
    """Below the player for the CPU; never fatal (a container may forbid it)."""
    with contextlib.suppress(OSError):
        os.nice(NICE)


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt  # noqa: B018 - glibc only (musl has no mallopt / malloc_trim)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def tune_malloc() -> None:
    """Fix glibc's mmap threshold for this process (a no-op elsewhere): see ``MMAP_THRESHOLD``."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def release_memory() -> None:
    """Hand the heap's free pages back to the system (glibc ``malloc_trim``), after each line.

    A line's buffers (the voice's audio, the levelling's float64 copies) are
    freed in the heap but stay resident; trimmed, the next line starts from
    the voice's own footprint. About a millisecond.
    """
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def peak_rss_kb() -> int | None:
    """This process's peak resident memory (``VmHWM``, kB), Linux only."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _reply(out: IO[str], message: dict[str, Any]) -> None:
    out.write(json.dumps(message, ensure_ascii=True) + "\n")
    out.flush()


def _narrator(config: dict[str, Any]) -> Any:
    """The Narrator the player described; its cache keys are the player's."""
    from relaxplayer.model import Voice
    from relaxplayer.sounds.speech import Narrator

    v = config["voice"]
    voice = Voice(
        engine=str(v["engine"]),
        model=Path(v["model"]) if v.get("model") else None,
        speed=float(v["speed"]),
        language=str(v["language"]),
    )
    return Narrator(voice, Path(config["cache"]) if config.get("cache") else None)


def serve(inp: IO[str], out: IO[str]) -> None:
    """Answer each text on ``inp`` until it is closed."""
    from relaxplayer.errors import RelaxError

    narrator: Any = None
    setup_error: str | None = None
    first = inp.readline()
    try:
        narrator = _narrator(json.loads(first))
    except RelaxError as exc:
        setup_error = str(exc)
    except (ValueError, KeyError, TypeError) as exc:
        setup_error = f"the narration worker got a bad request: {exc}"
    for line in inp:
        try:
            request = json.loads(line)
            text = str(request["text"])
        except (ValueError, KeyError, TypeError):
            continue
        if setup_error is not None:
            _reply(out, {"text": text, "error": setup_error})
            continue
        try:
            narrator.synthesize(text)
            release_memory()
            _reply(out, {"text": text, "key": narrator.cache_key(text), "ok": True})
        except RelaxError as exc:
            _reply(out, {"text": text, "error": str(exc)})
        except Exception as exc:  # an engine's own failure (onnxruntime, memory): this line only
            _reply(out, {"text": text, "error": f"the voice failed: {type(exc).__name__}: {exc}"})
    _reply(out, {"done": True, "peak_rss_kb": peak_rss_kb()})


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the player's to handle
    lower_priority()
    tune_malloc()
    with contextlib.suppress(OSError):  # a broken pipe: the player is gone, nobody to answer
        serve(sys.stdin, sys.stdout)
    # Leave without running interpreter and C++ static teardown: onnxruntime's
    # thread pools can abort ("terminate called ...") when torn down at exit.
    os._exit(0)


if __name__ == "__main__":
    main()
