"""The web server behind `--serve`: textual-serve's Server, guarded so that only the user who
started it can drive it.

textual-serve alone answers anyone who reaches its port. On a shared machine another local user
(or a web page in the user's own browser, through DNS rebinding) could open sessions, drive the
app and have it export files as the serving user, and start app processes without end. Here:

- every request must name this server in its Host header (`127.0.0.1`, `localhost` or `[::1]`
  with the port): a rebound DNS name is refused;
- every request must carry the secret token as the first segment of its path (`/TOKEN/`,
  `/TOKEN/ws`, `/TOKEN/static/...`), compared in constant time. The token is made at start and
  shown only on the serving terminal, in the URL to open; it is in no command line or environment;
- a websocket must come from the served origin (`http://127.0.0.1:PORT` or
  `http://localhost:PORT`), and any other request that names an origin must name that one;
- at most `max_sessions` sessions (app processes) run at once; a session that ends frees its slot
  (once its app has closed its output: it is exiting).

Stopping the server (Ctrl+C, SIGTERM, SIGHUP) ends every session: its app is told to quit, and
one still there after STOP_TIMEOUT ends with the server (`lifecycle.end_with_server`). A
refused request gets 403 (503 when every session is taken) and starts nothing. The page loads
nothing from the internet: the link to a web font in textual-serve's template is dropped, the
same font is served from textual-serve's own static files, the page names an empty icon of its
own (no /favicon.ico), and a Content-Security-Policy keeps the browser to this server (checked
in Chromium by tests/test_serve_browser.py). Log lines and what sessions write on standard error
are shown with `visible()`: they may quote an archive.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import secrets
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from aiohttp import hdrs, web
from textual_serve.server import Server

from layerscope.text import visible

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HOST = "127.0.0.1"
WEBSOCKET_ROUTE = "websocket"  # the name textual-serve gives the route that starts a session
STOP_TIMEOUT = 3.0  # seconds sessions get to end when the server stops (they quit in ~0.2 s)
FONTS = (  # textual-serve's own copy of the font its template asks Google for
    ("RobotoMono-VariableFont_wght.ttf", "normal"),
    ("RobotoMono-Italic-VariableFont_wght.ttf", "italic"),
)
_LINK = re.compile(r"""<link\b[^>]*\bhref\s*=\s*["']?([^"'\s>]*)[^>]*>""", re.I)


def listen(port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:`port` (0: any free port)."""
    return socket.create_server((HOST, port))


def localize(html: str, here: str, static_url: str, fonts: list[tuple[str, str]]) -> str:
    """`html` less every `<link>` to a URL that is not under `here` (the server's own), with
    `@font-face` rules for `fonts` (file name, style) served from `static_url` instead, and an
    empty icon of its own (else the browser asks for /favicon.ico, which has no token: a 403
    in its console)."""

    def local_only(link: re.Match[str]) -> str:
        href = link.group(1)
        outside = "//" in href and not href.startswith(f"{here}/")
        return "" if outside else link.group(0)

    html = _LINK.sub(local_only, html)
    faces = "".join(
        f'@font-face {{ font-family: "Roboto Mono"; font-style: {style}; font-weight: 100 700;'
        f' src: url("{static_url}fonts/{name}") format("truetype"); }}\n'
        for name, style in fonts
    )
    icon = '<link rel="icon" href="data:," />'
    return html.replace("</head>", f"{icon}\n<style>\n{faces}</style>\n</head>", 1)


class VisibleStream:
    """A text stream that writes through to `stream` with every control, bidi or invisible
    character but the line end and the tab shown as an escape (see `layerscope.text`)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        """Write `text` made visible; returns the length of `text`."""
        self.stream.write("\n".join(visible(line, keep="\t") for line in text.split("\n")))
        return len(text)

    def flush(self) -> None:
        """Flush the stream below."""
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class _VisibleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return "\n".join(visible(line, keep="\t") for line in text.split("\n"))


class GuardedServer(Server):
    """textual-serve's Server behind a token, Host and Origin checks and a session limit."""

    def __init__(
        self, command: str, *, sock: socket.socket, max_sessions: int, title: str = "layerscope"
    ) -> None:
        port = sock.getsockname()[1]
        super().__init__(command, host=HOST, port=port, title=title)
        self.sock = sock
        self.token = secrets.token_urlsafe(32)
        self.max_sessions = max_sessions
        self.sessions: set[asyncio.Task[Any]] = set()
        self.hosts = frozenset(f"{h}:{port}" for h in ("127.0.0.1", "localhost", "[::1]"))
        self.origins = frozenset(f"http://{h}:{port}" for h in ("127.0.0.1", "localhost"))

    @property
    def url(self) -> str:
        """The URL to open: the only way in."""
        return f"{self.public_url}/{self.token}/"

    async def _make_app(self) -> web.Application:
        """textual-serve's application mounted under `/TOKEN`, inside one that checks every
        request first."""
        root = web.Application(middlewares=[self._guard])
        root.add_subapp(f"/{self.token}", await super()._make_app())
        root.on_response_prepare.append(self._add_headers)
        root.on_shutdown.append(self._end_sessions)
        return root

    def _refusal(self, request: web.Request) -> str | None:
        """Why `request` is refused (None: it is not)."""
        if request.headers.get(hdrs.HOST, "").lower() not in self.hosts:
            return "this server answers only to 127.0.0.1, localhost or [::1] with its port"
        segment = request.rel_url.raw_path.split("/", 2)[1]
        if not hmac.compare_digest(segment.encode(errors="replace"), self.token.encode()):
            return "a wrong or missing token: open the URL layerscope printed when it started"
        origin = request.headers.get(hdrs.ORIGIN)
        if (origin is not None or _is_session(request)) and origin not in self.origins:
            return "a request from another web site"
        return None

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refuse what `_refusal` refuses; count sessions, and refuse one too many."""
        refusal = self._refusal(request)
        if refusal is not None:
            return web.Response(status=403, text=f"layerscope: refused: {refusal}\n")
        if (_is_session(request) or _is_page(request)) and len(self.sessions) >= self.max_sessions:
            text = (
                f"layerscope: all {self.max_sessions} sessions are in use: close one, or start"
                " layerscope again with --max-sessions N\n"
            )
            return web.Response(status=503, text=text)
        if not _is_session(request):
            return await handler(request)
        task = asyncio.current_task()
        assert task is not None
        self.sessions.add(task)
        try:
            return await handler(request)
        finally:
            self.sessions.discard(task)

    async def _add_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        """Keep the browser to this server, and the token out of Referer headers."""
        here = " ".join(sorted(self.origins))
        ws = here.replace("http://", "ws://")
        response.headers["Content-Security-Policy"] = (
            f"default-src 'self' {here}; script-src 'self' {here} 'unsafe-inline';"
            f" style-src 'self' {here} 'unsafe-inline'; img-src 'self' {here} data:;"
            f" connect-src 'self' {here} {ws}; base-uri 'none'; form-action 'none';"
            " frame-ancestors 'none'"
        )
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        """textual-serve's page, with nothing fetched from the internet."""
        response = await super().handle_index(request)
        if isinstance(response, web.Response) and response.text is not None:
            static = str(request.app.router["static"].url_for(filename="/")).rstrip("/") + "/"
            static_url = f"{self.public_url}{static}"
            fonts = [(n, s) for n, s in FONTS if (self.statics_path / "fonts" / n).is_file()]
            response.text = localize(response.text, self.public_url, static_url, fonts)
        return response

    async def _end_sessions(self, app: web.Application) -> None:
        """On stop, end every session: its app is told to quit, its websocket closed. One that
        takes more than STOP_TIMEOUT is cut short (its app gets SIGTERM when the server ends)."""
        tasks = list(self.sessions)
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
            for task in pending:
                task.cancel()

    async def on_startup(self, app: web.Application) -> None:
        """Say where to point the browser, and how to stop."""
        print(
            f"layerscope: serving on 127.0.0.1:{self.port}, Ctrl+C stops it. Open this URL in a"
            " browser (its token is the only way in):",
            flush=True,
        )
        print(self.url, flush=True)

    def initialize_logging(self) -> None:
        """Plain log lines on standard error, shown with `visible()`."""
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_VisibleFormatter("layerscope: serve: %(message)s"))
        log = logging.getLogger("textual-serve")
        log.addHandler(handler)
        log.setLevel(logging.DEBUG if self.debug else logging.WARNING)
        log.propagate = False

    def serve(self, debug: bool = False) -> None:
        """Serve on the socket given until SIGINT or SIGTERM; sessions end with the server."""
        self.debug = debug
        self.initialize_logging()
        loop = asyncio.new_event_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) != signal.SIG_IGN:  # nohup: the user wants it ignored
                loop.add_signal_handler(sig, self.request_exit)
        real_stdout = sys.stdout
        sys.stdout = VisibleStream(real_stdout)  # textual-serve copies sessions' stderr there
        try:
            web.run_app(
                self._make_app(),
                sock=self.sock,
                handle_signals=False,
                loop=loop,
                print=None,
                access_log=None,
                shutdown_timeout=STOP_TIMEOUT,
            )
        finally:
            sys.stdout = real_stdout
            loop.close()


def _is_session(request: web.Request) -> bool:
    """Whether `request` is for the websocket that starts an app process."""
    route = request.match_info.route
    return route.name == WEBSOCKET_ROUTE or hdrs.UPGRADE in request.headers


def _is_page(request: web.Request) -> bool:
    """Whether `request` is for the page (refused too when sessions are full: a clear message)."""
    return request.match_info.route.name == "index"
