"""Read layer blobs in worker processes, one blob per task, largest first, so a big image uses
every core (the tar parsing holds the GIL: threads would not help it; each read's own thread
decompresses and hashes the blob alongside). A big uncompressed blob may be read in two parts
by two processes at once (`read_part`, judged by the model's archive).

Workers never outlive layerscope: they are ended when it stops reading (an error, a cancel, a
signal: see lifecycle.py), and each one ends by itself when layerscope's process dies, even by
SIGKILL: a forked worker asks the kernel for SIGTERM when its parent dies (Linux's
PR_SET_PDEATHSIG); one from the fork server (whose parent outlives layerscope as long as any
worker runs) has a thread wait for layerscope's process to end (a pidfd on Linux, else a look
every WATCH_INTERVAL). They take no signal from the terminal (Ctrl-C goes to the parent, which
ends them).

`$LAYERSCOPE_WORKERS` sets how many processes read the layers of an image of two layers or more
(1: none, everything in layerscope's own process); by default one per core for big images.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
import queue as queue_mod
import signal
import threading
from collections.abc import Callable, Generator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import forkserver
from typing import Any

from layerscope import lifecycle
from layerscope.errors import Cancelled
from layerscope.limits import Limits
from layerscope.read.layerreader import BlobLocation, read_layer, read_part
from layerscope.read.records import LayerIndex

PROGRESS_STEP = 4 << 20  # a worker reports progress every 4 MiB of stored bytes
_progress_queue: Any = None


def _init(q: Any, main_pid: int, forked: bool) -> None:
    """Set up a worker: its signals, its end with layerscope's process, its progress queue."""
    global _progress_queue
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler (inherited by fork)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    if forked:  # the parent is layerscope's process (forked or spawned)
        if not lifecycle.die_with_parent():
            lifecycle.watch(main_pid, _end)
        if os.getppid() != main_pid:  # it died before the request: no signal would come
            os._exit(1)
    else:  # the parent is the fork server, which outlives layerscope while workers run
        lifecycle.die_with_parent()
        lifecycle.watch(main_pid, _end)
    _progress_queue = q
    _reuse_read_buffers()


def _reuse_read_buffers() -> None:
    """Have glibc take buffers under 4 MiB from the heap. A worker allocates and frees its
    read buffers (1 MiB chunks, the parse window) thousands of times: mapped apart each time
    (as layerscope's process has big buffers, see cli.keep_big_buffers_apart), every page of
    each faults in anew, a quarter of the time of a read (measured); from the heap, they reuse
    the same pages. Bigger ones (an index's columns) are still mapped apart, and given back."""
    lifecycle.set_mmap_threshold(4 << 20)


def _end() -> None:
    os._exit(1)


def _read(key: int, loc: BlobLocation, diff_id: str, digest: str | None, verify: bool,
          limits: Limits, archive_left: int | None = None,
          finish: Callable[[LayerIndex], object] | None = None,
          part: tuple[int, int | None] | None = None) -> object:  # fmt: skip
    last = 0

    def progress(done: int) -> None:
        nonlocal last
        if done - last >= PROGRESS_STEP or done == loc.size:
            last = done
            _progress_queue.put((key, done))

    if part is not None:
        return read_part(loc, *part, limits=limits, progress=progress, archive_left=archive_left)
    index = read_layer(loc, diff_id=diff_id, digest=digest, verify=verify, limits=limits,
                       progress=progress, archive_left=archive_left)  # fmt: skip
    return index if finish is None else finish(index)


def start_server() -> None:
    """Start the server that worker processes are forked from once threads run (the UI), with
    the reader imported in it. Call it before the UI starts: the server and its resource tracker
    are handed standard error, which a Textual app replaces with something that has no file
    descriptor; started after that, they fail."""
    forkserver.set_forkserver_preload([__name__])
    forkserver.ensure_running()
    # the directory of the server's socket: removed at exit, and by a forced exit too
    lifecycle.track(multiprocessing.util.get_temp_dir())


def default_workers(total_bytes: int, blobs: int) -> int:
    """Processes worth starting: none for small images (startup costs more than it saves), or
    as many as `$LAYERSCOPE_WORKERS` says (for two blobs or more)."""
    if blobs < 2:
        return 1
    asked = _asked_workers()
    if asked is not None:
        return min(asked, blobs)
    if total_bytes < 64 << 20:
        return 1
    return max(1, min(os.cpu_count() or 1, blobs))


def _asked_workers() -> int | None:
    """`$LAYERSCOPE_WORKERS` as a number of processes, if it is one."""
    try:
        n = int(os.environ.get("LAYERSCOPE_WORKERS", ""))
    except ValueError:
        return None
    return n if n >= 1 else None


# blob, diff_id, digest, archive_left, what the worker does with the index it read (what that
# gives is its answer; none: the index itself), and the part of the tar to read, (start, stop):
# then the answer is read_part's
Task = tuple[
    BlobLocation,
    str,
    "str | None",
    "int | None",
    "Callable[[LayerIndex], object] | None",
    "tuple[int, int | None] | None",
]


def read_in_processes(
    tasks: list[Task],
    verify: bool,
    limits: Limits,
    workers: int,
    progress: Callable[[int, int], object] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Generator[tuple[int, Any], None, None]:
    """Yield (task number, the answer of its worker: the index, or what the task's `finish`
    made of it, or the exception it raised) as each blob is read."""
    # fork is cheapest, but unsafe once threads run (the UI): then use a fork server.
    method = "fork" if threading.active_count() == 1 else "forkserver"
    if method == "forkserver":
        try:
            start_server()  # nothing to do when already running
        except OSError:  # its socket cannot be made (a $TMPDIR too long for a socket's name)
            method = "spawn"  # slower to start, but needs no socket
    ctx = multiprocessing.get_context(method)
    q = ctx.Queue()
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i][0].size)
    initargs = (q, os.getpid(), method != "forkserver")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init, initargs=initargs) as ex:
        futures: dict[Future, int] = {
            ex.submit(_read, i, *tasks[i][:3], verify, limits, *tasks[i][3:]): i for i in order
        }
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=0.05, return_when=FIRST_COMPLETED)
                _drain(q, progress)
                if cancelled is not None and cancelled():
                    raise Cancelled()
                for f in done:
                    exc = f.exception()
                    yield futures[f], (exc if exc is not None else f.result())
        except BaseException:
            for f in pending:
                f.cancel()
            for p in list(getattr(ex, "_processes", {}).values()):
                p.terminate()
            raise
        finally:
            _drain(q, progress)


def _drain(q: Any, progress: Callable[[int, int], object] | None) -> None:
    while True:
        try:
            key, done = q.get_nowait()
        except (queue_mod.Empty, OSError, ValueError):
            return
        if progress is not None:
            progress(key, done)
