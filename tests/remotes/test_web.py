"""The phone page's JSON API over a real service (Starlette's TestClient), its lock-down,
and the event stream through a real uvicorn server."""

from __future__ import annotations

import http.client
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from relaxplayer import events as ev
from relaxplayer.history import History
from relaxplayer.remotes import web
from relaxplayer.service.core import Service
from tests.service.box import WAIT, Recorder

TOKEN = "a-pairing-token-for-tests-0123456789"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def api(service: tuple[Service, Recorder], history: History) -> Iterator[TestClient]:
    svc, _ = service
    app = web.create_app(svc, history=history)
    try:
        with TestClient(app, base_url="http://127.0.0.1:8737") as client:
            yield client
    finally:
        web.detach(app, svc)


def post(client: TestClient, path: str, body: object = None) -> object:
    return client.post(path, content=json.dumps(body or {}), headers=JSON)


def test_library_status_and_commands(api: TestClient, service) -> None:  # type: ignore[no-untyped-def]
    svc, recorder = service
    sessions = {s["name"]: s for s in api.get("/api/library").json()["sessions"]}
    assert sessions["steps"]["title"] == "Steps" and sessions["steps"]["origin"] == "user"
    assert sessions["steps"]["seconds"] == pytest.approx(30 + 32 + 600, abs=1)
    assert api.get("/api/status").json()["state"] == "idle"
    r = post(api, "/api/play", {"session": "steps"})
    assert r.status_code == 200 and r.json()["session"] == "steps"
    recorder.wait_for(lambda e: isinstance(e, ev.Tick) and e.position > 0)
    st = api.get("/api/status").json()
    assert st["state"] == "playing" and st["title"] == "Steps" and st["section"] == "Arrive"
    assert post(api, "/api/pause").status_code == 200
    recorder.wait_for(lambda e: isinstance(e, ev.Paused))
    assert api.get("/api/status").json()["state"] == "paused"
    post(api, "/api/resume")
    recorder.wait_for(lambda e: isinstance(e, ev.Resumed))
    post(api, "/api/next")
    recorder.wait_for(lambda e: isinstance(e, ev.StepStarted) and e.kind == "breathe")
    post(api, "/api/restart")
    assert post(api, "/api/volume", {"volume": 0.5}).status_code == 200
    recorder.wait_for(lambda e: isinstance(e, ev.Tick) and abs(e.volume - 0.5) < 0.01)
    r = post(api, "/api/sleep", {"minutes": 30})
    assert r.json()["sleep_remaining"] == pytest.approx(1800, abs=5)
    assert post(api, "/api/sleep", {"minutes": None}).json()["sleep_remaining"] is None
    post(api, "/api/stop")
    assert svc.wait_idle(WAIT)
    recent = api.get("/api/history").json()
    assert recent["enabled"] and recent["recent"][0]["session"] == "steps"
    assert recent["recent"][0]["how"] == "stopped"
    assert api.get("/api/schedule").json() == {"problem": None, "runs": []}


def test_page_and_assets_are_served_from_the_package(api: TestClient) -> None:
    page = api.get("/")
    assert page.status_code == 200 and 'aria-live="polite"' in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN, nothing remote
    for name in ("app.js", "app.css", "icon.svg"):
        assert api.get(f"/static/{name}").status_code == 200
    manifest = api.get("/manifest.webmanifest")
    assert manifest.headers["content-type"] == "application/manifest+json"
    assert manifest.json()["display"] == "standalone"


@pytest.mark.parametrize(
    "path",
    [
        "/static/../../etc/passwd",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/%2e%2e%2fweb.py",
        "/static/..%2f..%2fetc%2fpasswd",
        "/static/",
        "/static/nosuch.js",
        "/../../etc/passwd",
        "/etc/passwd",
    ],
)
def test_nothing_outside_the_static_folder(api: TestClient, path: str) -> None:
    r = api.get(path)
    assert r.status_code == 404
    assert "root:" not in r.text and "import" not in r.text


def test_symlinks_in_the_static_folder_are_not_served(tmp_path: Path) -> None:
    folder = tmp_path / "static"
    folder.mkdir()
    (folder / "app.js").write_text("ok")
    (folder / "passwd.js").symlink_to("/etc/passwd")
    assert set(web.load_assets(folder)) == {"app.js"}


@pytest.mark.parametrize(
    ("path", "body", "headers", "status"),
    [
        ("/api/play", b"{not json", JSON, 400),
        ("/api/play", b"[1, 2]", JSON, 400),
        ("/api/play", b'{"session": "../../etc/passwd"}', JSON, 400),
        ("/api/play", b'{"session": "/etc/passwd"}', JSON, 400),
        ("/api/play", b'{"session": "nosuch"}', JSON, 404),
        ("/api/play", b'{"session": "steps"}', {"Content-Type": "text/plain"}, 415),
        ("/api/play", b'{"session": "steps"}', {**JSON, "Origin": "http://evil.example"}, 403),
        ("/api/play", b"{" + b" " * 5000 + b"}", JSON, 413),
        ("/api/volume", b'{"volume": 2}', JSON, 400),
        ("/api/volume", b'{"volume": "loud"}', JSON, 400),
        ("/api/volume", b'{"volume": 0.5}', JSON, 409),  # nothing is playing
        ("/api/sleep", b'{"minutes": 30}', JSON, 409),
        ("/api/sleep", b'{"minutes": -1}', JSON, 400),
        ("/api/sleep", b"{}", JSON, 400),
    ],
)
def test_bad_requests_get_4xx_and_change_nothing(
    api: TestClient,
    service,
    path: str,
    body: bytes,
    headers: dict,
    status: int,  # type: ignore[no-untyped-def]
) -> None:
    svc, _ = service
    r = api.post(path, content=body, headers=headers)
    assert r.status_code == status, r.text
    assert "Traceback" not in r.text and "error" in r.json()
    assert svc.idle


