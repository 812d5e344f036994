"""The phone page and its JSON API (Starlette under uvicorn), over the service's commands and events.

An adapter, like the MPD server: every route calls one ``Service`` method or
reads its status; live updates are the service's events, sent as
Server-Sent Events. The page's assets are read once from the package's
``static`` folder into a table, so nothing else on the disk can ever be
served: a name is looked up, never joined to a path.

Locked down: on loopback the page is open (but only for ``Host`` names that
are loopback, against DNS rebinding); on any other address every request
needs the pairing token, given once as ``/?token=…`` and kept in an HttpOnly
cookie. Posts must be JSON (``Content-Type: application/json``), which a
foreign page cannot send without the browser asking first, and bodies are
at most 4 KiB.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from relaxplayer import events as ev
from relaxplayer import library
from relaxplayer.errors import OutputError, RelaxError
from relaxplayer.remotes import auth, catalog, pairing
from relaxplayer.service.core import Service, SessionChanged

COOKIE = "relaxplayer_token"
MAX_BODY = 4096  # bytes in a request body
MAX_STREAMS = 32  # open event streams
TICK_EVERY = 0.5  # seconds between progress updates on the event stream
KEEPALIVE = 15.0  # seconds between comments on an idle event stream
STATIC = Path(__file__).resolve().parent / "static"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
}
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


class _Fail(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def load_assets(folder: Path = STATIC) -> dict[str, tuple[bytes, str]]:
    """Every regular file (no symlinks) of a known type in ``folder``: name -> (bytes, type)."""
    assets: dict[str, tuple[bytes, str]] = {}
    for path in sorted(folder.iterdir()):
        if path.is_symlink() or not path.is_file() or path.suffix not in TYPES:
            continue
        assets[path.name] = (path.read_bytes(), TYPES[path.suffix])
    return assets


class NowPlaying:
    """What the service's events say beyond ``status()``: section, step, subtitle, breathing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.section = ""
        self.step = ""
        self.step_index = -1
        self.subtitle = ""
        self.phase = ""
        self.phase_elapsed = 0.0
        self.phase_length = 0.0

    def __call__(self, event: ev.Event) -> None:
        with self._lock:
            if isinstance(event, SessionChanged):
                self._reset()
            elif isinstance(event, ev.StepStarted):
                self.section, self.step, self.step_index = (
                    event.section,
                    event.label or event.kind,
                    event.index,
                )
            elif isinstance(event, ev.CueStarted) and event.text:
                self.subtitle = event.text
            elif isinstance(event, ev.Tick):
                self.phase = event.phase
                self.phase_elapsed, self.phase_length = event.phase_elapsed, event.phase_length

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "section": self.section,
                "step": self.step,
                "step_index": self.step_index,
                "subtitle": self.subtitle,
                "breathing": (
                    {
                        "phase": self.phase,
                        "elapsed": round(self.phase_elapsed, 2),
                        "length": round(self.phase_length, 2),
                    }
                    if self.phase
                    else None
                ),
            }


