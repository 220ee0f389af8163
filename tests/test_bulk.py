"""Bulk work in pieces (layerscope.model.bulk): the same results as the builtins, and another
thread gets its turn in the middle of a big one (the app's UI thread while the loader computes
the model), where one C call over the same items would hold it until the end."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from itertools import chain, compress, repeat

from layerscope.model import bulk


def test_the_helpers_give_what_the_builtins_give():
    items = [f"p{i % 1000}" for i in range(100_000)]
    assert bulk.set_of(items) == set(items)
    assert bulk.list_of(iter(items)) == items
    pairs = list(zip(items, range(len(items)), strict=True))
    assert bulk.dict_of(pairs) == dict(pairs)  # the last value of a key seen twice
    assert bulk.total(range(100_000)) == sum(range(100_000))
    assert bulk.bytes_of(i % 256 for i in range(70_000)) == bytearray(
        i % 256 for i in range(70_000)
    )
    assert list(bulk.paced(items)) == items
    counts: Counter[str] = Counter()
    bulk.feed(counts.update, items)
    assert counts == Counter(items)
    for empty in (bulk.set_of([]), bulk.list_of([]), bulk.dict_of([]), bulk.total([])):
        assert not empty
    assert [len(p) for p in bulk.pieces(range(10), 4)] == [4, 4, 2]


def _first_and_last(paced: bool, n: int = 2_000_000) -> tuple[int, int]:
    """A filter reading `n` items at C speed to keep two (the first and the last), each the
    number of turns another thread had taken when it was read; its input `bulk.paced` or not."""
    turns: list[int] = []
    done = threading.Event()

    def other() -> None:
        while not done.is_set():
            turns.append(0)
            time.sleep(0)  # lets go of the GIL, then asks for it again

    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    thread = threading.Thread(target=other)
    thread.start()
    try:
        while not turns:
            time.sleep(0.001)
        source = repeat(turns, n)
        counted = map(len, bulk.paced(source) if paced else source)
        first, last = bulk.list_of(compress(counted, chain([1], repeat(0, n - 2), [1])))
    finally:
        done.set()
        thread.join()
        sys.setswitchinterval(switch)
    return first, last


def test_another_thread_runs_in_the_middle_of_a_filter_over_millions():
    first, last = _first_and_last(paced=False)
    assert first == last  # one C call: no other thread ran from the first item to the last
    first, last = _first_and_last(paced=True)
    assert last > first  # paced: the other thread ran between two pieces
