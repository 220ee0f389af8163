"""What a view shows: a `Filter` (kinds hidden, a search) and a `Listing`, a view with a filter
applied (the nodes that match, with their parent directories), whose directories list their
children in the order shown, each directory sized by what it shows."""

from __future__ import annotations

import fnmatch
import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass

from layerscope.model.analysis import unpack
from layerscope.model.kinds import Kind
from layerscope.read.records import DIR, FILE
from layerscope.views.layertree import parent_path
from layerscope.views.treeview import REMOVED, ROOT, ROW, CancelFn, Cancelled, Part, TreeView

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
    """A view with a filter applied: which nodes stay (matches and their parent directories),
    and what each directory shows below it: a directory's size under a filter is the bytes of
    what the filter shows below it (`size`), not of everything below it.

    Without a search, what stays is read from the view's per-directory counts of each kind, as
    directories are listed; a search tests every node's path once, here (in the tree thread:
    `cancelled` is asked every `SEARCH_CHUNK` nodes)."""

    SEARCH_CHUNK = 1 << 10  # nodes tested between two looks at `cancelled` (a node costs its
    # path's length, up to 4 KiB)

    def __init__(
        self, view: TreeView, flt: Filter | None = None, *, cancelled: CancelFn | None = None
    ) -> None:
        self.view = view
        self.filter = flt or Filter()
        self.matches = 0  # nodes matching the filter themselves
        hide = {int(Kind.from_label(k)) for k in self.filter.hide}
        self._shown = {int(k) for k in Kind} - hide  # the kinds shown
        self._keep: dict[int, bool] = {}
        self._sorted: dict[tuple[int, str], list[int]] = {}
        self._search: Search | None = None
        if self.filter.pattern:
            self._search = Search(view, self.filter.path_matcher(), self._shown, cancelled)
            self.matches = self._search.matches
        else:
            totals = view.totals()
            self.matches = sum(totals[k] for k in self._shown)

    @property
    def sizes_shown(self) -> bool:
        """Whether directory sizes count only part of what lies below (a filter is on)."""
        return self.filter.active

    def __contains__(self, node: int) -> bool:
        """Whether a node stays."""
        if not self.filter.active or node == ROOT:
            return True
        if self._search is not None:
            return self._search.keeps(node)
        found = self._keep.get(node)
        if found is None:
            view = self.view
            found = view.kinds[node] in self._shown
            if not found and node < ROW:
                below = view.below(node)
                found = any(below[k] for k in self._shown)
            self._keep[node] = found
        return found

    def size(self, node: int) -> int:
        """A node's size as shown: a directory's, the bytes of what stays below it."""
        view = self.view
        if node >= ROW or not self.filter.active:
            return view.sizes[node]
        if self._search is not None:
            return self._search.size(node)
        return view.bytes_below(node, self._shown)

    def children(self, node: int, sort: str = "size") -> list[int]:
        """A directory's children that stay, largest first (or by name; the order the view
        made them breaks ties)."""
        key = (node, sort)
        found = self._sorted.get(key)
        if found is not None:
            return found
        kids, paths, sizes = self.view.listed(node)
        order = list(range(len(kids)))
        if self.filter.active:
            order = [i for i in order if kids[i] in self]
            if sort == "size":
                sizes = array("q", sizes)
                for i in order:
                    if kids[i] < ROW:
                        sizes[i] = self.size(kids[i])
        # (a directory's children share its path up to their names: ordering the paths orders
        # the names)
        order.sort(key=paths.__getitem__)
        if sort == "size":
            order.sort(key=sizes.__getitem__, reverse=True)  # stable: names break ties
        found = self._sorted[key] = list(map(kids.__getitem__, order))
        return found

    def kept_dirs(self) -> list[int]:
        """The directories that stay holding something that stays (a search opens them)."""
        if self._search is not None:
            return self._search.kept_nodes()
        return [d for d in self.view.all_dirs() if d in self]


