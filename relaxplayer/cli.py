"""The ``relaxplayer`` command: parse arguments, wire the pieces, translate errors.

This is the only module that imports click and the only one that decides exit
codes: 0 ok, 2 bad session or arguments, 1 runtime failure, 130 Ctrl-C.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from relaxplayer import __version__, units
from relaxplayer.errors import ConfigError, RelaxError, SessionError
from relaxplayer.lint import session_warnings
from relaxplayer.loader import load_session
from relaxplayer.mixer import Mixer, SoundBank
from relaxplayer.model import VOICE_ENGINES, Session
from relaxplayer.timeline import Timeline, build_timeline

DEFAULT_RATE = 44100


class _Group(click.Group):
    """Turns every expected failure into a message and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SessionError as exc:
            click.echo(str(exc), err=True)
            n = len(exc.problems)
            click.echo(f"{n} error{'s' if n != 1 else ''}", err=True)
            ctx.exit(exc.exit_code)
        except RelaxError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="relaxplayer")
def main() -> None:
    """Guided relaxation sessions from YAML scripts, played offline.

    Write a session script (see docs/format.md), check it with `validate`,
    look at its timeline with `show`, and `render` it to an audio file.
    """


def _voice_option(f: Callable) -> Callable:
    return click.option(
        "--voice",
        "voice_engine",
        type=click.Choice(VOICE_ENGINES),
        default=None,
        help="Narration engine, overriding the session's (auto: Piper, else espeak-ng).",
    )(f)


def _require_voice_option(f: Callable) -> Callable:
    return click.option(
        "--require-voice",
        is_flag=True,
        help="Fail if no voice engine can speak the narration (instead of a chime per line).",
    )(f)


NO_VOICE = (
    "no voice engine is installed, so spoken lines would be shown as text with a soft chime "
    "in their place; install one with  pip install 'relaxplayer[voice]'  (Piper) or  "
    "sudo apt install espeak-ng"
)


def resolve(name: str) -> Path:
    """A session name (``back-relief``) or a path to a script."""
    try:
        from relaxplayer import library
    except ImportError:  # pragma: no cover - library ships with the package
        return Path(name)
    found = library.find(name)
    if getattr(found, "shadowed", None):
        click.echo(
            f"note: your {found.path} is used instead of the built-in {found.shadowed}", err=True
        )
    return Path(found.path)


def _probe(path: Path) -> object:
    from relaxplayer.sounds import clips

    return clips.probe(path)


def load(name: str) -> Session:
    """Find, read and validate a session, including every file it references."""
    return load_session(resolve(name), probe=_probe)


def spoken_lines(session: Session) -> int:
    """How many cues a voice would speak (``say`` lines, spoken breathing cues)."""
    timeline = build_timeline(session, 8000, SoundBank(8000).measure)
    return sum(1 for c in timeline.cues if c.sound.kind == "speech")


def check_voice(session: Session, engine: str | None, require: bool) -> object | None:
    """``make_narrator``, but with ``require`` a session that needs a voice and has none fails."""
    narrator = make_narrator(session, engine, synthesizes=False)
    if narrator is None and require and spoken_lines(session):
        off = engine == "none" or (engine is None and session.voice.engine == "none")
        raise ConfigError(
            "--require-voice: the voice is turned off (voice: none)" if off else NO_VOICE
        )
    return narrator


def make_narrator(session: Session, engine: str | None, synthesizes: bool = True) -> object | None:
    """The session's narrator, or None when no voice engine is available.

    The commands pass ``synthesizes=False``: their lines are made by the
    narration worker, never in this process.
    """
    from relaxplayer.playback import narrator_for

    return narrator_for(session, engine, synthesizes=synthesizes)


def plan(
    session: Session,
    rate: int,
    engine: str | None,
    synthesize: bool = True,
    require_voice: bool = False,
) -> tuple[Timeline, SoundBank]:
    """Session -> timeline and the bank that will voice it.

    With ``synthesize`` every line not in the cache is made first, by the
    narration worker (all or nothing: a line the voice cannot speak is an error).
    """
    narrator = check_voice(session, engine, require_voice)
    bank = SoundBank(rate, narrator, synthesize=False)
    timeline = build_timeline(session, rate, bank.measure)
    if synthesize and narrator is not None:
        from relaxplayer.playback import synthesize_all, unspoken

        synthesize_all(narrator, unspoken(timeline, bank))
        bank = SoundBank(rate, narrator, synthesize=False)
        timeline = build_timeline(session, rate, bank.measure)
    return timeline, bank


