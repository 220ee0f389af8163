"""Bulk work at C speed done in pieces, so that another thread gets its turn between them.

CPython hands the GIL to another thread only between bytecodes: one C call over a million items
(`set(...)`, `dict(zip(...))`, `list(compress(...))`, `Counter.update`, `sum(map(...))`) keeps
every other thread waiting for its whole length, up to a second on a big layer. The app
computes the model in a loader thread while its UI thread answers keys, so the model's big
passes go through these helpers: the same work, `PIECE` items per C call (a few milliseconds).

`pieces` bounds the items a call *gives*; a filter (`compress`, `filter`) may read a million
items to give a few, so its input is `paced`: another thread may run every `PIECE` items read.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from itertools import chain, islice
from typing import Any, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

PIECE = 1 << 15  # items per C call


def pieces(items: Iterable[T], size: int = PIECE) -> Iterator[list[T]]:
    """`items` as lists of `size` (the last may be shorter)."""
    it = iter(items)
    while piece := list(islice(it, size)):
        yield piece


def paced(items: Iterable[T]) -> Iterator[T]:
    """`items` again, read `PIECE` at a time: whatever consumes them at C speed lets another
    thread run between two pieces (a generator resumed: bytecode runs)."""
    return chain.from_iterable(pieces(items))


def feed(take: Callable[[list[T]], Any], items: Iterable[T]) -> None:
    """`take(piece)` for each piece of `items` (`a_set.update`, `a_list.extend`, ...)."""
    for piece in pieces(items):
        take(piece)


def set_of(items: Iterable[K]) -> set[K]:
    """`set(items)`."""
    out: set[K] = set()
    feed(out.update, items)
    return out


def list_of(items: Iterable[T]) -> list[T]:
    """`list(items)`."""
    out: list[T] = []
    feed(out.extend, items)
    return out


def bytes_of(numbers: Iterable[int]) -> bytearray:
    """`bytearray(numbers)`."""
    out = bytearray()
    feed(out.extend, numbers)
    return out


def dict_of(pairs: Iterable[tuple[K, V]]) -> dict[K, V]:
    """`dict(pairs)` (a key seen twice keeps its last value, as there)."""
    out: dict[K, V] = {}
    feed(out.update, pairs)
    return out


def total(numbers: Iterable[int]) -> int:
    """`sum(numbers)`."""
    return sum(sum(piece) for piece in pieces(numbers))
