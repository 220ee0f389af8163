"""What a view shows: a `Filter` (kinds hidden, a search) and a `Listing`, a view with a filter
applied (the nodes that match, with their parent directories), whose directories list their
children in the order shown."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass

from layerscope.model.kinds import Kind
from layerscope.views.treeview import ROOT, CancelFn, Cancelled, TreeView, base_name

SORTS = ("size", "name")  # how a directory's children are ordered
# The labels of the kinds a user can hide or show, in the order of their keys (1-7): every kind
# but PENDING (a view of a layer read before the image is analysed), which no filter hides.
FILTER_KINDS = tuple(kind.label for kind in Kind if kind is not Kind.PENDING)


@dataclass(frozen=True)
class Filter:
    """What to show: kinds hidden, and a search (case-insensitive substring, or a glob when it
    holds `*`, `?` or `[`)."""

    hide: frozenset[str] = frozenset()  # labels of FILTER_KINDS
    search: str = ""

    @property
    def active(self) -> bool:
        """Whether the filter leaves anything out."""
        return bool(self.hide) or bool(self.pattern)

    @property
    def pattern(self) -> str:
        """The search as matched: trimmed of blanks and slashes, lower-cased."""
        return self.search.strip().strip("/").lower()

    @property
    def is_glob(self) -> bool:
        """Whether the search is a glob (holds `*`, `?` or `[`)."""
        return any(c in self.pattern for c in "*?[")

    def toggled(self, kind: str) -> Filter:
        """This filter with one kind hidden if it was shown, shown if it was hidden."""
        return Filter(self.hide ^ {kind}, self.search)

    def searching(self, search: str) -> Filter:
        """This filter with another search."""
        return Filter(self.hide, search)

    def path_matcher(self) -> Callable[[str], bool]:
        """A test on a lower-cased full path: a substring of it, or a glob matching it or any
        tail of it that starts after a `/` (so `*.conf` and `bin/*` work anywhere). Linear in
        the path's length (times the pattern's), however hostile the path: see `tail_glob`."""
        pat = self.pattern
        if not self.is_glob:
            return lambda p: pat in p
        return tail_glob(pat)

    def spans(self, name: str) -> list[tuple[int, int]]:
        """Where to highlight a name: each occurrence of the substring, or the whole name when
        the glob matches it."""
        pat = self.pattern
        if not pat:
            return []
        low = name.lower()
        if self.is_glob:
            if "/" not in pat and fnmatch.fnmatchcase(low, pat):
                return [(0, len(name))]
            return []
        if "/" in pat:
            pat = pat.rsplit("/", 1)[-1]
            if not pat:
                return []
        out = []
        start = low.find(pat)
        while start >= 0:
            out.append((start, start + len(pat)))
            start = low.find(pat, start + len(pat))
        return out


def glob_pieces(pat: str) -> list[str]:
    """A glob cut at its `*` wildcards (a run of them cuts once), read as fnmatch reads it: a `[`
    that a later `]` closes opens a set, whose `*` is no wildcard (`[*]`, `[!]*]`); a `[` that
    none closes is a plain character. `*a*` gives `["", "a", ""]`."""
    pieces: list[str] = []
    start = i = 0
    n = len(pat)
    while i < n:
        c = pat[i]
        i += 1
        if c == "*":
            if not pieces or i - 1 > start:  # `**` is `*`
                pieces.append(pat[start : i - 1])
            start = i
        elif c == "[":  # find its `]` as fnmatch does: `!` then `]` first belong to the set
            j = i
            if j < n and pat[j] == "!":
                j += 1
            if j < n and pat[j] == "]":
                j += 1
            while j < n and pat[j] != "]":
                j += 1
            if j < n:
                i = j + 1
    pieces.append(pat[start:])
    return pieces


def _glob_regex(piece: str) -> str | None:
    """fnmatch's regex of a glob without `*` (every part matches exactly one character), its
    end anchor dropped; None if fnmatch writes it in a form not known here."""
    rx = fnmatch.translate(piece)
    for end in ("\\Z", "\\z"):
        if rx.endswith(end) and rx.startswith("(?s:"):
            return rx[: -len(end)]
    return None


def _atomic(rx: str, n: int) -> str:
    """`rx`, matched once and never backtracked into (a lookahead, then what it matched: what
    an atomic group `(?>...)` does, which Python 3.10 lacks)."""
    return f"(?=(?P<g{n}>{rx}))(?P=g{n})"


def tail_glob(pat: str) -> Callable[[str], bool]:
    """A test of whether a glob matches a whole path or a tail of it starting after a `/`:
    exactly what searching `(?:^|/)` + fnmatch.translate(pat) says, in time linear in the path
    (times the pattern's length) instead of polynomial.

    Searching for the glob after every `/` costs a match attempt per `/`, and an attempt whose
    `*` backtracks costs up to the path's length each: a path 2048 directories deep took
    seconds. Instead, with the glob cut at its `*` into pieces P0*P1*...*Pk of fixed width,
    one anchored match finds P0 at its leftmost start that is the path's start or follows a
    `/`, then each middle piece at its leftmost place after the one before, never going back
    (a choice further left never leaves less room for what follows), and the last piece at
    the end. Without `*`, the glob is a tail of fixed width, tried after each `/` from the end.

    (Matching each node's own path costs the total length of the view's paths, which a view
    holds anyway: a chain of 2048 directories is 4 million characters, tens of milliseconds.)"""
    pieces = glob_pieces(pat)
    bodies = [_glob_regex(piece) for piece in pieces]
    if None in bodies:  # fnmatch writes regexes another way: the plain search, slow but exact
        search = re.compile(r"(?:^|/)" + fnmatch.translate(pat)).search
        return lambda p: search(p) is not None
    if len(bodies) == 1:
        rx = f"(?:.*/)?{bodies[0]}\\Z"
    else:
        first, *middle, last = bodies
        parts = [f"(?:[^/]*/)*?{first}"] if pieces[0] else []  # after the start or a `/`
        parts += [f".*?{body}" for body in middle]
        if pieces[-1]:
            parts = [_atomic(part, n) for n, part in enumerate(parts)] + [f".*{last}\\Z"]
        elif parts:  # a trailing `*`: the match is over once the other pieces are found
            parts[:-1] = [_atomic(part, n) for n, part in enumerate(parts[:-1])]
        rx = "".join(parts)
    match = re.compile(rx, re.DOTALL).match
    return lambda p: match(p) is not None


class Listing:
    """A view with a filter applied: which nodes stay (matches and their parent directories)."""

    CHUNK = 1 << 16  # nodes tested between two looks at `cancelled`
    SEARCH_CHUNK = 1 << 10  # ... when searching, where a node costs its path's length (4 KiB)

    def __init__(
        self, view: TreeView, flt: Filter | None = None, *, cancelled: CancelFn | None = None
    ) -> None:
        self.view = view
        self.filter = flt or Filter()
        self.keep: bytearray | None = None  # None: every node stays
        self.matches = 0  # nodes matching the filter themselves
        hide = {Kind.from_label(k) for k in self.filter.hide}
        if not self.filter.active:
            self.matches = len(view) - 1
            return
        n = len(view)
        table = bytes(0 if code in hide else 1 for code in range(256))
        shown = view.kinds.translate(table)
        test = self.filter.path_matcher() if self.filter.pattern else None
        low = view.lower_paths() if test is not None else []
        seeds: list[int] = []
        chunk = self.CHUNK if test is None else self.SEARCH_CHUNK
        for start in range(1, n, chunk):
            if cancelled is not None and cancelled():
                raise Cancelled()
            span = range(start, min(start + chunk, n))
            if test is None:
                seeds += [i for i in span if shown[i]]
            else:
                seeds += [i for i in span if shown[i] and test(low[i])]
        keep = bytearray(n)
        keep[ROOT] = 1
        parents = view.parents
        for i in seeds:
            while not keep[i]:
                keep[i] = 1
                i = parents[i]
        self.keep = keep
        self.matches = len(seeds)

    def __contains__(self, node: int) -> bool:
        """Whether a node stays."""
        return self.keep is None or bool(self.keep[node])

    def children(self, node: int, sort: str = "size") -> list[int]:
        """A directory's children that stay, largest first (or by name)."""
        kids = self.view.children.get(node)
        if not kids:
            return []
        keep = self.keep
        if keep is not None:
            kids = [k for k in kids if keep[k]]
        paths = self.view.paths
        if sort == "name":
            return sorted(kids, key=lambda k: base_name(paths[k]))
        sizes = self.view.sizes
        return sorted(kids, key=lambda k: (-sizes[k], base_name(paths[k])))