@main.command()
@click.argument("sessions", nargs=-1, required=True, metavar="FILE...")
@_voice_option
@_require_voice_option
def validate(sessions: tuple[str, ...], voice_engine: str | None, require_voice: bool) -> None:
    """Check session scripts, every file they reference, and their voice.

    Reports every problem in every file, with line and column, and exits 2 if
    there were any. A session with spoken lines but no voice engine installed
    gets a warning (an error with --require-voice).
    """
    problems: list[str] = []
    for name in sessions:
        try:
            session = load(name)
            narrator = check_voice(session, voice_engine, require_voice)
        except SessionError as exc:
            problems += exc.problems
            continue
        except RelaxError as exc:
            problems.append(f"{name}: error: {exc}")
            continue
        click.echo(f"{name}: ok ({session.title})")
        for warning in session_warnings(session, plan(session, 8000, None, synthesize=False)[0]):
            click.echo(f"{name}: warning: {warning}", err=True)
        if narrator is None and session.voice.engine != "none" and spoken_lines(session):
            click.echo(f"{name}: warning: {NO_VOICE}", err=True)
    if problems:
        raise SessionError(problems)


@main.command()
@click.argument("session", metavar="FILE")
@click.option("--json", "as_json", is_flag=True, help="Print the timeline as JSON, for scripts.")
@_voice_option
def show(session: str, as_json: bool, voice_engine: str | None) -> None:
    """Print a session's timeline: each step's start, length and text.

    Narration not yet synthesized is estimated from its word count and marked
    with ~ (run `prepare` first for exact times).
    """
    model = load(session)
    timeline, bank = plan(model, DEFAULT_RATE, voice_engine, synthesize=False)
    if as_json:
        click.echo(json.dumps(_timeline_json(model, timeline, bank.estimated), indent=2))
        return
    _print_timeline(model, timeline, bank.estimated)


def _print_timeline(session: Session, timeline: Timeline, estimated: bool) -> None:
    rate = timeline.rate
    mark = "~" if estimated else ""
    click.echo(f"{session.title}  ({mark}{units.format_time(timeline.seconds)})")
    for span in timeline.steps:
        if span.kind == "section":
            click.echo(f"\n  {span.label}")
            continue
        start = units.format_time(span.start / rate)
        length = f"{span.length / rate:.1f}s" if span.length else ""
        click.echo(f"  {start:>8} {length:>8}  {span.kind:<8} {span.label}")
    if timeline.length > timeline.steps_end:
        linger = (timeline.length - timeline.steps_end) / rate
        click.echo(
            f"  {units.format_time(timeline.steps_end / rate):>8} {linger:7.1f}s  linger   background fades out"
        )
    click.echo(f"\ntotal {mark}{units.format_time(timeline.seconds)}")


def _timeline_json(session: Session, timeline: Timeline, estimated: bool) -> dict[str, Any]:
    rate = timeline.rate
    return {
        "title": session.title,
        "seconds": timeline.length / rate,
        "steps_seconds": timeline.steps_end / rate,
        "estimated": estimated,
        "steps": [
            {
                "index": s.index,
                "kind": s.kind,
                "start": s.start / rate,
                "seconds": s.length / rate,
                "label": s.label,
                "section": s.section,
            }
            for s in timeline.steps
        ],
        "cues": [
            {
                "start": c.start / rate,
                "seconds": c.length / rate,
                "kind": c.sound.kind,
                "sound": str(c.sound.name),
                "step": c.step,
                "text": c.text,
            }
            for c in timeline.cues
        ],
    }


@main.command()
@click.argument("session", metavar="FILE")
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    metavar="OUT",
    help="Audio file to write (.wav .flac .ogg .mp3), or - for WAV on stdout.",
)
@click.option(
    "--rate",
    type=click.IntRange(8000, 192000),
    default=DEFAULT_RATE,
    show_default=True,
    help="Sample rate in Hz.",
)
@click.option(
    "--channels",
    type=click.IntRange(1, 2),
    default=2,
    show_default=True,
    help="1 for mono, 2 for stereo.",
)
@_voice_option
@_require_voice_option
def render(
    session: str,
    out: str,
    rate: int,
    channels: int,
    voice_engine: str | None,
    require_voice: bool,
) -> None:
    """Render a session to an audio file.

    The file appears only once the whole render has succeeded.
    """
    from relaxplayer.render import format_for, render_file, render_wav_stream

    if out != "-":
        format_for(Path(out), rate)
    model = load(session)
    timeline, bank = plan(model, rate, voice_engine, require_voice=require_voice)
    mixer = Mixer(timeline, bank, channels)
    if out == "-":
        if sys.stdout.isatty():
            raise ConfigError(
                "refusing to write audio to a terminal; pipe it (| aplay) or use -o FILE"
            )
        render_wav_stream(mixer, sys.stdout.buffer)
        return
    with _progress(timeline.length, "rendering") as bar:
        render_file(mixer, Path(out), progress=bar.update if bar else None)
    click.echo(
        f"wrote {out} ({units.format_time(timeline.seconds)}, {rate} Hz, {channels} ch)", err=True
    )