def test_foreign_host_names_are_refused_on_loopback(api: TestClient) -> None:
    """DNS rebinding: a page from evil.example resolving to 127.0.0.1."""
    assert api.get("/api/status", headers={"Host": "evil.example:8737"}).status_code == 421
    assert api.get("/api/status", headers={"Host": "localhost:8737"}).status_code == 200


def test_pairing_token_off_loopback(service) -> None:  # type: ignore[no-untyped-def]
    svc, _ = service
    app = web.create_app(svc, token=TOKEN, loopback=False)
    try:
        with TestClient(app, base_url="http://192.168.1.20:8737") as client:
            for path in ("/", "/api/status", "/api/library", "/static/app.js", "/api/events"):
                assert client.get(path).status_code == 401, path
            assert post(client, "/api/play", {"session": "steps"}).status_code == 401
            assert client.get("/?token=wrong").status_code == 401
            client.cookies.set(web.COOKIE, "wrong")
            assert client.get("/api/status").status_code == 401
            client.cookies.clear()
            r = client.get(f"/?token={TOKEN}", follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"] == "/"
            cookie = r.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN in cookie
            client.cookies.set(web.COOKIE, TOKEN)
            assert client.get("/").status_code == 200
            assert client.get("/api/status").json()["state"] == "idle"
    finally:
        web.detach(app, svc)
    assert svc.idle


# --- a real uvicorn server: the event stream ------------------------------------------------


def read_events(response: http.client.HTTPResponse, count: int) -> list[tuple[str, dict]]:
    found: list[tuple[str, dict]] = []
    kind = ""
    while len(found) < count:
        line = response.readline().decode()
        assert line, "stream ended"
        if line.startswith("event: "):
            kind = line[7:].strip()
        elif line.startswith("data: "):
            found.append((kind, json.loads(line[6:])))
    return found


def test_event_stream_shows_progress_live(service) -> None:  # type: ignore[no-untyped-def]
    svc, _ = service
    server = web.WebServer(svc, "127.0.0.1", 0)
    try:
        host, port = server.address
        conn = http.client.HTTPConnection(host, port, timeout=WAIT)
        conn.request("GET", "/api/events")
        response = conn.getresponse()
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        [(kind, first)] = read_events(response, 1)
        assert kind == "status" and first["state"] == "idle"
        control = http.client.HTTPConnection(host, port, timeout=WAIT)
        control.request("POST", "/api/play", body=b'{"session": "steps"}', headers=JSON)
        assert control.getresponse().status == 200
        positions: list[float] = []
        deadline = time.monotonic() + WAIT
        while len(positions) < 3 and time.monotonic() < deadline:
            for kind, data in read_events(response, 1):
                if kind == "status" and data["state"] == "playing":
                    positions.append(data["position"])
        assert len(positions) == 3 and positions[0] < positions[-1]  # moving, live
        assert server.app.state.hub.count == 1
        conn.close()
        control.close()
    finally:
        server.close()
    assert not server._thread.is_alive()  # stopped, even with a stream that was open


def test_fuzzed_requests_get_only_answers_below_500(api: TestClient, service) -> None:  # type: ignore[no-untyped-def]
    svc, recorder = service
    svc.play("steps")
    recorder.wait_for(lambda e: isinstance(e, ev.Tick) and e.position > 0)
    rng = random.Random(7)
    paths = [
        "/",
        "/api/status",
        "/api/play",
        "/api/volume",
        "/api/sleep",
        "/api/pause",
        "/static/app.js",
        "/static/%00",
        "/api/%ff",
        "/api/status/..",
        "/api//play",
    ]
    bodies = [
        b"",
        b"{}",
        b"null",
        b'{"session": 1}',
        b'{"volume": 1e999}',
        b'{"minutes": true}',
        b"\xff\xfe",
        b'{"session": "steps", "volume": -0.0}',
        b"[" * 3000,
    ]
    for _ in range(1000):
        path = rng.choice(paths)
        if rng.random() < 0.3:
            path += "".join(chr(rng.randrange(33, 127)) for _ in range(rng.randrange(1, 12)))
        path = path.replace("#", "").replace("?", "")
        method = rng.choice(["GET", "POST", "PUT", "DELETE"])
        body = rng.choice(bodies)
        r = api.request(method, path, content=body, headers=JSON)
        assert r.status_code < 500 or r.status_code == 503, (method, path, body, r.status_code)
        assert "Traceback" not in r.text
        if path == "/api/play" and r.status_code == 200:
            recorder.wait_for(lambda e: isinstance(e, ev.Tick), after=len(recorder.events))
    assert svc.status()["state"] in ("playing", "paused", "starting")


def test_an_idle_server_wakes_once_a_second_and_stops_at_once(service, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """uvicorn's own loop wakes ten times a second (0.25 % of an idle box's core)."""
    svc, _ = service
    ticks: list[float] = []
    on_tick = web._QuietServer.on_tick

    async def counted(self, counter: int) -> bool:  # type: ignore[no-untyped-def]
        ticks.append(time.monotonic())
        return await on_tick(self, counter)

    monkeypatch.setattr(web._QuietServer, "on_tick", counted)
    server = web.WebServer(svc, "127.0.0.1", 0)
    try:
        time.sleep(2.5)
        idle = len(ticks)
        asked = time.monotonic()
        server.close()
        stopped = time.monotonic() - asked
    finally:
        server.close()
    assert 2 <= idle <= 4  # once at start, then about once a second (never ten)
    assert stopped < 2.0 and not server._thread.is_alive()
