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
        tail of it that starts after a `/` (so `*.conf` and `bin/*` work anywhere)."""
        pat = self.pattern
        if not self.is_glob:
            return lambda p: pat in p
        rx = re.compile(r"(?:^|/)" + fnmatch.translate(pat))
        return lambda p: rx.search(p) is not None

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


class Listing:
    """A view with a filter applied: which nodes stay (matches and their parent directories)."""

    CHUNK = 1 << 16  # nodes tested between two looks at `cancelled`

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
        for start in range(1, n, self.CHUNK):
            if cancelled is not None and cancelled():
                raise Cancelled()
            span = range(start, min(start + self.CHUNK, n))
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
