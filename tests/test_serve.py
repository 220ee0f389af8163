"""`--serve` lets only the user drive it (issue 11, finding 5): the real server
(`python -m layerscope --demo --serve`) in a process of its own, driven by a real websocket
client over 127.0.0.1, its app processes counted in /proc.

- A session starts only with the token the server printed, from the served origin, to a Host
  that names the server; anything else gets 403 and starts no process.
- At most --max-sessions app processes run; one more client is refused (503), and a session that
  ends frees its slot.
- The page fetches nothing from the internet; sessions end with the server, even a SIGKILLed one;
  a session's process never serves again.

If a server prints no URL, the tests go on with its bare address: each then fails for its own
reason on a server that asks no token.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections.abc import Callable, Iterator

import pytest

try:
    import aiohttp
    import textual_serve  # noqa: F401  (what --serve runs on)
except ImportError:  # pragma: no cover
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("--serve needs layerscope[web]", allow_module_level=True)
if not os.path.isdir("/proc/self"):  # pragma: no cover
    if os.environ.get("CI") == "true":
        raise RuntimeError("these tests count processes in /proc")
    pytest.skip("these tests count processes in /proc", allow_module_level=True)

from served import Served, alive, descendants, servers, wait_for

from layerscope.ui.serve import without_serve_options

APP_TIMEOUT = 30.0  # seconds for a session's app to show the demo image
DEMO_NAME = b"layerscope-demo"  # in the app's title once it has opened the demo archive


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    """Start `layerscope --demo --serve` (with more options); every server started, and any
    process it left, is killed at the end of the test."""
    with servers() as start:
        yield start


async def start_session(
    http: aiohttp.ClientSession, url: str, origin: str | None, **headers: str
) -> aiohttp.ClientWebSocketResponse:
    """Open the page's websocket as textual-serve's script does, and give the terminal a size."""
    ws = await http.ws_connect(url, origin=origin, headers=headers or None)
    await ws.send_json(["resize", {"width": 100, "height": 30}])
    return ws


async def app_output(ws: aiohttp.ClientWebSocketResponse, until: bytes = DEMO_NAME) -> bytes:
    """What the app draws, until it shows `until` (by default the demo image's name; b"": the
    first screen update)."""
    data = b""
    deadline = time.monotonic() + APP_TIMEOUT
    while until not in data or not data:
        msg = await asyncio.wait_for(ws.receive(), max(0.1, deadline - time.monotonic()))
        assert msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), msg
        if msg.type == aiohttp.WSMsgType.BINARY:
            data += msg.data
    return data


async def refused(
    http: aiohttp.ClientSession, url: str, origin: str | None = None, **headers: str
) -> int:
    """The status a websocket handshake to `url` is refused with (fails if it is accepted)."""
    with pytest.raises(aiohttp.WSServerHandshakeError) as error:
        ws = await start_session(http, url, origin, **headers)
        await ws.close()
    return error.value.status


def test_the_printed_url_opens_a_session(serve: Callable[..., Served]) -> None:
    """With the printed URL's token and the served origin, a session starts and the app shows
    the image; the token is in no process's command line or environment."""
    served = serve()
    assert served.token, f"no token in the printed URL: {served.lines}"
    assert any("Ctrl+C" in line for line in served.lines), served.lines

    async def drive() -> None:
        async with aiohttp.ClientSession() as http:
            ws = await start_session(http, served.ws_url, served.origin)
            assert DEMO_NAME in await app_output(ws)
            (app,) = served.apps()
            for pid in (served.proc.pid, app):
                for what in ("cmdline", "environ"):
                    with open(f"/proc/{pid}/{what}", "rb") as f:
                        assert served.token.encode() not in f.read(), (pid, what)
            await ws.close()

    asyncio.run(drive())


def test_requests_without_the_token_are_refused(serve: Callable[..., Served]) -> None:
    """No token, or a wrong one: the page, the websocket and the static files get 403, and no
    app process starts."""
    served = serve()
    token = served.token or "t" * 43  # (a server that prints none still refuses these)
    base = served.origin
    wrong = [
        "",
        "static",
        token[:-1],
        token + "x",
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        token.swapcase(),
    ]

    async def drive() -> None:
        async with aiohttp.ClientSession() as http:
            for bad in wrong:
                prefix = f"{base}/{bad}/" if bad else f"{base}/"
                for path in ("", "static/js/textual.js", "ws"):
                    async with http.get(prefix + path) as response:
                        assert response.status == 403, (bad, path, response.status)
                        assert token not in await response.text()
                ws_url = prefix.replace("http://", "ws://") + "ws?width=80&height=24"
                assert await refused(http, ws_url, served.origin) == 403, bad
            async with http.get(f"{base}/ws") as response:
                assert response.status == 403

    asyncio.run(drive())
    time.sleep(0.3)  # a process started by mistake would show by now
    assert served.apps() == []


