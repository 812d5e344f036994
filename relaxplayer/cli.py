"""The ``relaxplayer`` command: parse arguments, wire the pieces, translate errors.

This is the only module that imports click and the only one that decides exit
codes: 0 ok, 2 bad session or arguments, 1 runtime failure, 130 Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from relaxplayer import __version__, units
from relaxplayer.errors import ConfigError, RelaxError, SessionError
from relaxplayer.lint import session_warnings
from relaxplayer.loader import load_session, shorten
from relaxplayer.mixer import Mixer, SoundBank
from relaxplayer.model import VOICE_ENGINES, Session
from relaxplayer.timeline import Timeline, build_timeline

DEFAULT_RATE = 44100
RESUME_FADE_IN = 3.0  # seconds: a resumed session comes back from silence


class _Group(click.Group):
    """Turns every expected failure into a message and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SessionError as exc:
            click.echo(str(exc), err=True)
            n = exc.total
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


def _rate_option(f: Callable) -> Callable:
    return click.option(
        "--rate",
        type=click.IntRange(8000, 192000),
        default=DEFAULT_RATE,
        show_default=True,
        help="Sample rate in Hz.",
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
    total = 0
    for name in sessions:
        try:
            session = load(name)
        except SessionError as exc:
            problems += exc.problems
            total += exc.total
            continue
        except RelaxError as exc:
            problems.append(f"{name}: error: {exc}")
            total += 1
            continue
        try:
            _check_voice_model(session)
            narrator = check_voice(session, voice_engine, require_voice)
            _check_voice_language(session, narrator)
        except ConfigError as exc:
            problems.append(f"{name}: error: {exc}")
            total += 1
            continue
        except RelaxError as exc:  # a voice that cannot work: at the voice: key
            problems.append(_at_voice(name, session, str(exc)))
            total += 1
            continue
        click.echo(f"{name}: ok ({session.title})")
        for warning in session_warnings(session, plan(session, 8000, None, synthesize=False)[0]):
            click.echo(f"{name}: warning: {warning}", err=True)
        if narrator is None and session.voice.engine != "none" and spoken_lines(session):
            click.echo(f"{name}: warning: {NO_VOICE}", err=True)
    if problems:
        raise SessionError(problems, total=total)


def _check_voice_model(session: Session) -> None:
    """A ``voice.model`` that is not an ONNX file at all (checked before anything reads it)."""
    from relaxplayer.errors import AssetError
    from relaxplayer.sounds import voicecheck

    model = session.voice.model
    if model is not None and (problem := voicecheck.onnx_problem(model)):
        raise AssetError(problem)


def _check_voice_language(session: Session, narrator: Any) -> None:
    """A language espeak-ng has no voice for, when espeak-ng is what will speak."""
    from relaxplayer.errors import AssetError
    from relaxplayer.sounds import voicecheck
    from relaxplayer.sounds.speech import espeak_binary

    binary = espeak_binary()
    language = session.voice.language
    espeak = narrator is not None and narrator.engine == "espeak" and binary is not None
    if espeak and not voicecheck.espeak_speaks(binary, language):  # type: ignore[arg-type]
        raise AssetError(
            f"espeak-ng has no voice for the language {shorten(repr(language), 60)}; "
            "`espeak-ng --voices` lists the ones it has (en, de, fr-fr, ...)"
        )


def _at_voice(name: str, session: Session, message: str) -> str:
    """A voice problem as ``file:line:col: error: voice: ...``, at the ``voice:`` key."""
    mark = session.voice.mark
    message = shorten(message, 400)
    if mark is None:
        return f"{name}: error: voice: {message}"
    return f"{mark.file}:{mark.line}:{mark.column}: error: voice: {message}"


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
    fade_start = timeline.fade_start
    if fade_start > timeline.steps_end:
        linger = (fade_start - timeline.steps_end) / rate
        click.echo(
            f"  {units.format_time(timeline.steps_end / rate):>8} {linger:7.1f}s  linger   background plays on"
        )
    if timeline.length > fade_start:
        fade = (timeline.length - fade_start) / rate
        click.echo(
            f"  {units.format_time(fade_start / rate):>8} {fade:7.1f}s  fade     after the last words"
        )
    click.echo(f"\ntotal {mark}{units.format_time(timeline.seconds)}")


def _timeline_json(session: Session, timeline: Timeline, estimated: bool) -> dict[str, Any]:
    rate = timeline.rate
    return {
        "title": session.title,
        "seconds": timeline.length / rate,
        "steps_seconds": timeline.steps_end / rate,
        "fade_start": timeline.fade_start / rate,
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
@_rate_option
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
    from relaxplayer import cache
    from relaxplayer.render import format_for, render_file, render_stdout

    if out != "-":
        format_for(Path(out), rate)
    elif sys.stdout is not None and not sys.stdout.closed and sys.stdout.isatty():
        raise ConfigError("refusing to write audio to a terminal; pipe it (| aplay) or use -o FILE")
    model = load(session)
    timeline, bank = plan(model, rate, voice_engine, require_voice=require_voice)
    mixer = Mixer(timeline, bank, channels)
    try:
        if out == "-":
            render_stdout(mixer)
            return
        with _progress(timeline.length, "rendering") as bar:
            render_file(mixer, Path(out), progress=bar.update if bar else None)
    finally:
        for line in cache.notices():  # e.g. a read-only cache: once, however many sounds
            click.echo(line, err=True)
    click.echo(
        f"wrote {out} ({units.format_time(timeline.seconds)}, {rate} Hz, {channels} ch)", err=True
    )


class _NoBar:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


PROGRESS_FIXED = 22  # columns click's bar adds to label and bar: "  [", "]  ", " 45%  00:01:12"


def _progress(total: int, label: str) -> Any:
    """A progress bar on a terminal (stderr), nothing when output is redirected.

    It fits the terminal: a line wider than it wraps, and then every redraw
    (which only returns to the start of the line) adds a new line.
    """
    if not sys.stderr.isatty():
        return _NoBar()
    columns = shutil.get_terminal_size((80, 24)).columns - 1  # the last column wraps on some
    limit = min(max(columns // 3, 8), columns - PROGRESS_FIXED - 10)  # leave 10 for the bar
    if len(label) > limit:
        label = label[: limit - 1] + "…" if limit >= 4 else ""
    width = max(columns - len(label) - PROGRESS_FIXED, 5)
    return click.progressbar(length=total, label=label, file=sys.stderr, width=width)


def _level_option(value: str) -> float:
    """``--volume``: a linear gain from 0 to 1; louder than full scale is refused, not clamped,
    since the player never amplifies."""
    try:
        gain = units.parse_level(value)
    except ValueError as exc:
        raise ConfigError(f"--volume: {exc}; from 0% to 100%, or 0 dB and below") from None
    if gain > 1.0:
        raise ConfigError(
            f"--volume {value}: the volume goes from 0% to 100% (or 0 dB and below); "
            "use 100% or less"
        )
    return gain


@main.command()
@click.argument("session", required=False, default=None, metavar="[NAME|FILE]")
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
@_rate_option
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the last unfinished session (or NAME) a few seconds before it stopped.",
)
@click.option(
    "--sleep",
    "sleep_after",
    default=None,
    metavar="TIME",
    help="Sleep timer: fade out over a minute so that playback ends after TIME (30m).",
)
@click.option(
    "--at",
    "at",
    default=None,
    metavar="HH:MM",
    help="Wait until this time of day (24-hour, local), then play; Ctrl-C cancels.",
)
@click.option("--no-history", is_flag=True, help="Do not record this playback in the history.")
@click.option("--plain", is_flag=True, help="One line per cue instead of the status panel.")
@click.option("-v", "--verbose", is_flag=True, help="Also show underruns and device details.")
@_voice_option
@_require_voice_option
def play(
    session: str | None,
    output_spec: str,
    device: str | None,
    volume: str,
    start_at: str | None,
    rate: int,
    resume: bool,
    sleep_after: str | None,
    at: str | None,
    no_history: bool,
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
    from relaxplayer import outputs
    from relaxplayer.controls.keyboard import HELP, Keyboard
    from relaxplayer.controls.signals import signal_controls
    from relaxplayer.display import make_display
    from relaxplayer.playback import Playback
    from relaxplayer.player import PlaybackFailed

    outputs.check_spec(output_spec, device)
    gain = _level_option(volume)
    sleep_seconds = _sleep_option(sleep_after)
    wait = _at_option(at)
    session, where, start_at, fade_in = _resume_option(session, start_at, resume)
    model = load(where)
    playback = Playback(
        model,
        lambda: outputs.open_output(output_spec, rate, 2, device),
        narrator=check_voice(model, voice_engine, require_voice),
        rate=rate,
        volume=gain,
        start_at=start_at,
        fade_in=fade_in,
        listeners=[
            make_display(sys.stdout, plain=plain, verbose=verbose, chatter=outputs.chatter_summary)
        ],
    )
    if wait is not None:
        _wait_until(wait)
    recorders = _recorders(playback, session, str(model.source), history=not no_history)
    if sleep_seconds is not None:
        from relaxplayer.service.core import SleepTimer

        playback.listen(SleepTimer(playback, sleep_seconds, recorders=recorders))
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
    except PlaybackFailed as exc:
        for recorder in recorders:
            recorder.failed(exc.position)
        raise
    finally:
        if verbose:
            _narration_report(playback)
        _listener_report(playback)
        for recorder in recorders:
            if hasattr(recorder, "history"):
                recorder.history.close()


def _at_option(value: str | None) -> Any:
    """``--at``: a ``waiting.Wait`` until that time of day, or None."""
    if value is None:
        return None
    from datetime import datetime

    from relaxplayer import waiting

    return waiting.Wait(waiting.target(value, datetime.now().astimezone()))


def _wait_until(wait: Any) -> None:
    """Say what is waited for, then wait; Ctrl-C exits 130, SIGTERM (or SIGHUP) 0."""
    import signal
    from datetime import datetime

    from relaxplayer import waiting

    with waiting.cancelled_by_signals(wait):  # said once signals cancel it
        click.echo(waiting.describe(wait.at, datetime.now().astimezone()), err=True)
        if wait.run():
            return
    if wait.signal == signal.SIGINT:
        raise KeyboardInterrupt
    click.echo(f"{signal.Signals(wait.signal).name}: not playing, the wait was cancelled", err=True)
    click.get_current_context().exit(0)


def _sleep_option(value: str | None) -> float | None:
    """``--sleep``: seconds until playback has faded out, or None."""
    if value is None:
        return None
    try:
        seconds = units.parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"--sleep: {exc}; for example --sleep 30m") from None
    if seconds < 60:
        raise ConfigError(
            f"--sleep {value}: a sleep timer needs at least a minute (it fades for one)"
        )
    return seconds


def _resume_option(
    session: str | None, start_at: str | None, resume: bool
) -> tuple[str, str, str | None, float]:
    """The session's name, where to load it from, the start and the fade-in (seconds).

    ``--resume`` looks up where playback stopped: the same file, a few seconds earlier.
    """
    if not resume:
        return session or "default", session or "default", start_at, 0.0
    from relaxplayer import resume as resumes

    if start_at is not None:
        raise ConfigError("--resume and --start-at cannot be used together: choose one")
    point = resumes.lookup(session)
    if point is None:
        raise ConfigError(resumes.nothing_to_resume(session))
    click.echo(point.describe(), err=True)
    where = point.source if point.source and Path(point.source).is_file() else point.session
    return point.session, where, f"{point.seconds:.3f}s", RESUME_FADE_IN


def _recorders(playback: Any, name: str, source: str, history: bool) -> tuple[Any, ...]:
    """History and resume points, as listeners of this playback (they never drive it)."""
    from relaxplayer.resume import ResumeListener

    found: list[Any] = [ResumeListener(name, source, warn=_warn)]
    if history:
        from relaxplayer.history import History, HistoryListener

        found.append(HistoryListener(History(warn=_warn), name, source))
    for recorder in found:
        playback.listen(recorder)
    return tuple(found)


def _warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def _listener_report(playback: Any) -> None:
    """A listener that failed (the display on a closed stdout) is said once, at the end."""
    player = getattr(playback, "player", None)
    for error in getattr(player, "listener_errors", [])[:1]:
        click.echo(f"note: a listener stopped early: {error}", err=True)


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
@click.option("--json", "as_json", is_flag=True, help="Print the outputs as JSON, for scripts.")
@click.option("-v", "--verbose", is_flag=True, help="Also say what the audio libraries printed.")
def outputs(as_json: bool, verbose: bool) -> None:
    """List the audio outputs and devices that really play on this machine.

    Each output and device is opened and plays a few milliseconds of silence;
    "ok" means that worked, "--" says why not.
    """
    from relaxplayer.outputs import available_outputs, chatter_summary

    infos = available_outputs(DEFAULT_RATE, 2)
    if as_json:
        click.echo(json.dumps([info.to_json() for info in infos], indent=2))
    else:
        for info in infos:
            mark = "ok " if info.ok else "-- "
            click.echo(f"{mark}{info.name:<12} {info.detail}")
            for dev in info.devices:
                click.echo(f"      {dev}")
    if verbose:
        click.echo(chatter_summary(probing=True) or "the audio libraries printed nothing", err=True)


@main.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON, for scripts.")
def list_(as_json: bool) -> None:
    """List the sessions you can play by name: built-in and your own.

    Your sessions live in the folder `relaxplayer new` writes to, and in the
    folders named in RELAXPLAYER_PATH; one with a built-in's name replaces it.
    A length marked ~ is estimated until its narration is prepared.
    """
    from relaxplayer import library

    def _first_line(text: str) -> str:
        """An error's first line, shortened, printable whatever the file name holds."""
        line = (text.splitlines() or [""])[0]
        line = line if len(line) <= 200 else f"{line[:197]}..."
        return line.encode("utf-8", "backslashreplace").decode("utf-8")

    rows = []
    for entry in library.list_sessions():
        row: dict[str, Any] = {
            "name": _first_line(entry.name),
            "origin": entry.origin,
            "path": _first_line(str(entry.path)),
        }
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
            row.update(title="", seconds=None, tags=[], error=_first_line(str(exc)))
        except Exception as exc:  # one bad file must not hide everyone's sessions
            row.update(
                title="", seconds=None, tags=[], error=_first_line(f"cannot be read: {exc!r}")
            )
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
        line = f"{row['name']:<30} {length:>14}  {title}  [{', '.join(row['tags'])}]  {origin}"
        click.echo(line.encode("utf-8", "backslashreplace").decode("utf-8"))


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


# --- the bedside box: history, schedule ------------------------------------------------


@main.command()
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="How many recent sessions to list.",
)
@click.option("--json", "as_json", is_flag=True, help="Print recent sessions and totals as JSON.")
@click.option(
    "--export",
    "export_format",
    type=click.Choice(["csv", "json"]),
    default=None,
    help="Write every session (not only recent ones) as CSV or JSON.",
)
@click.option(
    "-o",
    "--output",
    "output_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --export: the file to write (atomically); default stdout.",
)
@click.option("--streak", is_flag=True, help="Also show how many days in a row you listened.")
def history(
    limit: int, as_json: bool, export_format: str | None, output_path: Path | None, streak: bool
) -> None:
    """Show what you listened to: recent sessions and time this week and this month.

    Partial sessions count. The history is kept in the data folder
    ($RELAXPLAYER_DATA); `serve` and `play` record it.
    """
    from relaxplayer.history import History, default_path, format_seconds

    if output_path is not None and export_format is None:
        raise ConfigError("-o/--output goes with --export csv or --export json")
    path = default_path()
    if not path.exists():
        book = None
    else:
        book = History(path)
        if book.warning:
            book.close()
            raise RelaxError(book.warning.replace("; playback carries on", ""))
    try:
        plays = book.recent(limit=None if export_format else limit) if book else []
        totals = book.totals() if book else None
        days = book.streak() if book and streak else None
    finally:
        if book is not None:
            book.close()
    if export_format:
        text = _export_history(plays, export_format)
        if output_path is None:
            click.echo(text, nl=False)
        else:
            _write_atomic(output_path, text)
            click.echo(f"wrote {len(plays)} sessions to {output_path}", err=True)
        return
    if as_json:
        data: dict[str, Any] = {
            "recent": [p.as_dict() for p in plays],
            "totals": {
                "week_seconds": round(totals.week, 1) if totals else 0.0,
                "month_seconds": round(totals.month, 1) if totals else 0.0,
                "all_seconds": round(totals.all, 1) if totals else 0.0,
                "sessions": totals.plays if totals else 0,
            },
        }
        if streak:
            data["streak_days"] = days or 0
        click.echo(json.dumps(data, indent=2))
        return
    if not plays or totals is None:
        click.echo(
            "no sessions in the history yet: it fills as you play (`relaxplayer play`); "
            "partial sessions count too"
        )
        return
    click.echo(
        f"this week {format_seconds(totals.week)} · this month {format_seconds(totals.month)} · "
        f"{totals.plays} session{'s' if totals.plays != 1 else ''} in all"
    )
    if days is not None:
        click.echo(f"{days} day{'s' if days != 1 else ''} in a row")
    for p in plays:
        how = p.how or "playing"
        click.echo(
            f"{p.started:%a %Y-%m-%d %H:%M}  {format_seconds(p.heard):>10}  "
            f"{round(p.fraction * 100):>3}%  {how:<13} {p.title}"
        )


def _export_history(plays: list[Any], export_format: str) -> str:
    rows = [p.as_dict() for p in reversed(plays)]  # oldest first: how a spreadsheet reads
    if export_format == "json":
        return json.dumps(rows, indent=2) + "\n"
    import csv
    import io

    buffer = io.StringIO()
    fields = [
        "id",
        "session",
        "title",
        "source",
        "started",
        "ended",
        "heard_seconds",
        "fraction",
        "how",
    ]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _write_atomic(path: Path, text: str) -> None:
    """Write beside ``path`` and rename over it: a reader never sees half a file."""
    import tempfile

    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    except OSError as exc:
        raise RelaxError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise RelaxError(f"cannot write {path}: {exc.strerror}") from None


@main.command()
@click.option(
    "-n",
    "--count",
    type=click.IntRange(1, 100),
    default=7,
    show_default=True,
    help="How many upcoming runs to list.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The config file (default: config.yaml in the config folder).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def schedule(count: int, config_path: Path | None, as_json: bool) -> None:
    """List the next scheduled sessions from config.yaml (see docs/serve.md)."""
    from datetime import datetime

    from relaxplayer.history import History, default_path
    from relaxplayer.service.config import default_path as default_config
    from relaxplayer.service.config import load_config
    from relaxplayer.service.scheduler import clock_problem, next_runs

    config = load_config(config_path)
    now = datetime.now().astimezone()
    newest = None
    if default_path().exists():
        book = History(default_path())
        try:
            newest = book.newest_start()
        finally:
            book.close()
    problem = clock_problem(now, newest_history=newest)
    runs = next_runs(config.schedules, now, count)
    if as_json:
        data = {
            "runs": [
                {
                    "at": r.at.isoformat(timespec="minutes"),
                    "session": r.schedule.session,
                    "volume": r.schedule.volume,
                    "sleep_seconds": r.schedule.sleep,
                }
                for r in runs
            ],
            "clock_problem": problem,
        }
        click.echo(json.dumps(data, indent=2))
        return
    if not config.schedules:
        where = config.source or default_config()
        click.echo(
            f"no schedules in {where}; add one like\n"
            'schedules:\n  - {at: "22:30", session: bedtime-body-scan, days: [mon, tue, wed, thu, fri]}'
        )
        return
    for run in runs:
        click.echo(run.describe())
    if problem:
        click.echo(f"note: {problem}", err=True)


# --- the bedside box: serve ----------------------------------------------------------


def _box_factory(output_spec: str, device: str | None, rate: int) -> Callable[..., Any]:
    """``make_playback`` for the service: the same ``Playback`` as ``play``, by session name."""
    from relaxplayer.outputs import open_output
    from relaxplayer.playback import Playback

    def make(
        name: str,
        volume: float = 1.0,
        start_at: str | None = None,
        fade_in: float = 0.0,
        **_: Any,
    ) -> Playback:
        model = load(name)
        return Playback(
            model,
            lambda: open_output(output_spec, rate, 2, device),
            narrator=check_voice(model, None, False),
            rate=rate,
            volume=volume,
            start_at=start_at,  # a session continued after a lost device
            fade_in=fade_in,
        )

    return make


def _web_address(listen: str | None, config: Any, no_web: bool) -> str | None:
    """Where the phone page listens: ``--listen``, else the config's ``listen`` (None: off)."""
    if no_web:
        return None
    return listen or config.listen


def _print_pairing(listen: str | None, config_path: Path | None) -> None:
    """``serve --pair``: the address and QR code a phone scans once (the token on stderr)."""
    from relaxplayer.remotes.pairing import pair, pairing_text
    from relaxplayer.service.config import load_config

    url, where, created = pair(listen or load_config(config_path).listen)
    click.echo(pairing_text(url))
    made = "made now and stored" if created else "stored"
    click.echo(
        f"token {made} in {where} (mode 0600); delete it to pair every phone again", err=True
    )


def _log(line: str) -> None:
    """One plain line for journald (which adds the time)."""
    click.echo(line, err=True)


@main.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The config file (default: config.yaml in the config folder).",
)
@click.option("--check", is_flag=True, help="Validate the config and exit (0 ok, 2 errors).")
@click.option(
    "--pair",
    "show_pairing",
    is_flag=True,
    help="Show the phone page's pairing address and QR code (for --listen or `listen`) and exit.",
)
@click.option(
    "-o",
    "--output",
    "output_spec",
    default=None,
    metavar="NAME",
    help="Output, overriding the config's (auto, alsa, portaudio, pipe:PATH, null …).",
)
@click.option("--device", default=None, help="Output device, overriding the config's.")
@click.option("--no-history", is_flag=True, help="Do not record what is played.")
@_rate_option
@click.option(
    "--listen",
    default=None,
    metavar="HOST:PORT",
    help="Serve the phone page and JSON API here (config `listen`, default 127.0.0.1:8737).",
)
@click.option("--no-web", is_flag=True, help="Do not serve the phone page.")
@click.option(
    "--mpd",
    "mpd_address",
    default=None,
    is_flag=False,
    flag_value="127.0.0.1:6600",
    metavar="HOST:PORT",
    help="Also speak the MPD protocol here (--mpd alone: 127.0.0.1:6600; config `mpd`).",
)
def serve(
    config_path: Path | None,
    check: bool,
    show_pairing: bool,
    output_spec: str | None,
    device: str | None,
    no_history: bool,
    rate: int,
    listen: str | None,
    no_web: bool,
    mpd_address: str | None,
) -> None:
    """Run the bedside box: idle until a button, a schedule or a signal asks for a session.

    SIGTERM fades out and exits 0; SIGHUP reloads the config; SIGUSR1 is a
    button press (play the default session, or pause/resume); SIGUSR2 skips
    to the next step. See docs/serve.md for the config and the systemd unit.
    """
    if show_pairing:
        _print_pairing(listen, config_path)
        return
    from relaxplayer.box import BoxOptions, device_wait_for, run_box
    from relaxplayer.service.config import default_path as default_config
    from relaxplayer.service.config import load_config

    config = load_config(config_path)
    where = config.source or f"{default_config()} (not there: defaults)"
    if check:
        click.echo(
            f"{where}: ok; {len(config.schedules)} schedule(s), default session "
            f"{config.default_session}, button "
            + (f"on pin {config.button.pin}" if config.button else "off")
        )
        return
    spec, device = output_spec or config.output, device or config.device
    options = BoxOptions(
        config_path=config_path,
        make_playback=_box_factory(spec, device, rate),
        history=not no_history,
        mpd=mpd_address or config.mpd,
        web=_web_address(listen, config, no_web),
        device_wait=device_wait_for(spec, device, rate),
        output=spec,
    )
    run_box(config, options, _log)
