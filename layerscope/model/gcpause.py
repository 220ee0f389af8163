"""The cyclic garbage collector, paused while a big structure is built.

Building the analysis of an image of a million entries allocates millions of container objects
(lists, tuples, dict entries): each 700 of them start a collection, and every so often one
that traverses every object alive, the layer indexes included. None of these structures holds a
cycle that needs the collector while it is being built, so it waits until the work is done (a
quarter of the time of a big report, measured).

Several threads may pause it at once (the app's loader and tree threads): it is on again when
the last pause ends, if it was on when the first began."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


_lock = threading.Lock()
_pauses = 0  # pauses under way
_was_on = False  # whether the collector was on when the first of them began


@contextmanager
def paused() -> Iterator[None]:
    """Run the block with the collector off (as it was after the last pause under way)."""
    global _pauses, _was_on
    with _lock:
        if not _pauses:
            _was_on = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if not _pauses and _was_on:
                gc.enable()


def pausing(function: Callable[P, R]) -> Callable[P, R]:
    """`function`, run with the collector paused."""

    @wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with paused():
            return function(*args, **kwargs)

    return run
