"""The real app in a real terminal (a pty) on an image whose every string attacks the screen:
what it writes to the terminal must carry none of the image's escape sequences, and its markup
must show as text. Every view that shows archive text is visited."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from hostile_text import RAW_BYTES, hostile_archive

COLUMNS, ROWS = 160, 50


class Terminal:
    """`python -m layerscope ARGS` on the slave side of a pty; everything it writes is kept."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(ROWS))
        env.pop("TEXTUAL", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "layerscope", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.output = bytearray()

    def read(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            self.output += chunk

    def wait_for(self, needle: bytes, seconds: float = 20) -> None:
        end = time.monotonic() + seconds
        while needle not in self.output and time.monotonic() < end:
            self.read(0.2)
        assert needle in self.output, f"{needle!r} never shown"

    def keys(self, *keys: str, pause: float = 0.6) -> None:
        for key in keys:
            os.write(self.master, key.encode())
            self.read(pause)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        os.close(self.master)


@pytest.fixture
def terminal(tmp_path):
    archive = hostile_archive(tmp_path / "hostile.tar")
    term = Terminal([str(archive)], tmp_path)
    yield term
    term.close()


TAB, DOWN, ENTER, ESC = "\t", "\x1b[B", "\r", "\x1b"


def test_no_escape_sequence_from_the_image_reaches_the_terminal(terminal, tmp_path):
    terminal.wait_for(b"Layers")
    terminal.read(3)  # every layer read, the views built
    # the tree (names, link targets), every layer's details, the image pane (env, labels),
    # each insight view and the preview of the file whose content is an attack
    terminal.keys("e", "a", "m", "e", "]", "[", "m")
    terminal.keys("w", pause=1.5)
    terminal.keys(ESC, "I", pause=1.5)
    terminal.keys(ESC, "C", pause=1.5)
    terminal.keys(ESC, "i", "e")
    for _ in range(6):  # down the tree to the file with the hostile content
        terminal.keys(DOWN, pause=0.3)
        terminal.keys("p", pause=1.0)
        terminal.keys(ESC, "H", pause=1.0)
        terminal.keys(ESC, pause=0.3)
    terminal.keys("q", pause=2)
    out = bytes(terminal.output)
    for raw in RAW_BYTES:
        assert raw not in out, f"{raw!r} from the image reached the terminal"
    # the only OSC sequences are Textual's own (22: the mouse pointer's shape), and no bell
    oscs = re.findall(rb"\x1b\](\d*);[^\x07\x1b]*(?:\x07|\x1b\\)", out)
    assert set(oscs) <= {b"22"}, oscs
    assert b"\x07" not in re.sub(rb"\x1b\]\d*;[^\x07\x1b]*(?:\x07|\x1b\\)", b"", out)
    # the attacks are shown, escaped, as text
    assert b"\\x1b]52;c;UFdORUQ=\\x07" in out
    assert b"[@click=app.quit]" in out
    assert not any(tmp_path.glob("*.svg"))