class _NoBar:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _progress(total: int, label: str) -> Any:
    """A progress bar on a terminal (stderr), nothing when output is redirected."""
    if not sys.stderr.isatty():
        return _NoBar()
    return click.progressbar(length=total, label=label, file=sys.stderr)


def _level_option(value: str) -> float:
    try:
        return min(units.parse_level(value), 1.0)
    except ValueError as exc:
        raise ConfigError(f"--volume: {exc}") from None


@main.command()
@click.argument("session", required=False, default="default", metavar="[NAME|FILE]")
@click.option(
    "-o",
    "--output",
    "output_spec",
    default="auto",
    show_default=True,
    metavar="NAME",
    help="auto, portaudio, alsa, simpleaudio, pipe, file:PATH or null (see `outputs`).",
)
@click.option("--device", default=None, help="Output device name (see `outputs`).")
@click.option(
    "--volume", default="100%", show_default=True, help='Starting volume, "60%" or "-6 dB".'
)
@click.option(
    "--start-at", default=None, metavar="SECTION|TIME", help="Start at a section or a time (5m)."
)
@click.option(
    "--rate",
    type=click.IntRange(8000, 192000),
    default=DEFAULT_RATE,
    show_default=True,
    help="Sample rate in Hz.",
)
@click.option("--plain", is_flag=True, help="One line per cue instead of the status panel.")
@click.option("-v", "--verbose", is_flag=True, help="Also show underruns and device details.")
@_voice_option
@_require_voice_option
def play(
    session: str,
    output_spec: str,
    device: str | None,
    volume: str,
    start_at: str | None,
    rate: int,
    plain: bool,
    verbose: bool,
    voice_engine: str | None,
    require_voice: bool,
) -> None:
    """Play a session through the sound card (the built-in default with no argument).

    Keys on a terminal: space pause, n or → next step, p or ← restart the step
    (twice: previous), s next section, + and - volume, q quit. Without a
    terminal: SIGTERM or SIGINT fade out, SIGUSR1 toggles pause, SIGUSR2 skips.
    """
    from relaxplayer.controls.keyboard import HELP, Keyboard
    from relaxplayer.controls.signals import signal_controls
    from relaxplayer.display import make_display
    from relaxplayer.outputs import open_output
    from relaxplayer.playback import Playback

    gain = _level_option(volume)
    model = load(session)
    playback = Playback(
        model,
        lambda: open_output(output_spec, rate, 2, device),
        narrator=check_voice(model, voice_engine, require_voice),
        rate=rate,
        volume=gain,
        start_at=start_at,
        listeners=[make_display(sys.stdout, plain=plain, verbose=verbose)],
    )
    if verbose:
        playback.listen(_startup_reporter(playback))
    keyboard = Keyboard.available()
    if keyboard and not plain:
        click.echo(HELP, err=True)
    try:
        with signal_controls(playback):  # type: ignore[arg-type]
            if keyboard:
                with Keyboard(playback):  # type: ignore[arg-type]
                    playback.run()
            else:
                playback.run()
    finally:
        if verbose:
            _narration_report(playback)


def _startup_reporter(playback: Any) -> Callable[[Any], None]:
    """With --verbose: say once how long it took from launch to the first block handed to the device."""
    from relaxplayer.events import Tick

    def report(event: Any) -> None:
        nonlocal done
        player = playback.player
        if done or not isinstance(event, Tick) or player is None or player.first_pull_at is None:
            return
        done = True
        age = process_age()
        if age is not None:
            ms = (age - (time.monotonic() - player.first_pull_at)) * 1000
            click.echo(f"first audio block delivered {ms:.0f} ms after launch", err=True)

    done = False
    return report


