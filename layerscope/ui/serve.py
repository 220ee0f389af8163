"""Web mode: `layerscope ARCHIVE --serve` serves the app to a browser through textual-serve.
Each browser tab that connects runs the command line with the same arguments (less the server's
own) in a process of its own, its screen streamed over a websocket.

Only 127.0.0.1 listens, and only the user who started the server gets in: the URL it prints
carries a secret token every request must present, Host and Origin are checked, and at most
`--max-sessions` app processes run at once (see `layerscope.ui.webserver`).

A session's process is `python -m layerscope ARGS...`, the server's own child, with the server's
process id in its environment (`lifecycle.SERVED_BY`): it ends when the server does, even a
SIGKILLed one (Linux's PR_SET_PDEATHSIG; elsewhere a thread watches the server)."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence

from layerscope import lifecycle
from layerscope.errors import LayerscopeError

DEFAULT_PORT = 8000
DEFAULT_MAX_SESSIONS = 4
# The options of the server itself, and whether each takes a value: the sessions get neither.
SERVE_OPTIONS = {"--serve": False, "--port": True, "--max-sessions": True}


def app_command(args: Sequence[str]) -> str:
    """The shell command each browser session runs: this Python, layerscope, `args`, told which
    server it belongs to. The shell execs it: the app is the server's child, its only process."""
    command = shlex.join([sys.executable, "-m", "layerscope", *args])
    if os.name != "posix":
        return command
    return f"{lifecycle.SERVED_BY}={os.getpid()} exec {command}"


def _serve_option(arg: str) -> str | None:
    """The server option `arg` names, written whole, abbreviated (as argparse allows) or as
    `--opt=value`; None if it names none. (A prefix that argparse found ambiguous never gets
    here: the command line was parsed before.)"""
    name = arg.partition("=")[0]
    if len(name) < 3 or not name.startswith("--"):
        return None
    return next((opt for opt in SERVE_OPTIONS if opt.startswith(name)), None)


def without_serve_options(argv: Sequence[str]) -> list[str]:
    """The command line given, less `--serve`, `--port N` and `--max-sessions N`, abbreviated or
    not (what each session runs: a session that served again would start servers without end)."""
    out: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            out.append(arg)
            out.extend(args)
            break
        option = _serve_option(arg)
        if option is None:
            out.append(arg)
        elif SERVE_OPTIONS[option] and "=" not in arg:
            next(args, None)
    return out


def serve(
    args: Sequence[str],
    *,
    port: int = DEFAULT_PORT,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
) -> int:
    """Serve the app run with `args` on 127.0.0.1:`port` (0: any free port) until interrupted,
    at most `max_sessions` sessions at once; returns the exit status."""
    if max_sessions < 1:
        raise LayerscopeError("--max-sessions must be 1 or more")
    if not 0 <= port <= 65535:
        raise LayerscopeError("--port must be between 0 and 65535")
    try:
        from layerscope.ui.webserver import GuardedServer, listen
    except ImportError:
        raise LayerscopeError(
            "--serve needs textual-serve: pip install 'layerscope[web]'"
        ) from None
    try:
        sock = listen(port)
    except OSError as e:
        why = os.strerror(e.errno) if e.errno else str(e)
        raise LayerscopeError(f"cannot listen on 127.0.0.1:{port}: {why}") from None
    GuardedServer(app_command(args), sock=sock, max_sessions=max_sessions).serve()
    return 0