def test_other_origins_and_hosts_are_refused(serve: Callable[..., Served]) -> None:
    """With the right token still: a websocket from another origin (or none), and any request
    naming another Host (DNS rebinding), get 403 and start nothing."""
    served = serve()
    port = served.port

    async def drive() -> None:
        async with aiohttp.ClientSession() as http:
            for origin in ("http://evil.example", f"http://evil.example:{port}", "null", None):
                assert await refused(http, served.ws_url, origin) == 403, origin
            for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}"):
                headers = {"Host": host}
                assert await refused(http, served.ws_url, served.origin, **headers) == 403
                async with http.get(served.url, headers=headers) as response:
                    assert response.status == 403, host
            evil = {"Origin": "http://evil.example"}
            async with http.get(served.url, headers=evil) as response:
                assert response.status == 403
            for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
                async with http.get(served.url, headers={"Host": host}) as response:
                    assert response.status == 200, host

    asyncio.run(drive())
    time.sleep(0.3)
    assert served.apps() == []


def test_the_page_loads_nothing_from_outside(serve: Callable[..., Served]) -> None:
    """Every URL in the page is this server's, and is served (the font too); the page names its
    own icon (no /favicon.ico, which has no token); a Content-Security-Policy keeps the browser to
    this server; no Referer carries the token."""
    served = serve()

    async def drive() -> None:
        async with aiohttp.ClientSession() as http:
            async with http.get(served.url) as response:
                assert response.status == 200
                html = await response.text()
                headers = response.headers
            urls = re.findall(r"""(?<!xmlns=")https?://[^\s"'<>)]+""", html)
            assert urls
            outside = [u for u in urls if not u.startswith(served.url)]
            assert outside == [], outside
            assert any(u.endswith(".ttf") for u in urls), "the page's font is not served here"
            assert '<link rel="icon" href="data:,"' in html, "the browser would ask /favicon.ico"
            for url in urls:
                async with http.get(url) as response:
                    assert response.status == 200, url
            policy = headers.get("Content-Security-Policy", "")
            assert "default-src 'self'" in policy, policy
            sources = re.findall(r"(?:https?|wss?)://[^\s;]+", policy)
            hosts = {f"127.0.0.1:{served.port}", f"localhost:{served.port}"}
            assert {s.split("://", 1)[1] for s in sources} <= hosts, policy
            assert headers.get("Referrer-Policy") == "no-referrer"

    asyncio.run(drive())


def test_sessions_are_limited(serve: Callable[..., Served]) -> None:
    """--max-sessions 1 (on --port 0: any free port): a second client is refused with a clear
    message and starts no process; once the session ends, its slot takes a new one."""
    served = serve("--max-sessions", "1", port=0)

    async def drive() -> None:
        async with aiohttp.ClientSession() as http:
            ws = await start_session(http, served.ws_url, served.origin)
            await app_output(ws, until=b"")
            (first,) = served.apps()
            assert await refused(http, served.ws_url, served.origin) == 503
            async with http.get(served.url) as response:
                assert response.status == 503
                assert "--max-sessions" in await response.text()
            await asyncio.sleep(0.3)
            assert served.apps() == [first]
            await ws.close()
            deadline = time.monotonic() + APP_TIMEOUT
            while True:
                try:
                    ws = await start_session(http, served.ws_url, served.origin)
                    break
                except aiohttp.WSServerHandshakeError as e:
                    assert e.status == 503 and time.monotonic() < deadline
                    await asyncio.sleep(0.05)
            await app_output(ws, until=b"")
            assert len(served.apps()) == 1 and not alive(first)
            await ws.close()

    asyncio.run(drive())


def test_sessions_end_with_the_server(serve: Callable[..., Served]) -> None:
    """A SIGKILLed server leaves no app process behind."""
    served = serve()

    async def drive() -> list[int]:
        async with aiohttp.ClientSession() as http:
            ws = await start_session(http, served.ws_url, served.origin)
            await app_output(ws, until=b"")
            assert len(served.apps()) == 1
            apps = descendants(served.proc.pid)
            served.proc.kill()
            return apps

    apps = asyncio.run(drive())
    try:
        assert wait_for(lambda: not any(alive(pid) for pid in apps), 5.0), "an app outlived it"
    finally:
        for pid in apps:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_sessions_get_no_server_options() -> None:
    """A session runs the command line less the server's options, written in full, abbreviated
    as argparse allows, or with `=`: a session that served again would start servers."""
    argv = ["a.tar", "--serve", "--port", "9000", "--max-sessions", "3", "--no-cache"]
    assert without_serve_options(argv) == ["a.tar", "--no-cache"]
    argv = ["--ser", "--po=1", "--max-se", "7", "--platform", "linux/arm64", "b.tar"]
    assert without_serve_options(argv) == ["--platform", "linux/arm64", "b.tar"]
    assert without_serve_options(["--", "--serve"]) == ["--", "--serve"]
