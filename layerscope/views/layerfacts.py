"""What the analysis says of one layer's tree (layertree.py), summed per directory once, so a
view of the file tree learns a directory's size and what it holds without visiting it.

Each entry that can be a node of a view gets a class: its status and, if a layer hides it,
which layer and how (`Class`). Views differ only in how they show each class (treeview.py
gives each class a kind per view, or hides it), so per directory and per class this keeps the
number of entries below it and their bytes (`Sums`), and how long something below it is still
shown (`reach`). Before the analysis, `pending` facts sort the entries into two classes: the
entries, and the whiteouts a view of the bare layer shows.

A class held by few directories is kept sparse (a dict of the directories holding it, each
entry counted in every directory above it), else dense (an array over every directory, summed
bottom-up): memory stays near the layer's own size however many layers hide its entries.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate, compress, groupby, islice, repeat
from operator import lt, mul, ne, sub
from typing import NamedTuple

from layerscope.errors import Cancelled
from layerscope.model.analysis import VISIBLE, Analysis
from layerscope.model.kinds import NO_STATUS, REMOVING, How, Kind
from layerscope.read.records import DIR, FILE, OPAQUE, WHITEOUT
from layerscope.views.layertree import CHUNK, CancelFn, LayerTree, set_in

# How a class of entries is seen (`Class.how`).
SHOWN = 0  # no layer hides it
MERGED = 1  # a directory a later directory entry replaces: it stays shown, with new metadata
REMOVES = 2  # a later layer's whiteout or opaque directory removes it
HIDES = 3  # a later entry at its path (or a layer replacing a directory above it) hides it
PENDING = 4  # an entry, before the analysis
WHITED = 5  # a whiteout, before the analysis

FOREVER = 1 << 30  # `reach` of what is still shown in the last layer

UNCHANGED = int(Kind.UNCHANGED)
OVERWRITTEN = int(How.OVERWRITTEN)
_REMOVING = frozenset(int(h) for h in REMOVING)
DENSE_SHARE = 32  # a class below more than 1/DENSE_SHARE of the directories is kept dense
_ONE = [bytes(1 if v == c else 0 for v in range(256)) for c in range(256)]  # class c -> 1
_IS_FILE = bytes(1 if t == FILE else 0 for t in range(256))
_IS_DIR = bytes(1 if t == DIR else 0 for t in range(256))
_IS_WHITEOUT = bytes(1 if t == WHITEOUT else 0 for t in range(256))
_MARKER = bytes(1 if t in (WHITEOUT, OPAQUE) else 0 for t in range(256))


class Class(NamedTuple):
    """What every entry of one class shares."""

    hidden_by: int  # the layer that hides them, or VISIBLE
    how: int  # SHOWN, MERGED, REMOVES, HIDES, PENDING or WHITED
    status: int  # a Kind value (the model's status; UNCHANGED for none), for SHOWN and MERGED


class Sums:
    """Per directory, the entries of one class below it and their bytes."""

    __slots__ = ("bytes", "counts")

    def __init__(self, counts: array | dict[int, int], sizes: array | dict[int, int]) -> None:
        self.counts = counts
        self.bytes = sizes

    def count(self, d: int) -> int:
        """Entries of the class below directory `d`."""
        c = self.counts
        return c[d] if isinstance(c, array) else c.get(d, 0)

    def size(self, d: int) -> int:
        """Their bytes (regular files')."""
        b = self.bytes
        return b[d] if isinstance(b, array) else b.get(d, 0)


class LayerFacts:
    """One layer's classes (`classes`, and `code`: each row's class, 255 for a row that is no
    node), their `Sums` per directory, and per directory `reach`: the highest layer hiding
    something at or below it (FOREVER if something stays shown; -1 if it holds no node, or
    only what shows as removed), and `first`: the first row at or below it a view of the
    layer's changes puts in the tree (when it makes the directory)."""

    def __init__(
        self,
        tree: LayerTree,
        pos: int,
        analysis: Analysis | None,
        *,
        cancelled: CancelFn | None = None,
    ) -> None:
        self.tree = tree
        self.pos = pos
        self.analysed = analysis is not None
        self.classes: list[Class] = []
        self._codes: dict[Class, int] = {}
        code = self._classify(analysis, cancelled)
        self.code = code
        nd = len(tree)
        dir_row, parent = tree.dir_row, tree.dir_parent
        # Each directory's own entry's class (255: none, or no node)
        own = bytes(code[r] if r >= 0 else 255 for r in dir_row)
        self.own = own  # each directory's own entry's class (255: none)
        own_dirs: list[list[int]] = [[] for _ in self.classes]
        for q in range(1, nd):
            if own[q] != 255:
                own_dirs[own[q]].append(q)
        self.removed_dirs = {  # per class of removed entries: the directories' own
            c: array("i", own_dirs[c])
            for c, cls in enumerate(self.classes)
            if cls.how == REMOVES and own_dirs[c]
        }
        # Per class, the entries directly in each directory (those not directories: at C
        # speed over each directory's run of them; directory entries: their parent's), then
        # summed over subtrees.
        self.sums, direct_of = self._all_sums(code, own_dirs, cancelled)
        self.whited = self._whited(analysis)
        self.reach = self._reach(direct_of, own, nd, parent)
        self.first = self._first(code, nd, parent, analysis is not None)
        # per class of removed entries: the directories holding some with no entry of their
        # own removed with them (none, or one hidden before): a view of the layer removing
        # them may show such a directory, implied, with nothing else in it
        self.implied_removing: dict[int, list[int]] = {}
        for c, cls in enumerate(self.classes):
            if cls.how in (REMOVES, WHITED):
                below = self.sums[c].counts
                held: Iterable[int] = (
                    below if isinstance(below, dict) else compress(range(nd), below)
                )
                self.implied_removing[c] = [
                    q for q in held if q and (dir_row[q] < 0 or not self._outlives(own[q], cls))
                ]
        # Implied directories holding a node (views of the layer's changes show them), below
        # each directory.
        reach = self.reach
        implied = [int(reach[d] >= 0 and dir_row[d] < 0) for d in range(nd)]
        implied[0] = 0
        below_each = _subtree(implied, tree, "i")
        self.implied_below = array("i", map(sub, below_each, implied))

    def _new_class(self, cls: Class) -> int:
        c = self._codes.get(cls)
        if c is None:
            if len(self.classes) >= 255:
                raise ValueError("too many ways of hiding entries in one layer")
            c = self._codes[cls] = len(self.classes)
            self.classes.append(cls)
        return c

    def _classify(self, analysis: Analysis | None, cancelled: CancelFn | None) -> bytearray:
        """Each row's class (255: no node): the commonest at C speed (a column translated),
        the rows a layer hides one by one."""
        tree = self.tree
        li = tree.index
        types = li.types
        table = bytearray(b"\xff") * 256
        if analysis is None:
            kinds = _values(types)
            for t in kinds - {WHITEOUT, OPAQUE}:
                table[t] = self._new_class(Class(VISIBLE, PENDING, 0))
            if WHITEOUT in kinds:
                table[WHITEOUT] = self._new_class(Class(VISIBLE, WHITED, 0))
            code = bytearray(types.translate(table))
        else:
            status = analysis.status[self.pos]
            hidden = analysis.hidden_by[self.pos]
            how = analysis.how[self.pos]
            for s in sorted(_values(status)):
                table[s] = self._new_class(
                    Class(VISIBLE, SHOWN, UNCHANGED if s == NO_STATUS else s)
                )
            code = bytearray(status.translate(table))
            known: dict[int, int] = {}  # (layer, how, status, a directory) -> class
            for row in _rows_where(hidden, ne, VISIBLE, cancelled):
                h, w, s, t = hidden[row], how[row], status[row], types[row]
                key = h << 24 | w << 16 | s << 8 | (t == DIR)
                c = known.get(key)
                if c is None:
                    if t == DIR and w == OVERWRITTEN:
                        cls = Class(h, MERGED, UNCHANGED if s == NO_STATUS else s)
                    else:
                        cls = Class(h, REMOVES if w in _REMOVING else HIDES, 0)
                    c = known[key] = self._new_class(cls)
                code[row] = c
            for row in set_in(types.translate(_MARKER)):  # markers: no nodes
                code[row] = 255
        for row in _rows_where(tree.row_dir, lt, 0, cancelled):  # in no directory
            code[row] = 255
        last = set(tree.dir_row)
        for row in set_in(types.translate(_IS_DIR)):
            if row not in last:  # merged into the last directory entry at its path
                code[row] = 255
        return code

    def _all_sums(
        self, code: bytearray, own_dirs: list[list[int]], cancelled: CancelFn | None
    ) -> tuple[list[Sums], list[list[int]]]:
        """Every class's sums, and per class the directories holding one of its entries
        directly. The entries that are not directories come in one run per directory (the
        tree's `files`): those of the commonest class are what the others leave of each run
        (counted at C speed), the others are found at C speed and counted one by one; a
        directory entry counts in its parent."""
        tree = self.tree
        li = tree.index
        nd = len(tree)
        parent, files, row_dir = tree.dir_parent, tree.files, tree.row_dir
        ends, starts = tree.file_start[1:], tree.file_start[:-1]
        grouped = bytearray()
        file_bytes = array("q")
        for i in range(0, len(files), CHUNK):  # (a chunk at a time: the interpreter stays free)
            rows = files[i : i + CHUNK]
            grouped += bytes(map(code.__getitem__, rows))
            is_file = map(_IS_FILE.__getitem__, map(li.types.__getitem__, rows))
            file_bytes.extend(map(mul, map(li.sizes.__getitem__, rows), is_file))
        present = [c for c in range(len(self.classes)) if grouped.count(c)]
        common = max(present, key=grouped.count, default=-1)
        direct: dict[int, tuple[dict[int, int], dict[int, int]]] = {}
        for c in [*(c for c in present if c != common), 255]:
            if cancelled is not None and cancelled():
                raise Cancelled()
            counts: dict[int, int] = {}
            sizes: dict[int, int] = {}
            at = _where(grouped.translate(_ONE[c]))
            dirs = list(map(row_dir.__getitem__, map(files.__getitem__, at)))
            ran = _running(list(map(file_bytes.__getitem__, at)))
            i = 0
            for d, run in groupby(dirs):  # (a directory's run at a time)
                k = len(list(run))
                counts[d] = k
                if ran[i + k] != ran[i]:
                    sizes[d] = ran[i + k] - ran[i]
                i += k
            direct[c] = (counts, sizes)
        if common >= 0:  # what the others leave of each directory's run
            counts_all = list(map(sub, ends, starts))
            ran = _running(file_bytes)
            sizes_all = list(map(sub, map(ran.__getitem__, ends), map(ran.__getitem__, starts)))
            for counts, sizes in direct.values():
                for d, v in counts.items():
                    counts_all[d] -= v
                for d, v in sizes.items():
                    sizes_all[d] -= v
        out: list[Sums] = []
        holding: list[list[int]] = []
        for c in range(len(self.classes)):
            if c == common:
                for q in own_dirs[c]:
                    counts_all[parent[q]] += 1
                out.append(Sums(_subtree(counts_all, tree, "i"), _subtree(sizes_all, tree, "q")))
                holding.append(list(compress(range(nd), counts_all)))
                continue
            counts, sizes = direct.get(c, ({}, {}))
            for q in own_dirs[c]:
                counts[parent[q]] = counts.get(parent[q], 0) + 1
            holding.append(list(counts))
            if len(counts) * DENSE_SHARE > nd:  # held by many directories: dense
                dense = [0] * nd
                for d, v in counts.items():
                    dense[d] = v
                dense_bytes = [0] * nd
                for d, v in sizes.items():
                    dense_bytes[d] = v
                out.append(Sums(_subtree(dense, tree, "i"), _subtree(dense_bytes, tree, "q")))
            else:
                out.append(Sums(_up(counts, parent), _up(sizes, parent)))
        return out, holding

    def _whited(self, analysis: Analysis | None) -> set[int]:
        """The directories holding a whiteout (analysed: whiteouts are no nodes then)."""
        if analysis is None:
            return set()
        row_dir = self.tree.row_dir
        whiteouts = set_in(self.tree.index.types.translate(_IS_WHITEOUT))
        return set(map(row_dir.__getitem__, whiteouts)) - {-1}

    def _reach(self, direct_of: list[list[int]], own: bytes, nd: int, parent: array) -> array:
        """Per directory, the highest layer hiding something at or below it (FOREVER if
        something stays shown; -1 if it holds no node, or only what shows as removed)."""
        reach = array("i", [-1]) * nd
        lasting = [(self._lasts(c), c) for c in range(len(self.classes))]
        for h, c in sorted(lasting):  # the longest lasting last: each keeps the highest
            if h >= 0:
                for d in direct_of[c]:
                    reach[d] = h
        for q in range(1, nd):  # a directory's own entry shows it that long
            if own[q] != 255:
                h = self._lasts(own[q])
                if h > reach[q]:
                    reach[q] = h
        for d in range(nd - 1, 0, -1):
            if reach[d] > reach[parent[d]]:
                reach[parent[d]] = reach[d]
        return reach

    def _lasts(self, c: int) -> int:
        """Until which layer a class's entries show (FOREVER: for good; -1: as removed)."""
        cls = self.classes[c]
        if cls.how in (SHOWN, PENDING):
            return FOREVER
        return -1 if cls.how == WHITED else cls.hidden_by

    def _first(self, code: bytearray, nd: int, parent: array, analysed: bool) -> array:
        """Per directory, the first row at or below it that a view of the layer's changes
        puts in the tree (when it makes the directory)."""
        tree = self.tree
        files, start = tree.files, tree.file_start
        types = tree.index.types
        n = len(tree.index.paths)
        first = array("i", [n]) * nd
        for d in compress(range(nd), map(ne, tree.file_start[:-1], tree.file_start[1:])):
            row = files[start[d]]
            if analysed and types[row] == WHITEOUT:  # a marker: the first that is not one
                row = next((r for r in files[start[d] : start[d + 1]] if types[r] != WHITEOUT), n)
            first[d] = row
        for q in range(1, nd):
            row = tree.dir_first_row[q]
            if row >= 0:
                if row < first[q]:
                    first[q] = row
                if row < first[parent[q]]:
                    first[parent[q]] = row
        for d in range(nd - 1, 0, -1):
            if first[d] < first[parent[d]]:
                first[parent[d]] = first[d]
        return first

    def _outlives(self, own: int, removed: Class) -> bool:
        """Whether a directory whose own entry is of class `own` still shows (or another
        entry of the removing layer stands at its path: a directory stored again) where the
        entries of class `removed` below it are removed; if not, a view showing their removal
        shows the directory implied."""
        if own == 255:
            return False
        cls = self.classes[own]
        if cls.how in (SHOWN, PENDING):
            return True
        if cls.how == MERGED:
            return cls.hidden_by >= removed.hidden_by
        return cls.how in (HIDES, REMOVES) and cls.hidden_by > removed.hidden_by

    def removing(self, layer: int) -> list[int]:
        """The classes of the entries the layer at `layer` removes."""
        return [
            c for c, cls in enumerate(self.classes) if cls.how == REMOVES and cls.hidden_by == layer
        ]


def _subtree(direct: list[int], tree: LayerTree, typecode: str) -> array:
    """Per directory, the sum of `direct` over it and every directory below it: running sums
    along the depth-first order, where a subtree is a run (C speed)."""
    ran = _running(list(map(direct.__getitem__, tree.preorder)))
    return array(
        typecode, map(sub, map(ran.__getitem__, tree.pre_end), map(ran.__getitem__, tree.pre_start))
    )


def _rows_where(
    column: array, test: Callable[[int, int], bool], value: int, cancelled: CancelFn | None
) -> Iterator[int]:
    """The rows whose value in `column` passes `test(v, value)`, a chunk of rows looked at, at
    C speed, at a time (however rare the matches, the interpreter is never held long)."""
    for i in range(0, len(column), CHUNK):
        if cancelled is not None and cancelled():
            raise Cancelled()
        yield from compress(range(i, i + CHUNK), map(test, column[i : i + CHUNK], repeat(value)))


def _values(column: bytes | bytearray) -> set[int]:
    """The distinct values of a byte column (a chunk at a time)."""
    out: set[int] = set()
    for i in range(0, len(column), CHUNK):
        out.update(column[i : i + CHUNK])
    return out


def _where(mask: bytes | bytearray) -> list[int]:
    """The positions of the 1s of a mask of 0s and 1s (a chunk at a time, at C speed)."""
    out: list[int] = []
    for i in range(0, len(mask), CHUNK):
        out += compress(range(i, i + CHUNK), mask[i : i + CHUNK])
    return out


def _running(values: Sequence[int]) -> list[int]:
    """The running sums of `values`, 0 first (a chunk at a time, at C speed)."""
    out = [0]
    for i in range(0, len(values), CHUNK):
        out += islice(accumulate(values[i : i + CHUNK], initial=out[-1]), 1, None)
    return out


def _up(direct: dict[int, int], parent: array) -> dict[int, int]:
    """Each value added to its directory and every directory above it."""
    out: dict[int, int] = {}
    for d, v in direct.items():
        if not v:
            continue
        while d >= 0:
            out[d] = out.get(d, 0) + v
            d = parent[d]
    return out
