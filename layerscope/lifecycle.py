"""How layerscope ends when it is told to: SIGTERM, or SIGHUP (a closed terminal, a lost SSH
session), ends it as Ctrl-C does, and leaves nothing behind.

- `install()` (the command line calls it first) makes both signals raise `Terminated` in the main
  thread: every `finally` and context manager runs (temporary files closed, worker processes
  ended), and the process exits with status 128 + the signal. A signal that is ignored when
  layerscope starts (`nohup`) stays ignored.
- `diverted(handler)`: while a block runs (the app), a signal calls `handler` instead, which
  schedules a normal exit (Textual restores the terminal on its normal exit only).
- Once a signal has come, further ones do not interrupt the cleanup; if the cleanup takes more
  than `GRACE` seconds, the process ends at once, after its last words (the app restores the
  terminal). What is left to undo then is undone by the kernel: on Linux temporary files have no
  name (sources.py) and worker processes end with their parent (parallel.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator

SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))
GRACE = 5.0  # seconds the cleanup may take after a signal before the process ends at once

_received: int | None = None  # the first signal that came
_divert: Callable[[int], object] | None = None
_last_words: list[Callable[[], object]] = []  # run before a forced exit
_named: set[str] = set()  # temporary files and directories with a name: a forced exit removes them


class Terminated(SystemExit):
    """SIGTERM or SIGHUP, raised in the main thread. It unwinds like KeyboardInterrupt, is not
    caught by `except Exception`, and ends the process with status 128 + the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


def install() -> None:
    """End the process on SIGTERM and SIGHUP as on Ctrl-C (see the module's docstring). Only
    the main thread can do it; elsewhere it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in SIGNALS:
        if signal.getsignal(sig) != signal.SIG_IGN:  # nohup: the user wants it ignored
            signal.signal(sig, _on_signal)


def received() -> int | None:
    """The signal that asked the process to end, if one did."""
    return _received


def exit_status(signum: int) -> int:
    """The exit status of a process ended by `signum`, as a shell reports it."""
    return 128 + signum


@contextlib.contextmanager
def diverted(
    handler: Callable[[int], object], last_words: Callable[[], object] | None = None
) -> Iterator[None]:
    """While the block runs, a signal calls `handler(signum)` instead of raising Terminated. It
    runs in the main thread between two bytecodes: it should only schedule work (or raise).
    `last_words` runs if the cleanup overstays GRACE, just before the process ends."""
    global _divert
    before = _divert
    _divert = handler
    if last_words is not None:
        _last_words.append(last_words)
    try:
        yield
    finally:
        _divert = before
        if last_words is not None:
            with contextlib.suppress(ValueError):
                _last_words.remove(last_words)


def track(path: str) -> None:
    """A temporary file or directory to remove if the process must end at once."""
    _named.add(path)


def untrack(path: str) -> None:
    """The file is removed already (or is no longer ours)."""
    _named.discard(path)


def _on_signal(signum: int, _frame: object) -> None:
    global _received
    if _received is not None:
        return  # already ending: let the cleanup finish (GRACE bounds it)
    _received = signum
    timer = threading.Timer(GRACE, _force_exit, (signum,))
    timer.daemon = True
    timer.start()
    if _divert is not None:
        _divert(signum)
        return
    raise Terminated(signum)


def _force_exit(signum: int) -> None:
    """The cleanup overstayed: say the last words, remove named files, end now."""
    for words in list(_last_words):
        with contextlib.suppress(Exception):
            words()
    for path in list(_named):
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)
    os._exit(exit_status(signum))


# -- processes that end with another ----------------------------------------------------------

PR_SET_PDEATHSIG = 1  # prctl(2)
WATCH_INTERVAL = 0.5  # seconds between two looks at a process, where no pidfd can be had
SERVED_BY = "LAYERSCOPE_SERVED_BY"  # a --serve session: the server's process id


def die_with_parent() -> bool:
    """Ask the kernel for SIGTERM when this process's parent ends; False where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def alive(pid: int) -> bool:
    """Whether process `pid` exists (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def watch(pid: int, end: Callable[[], object]) -> None:
    """Call `end` (in a thread) once process `pid` has ended: a pidfd waited on (Linux), or a
    look every WATCH_INTERVAL. Called at once if `pid` is already gone."""
    try:
        fd: int | None = os.pidfd_open(pid)
    except ProcessLookupError:
        end()
        return
    except (AttributeError, OSError):
        fd = None
        if not alive(pid):
            end()
            return

    def wait() -> None:
        if fd is not None:
            select.select([fd], [], [])
        else:
            while alive(pid):
                time.sleep(WATCH_INTERVAL)
        end()

    threading.Thread(target=wait, name=f"layerscope-watch-{pid}", daemon=True).start()


def end_with_server() -> None:
    """In a `--serve` session (its environment names the server): end, as SIGTERM ends
    layerscope, when the server ends, even a SIGKILLed one; at once if it already has."""
    server = os.environ.pop(SERVED_BY, "")
    if not server.isdigit():
        return
    parent = int(server)
    if not die_with_parent() or os.getppid() != parent:
        watch(parent, lambda: os.kill(os.getpid(), signal.SIGTERM))


def set_mmap_threshold(size: int) -> None:
    """Have glibc give each buffer of `size` bytes or more its own mapping (M_MMAP_THRESHOLD);
    nothing elsewhere (another system, another C library)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL(None).mallopt(-3, size)  # M_MMAP_THRESHOLD