class Hub:
    """Fans service events out to the open event streams (each an asyncio queue on the server's
    loop). Called on the player's thread: it only schedules, never waits."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        self._snapshot = snapshot
        self._lock = threading.Lock()
        self._streams: dict[asyncio.Queue[str | None], asyncio.AbstractEventLoop] = {}
        self._last_tick = 0.0

    def add(self, queue: asyncio.Queue[str | None]) -> bool:
        with self._lock:
            if len(self._streams) >= MAX_STREAMS:
                return False
            self._streams[queue] = asyncio.get_running_loop()
            return True

    def remove(self, queue: asyncio.Queue[str | None]) -> None:
        with self._lock:
            self._streams.pop(queue, None)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._streams)

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.Tick):
            now = time.monotonic()
            if now - self._last_tick < TICK_EVERY:
                return
            self._last_tick = now
        elif isinstance(event, ev.CueStarted):
            self.publish("cue", {"kind": event.kind, "text": event.text})
        elif isinstance(event, ev.Notice):
            self.publish("notice", {"message": event.message})
        self.publish("status", self._snapshot())

    def publish(self, kind: str, data: object) -> None:
        message = f"event: {kind}\ndata: {json.dumps(data)}\n\n"
        with self._lock:
            streams = list(self._streams.items())
        for queue, loop in streams:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(_offer, queue, message)

    def close(self) -> None:
        with self._lock:
            streams = list(self._streams.items())
        for queue, loop in streams:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_offer, queue, None)


def _offer(queue: asyncio.Queue[str | None], message: str | None) -> None:
    """A slow phone misses updates rather than holding memory: the newest status wins."""
    if queue.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
    queue.put_nowait(message)


def create_app(
    service: Service,
    *,
    token: str | None = None,
    history: Any = None,
    loopback: bool = True,
    assets: dict[str, tuple[bytes, str]] | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> Starlette:
    """The app; ``token`` None means open (loopback). ``history``: a ``History`` or None."""
    files = assets if assets is not None else load_assets()
    now = NowPlaying()

    def snapshot() -> dict[str, Any]:
        st = service.status()
        return {**st, **now.snapshot()}

    hub = Hub(snapshot)
    service.subscribe(now)
    service.subscribe(hub)

    def guard(request: Request, *, post: bool = False, pairing: bool = False) -> None:
        host = request.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if loopback and name not in LOOPBACK_HOSTS:
            raise _Fail(421, "this page answers only to localhost names")
        if pairing and "token" in request.query_params:
            return  # the page checks the token itself, then sets the cookie
        if token is not None and not auth.matches(request.cookies.get(COOKIE), token):
            raise _Fail(401, "pair this phone first: open the address serve printed, with ?token=")
        if post:
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind != "application/json":
                raise _Fail(415, "send JSON (Content-Type: application/json)")
            origin = request.headers.get("origin")
            if origin is not None and origin.split("://", 1)[-1] != host:
                raise _Fail(403, "requests from other pages are refused")

    def route(
        handler: Callable[[Request], Awaitable[Response]],
        *,
        post: bool = False,
        pairing: bool = False,
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                guard(request, post=post, pairing=pairing)
                return await handler(request)
            except _Fail as fail:
                return JSONResponse({"error": fail.message}, fail.status)
            except RelaxError as exc:
                return JSONResponse({"error": str(exc)}, 409)
            except Exception as exc:  # never a traceback to a client, never stop the music
                log(f"web: {request.url.path} failed: {exc!r}")
                return JSONResponse({"error": "internal error"}, 500)

        return run

    async def body(request: Request) -> dict[str, Any]:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            raise _Fail(413, f"request body over {MAX_BODY} bytes")
        data = b""
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_BODY:
                raise _Fail(413, f"request body over {MAX_BODY} bytes")
        if not data.strip():
            return {}
        try:
            value = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: [[[[…
            raise _Fail(400, "malformed JSON") from None
        if not isinstance(value, dict):
            raise _Fail(400, "expected a JSON object")
        return value

    def number(value: object, name: str, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Fail(400, f"'{name}' must be a number")
        if not low <= float(value) <= high:
            raise _Fail(400, f"'{name}' must be from {low:g} to {high:g}")
        return float(value)

    # --- pages ------------------------------------------------------------------------

    async def index(request: Request) -> Response:
        given = request.query_params.get("token")
        if given is not None:
            if token is None:
                return RedirectResponse("/", 303)  # open: nothing to pair
            if not auth.matches(given, token):
                return JSONResponse({"error": "wrong pairing token"}, 401)
            response = RedirectResponse("/", 303)
            response.set_cookie(
                COOKIE, token, max_age=10 * 365 * 86400, httponly=True, samesite="strict"
            )
            return response
        return asset("index.html")

    def asset(name: str) -> Response:
        found = files.get(name)
        if found is None:
            return JSONResponse({"error": "not found"}, 404)
        data, kind = found
        return Response(data, media_type=kind, headers={"Cache-Control": "no-cache"})

    async def static(request: Request) -> Response:
        return asset(request.path_params["name"])

    async def manifest(request: Request) -> Response:
        return asset("manifest.webmanifest")

    # --- reading ----------------------------------------------------------------------

    async def status(request: Request) -> Response:
        return JSONResponse(snapshot())

    async def library_view(request: Request) -> Response:
        return JSONResponse({"sessions": await asyncio.to_thread(catalog.sessions)})

    async def history_view(request: Request) -> Response:
        if history is None:
            return JSONResponse({"enabled": False, "recent": [], "totals": None})
        recent, totals = await asyncio.to_thread(lambda: (history.recent(10), history.totals()))
        return JSONResponse(
            {
                "enabled": True,
                "recent": [p.as_dict() for p in recent],
                "totals": asdict(totals),
            }
        )

    async def schedule(request: Request) -> Response:
        runs = service.scheduler.next_runs(5)
        return JSONResponse(
            {
                "problem": service.scheduler.problem,
                "runs": [
                    {
                        "at": r.at.isoformat(timespec="minutes"),
                        "session": r.schedule.session,
                        "volume": r.schedule.volume,
                        "sleep_seconds": r.schedule.sleep,
                    }
                    for r in runs
                ],
            }
        )

    # --- commands ---------------------------------------------------------------------

    async def play(request: Request) -> Response:
        data = await body(request)
        name = data.get("session")
        if not isinstance(name, str) or not library.NAME.match(name):
            raise _Fail(400, "'session' must be a session name from /api/library")
        if name not in {e.name for e in library.list_sessions()}:
            raise _Fail(404, f"no session named '{name}'")
        volume = service.config.volume
        if "volume" in data:
            volume = number(data["volume"], "volume", 0.0, 1.0)
        service.play(name, volume=volume)
        return JSONResponse(snapshot())

    def simple(command: Callable[[], None]) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            await body(request)
            command()
            return JSONResponse(snapshot())

        return run

    async def volume(request: Request) -> Response:
        data = await body(request)
        target = number(data.get("volume"), "volume", 0.0, 1.0)
        st = service.status()
        if "volume" not in st:
            raise _Fail(409, "nothing is playing")
        service.change_volume(target - float(st["volume"]))
        return JSONResponse(snapshot())

    async def sleep(request: Request) -> Response:
        data = await body(request)
        if "minutes" not in data:
            raise _Fail(400, 'send {"minutes": 30}, or {"minutes": null} to cancel')
        minutes = data["minutes"]
        service.sleep(None if minutes is None else number(minutes, "minutes", 1, 24 * 60) * 60)
        return JSONResponse(snapshot())

    async def events(request: Request) -> Response:
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=16)
        if not hub.add(queue):
            raise _Fail(503, "too many open pages")
        first = f"event: status\ndata: {json.dumps(snapshot())}\n\n"

        async def stream() -> Any:
            try:
                yield first
                while True:
                    try:
                        message = await asyncio.wait_for(queue.get(), KEEPALIVE)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if message is None:
                        return
                    yield message
            finally:
                hub.remove(queue)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    routes = [
        Route("/", route(index, pairing=True)),
        Route("/manifest.webmanifest", route(manifest)),
        Route("/static/{name}", route(static)),
        Route("/api/status", route(status)),
        Route("/api/library", route(library_view)),
        Route("/api/history", route(history_view)),
        Route("/api/schedule", route(schedule)),
        Route("/api/events", route(events)),
        Route("/api/play", route(play, post=True), methods=["POST"]),
        Route("/api/pause", route(simple(service.pause), post=True), methods=["POST"]),
        Route("/api/resume", route(simple(service.resume), post=True), methods=["POST"]),
        Route("/api/stop", route(simple(service.stop), post=True), methods=["POST"]),
        Route("/api/next", route(simple(service.next_step), post=True), methods=["POST"]),
        Route("/api/restart", route(simple(service.restart_step), post=True), methods=["POST"]),
        Route("/api/volume", route(volume, post=True), methods=["POST"]),
        Route("/api/sleep", route(sleep, post=True), methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.hub = hub
    app.state.listeners = (now, hub)
    return app


def detach(app: Starlette, service: Service) -> None:
    """Unsubscribe the app from the service and end its event streams."""
    app.state.hub.close()
    for listener in app.state.listeners:
        service.unsubscribe(listener)


class _QuietServer(uvicorn.Server):
    """uvicorn that wakes once a second instead of ten times.

    uvicorn's own main loop sleeps 0.1 s at a time to look at ``should_exit``:
    0.25 % of a core on an idle box, more than the rest of ``serve``. This one
    sleeps until :meth:`stop` wakes it, or a second has passed to refresh the
    Date header (uvicorn's own resolution)."""

    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        while not await self.on_tick(0):  # tick 0: the Date header is refreshed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)

    def stop(self) -> None:
        """Thread-safe: end the main loop now (``should_exit`` first, then the wake-up)."""
        self.should_exit = True
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(self._wake.set)


class WebServer:
    """uvicorn on its own thread, on a socket bound here (so a busy port fails at once)."""

    def __init__(
        self,
        service: Service,
        host: str = "127.0.0.1",
        port: int = 8737,
        *,
        token: str | None = None,
        history: Any = None,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.service = service
        self.app = create_app(
            service, token=token, history=history, loopback=auth.is_loopback(host), log=log
        )
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self._sock = socket.create_server((host, port), family=family, backlog=64)
        except OSError:
            detach(self.app, service)
            raise
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="h11",
            ws="none",
            limit_concurrency=100,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=1,
            h11_max_incomplete_event_size=16 * 1024,
        )
        self._server = _QuietServer(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="web", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 15.0
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)

    def close(self) -> None:
        detach(self.app, self.service)
        self._server.stop()
        self._thread.join(5.0)
        with contextlib.suppress(OSError):
            self._sock.close()


def start(
    service: Service,
    address: str,
    log: Callable[[str], None],
    say: Callable[[str], None],
    history: Any = None,
) -> WebServer:
    """``serve --listen``: bind, and off loopback make (once) and print the pairing address."""
    from relaxplayer.remotes.mpd import parse_listen

    host, port = parse_listen(address)
    token = None
    if not auth.is_loopback(host):
        token, where, created = auth.load_or_create()
        if created or auth.made_here(where):
            url = pairing.pairing_url(host, port, token)
            say(
                f"phone page pairing (shown once, token stored in {where}; "
                f"`relaxplayer serve --pair` shows it again): {pairing.pairing_text(url)}"
            )
    try:
        server = WebServer(service, host, port, token=token, history=history, log=log)
    except OSError as exc:
        raise OutputError(f"cannot serve the phone page on {address}: {exc.strerror}") from None
    log(f"web: phone page on http://{address}/" + (" (paired phones only)" if token else ""))
    return server
