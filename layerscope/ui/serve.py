"""Web mode: `layerscope ARCHIVE --serve` serves the app to a browser through textual-serve.
Each browser tab that connects runs `python -m layerscope` with the same arguments in a process
of its own, its screen streamed over a websocket. Only localhost listens."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence

from ..errors import LayerscopeError

DEFAULT_PORT = 8000
HOST = "localhost"


def app_command(args: Sequence[str]) -> str:
    """The shell command each browser session runs: this Python, this package, `args`."""
    return shlex.join([sys.executable, "-m", "layerscope", *args])


def without_serve_options(argv: Sequence[str]) -> list[str]:
    """The command line given, less `--serve` and `--port N` (what each session runs)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--serve" or arg.startswith("--port="):
            continue
        if arg == "--port":
            skip = True
            continue
        out.append(arg)
    return out


def serve(args: Sequence[str], *, port: int = DEFAULT_PORT, host: str = HOST) -> int:
    """Serve the app run with `args` until interrupted; returns the exit status."""
    try:
        from textual_serve.server import Server
    except ImportError:
        raise LayerscopeError(
            "--serve needs textual-serve: pip install 'layerscope[web]'"
        ) from None
    server = Server(app_command(args), host=host, port=port, title="layerscope")
    server.serve()
    return 0
