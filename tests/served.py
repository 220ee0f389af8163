"""A real `layerscope --demo --serve` server for the `--serve` tests (test_serve.py drives it with
a websocket client, test_serve_browser.py with a real browser): started in a process of its own,
its printed URL read, its processes found in /proc, and everything it started killed at the end.

Plain functions and a context manager, not fixtures: each test module makes its own fixture of
`servers()` (no test module imports another)."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

START_TIMEOUT = 30.0  # seconds for a server to print its URL (a loaded CI machine)
TOKEN_URL = re.compile(r"http://127\.0\.0\.1:(\d+)/([A-Za-z0-9_-]{40,})/")


@dataclass
class Served:
    """A server process, where it listens, and the URL it printed."""

    proc: subprocess.Popen[str]
    port: int
    url: str
    lines: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        """The served origin: what the page's websocket says it comes from."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """The page's websocket, as textual-serve's script opens it."""
        return self.url.replace("http://", "ws://", 1) + "ws?width=100&height=30"

    @property
    def token(self) -> str:
        """The token the URL carries ('' if none)."""
        match = TOKEN_URL.match(self.url)
        return match.group(2) if match else ""

    def apps(self) -> list[int]:
        """The server's live child processes: one per session."""
        return children(self.proc.pid)


def children(pid: int) -> list[int]:
    """The live (not zombie) child processes of `pid`, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(entry))
    return sorted(found)


def descendants(pid: int) -> list[int]:
    """The live processes under `pid`, at any depth."""
    found = children(pid)
    return found + [d for child in found for d in descendants(child)]


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port`."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _reader(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _printed_url(proc: subprocess.Popen[str], port: int, out: Served) -> str:
    """The URL the server prints; the bare address if it prints none once it listens."""
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT
    listening_since: float | None = None
    while time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            line = lines.get(timeout=0.1)
            if line is None:
                error = proc.stderr.read() if proc.stderr else ""
                raise AssertionError(f"the server ended: {proc.wait()} {error}")
            out.lines.append(line)
            if match := TOKEN_URL.search(line):
                return match.group(0)
        if port and listening_since is None and listening(port):
            listening_since = time.monotonic()
        if listening_since is not None and time.monotonic() - listening_since > 2.0:
            return f"http://127.0.0.1:{port}/"
    raise AssertionError(f"no URL from the server: {out.lines}")


@contextlib.contextmanager
def servers() -> Iterator[Callable[..., Served]]:
    """A function that starts `layerscope --demo --serve` (with more options; `port=0`: any free
    port); every server started, and any process it left, is killed on leaving."""
    started: list[Served] = []

    def start(*options: str, port: int | None = None) -> Served:
        port = free_port() if port is None else port
        cmd = [sys.executable, "-m", "layerscope", "--demo", "--serve", "--port", str(port)]
        proc = subprocess.Popen(
            [*cmd, *options],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        served = Served(proc, port, "")
        started.append(served)
        served.url = _printed_url(proc, port, served)
        printed = TOKEN_URL.match(served.url)
        served.port = port or (int(printed.group(1)) if printed else 0)
        return served

    try:
        yield start
    finally:
        for served in started:
            left = descendants(served.proc.pid)
            served.proc.kill()
            served.proc.wait()
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
