"""`--serve` in a real browser (issue 18): Debian's Chromium, driven by Playwright, opens the URL
a real `layerscope --demo --serve` printed, as a person does, and the app runs in the page: keys
typed into the page reach it, and what it draws is read back as text.

- Without the token, or with a wrong one, the page is refused (403) and no app starts.
- With it, the app starts at once (textual-serve's Start button shows only with `?delay`); `]`,
  `m`, `?` and Escape change what the page shows; after `q` the app process ends and the page
  says the session ended (and offers a Restart).
- The page asks nothing of any host but this server (no web font from the internet, no
  /favicon.ico without the token): every request and websocket goes to 127.0.0.1 with the
  token, the browser's console shows no error (a blocked or failed load would be one), and the
  font the terminal uses is loaded, from this server.
- Ctrl+C (SIGINT) stops the server with status 0, and no app, browser or driver is left running.

The terminal is xterm.js drawing on a canvas: there is no text in the DOM, and a screenshot is
not text. The test reads xterm's own screen buffer, which the canvas is drawn from: the page's
script comes from the server unchanged but for one statement added in the browser (HOOK) that
hands the page's terminal to the test. Should textual-serve's script change so that the hook no
longer fits, the test fails and says so.

Chromium is Debian's (/usr/bin/chromium, which .ci/run installs); nothing is downloaded. Under
CI=true a missing browser, playwright or textual-serve fails the test; elsewhere it is skipped
with the reason.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest
from served import Served, alive, descendants, servers, wait_for

try:
    import playwright.sync_api as playwright_api
except ImportError:  # the `browser` fixture says so: a failure under CI=true, else a skip
    playwright_api = None  # type: ignore[assignment]
if TYPE_CHECKING:
    from playwright.sync_api import (
        BrowserContext,
        ConsoleMessage,
        Page,
        Request,
        Route,
        ViewportSize,
    )

IN_CI = os.environ.get("CI") == "true"
# Chromium as root, headless, with nothing of its own reaching the network (this machine's
# network is closed: without these it tries Google's hosts at every start).
CHROMIUM_ARGS = [  # (headless=True adds --headless)
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}  # ~133 x 38 cells: pane titles whole
TIMEOUT = 30.0  # seconds for the page to show what a step waits for (a loaded CI machine)
# The statement in textual-serve's script that opens the terminal, and what the test adds to it.
HOOK = "this.terminal.open(e)"
HOOKED = HOOK + ",window.layerscopeTerminal=this.terminal"
# What textual-serve's script logs when it tells an ended session anything (the page's focus,
# a key): harmless, and the only console error the page may show.
CLOSED_SOCKET = "WebSocket is already in CLOSING or CLOSED state"
# The terminal's screen as text, one line a row (null before the terminal exists).
SCREEN_JS = """() => {
  const term = window.layerscopeTerminal;
  if (!term) return null;
  const buffer = term.buffer.active, rows = [];
  for (let y = 0; y < term.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows.join("\\n");
}"""
# Whether the screen shows a regular expression (or, `present` false, does not).
SHOWS_JS = f"""([pattern, present]) => {{
  const screen = ({SCREEN_JS})();
  return screen !== null && new RegExp(pattern).test(screen) === present;
}}"""
POLL = 100  # ms between two looks at the screen, in the page
# Whether the terminal's font face is loaded in the page.
FONT_JS = """() => [...document.fonts].some(
  (face) => face.family.replace(/"/g, "") === "Roboto Mono" && face.status === "loaded")"""


def unavailable(why: str) -> NoReturn:
    """Fail under CI=true (CI must run this test), else skip saying why."""
    if IN_CI:
        pytest.fail(f"CI=true and {why}", pytrace=False)
    pytest.skip(why)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    """Debian's Chromium with a new empty profile, driven by Playwright; on leaving, closed, and
    checked to have left no process behind."""
    chromium = shutil.which("chromium")
    if chromium is None:
        unavailable("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    if importlib.util.find_spec("textual_serve") is None:
        unavailable("--serve needs textual-serve: pip install -e '.[test]'")
    if playwright_api is None:
        unavailable("playwright is not installed: pip install -e '.[test]'")
    before = set(descendants(os.getpid()))
    profile = tmp_path / "chromium-profile"  # (Playwright makes it)
    with playwright_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=chromium, headless=True, args=CHROMIUM_ARGS, viewport=VIEWPORT
        )  # fmt: skip
        context.set_default_timeout(TIMEOUT * 1000)
        try:
            yield context
        finally:
            context.close()
    left = lambda: set(descendants(os.getpid())) - before  # noqa: E731
    assert wait_for(lambda: not left(), 5.0), f"left running: {left()}"


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    """Start `layerscope --demo --serve` (with more options); every server started, and any
    process it left, is killed at the end of the test."""
    with servers() as start:
        yield start


class Watched:
    """A page, with every request, websocket and console error it made, and whether the
    page's script took the hook."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.requests: list[str] = []
        self.websockets: list[str] = []
        self.errors: list[str] = []
        self.hooks: list[int] = []
        page.on("request", self._request)
        page.on("websocket", lambda ws: self.websockets.append(ws.url))
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.route("**/static/js/textual.js", self._hook)

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith(CLOSED_SOCKET):
            self.errors.append(f"{message.text} ({message.location.get('url')})")

    def _hook(self, route: Route) -> None:
        """Serve textual-serve's script as the server sent it, the hook added."""
        response = route.fetch()
        script = response.text()
        self.hooks.append(script.count(HOOK))
        route.fulfill(response=response, body=script.replace(HOOK, HOOKED, 1))

    def screen(self) -> str:
        """The terminal's screen as text ('' before the terminal exists)."""
        return str(self.page.evaluate(SCREEN_JS) or "")

    def shows(self, pattern: str, present: bool = True) -> None:
        """Wait until the screen shows `pattern` (a regular expression), or no longer shows it
        (`present` False): checked in the page every POLL ms. Fails with the screen after
        TIMEOUT."""
        try:
            self.page.wait_for_function(
                SHOWS_JS, arg=[pattern, present], polling=POLL, timeout=TIMEOUT * 1000
            )
        except playwright_api.TimeoutError:
            assert set(self.hooks) <= {1}, f"textual-serve's script no longer has {HOOK!r}"
            state = "shown" if present else "gone"
            raise AssertionError(
                f"{pattern!r} not {state} in time; the page shows:\n{self.screen()}"
            ) from None

    def press(self, key: str, then: str | None = None) -> None:
        """Type `key` into the terminal (as a person does, with the terminal focused), and wait
        until the screen shows `then` (None: do not wait)."""
        self.page.locator(".xterm-helper-textarea").focus()
        self.page.keyboard.press(key)
        if then is not None:
            self.shows(then)


def test_the_app_runs_in_the_browser(browser: BrowserContext, serve: Callable[..., Served]) -> None:
    """Refused without the token; with it the app starts and answers keys, and `q` ends the
    session; nothing is asked of the internet; Ctrl+C stops the server, and no process is left.
    (One test, one server and one browser: each costs seconds to start.)"""
    served = serve(port=0)
    assert served.token, f"no token in the printed URL: {served.lines}"
    refused = browser.new_page()
    wrong = served.token[:-1] + ("A" if served.token[-1] != "A" else "B")
    for url in (f"{served.origin}/", f"{served.origin}/{wrong}/"):
        response = refused.goto(url)
        assert response is not None and response.status == 403, url
        assert "refused" in refused.inner_text("body"), url
        assert served.token not in refused.content(), url
    refused.close()
    assert served.apps() == [], "a refused page started an app"

    page = Watched(browser.new_page())
    apps: set[int] = set()
    try:
        page.page.goto(served.url)  # the page connects at once (a Start button needs ?delay)
        page.shows(r"layerscope-demo")
        page.shows(r"Changes in layer 0")
        apps.update(served.apps())
        assert len(apps) == 1, apps
        page.press("]", then=r"Changes in layer 1")
        page.press("m", then=r"Image as of layer 1")
        page.press("?", then=r"Next layer")
        page.press("Escape", then=r"Image as of layer 1")
        page.shows(r"Next layer", present=False)
        font_loaded = page.page.evaluate(FONT_JS)
        page.press("q")  # the app quits: the page says so, and offers a restart
        page.page.get_by_role("button", name="Restart").wait_for(state="visible")
        assert "Session ended." in page.page.inner_text("body")
        assert wait_for(lambda: not any(alive(pid) for pid in apps), TIMEOUT), "q left the app"
    finally:
        page.page.close()
    assert page.hooks == [1], page.hooks
    outside = [url for url in page.requests if not url.startswith(served.url)]
    assert outside == [], "requests to another host, or without the token"
    assert page.errors == [], "the browser's console shows errors"
    font = f"{served.url}static/fonts/RobotoMono-VariableFont_wght.ttf"
    assert font in page.requests, page.requests
    assert font_loaded, "the terminal's font is not loaded"
    websocket = served.url.replace("http://", "ws://", 1) + "ws?"
    assert len(page.websockets) == 1, page.websockets
    assert all(url.startswith(websocket) for url in page.websockets), page.websockets

    left = descendants(served.proc.pid)
    served.proc.send_signal(signal.SIGINT)  # Ctrl+C
    status = served.proc.wait(TIMEOUT)
    assert served.proc.stderr is not None
    errors = served.proc.stderr.read()
    assert status == 0, errors
    assert "Traceback" not in errors, errors
    # (an app still quitting when the server ends gets SIGTERM from Linux as it does)
    gone = wait_for(lambda: not any(alive(pid) for pid in {*apps, *left}), TIMEOUT)
    assert gone, "an app outlived the server"