class Search:
    """The nodes of a view whose path a test accepts (their kind shown), tested once each;
    the directories above them; and per directory the bytes of the matches below it."""

    def __init__(
        self,
        view: TreeView,
        test: Callable[[str], bool],
        shown: set[int],
        cancelled: CancelFn | None = None,
    ) -> None:
        self.view = view
        self.matches = 0
        self.masks: dict[int, bytearray] = {}  # per layer: the rows matching
        self.live_bytes: dict[int, array] = {}  # per layer, per local directory: bytes below
        self.removed_bytes: dict[int, array] = {}
        self.kept: set[str] = {""}  # paths of the directories that stay
        chunk = Listing.SEARCH_CHUNK
        table = bytes(1 if k in shown else 0 for k in range(256))
        for part in view.parts:
            self._rows(part, test, table, chunk, cancelled)
        # the directories themselves
        paths: set[str] = set()
        for part in view.parts:
            tree = part.tree
            paths.update(tree.dir_paths[q] for q in range(1, len(tree)) if part.has(q))
        for empty in view.empty_dirs():
            paths.add(empty)
        for i, path in enumerate(sorted(paths)):
            if not i & (chunk - 1) and cancelled is not None and cancelled():
                raise Cancelled()
            if not test(path.lower()):
                continue
            node = view.dir_node(path)
            if node is not None and view.kinds[node] in shown:
                self.matches += 1
                self._keep_up(path)

    def _rows(
        self,
        part: Part,
        test: Callable[[str], bool],
        table: bytes,
        chunk: int,
        cancelled: CancelFn | None,
    ) -> None:
        tree = part.tree
        li = tree.index
        code, types, sizes, row_dir = part.facts.code, li.types, li.sizes, tree.row_dir
        shown = part.kinds.translate(table)
        path_of = tree.path_of if tree.places else li.paths.__getitem__
        mask = bytearray(len(li))
        live = array("q", [0]) * len(tree)
        removed = array("q", [0]) * len(tree)
        kept = bytearray(len(tree))
        for start in range(0, len(li), chunk):
            if cancelled is not None and cancelled():
                raise Cancelled()
            for row in range(start, min(start + chunk, len(li))):
                if not shown[code[row]] or types[row] == DIR or not test(path_of(row).lower()):
                    continue
                mask[row] = 1
                d = row_dir[row]
                kept[d] = 1
                if types[row] == FILE:
                    if part.kinds[code[row]] == REMOVED:
                        removed[d] += sizes[row]
                    else:
                        live[d] += sizes[row]
        parent = tree.dir_parent
        for d in range(len(tree) - 1, 0, -1):
            p = parent[d]
            live[p] += live[d]
            removed[p] += removed[d]
            if kept[d]:
                kept[p] = 1
        self.matches += mask.count(1)
        self.masks[part.pos] = mask
        self.live_bytes[part.pos] = live
        self.removed_bytes[part.pos] = removed
        self.kept.update(tree.dir_paths[d] for d in range(1, len(tree)) if kept[d])

    def _keep_up(self, path: str) -> None:
        while path not in self.kept:
            self.kept.add(path)
            path = parent_path(path)

    def keeps(self, node: int) -> bool:
        """Whether a node stays: a match, or a directory above one."""
        if node < ROW:
            return self.view.paths[node] in self.kept
        pos, row = unpack(node & ~ROW)
        return bool(self.masks[pos][row])

    def size(self, node: int) -> int:
        """The bytes of the matches below a directory (of those it counts: removed ones in a
        removed directory, the others elsewhere)."""
        view = self.view
        removed = view.kinds[node] == int(Kind.REMOVED)
        sums = self.removed_bytes if removed else self.live_bytes
        return sum(
            sums[part.pos][q]
            for part, q in zip(view.parts, view.locals_of(node), strict=True)
            if q >= 0
        )

    def kept_nodes(self) -> list[int]:
        """The directories that stay, as nodes (made now)."""
        view = self.view
        nodes = (view.dir_node(p) for p in sorted(self.kept) if p)
        return [n for n in nodes if n is not None]
