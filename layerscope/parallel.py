"""Read layer blobs in worker processes, one blob per task, largest first, so a big image uses
every core (hashing and tar parsing hold the GIL: threads would not help)."""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_mod
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import forkserver
from typing import Any

from .errors import Cancelled
from .layerreader import BlobLocation, read_layer
from .limits import Limits
from .records import LayerIndex

PROGRESS_STEP = 4 << 20  # a worker reports progress every 4 MiB of stored bytes
_progress_queue: Any = None


def _init(q: Any) -> None:
    global _progress_queue
    _progress_queue = q


def _read(key: int, loc: BlobLocation, diff_id: str, digest: str | None, verify: bool,
          limits: Limits) -> LayerIndex:  # fmt: skip
    last = 0

    def progress(done: int) -> None:
        nonlocal last
        if done - last >= PROGRESS_STEP or done == loc.size:
            last = done
            _progress_queue.put((key, done))

    return read_layer(loc, diff_id=diff_id, digest=digest, verify=verify, limits=limits,
                      progress=progress)  # fmt: skip


def start_server() -> None:
    """Start the server that worker processes are forked from once threads run (the UI), with
    the reader imported in it. Call it before the UI starts: the server and its resource tracker
    are handed standard error, which a Textual app replaces with something that has no file
    descriptor; started after that, they fail."""
    forkserver.set_forkserver_preload([__name__])
    forkserver.ensure_running()


def default_workers(total_bytes: int, blobs: int) -> int:
    """Processes worth starting: none for small images (startup costs more than it saves)."""
    if total_bytes < 64 << 20 or blobs < 2:
        return 1
    return max(1, min(os.cpu_count() or 1, blobs))


Task = tuple[BlobLocation, str, "str | None"]


def read_in_processes(
    tasks: list[Task],
    verify: bool,
    limits: Limits,
    workers: int,
    progress: Callable[[int, int], object] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Iterator[tuple[int, LayerIndex | BaseException]]:
    """Yield (task number, index or the exception it raised) as each blob is read."""
    # fork is cheapest, but unsafe once threads run (the UI): then use a fork server.
    method = "fork" if threading.active_count() == 1 else "forkserver"
    if method == "forkserver":
        start_server()  # nothing to do when already running
    ctx = multiprocessing.get_context(method)
    q = ctx.Queue()
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i][0].size)
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init, initargs=(q,)) as ex:
        futures: dict[Future, int] = {
            ex.submit(_read, i, tasks[i][0], tasks[i][1], tasks[i][2], verify, limits): i
            for i in order
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