def _narration_report(playback: Any) -> None:
    """With --verbose: what the narration worker did, and both processes' peak memory."""
    worker = playback.worker
    mine = peak_rss_kb()
    if mine is not None:
        click.echo(f"player peak memory {mine / 1024:.0f} MB", err=True)
    if worker is None:
        return
    rss = f", peak memory {worker.peak_rss_kb / 1024:.0f} MB" if worker.peak_rss_kb else ""
    failed = (
        f", {len(playback.lines_failed)} failed (a chime stood in)" if playback.lines_failed else ""
    )
    click.echo(
        f"narration worker: started {worker.started}x (pid {', '.join(map(str, worker.pids))})"
        f"{rss}{failed}",
        err=True,
    )
    for result in playback.lines_failed[:3]:
        click.echo(f"  {result.text[:50]!r}: {result.error}", err=True)


def peak_rss_kb() -> int | None:
    """This process's peak resident memory (``VmHWM``, kB; Linux /proc, None elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def process_age() -> float | None:
    """Seconds since this process was started (Linux /proc; None elsewhere)."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


@main.command()
def outputs() -> None:
    """List the audio outputs and devices available on this machine."""
    from relaxplayer.outputs import available_outputs

    for info in available_outputs():
        mark = "ok " if info.ok else "-- "
        click.echo(f"{mark}{info.name:<12} {info.detail}")
        for dev in info.devices:
            click.echo(f"      {dev}")


@main.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON, for scripts.")
def list_(as_json: bool) -> None:
    """List the sessions you can play by name: built-in and your own.

    Your sessions live in the folder `relaxplayer new` writes to, and in the
    folders named in RELAXPLAYER_PATH; one with a built-in's name replaces it.
    A length marked ~ is estimated until its narration is prepared.
    """
    from relaxplayer import library

    rows = []
    for entry in library.list_sessions():
        row: dict[str, Any] = {"name": entry.name, "origin": entry.origin, "path": str(entry.path)}
        try:
            session = load_session(entry.path)
            timeline, bank = plan(session, 8000, None, synthesize=False)
            row.update(
                title=session.title,
                seconds=round(timeline.steps_end / timeline.rate),
                estimated=bank.estimated,
                linger=round(session.end.linger),
                tags=list(session.tags),
            )
        except RelaxError as exc:
            row.update(title="", seconds=None, tags=[], error=str(exc).splitlines()[0])
        if entry.shadowed:
            row["shadows"] = str(entry.shadowed)
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        length = units.format_time(row["seconds"]) if row["seconds"] is not None else "?"
        length = ("~" if row.get("estimated") else "") + length
        if row.get("linger"):
            length += f" +{units.format_time(row['linger'])}"
        origin = row["origin"] + (" (replaces built-in)" if "shadows" in row else "")
        title = row["title"] or f"[invalid: {row['error']}]"
        click.echo(f"{row['name']:<30} {length:>14}  {title}  [{', '.join(row['tags'])}]  {origin}")


@main.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="Replace an existing session of that name.")
def new(name: str, force: bool) -> None:
    """Write a commented starter session NAME to your sessions folder."""
    from relaxplayer import library

    path = library.new_session(name, force=force)
    click.echo(f"wrote {path}")
    click.echo(f"edit it, then: relaxplayer validate {name} && relaxplayer play {name}")


@main.command()
@click.argument("sessions", nargs=-1, required=True, metavar="NAME|FILE...")
@_voice_option
@_require_voice_option
def prepare(sessions: tuple[str, ...], voice_engine: str | None, require_voice: bool) -> None:
    """Synthesize every spoken line ahead of time (for a slow Pi, before bedtime).

    Clips go to the cache; `play` and `render` then start at once.
    """
    for name in sessions:
        model = load(name)
        narrator = check_voice(model, voice_engine, require_voice)
        if narrator is None:
            click.echo(f"{name}: no voice engine available; nothing to prepare", err=True)
            continue
        from relaxplayer.playback import speech_texts, synthesize_all

        timeline, _ = plan(model, 8000, voice_engine, synthesize=False)
        texts = speech_texts(timeline)
        todo = [t for t in texts if narrator.cached(t) is None]  # type: ignore[attr-defined]
        with _progress(len(todo), f"{name}: {narrator.voice_id}") as bar:  # type: ignore[attr-defined]
            synthesize_all(narrator, todo, progress=(lambda _: bar.update(1)) if bar else None)
        click.echo(
            f"{name}: {len(texts)} lines ready ({len(todo)} synthesized now, {narrator.engine})",
            err=True,
        )
