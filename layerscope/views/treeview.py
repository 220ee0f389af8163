"""One view of the files of an image at one layer, as data (no UI here), made as it is looked
at: a directory's children when it is listed, a directory's size and what it holds from sums
kept per layer, never by visiting what lies below it.

A `TreeView` is one view of an image at layer N, in one of two modes:

  - "changes": the entries layer N stores, plus the paths its whiteouts and opaque directories
    removed from the layers below (shown as removed);
  - "image": the filesystem as of layer N (every entry of layers 0..N still visible then), plus
    the paths layer N removed.

Every node carries a status (added, modified, metadata, rewritten: from the model; removed; or
unchanged for entries of lower layers), whether a later layer hides it (and how), and for
directories the sum of the regular-file sizes below it in that view (a removed directory: the
bytes it removed).

How: each layer's entries form a tree of directories (layertree.py) with per-directory sums of
each class of entries (layerfacts.py), made once per layer (imagefacts.py). A view is a few
layers' trees, and for each class of each layer the kind its entries show in this view (or
none): listing a directory costs O(its children) in every layer that holds it, its size and
counts O(layers). So a view of a million entries is made, switched to and listed at once, and
holds nothing per entry: a directory becomes a node (a small number, 0 the root) when it is
listed; any other node is the entry itself, `ROW | ref`.

What a user sees of a view is a `listing.Listing` (a filter applied), drawn through an
`outline.Outline` (the rows of its expanded directories).
"""

from __future__ import annotations

import stat
import threading
from array import array
from collections.abc import Callable, Iterator, Sequence
from itertools import compress, repeat
from operator import add, eq, gt, is_, mul, ne, not_
from typing import TYPE_CHECKING, Any, NamedTuple

from layerscope.errors import Cancelled
from layerscope.model.analysis import IMPLIED, SHIFT, VISIBLE, Analysis, pack, unpack
from layerscope.model.kinds import NO_STATUS, How, Kind
from layerscope.read.records import DIR, F_ALSO_OPAQUE, FILE, TYPE_NAMES, WHITEOUT, LayerIndex
from layerscope.views.imagefacts import image_facts, pending_facts
from layerscope.views.layerfacts import FOREVER, MERGED, REMOVES, SHOWN, WHITED, LayerFacts
from layerscope.views.layerfacts import PENDING as PENDING_CLASS
from layerscope.views.layertree import CancelFn, LayerTree, parent_path

if TYPE_CHECKING:
    from layerscope.model.image import Image

__all__ = ["MODES", "ROOT", "CancelFn", "Cancelled", "Node", "TreeView", "build_view"]

MODES = ("changes", "image")

# A node's status is a `Kind` value: the model's (one of kinds.STATUSES), or REMOVED, UNCHANGED
# or PENDING; its kind, what colours and filters it, is its status, or HIDDEN. As plain ints.
REMOVED = int(Kind.REMOVED)
HIDDEN = int(Kind.HIDDEN)
UNCHANGED = int(Kind.UNCHANGED)
PENDING = int(Kind.PENDING)
NOT_SHOWN = 255  # in a part's `kinds`: the class shows nothing in this view
UNSET = 254  # in a directory's kind: its attributes are not worked out yet
_IS_FILE = bytes(1 if t == FILE else 0 for t in range(256))  # by type: a size that counts
KINDS = len(Kind)
# Each kind's and each way's label by value, for reading nodes.
_KIND_LABELS = {int(kind): kind.label for kind in Kind}
_HOW_LABELS = {int(how): how.label for how in How}

# Node flags.
N_IMPLIED = 1  # a directory with no entry of its own in this view
N_OPAQUE = 2  # layer N made this directory opaque (cleared what lay below)

ROOT = 0
ROW = 1 << 48  # a node from here on is an entry: ROW | pack(layer, row)
LATE = 1 << 60  # in the order nodes are made: removed entries come after every other node


class Node(NamedTuple):
    """One node of a view, as plain values (made on demand)."""

    id: int
    name: str
    path: str
    type: str  # a records.TYPE_NAMES value
    size: int  # a file's size; for a directory, the regular-file bytes below it in this view
    mode: int | None  # None for an implied directory
    uid: int | None
    gid: int | None
    link: str | None
    kind: str  # a kinds.Kind label: what colour, what filter
    status: str  # a kinds.Kind label: one of kinds.STATUSES, removed, unchanged or pending
    hidden_by: int | None  # the layer that hides (or, for removed nodes, removed) this entry
    how: str | None  # how it was hidden or removed: a kinds.How label (report hidden[].how)
    layer: int | None  # the layer that stored the entry; None for an implied directory
    implied: bool
    opaque: bool
    children: bool  # whether it holds anything (unfiltered)
    # overlay storage and an applier following lower symlinks place this entry at different
    # paths: the image runs differently on different engines (model: Layer.through_symlink)
    through_symlink: bool = False

    @property
    def is_dir(self) -> bool:
        """Whether the node is a directory."""
        return self.type == "dir"

    @property
    def mode_text(self) -> str:
        """`drwxr-xr-x`, or blanks for an implied directory."""
        if self.mode is None:
            return "d---------" if self.is_dir else "----------"
        mode = self.mode
        if not stat.S_IFMT(mode):
            mode |= _IFMT.get(self.type, 0)
        return stat.filemode(mode)


_IFMT = {
    "file": stat.S_IFREG,
    "dir": stat.S_IFDIR,
    "symlink": stat.S_IFLNK,
    "hardlink": stat.S_IFREG,
    "char": stat.S_IFCHR,
    "block": stat.S_IFBLK,
    "fifo": stat.S_IFIFO,
}


def base_name(path: str) -> str:
    """The last part of a path."""
    return path[path.rfind("/") + 1 :]


class _Sparse:
    """A dict of ints read as an array: 0 where it holds nothing."""

    __slots__ = ("_get",)

    def __init__(self, values: dict[int, int]) -> None:
        self._get = values.get

    def __getitem__(self, key: int) -> int:
        return self._get(key, 0)


class Part:
    """One layer's share of a view: its tree and facts, and the kind each class of its entries
    shows in this view (NOT_SHOWN: none)."""

    __slots__ = (
        "facts",
        "kinds",
        "live_above",
        "own",
        "pos",
        "removed_classes",
        "shown_classes",
        "tree",
    )

    def __init__(self, facts: LayerFacts, pos: int, kinds: bytes, own: bool, live_above: int):
        self.facts = facts
        self.tree: LayerTree = facts.tree
        self.pos = pos
        # (padded to 256: a row that is no node has class 255, which shows nothing)
        self.kinds = kinds + bytes([NOT_SHOWN]) * (256 - len(kinds))
        self.own = own  # the view's own layer
        self.live_above = live_above  # a directory's reach above this: it shows an entry
        self.shown_classes = [c for c, k in enumerate(kinds) if k not in (NOT_SHOWN, REMOVED)]
        self.removed_classes = [c for c, k in enumerate(kinds) if k == REMOVED]

    def shown_sums(self) -> list[Any]:
        """Per class shown (and not removed), its bytes per local directory (an array, or for
        a sparse class a mapping that answers 0 for a directory it does not hold)."""
        return [
            _Sparse(b) if isinstance(b, dict) else b
            for b in (self.facts.sums[c].bytes for c in self.shown_classes)
        ]

    def live(self, q: int) -> bool:
        """Whether local directory `q` holds (or is) an entry shown and not removed."""
        return self.facts.reach[q] > self.live_above

    def removes(self, q: int) -> bool:
        """Whether local directory `q` is, or holds, a removed entry."""
        if not self.removed_classes:
            return False
        row = self.tree.dir_row[q]
        if row >= 0 and self.kinds[self.facts.code[row]] == REMOVED:
            return True
        sums = self.facts.sums
        return any(sums[c].count(q) for c in self.removed_classes)

    def removed_rows(self) -> list[int]:
        """The local directories whose own entry this view shows as removed."""
        dirs = self.facts.removed_dirs
        return [q for c in self.removed_classes for q in dirs.get(c, ())]

    def implied_removing(self) -> list[int]:
        """The implied local directories holding something this view shows as removed."""
        held = self.facts.implied_removing
        return [q for c in self.removed_classes for q in held.get(c, ())]

    def has(self, q: int) -> bool:
        """Whether local directory `q` is a directory of the view."""
        return self.live(q) or self.removes(q)

    def count(self, q: int, classes: list[int]) -> int:
        """Entries of `classes` below local directory `q`."""
        sums = self.facts.sums
        return sum(sums[c].count(q) for c in classes)

    def size(self, q: int, classes: list[int]) -> int:
        """Their bytes."""
        sums = self.facts.sums
        return sum(sums[c].size(q) for c in classes)

    def by_kind(self, q: int) -> list[int]:
        """Entries below local directory `q`, by the kind they show (a list indexed by kind)."""
        out = [0] * KINDS
        sums, kinds = self.facts.sums, self.kinds
        for c in range(len(sums)):
            k = kinds[c]
            if k != NOT_SHOWN:
                out[k] += sums[c].count(q)
        return out


def _kinds(facts: LayerFacts, pos: int, layer: int, mode: str) -> bytes:
    """The kind each class of layer `pos`'s entries shows in the view of `layer` in `mode`."""
    out = bytearray()
    for cls in facts.classes:
        how, h = cls.how, cls.hidden_by
        if how == PENDING_CLASS:
            k = PENDING
        elif how == WHITED:
            k = REMOVED
        elif how == REMOVES and h == layer and pos < layer:
            k = REMOVED  # what this layer removed, in either mode
        elif mode == "changes" and pos != layer:
            k = NOT_SHOWN
        elif mode == "changes":
            k = cls.status if how in (SHOWN, MERGED) else HIDDEN
        elif how != SHOWN and h <= layer:
            k = NOT_SHOWN  # gone as of this layer
        elif how in (SHOWN, MERGED):
            k = cls.status if pos == layer else UNCHANGED
        else:
            k = HIDDEN
        out.append(k)
    return bytes(out)


class Column:
    """One attribute of every node, read as `column[node]` (worked out when asked)."""

    __slots__ = ("_get",)

    def __init__(self, get: Callable[[int], object]) -> None:
        self._get = get

    def __getitem__(self, node: int) -> Any:
        return self._get(node)


_OWNER_WIDTHS: dict[int, tuple[int, int]] = {}


class TreeView:
    """The nodes of one (image, layer, mode) view, made as they are listed."""

    def __init__(
        self,
        layers: Sequence[LayerIndex | None],
        layer: int,
        mode: str,
        analysis: Analysis | None = None,
        *,
        cancelled: CancelFn | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if mode == "image" and analysis is None:
            raise ValueError("the image view needs the analysis of every layer")
        if layers[layer] is None:
            raise ValueError(f"layer {layer} is not loaded")
        if mode == "image" and any(li is None for li in layers[: layer + 1]):
            raise ValueError("the image view needs every layer up to it")
        self.layers = layers
        self.layer = layer
        self.mode = mode
        self.analysis = analysis
        self._image = image_facts(analysis) if analysis is not None else None
        self.parts = self._make_parts(cancelled)
        self._by_pos = {part.pos: part for part in self.parts}
        self._own = self._by_pos[layer]
        self._asking = [self._own] + [p for p in reversed(self.parts) if p is not self._own]
        if self._image is not None:
            self._opaque = self._image.opaque(layer)
        else:
            li = layers[layer]
            assert li is not None
            self._opaque = frozenset(li.paths[r] for r in self._own.tree.opaque_rows)
        self._empty: dict[str, list[str]] = {}  # last layer's image: emptied directories
        if self._image is not None and mode == "image" and layer == len(layers) - 1:
            for path in self._image.emptied(cancelled):
                self._empty.setdefault(parent_path(path), []).append(path)
        # The directories listed so far, column by column (node ids from 0, the root).
        self._dir_ids: dict[str, int] = {}
        self._dpath: list[str] = []
        self._dparent = array("i")
        self._dref = array("q")
        self._dstatus = bytearray()
        self._dkind = bytearray()
        self._dhidden = array("i")
        self._dhow = bytearray()
        self._dflags = bytearray()
        self._dsize = array("q")
        self._dorder = array("q")  # when the eager build would have made it
        self._dlocal = [array("i") for _ in self.parts]  # its local directory in each part
        self._kids: dict[int, tuple[list[int], list[str], array]] = {}
        self._listed = 0  # children in `_kids`, kept as they are listed (another thread may be
        # listing while `built` is asked: iterating `_kids` then would race)
        self._totals: list[int] | None = None
        self._extra: dict[str, list[int]] | None = None  # kinds below, besides the sums'
        self._markers: dict[str, bool] = {}
        # (the UI thread and tree threads may list directories of one view at once)
        self._lock = threading.RLock()
        made = self._make_dir("", -1)
        assert made == ROOT
        self._lower: Column | None = None
        # The nodes' attributes, read as columns.
        self.paths = Column(self._path)
        self.refs = Column(self._ref)
        self.parents = Column(self._parent)
        self.types = Column(self._type)
        self.kinds = Column(self._kind)
        self.statuses = Column(self._status)
        self.sizes = Column(self._size)
        self.hidden_by = Column(self._hidden)

    def _make_parts(self, cancelled: CancelFn | None) -> list[Part]:
        n, mode = self.layer, self.mode
        if self._image is None:
            li = self.layers[n]
            assert li is not None
            facts = pending_facts(li, cancelled)
            return [Part(facts, n, _kinds(facts, n, n, mode), True, -1)]
        img = self._image
        if mode == "changes":
            own = img.facts(n, cancelled)
            parts = [Part(own, n, _kinds(own, n, n, mode), True, -1)]
            for pos in img.removers(n, cancelled):
                facts = img.facts(pos, cancelled)
                parts.append(Part(facts, pos, _kinds(facts, pos, n, mode), False, FOREVER))
            return parts
        out = []
        for pos in range(n + 1):
            facts = img.facts(pos, cancelled)
            out.append(Part(facts, pos, _kinds(facts, pos, n, mode), pos == n, n))
        return out

    # -- directories ---------------------------------------------------------------------------
    def _live(self, path: str) -> bool:
        """Whether some part shows (and does not remove) something at or below `path` (the
        view's own layer asked first: it most often does)."""
        for part in self._asking:
            q = part.tree.dir_ids.get(path)
            if q is not None and part.live(q):
                return True
        return False

    def _shows(self, path: str) -> bool:
        """Whether the view shows a directory at `path` that it does not show as removed."""
        return self._live(path) or path in self._empty.get(parent_path(path), ())

    def _make_dir(self, path: str, parent: int) -> int | None:
        """The node of directory `path` (a child of node `parent`), made now; None if the view
        shows no directory there."""
        locs = []
        for part in self.parts:
            q = part.tree.dir_ids.get(path)
            locs.append(-1 if q is None else q)
        return self._add_dirs(parent, [(path, locs)])[0]

    def _add_dirs(self, parent: int, dirs: list[tuple[str, list[int]]]) -> list[int | None]:
        """The nodes of directories below node `parent`, each given with its local directory
        in each part (-1: none): made now with their size and place among their siblings (a
        directory the view shows something in), their other attributes when first read
        (`_fill`). None for a path the view shows no directory at."""
        out: list[int | None] = []
        parts = self.parts
        hoisted = [
            (p.facts.reach, p.facts.first, p.live_above, p.pos << SHIFT, p.shown_sums())
            for p in parts
        ]
        pending = self.analysis is None
        dpath, dparent, dorder, dsize, dkind = (
            self._dpath,
            self._dparent,
            self._dorder,
            self._dsize,
            self._dkind,
        )
        for path, locs in dirs:
            live = not path  # (the root always shows)
            order = LATE
            size = 0
            for k, q in enumerate(locs):
                if q < 0:
                    continue
                reach, first, above, base, sums = hoisted[k]
                if reach[q] > above:
                    live = True
                    if base | first[q] < order:
                        order = base | first[q]
                    for counts_or_bytes in sums:
                        size += counts_or_bytes[q]
                elif pending:  # whiteouts, shown where they stand
                    order = base | first[q]
            if not live:
                made = self._add_dead(path, parent, locs, order)
                out.append(made)
                continue
            node = len(dpath)
            dpath.append(path)
            dparent.append(parent)
            for col, q in zip(self._dlocal, locs, strict=True):
                col.append(q)
            dorder.append(order)
            dsize.append(size)
            dkind.append(UNSET)  # the rest when first read
            self._dref.append(IMPLIED)
            self._dstatus.append(UNSET)
            self._dhidden.append(VISIBLE)
            self._dhow.append(0)
            self._dflags.append(0)
            self._dir_ids[path] = node  # (last: a thread reading finds every column filled)
            out.append(node)
        return out

    def _add_dead(self, path: str, parent: int, locs: list[int], order: int) -> int | None:
        """The node of a directory the view shows nothing in but what the layer removed (or,
        emptied, nothing at all), made now, every attribute with it."""
        holds_removed = any(
            q >= 0 and part.removes(q) for part, q in zip(self.parts, locs, strict=True)
        )
        removed = None
        for part, q in zip(self.parts, locs, strict=True):
            row = part.tree.dir_row[q] if q >= 0 else -1
            if row >= 0 and part.kinds[part.facts.code[row]] == REMOVED:
                removed = (part, row)
        empty = path in self._empty.get(parent_path(path), ())
        if removed is None and not holds_removed and not empty:
            return None
        node = len(self._dpath)
        self._dpath.append(path)
        self._dparent.append(parent)
        for col, q in zip(self._dlocal, locs, strict=True):
            col.append(q)
        self._dorder.append(LATE if self.analysis is not None else order)
        flags = N_OPAQUE if path in self._opaque else 0
        if removed is not None:
            part, row = removed
            ref = pack(part.pos, row)
            status, kind, hidden, how = self._row_state(part, row)
        else:  # implied: it holds only what this layer removed, or nothing (emptied)
            ref, hidden, how = IMPLIED, VISIBLE, 0
            flags |= N_IMPLIED
            marked = holds_removed and self._removed_by_marker(path)
            status = kind = REMOVED if marked else UNCHANGED
            if kind == REMOVED:
                hidden = self.layer
        # A directory counts the bytes it shows; a removed one, the bytes it removed.
        size = 0
        for part, q in zip(self.parts, locs, strict=True):
            if q >= 0:
                size += part.size(q, part.removed_classes if kind == REMOVED else [])
        self._dsize.append(size)
        self._dkind.append(kind)
        self._dref.append(ref)
        self._dstatus.append(status)
        self._dhidden.append(hidden)
        self._dhow.append(how)
        self._dflags.append(flags)
        self._dir_ids[path] = node
        return node

    def _fill(self, node: int) -> None:
        """Work out the attributes of a directory the view shows something in, made without
        them: its own entry's (the one shown), or those of an implied directory."""
        explicit: tuple[Part, int] | None = None
        opaque = self._dpath[node] in self._opaque
        for part, col in zip(self.parts, self._dlocal, strict=True):
            q = col[node]
            if q < 0:
                continue
            row = part.tree.dir_row[q]
            if row >= 0 and part.kinds[part.facts.code[row]] not in (NOT_SHOWN, REMOVED):
                explicit = (part, row)
            if part.own and self.mode == "changes" and q in part.tree.also_opaque:
                opaque = True  # several entries at one path merge, flags and all
        if explicit is not None:
            part, row = explicit
            if part.own and self.mode == "image" and part.tree.index.flags[row] & F_ALSO_OPAQUE:
                opaque = True
            status, kind, hidden, how = self._row_state(part, row)
            ref, flags = pack(part.pos, row), 0
        else:
            ref, status, kind, hidden, how = IMPLIED, UNCHANGED, UNCHANGED, VISIBLE, 0
            flags = N_IMPLIED
        self._dref[node] = ref
        self._dstatus[node] = status
        self._dhidden[node] = hidden
        self._dhow[node] = how
        self._dflags[node] = flags | (N_OPAQUE if opaque else 0)
        self._dkind[node] = kind  # (last: what tells the attributes are there)

    def _dir_kind(self, node: int) -> int:
        """A directory's kind (its attributes worked out first if they are not)."""
        kind = self._dkind[node]
        if kind == UNSET:
            self._fill(node)
            kind = self._dkind[node]
        return kind

    def _removed_by_marker(self, path: str) -> bool:
        """Whether layer N removed an implied directory (one that only holds what layer N
        removed): a whiteout of it or of a directory above it, an opaque directory above it, or
        something not a directory stored at its path or above it."""
        found = self._markers.get(path)
        if found is None:
            whiteouts = self._image.whiteouts(self.layer) if self._image else frozenset()
            tree = self._own.tree
            cleared = self._opaque | {tree.dir_paths[q] for q in tree.also_opaque}
            found = path in whiteouts or self._non_dir_at(path)
            up = path
            while up and not found:
                up = parent_path(up)
                found = up in whiteouts or up in cleared or self._non_dir_at(up)
            self._markers[path] = found
        return found

    def _non_dir_at(self, path: str) -> bool:
        """Whether layer N stores something not a directory at `path` (markers aside)."""
        tree = self._own.tree
        types = tree.index.types
        return any(types[r] != WHITEOUT for r in tree.rows_at(path))

    def dir_node(self, path: str) -> int | None:
        """The node of the directory at `path` (made now, with those above it); None if the
        view shows no directory there."""
        node = self._dir_ids.get(path)
        if node is not None:
            return node
        if not path:
            return ROOT
        parent = self.dir_node(parent_path(path))
        if parent is None:
            return None
        with self._lock:
            node = self._dir_ids.get(path)
            return node if node is not None else self._make_dir(path, parent)

    def kids(self, node: int) -> list[int]:
        """A directory's children, in the order the eager view made them (listed once, then
        kept); [] for any other node."""
        return self.listed(node)[0]

    def listed(self, node: int) -> tuple[list[int], list[str], array]:
        """A directory's children (as `kids`), with their paths and sizes."""
        found = self._kids.get(node)
        if found is not None:
            return found
        if node >= ROW:
            return [], [], array("q")
        with self._lock:
            found = self._kids.get(node)
            return found if found is not None else self._list(node)

    def _list(self, node: int) -> tuple[list[int], list[str], array]:
        """List a directory: its children as nodes (new directories made), their paths and
        sizes, in the order the eager view made them (rows of each layer in row order, a
        directory where its first entry came, what the layer removed last, by path). Each
        column is made a list at a time (C speed): a directory of 100,000 entries lists in
        tens of milliseconds."""
        nodes: list[int] = []  # the children made in turn (rows, then directories)
        paths: list[str] = []
        sizes: list[int] = []
        order: list[int] = []  # when the eager view made each (to put them in that order)
        late: list[tuple[str, int, int]] = []  # removed: (path, node, size), after the others
        subs: dict[int, list[int]] = {}  # per part: its subdirectories the view shows
        for k, (part, col) in enumerate(zip(self.parts, self._dlocal, strict=True)):
            q = col[node]
            if q < 0:
                continue
            tree, code, kinds = part.tree, part.facts.code, part.kinds
            files = tree.files_of(q)
            rows = list(
                compress(
                    files,
                    map(
                        ne, map(kinds.__getitem__, map(code.__getitem__, files)), repeat(NOT_SHOWN)
                    ),
                )
            )
            if not part.own and part.removed_classes:  # what it shows here may be removed
                removed = list(
                    map(eq, map(kinds.__getitem__, map(code.__getitem__, rows)), repeat(REMOVED))
                )
                if any(removed):
                    gone = list(compress(rows, removed))
                    rows = list(compress(rows, map(not_, removed)))
                    made, ids, where, size = self._rows_info(part, gone)
                    late += zip(where, ids, size, strict=True)
            if rows:
                made, ids, where, size = self._rows_info(part, rows)
                nodes += ids
                paths += where
                sizes += size
                order += made
            reach, above = part.facts.reach, part.live_above
            held = tree.subs_of(q)
            if part.removed_classes:
                shown = [s for s in held if reach[s] > above or part.removes(s)]
            else:
                shown = list(compress(held, map(gt, map(reach.__getitem__, held), repeat(above))))
            if shown:
                subs[k] = shown
        dirs = self._child_dirs(node, subs)
        made_late = list(map(eq, map(self._dorder.__getitem__, dirs), repeat(LATE)))
        if any(made_late):
            late += ((self._dpath[d], d, self._dsize[d]) for d in compress(dirs, made_late))
            live = list(compress(dirs, map(not_, made_late)))
        else:
            live = dirs
        if live:
            if order:  # rows and directories: in the order made
                nodes += live
                paths += map(self._dpath.__getitem__, live)
                sizes += map(self._dsize.__getitem__, live)
                order += map(self._dorder.__getitem__, live)
                turn = sorted(range(len(order)), key=order.__getitem__)
                nodes = list(map(nodes.__getitem__, turn))
                paths = list(map(paths.__getitem__, turn))
                sizes = list(map(sizes.__getitem__, turn))
            else:
                live.sort(key=self._dorder.__getitem__)
                nodes = live
                paths = list(map(self._dpath.__getitem__, live))
                sizes = list(map(self._dsize.__getitem__, live))
        # (rows alone come in order: each layer's in row order, the layers in order)
        if late:
            late.sort()
            nodes += (m[1] for m in late)
            paths += (m[0] for m in late)
            sizes += (m[2] for m in late)
        found = self._kids[node] = (nodes, paths, array("q", sizes))
        self._listed += len(nodes)
        return found

    def _child_dirs(self, node: int, subs: dict[int, list[int]]) -> list[int]:
        """The nodes of a directory's subdirectories (those not made yet made now), given the
        local subdirectories each part shows; and the emptied ones."""
        ids = self._dir_ids
        path = self._dpath[node]
        out: list[int] = []
        if len(subs) == 1:  # one part holds them all (most often): a column at a time
            ((k, qs),) = subs.items()
            names = self.parts[k].tree.dir_paths
            found: list[int | None] = list(map(ids.get, map(names.__getitem__, qs)))
            if None in found:
                missing = list(compress(qs, map(is_, found, repeat(None))))
                if len(missing) == len(qs):  # (none made before: made now, in this order)
                    found = self._add_dirs_of(k, node, missing)
                else:
                    self._add_dirs_of(k, node, missing)
                    found = list(map(ids.get, map(names.__getitem__, qs)))
            out = [d for d in found if d is not None]
        elif subs:  # several parts: one directory at a time, merged by path
            merged: dict[str, list[int]] = {}
            for k, qs in subs.items():
                names = self.parts[k].tree.dir_paths
                for q in qs:
                    locs = merged.get(names[q])
                    if locs is None:
                        locs = merged[names[q]] = [-1] * len(self.parts)
                    locs[k] = q
            new = [(p, locs) for p, locs in merged.items() if p not in ids]
            self._add_dirs(node, new)
            out = [ids[p] for p in merged if p in ids]
        for sub_path in self._empty.get(path, ()):
            d = ids.get(sub_path)
            if d is None:
                d = self._make_dir(sub_path, node)
            if d is not None and d not in out:
                out.append(d)
        return out

    def _add_dirs_of(self, k: int, parent: int, qs: list[int]) -> list[int | None]:
        """`_add_dirs` for directories only part `k` shows, a column at a time; their nodes
        (None where the view shows none), in the order given."""
        part = self.parts[k]
        reach, first, above = part.facts.reach, part.facts.first, part.live_above
        live = list(compress(qs, map(gt, map(reach.__getitem__, qs), repeat(above))))
        if len(live) < len(qs):  # (some hold only what the layer removed: one at a time)
            alive = set(live)
            for q in qs:
                if q not in alive:
                    locs = [-1] * len(self.parts)
                    locs[k] = q
                    when = part.pos << SHIFT | first[q]  # (before the analysis: in turn)
                    self._add_dead(part.tree.dir_paths[q], parent, locs, when)
        n = len(live)
        start = len(self._dpath)
        made = self._add_live_of(k, parent, live)
        if n == len(qs):
            return list(range(start, start + n)) if made else []
        names = part.tree.dir_paths
        return list(map(self._dir_ids.get, map(names.__getitem__, qs)))

    def _add_live_of(self, k: int, parent: int, live: list[int]) -> bool:
        """The columns of directories part `k` shows something in, extended at once."""
        if not live:
            return False
        part = self.parts[k]
        first = part.facts.first
        n = len(live)
        names = list(map(part.tree.dir_paths.__getitem__, live))
        base = part.pos << SHIFT
        orders = list(map(base.__or__, map(first.__getitem__, live)))
        sums = part.shown_sums()
        if not sums:
            sizes: list[int] = [0] * n
        else:
            sizes = list(map(sums[0].__getitem__, live))
            for more in sums[1:]:
                sizes = list(map(add, sizes, map(more.__getitem__, live)))
        start = len(self._dpath)
        self._dpath += names
        self._dparent.extend(repeat(parent, n))
        for j, col in enumerate(self._dlocal):
            col.extend(live if j == k else repeat(-1, n))
        self._dorder.extend(orders)
        self._dsize.extend(sizes)
        self._dkind.extend(repeat(UNSET, n))  # the rest when first read
        self._dref.extend(repeat(IMPLIED, n))
        self._dstatus.extend(repeat(UNSET, n))
        self._dhidden.extend(repeat(VISIBLE, n))
        self._dhow.extend(bytes(n))
        self._dflags.extend(bytes(n))
        self._dir_ids.update(zip(names, range(start, start + n), strict=True))  # (last)
        return True

    def _rows_info(
        self, part: Part, rows: list[int]
    ) -> tuple[list[int], list[int], list[str], list[int]]:
        """For rows of a part: when each was made, its node, path and size (columns, each
        made at C speed)."""
        tree = part.tree
        li = tree.index
        base = part.pos << SHIFT
        made = list(map(base.__or__, rows))
        nodes = list(map(ROW.__or__, made))
        if tree.places:
            paths = [tree.path_of(r) for r in rows]
        else:
            paths = list(map(li.paths.__getitem__, rows))
        types = map(_IS_FILE.__getitem__, map(li.types.__getitem__, rows))
        sizes = list(map(mul, map(li.sizes.__getitem__, rows), types))
        return made, nodes, paths, sizes

    def locals_of(self, node: int) -> list[int]:
        """A directory's local directory in each part (-1 where it has none)."""
        return [col[node] for col in self._dlocal]

    def empty_dirs(self) -> list[str]:
        """The final filesystem's implied directories nothing lies below (the image view of
        the last layer shows them)."""
        return [path for paths in self._empty.values() for path in paths]

    def all_dirs(self, cancelled: CancelFn | None = None) -> list[int]:
        """Every directory holding something, the root aside (lists them all: as costly as
        the eager view was)."""
        return [n for n in self.walk(ROOT, cancelled) if n < ROW and self.holds(n)]

    # -- reading -------------------------------------------------------------------------------
    def _part_row(self, node: int) -> tuple[Part, int]:
        pos, row = unpack(node & ~ROW)
        return self._by_pos[pos], row

    def _row_state(self, part: Part, row: int) -> tuple[int, int, int, int]:
        """(status, kind, hidden_by, how) of a row in this view."""
        cls = part.facts.classes[part.facts.code[row]]
        kind = part.kinds[part.facts.code[row]]
        if cls.how == PENDING_CLASS:
            return PENDING, PENDING, VISIBLE, 0
        if cls.how == WHITED:
            return REMOVED, REMOVED, self.layer, int(How.WHITEOUT)
        assert self.analysis is not None
        if kind == REMOVED:
            return REMOVED, REMOVED, self.layer, self.analysis.how[part.pos][row]
        status = UNCHANGED
        if part.own:
            status = self.analysis.status[part.pos][row]
            status = UNCHANGED if status == NO_STATUS else status
        if cls.how == MERGED or cls.how == SHOWN:
            return status, kind, VISIBLE, 0
        return status, kind, cls.hidden_by, self.analysis.how[part.pos][row]

    def _path(self, node: int) -> str:
        if node < ROW:
            return self._dpath[node]
        part, row = self._part_row(node)
        return part.tree.path_of(row)

    def _ref(self, node: int) -> int:
        if node >= ROW:
            return node & ~ROW
        self._dir_kind(node)
        return self._dref[node]

    def _parent(self, node: int) -> int:
        if node < ROW:
            return self._dparent[node]
        found = self.dir_node(parent_path(self._path(node)))
        assert found is not None
        return found

    def _type(self, node: int) -> int:
        if node < ROW:
            return DIR
        part, row = self._part_row(node)
        return part.tree.index.types[row]

    def _kind(self, node: int) -> int:
        if node < ROW:
            return self._dir_kind(node)
        part, row = self._part_row(node)
        return part.kinds[part.facts.code[row]]

    def _status(self, node: int) -> int:
        if node < ROW:
            self._dir_kind(node)
            return self._dstatus[node]
        part, row = self._part_row(node)
        return self._row_state(part, row)[0]

    def _size(self, node: int) -> int:
        if node < ROW:
            return self._dsize[node]
        part, row = self._part_row(node)
        li = part.tree.index
        return li.sizes[row] if li.types[row] == FILE else 0

    def _hidden(self, node: int) -> int:
        if node < ROW:
            self._dir_kind(node)
            return self._dhidden[node]
        part, row = self._part_row(node)
        return self._row_state(part, row)[2]

    def __len__(self) -> int:
        """Number of nodes, the root included."""
        return 1 + sum(self.totals())

    @property
    def built(self) -> int:
        """Nodes listed so far (directories, and the children of those listed)."""
        return len(self._dpath) + self._listed

    def child_estimate(self, node: int) -> int:
        """About how many children a directory has (an upper bound, without listing it)."""
        if node >= ROW:
            return 0
        found = self._kids.get(node)
        if found is not None:
            return len(found[0])
        total = 0
        for part, col in zip(self.parts, self._dlocal, strict=True):
            q = col[node]
            if q >= 0:
                tree = part.tree
                total += tree.file_start[q + 1] - tree.file_start[q]
                total += tree.sub_start[q + 1] - tree.sub_start[q]
        return total

    def kind(self, node: int) -> str:
        """A node's kind (a kinds.Kind label)."""
        return _KIND_LABELS[self._kind(node)]

    def node(self, node: int) -> Node:
        """A node as plain values."""
        path = self._path(node)
        type_: int
        if node < ROW:
            kind = self._dir_kind(node)
            ref, status = self._dref[node], self._dstatus[node]
            h, how, flags = self._dhidden[node], self._dhow[node], self._dflags[node]
            type_, size = DIR, self._dsize[node]
            children = self.holds(node)
        else:
            part, row = self._part_row(node)
            ref = node & ~ROW
            status, kind, h, how = self._row_state(part, row)
            flags = 0
            type_ = part.tree.index.types[row]
            size = self._size(node)
            children = False
        if ref == IMPLIED:
            mode = uid = gid = layer = None
            link = None
        else:
            layer, row = unpack(ref)
            li = self.layers[layer]
            assert li is not None
            mode, uid, gid = li.modes[row], li.uids[row], li.gids[row]
            link = li.links.get(row)
        return Node(
            id=node,
            name=base_name(path),
            path=path,
            type=TYPE_NAMES[type_],
            size=size,
            mode=mode,
            uid=uid,
            gid=gid,
            link=link,
            kind=_KIND_LABELS[kind],
            status=_KIND_LABELS[status],
            hidden_by=None if h == VISIBLE else h,
            how=_HOW_LABELS.get(how),  # None where nothing hid it
            layer=layer,
            implied=bool(flags & N_IMPLIED),
            opaque=bool(flags & N_OPAQUE),
            children=children,
            through_symlink=(self.analysis is not None and ref in self.analysis.through_symlink),
        )

    def holds(self, node: int) -> bool:
        """Whether a directory holds any node."""
        if node >= ROW:
            return False
        if node in self._kids:
            return bool(self._kids[node][0])
        path = self._dpath[node]
        if self._empty.get(path):
            return True
        for part, col in zip(self.parts, self._dlocal, strict=True):
            q = col[node]
            if q < 0:
                continue
            if part.count(q, part.shown_classes) or part.count(q, part.removed_classes):
                return True
        return False

    def find(self, path: str) -> int | None:
        """The node at `path` (leading/trailing `/` ignored); a directory wins over a removed
        entry of the same name, and of several entries at one path the first made."""
        path = path.strip("/")
        node = self.dir_node(path)
        if node is not None:
            return node
        parent = self.dir_node(parent_path(path))
        if parent is None:
            return None
        best: tuple[int, int] | None = None
        for part, col in zip(self.parts, self._dlocal, strict=True):
            if col[parent] < 0:
                continue
            code, kinds = part.facts.code, part.kinds
            for row in part.tree.rows_at(path):
                k = kinds[code[row]]
                if k == NOT_SHOWN:
                    continue
                ref = pack(part.pos, row)
                order = LATE | ref if k == REMOVED and not part.own else ref
                if best is None or order < best[0]:
                    best = (order, ROW | ref)
        return best[1] if best is not None else None

    def ancestors(self, node: int) -> list[int]:
        """The directories above a node, the root excluded, top first."""
        out = []
        p = self._parent(node)
        while p > 0:
            out.append(p)
            p = self._dparent[p]
        out.reverse()
        return out

    def walk(self, node: int = ROOT, cancelled: CancelFn | None = None) -> Iterator[int]:
        """Every node below `node`, depth first, each directory's children in the order made
        (lists every directory: costs what the eager view did; `Cancelled` once `cancelled()`
        says so)."""
        stack = [iter(self.kids(node))]
        count = 0
        while stack:
            kid = next(stack[-1], None)
            if kid is None:
                stack.pop()
                continue
            count += 1
            if not count & 0x3FFF and cancelled is not None and cancelled():
                raise Cancelled()
            yield kid
            if kid < ROW:
                stack.append(iter(self.kids(kid)))

    # -- counts --------------------------------------------------------------------------------
    def totals(self) -> list[int]:
        """Nodes of each kind (a list indexed by kind value; the root aside)."""
        if self._totals is None:
            totals = [0] * KINDS
            for part in self.parts:
                for k, n in enumerate(part.by_kind(0)):
                    totals[k] += n
            for k, n in enumerate(self._specials_total()):
                totals[k] += n
            self._totals = totals
        return self._totals

    def count(self, kind: str) -> int:
        """Nodes of one kind (a kinds.Kind label; the root aside)."""
        return self.totals()[Kind.from_label(kind)]

    def rows_at_least(self, limit: int) -> bool:
        """Whether the view holds more than `limit` entries (cheap: no directory counted)."""
        total = 0
        for part in self.parts:
            total += sum(part.by_kind(0))
            if total > limit:
                return True
        return False

    def below(self, node: int) -> list[int]:
        """Nodes of each kind below a directory (a list indexed by kind value)."""
        out = [0] * KINDS
        if node >= ROW:
            return out
        for part, col in zip(self.parts, self._dlocal, strict=True):
            q = col[node]
            if q >= 0:
                for k, n in enumerate(part.by_kind(q)):
                    out[k] += n
        extra = self._extras().get(self._dpath[node])
        if extra is not None:
            for k, n in enumerate(extra):
                out[k] += n
        return out

    def bytes_below(self, node: int, kinds: set[int]) -> int:
        """The regular-file bytes below a directory of the kinds in `kinds` (of those it
        counts: what it removed if it is removed, else what it shows)."""
        removed = self._dir_kind(node) == REMOVED
        total = 0
        for part, col in zip(self.parts, self._dlocal, strict=True):
            q = col[node]
            if q < 0:
                continue
            classes = part.removed_classes if removed else part.shown_classes
            total += part.size(q, [c for c in classes if part.kinds[c] in kinds])
        return total

    def _specials(self) -> Iterator[tuple[str, int]]:
        """The directory nodes no class counts, each with its kind, and (kind -1) the
        removed directory entries a class counts that are no node: implied directories (but
        those of a changes view's own layer, which its facts count), and removed entries of
        directories the view shows again."""
        if self._image is not None and self.mode == "image":
            for path in self._image.implied_at(self.layer):
                yield path, UNCHANGED
        for path in self.empty_dirs():
            node = self.dir_node(path)
            assert node is not None
            yield path, self._dir_kind(node)
        yield from self._removal_walk()

    def _specials_total(self) -> list[int]:
        out = [0] * KINDS
        if self.mode == "changes":
            out[UNCHANGED] += self._own.facts.implied_below[0]
        for _, kind in self._specials():
            if kind < 0:
                out[REMOVED] -= 1
            else:
                out[kind] += 1
        return out

    def _removal_walk(self) -> Iterator[tuple[str, int]]:
        """Directories holding only what the layer removed that are no entry of their own
        (with their kind), and (kind -1) removed directory entries at a path the view shows a
        directory at again (no nodes of their own: what they held hangs below that one).

        Such a directory lies above where one of the layer's markers acts (found from the
        directories holding its markers, upwards, until one the view shows), or at or below it,
        where some layer had it implied. So this costs a step per directory holding a marker
        and a look-up per implied directory holding something removed, not per directory
        holding something removed (every parent of every whited-out file)."""
        parts = [part for part in self.parts if part.removed_classes]
        if not parts:
            return
        candidates: set[str] = set()
        own = self._own
        tree, reach = own.tree, own.facts.reach
        paths, parent = tree.dir_paths, tree.dir_parent
        starts = list(own.facts.whited) + list(tree.also_opaque)
        for path in self._opaque:  # (an opaque marker's directory may hold nothing else)
            while path and path not in tree.dir_ids:
                if not self._shows(path):
                    candidates.add(path)
                path = parent_path(path)
            starts.append(tree.dir_ids.get(path, 0))
        seen = bytearray(len(tree))
        for q in starts:
            while q > 0 and not seen[q]:
                seen[q] = 1
                if reach[q] > own.live_above or self._shows(paths[q]):
                    break
                candidates.add(paths[q])
                q = parent[q]
        skipped: list[str] = []
        for part in parts:
            tree = part.tree
            candidates.update(tree.dir_paths[q] for q in part.implied_removing())
            for q in part.removed_rows():
                if self._shows(tree.dir_paths[q]):
                    skipped.append(tree.dir_paths[q])
        for path in sorted(candidates):
            if self._shows(path) or self._removed_row_at(path) or not self._holds_removed(path):
                continue
            yield path, REMOVED if self._removed_by_marker(path) else UNCHANGED
        for path in skipped:
            yield path, -1

    def _holds_removed(self, path: str) -> bool:
        """Whether something the view shows as removed lies at or below `path`."""
        for part in self.parts:
            q = part.tree.dir_ids.get(path)
            if q is not None and part.removes(q):
                return True
        return False

    def _removed_row_at(self, path: str) -> bool:
        """Whether some part's removed directory entry stands at `path`."""
        for part in self.parts:
            q = part.tree.dir_ids.get(path)
            if q is not None and part.removed_classes:
                row = part.tree.dir_row[q]
                if row >= 0 and part.kinds[part.facts.code[row]] == REMOVED:
                    return True
        return False

    def _extras(self) -> dict[str, list[int]]:
        """Per directory path, the nodes below it by kind that no class counts (implied
        directories), less the removed entries counted that are no node."""
        if self._extra is None:
            extra: dict[str, list[int]] = {}
            for path, kind in self._specials():
                k, n = (REMOVED, -1) if kind < 0 else (kind, 1)
                up = path
                while up:
                    up = parent_path(up)
                    counts = extra.get(up)
                    if counts is None:
                        counts = extra[up] = [0] * KINDS
                    counts[k] += n
            if self.mode == "changes":
                self._add_own_implied(extra)
            self._extra = extra
        return self._extra

    def _add_own_implied(self, extra: dict[str, list[int]]) -> None:
        """The implied directories of the layer's own tree, below each directory."""
        tree = self._own.tree
        implied = self._own.facts.implied_below
        for q in range(len(tree)):
            if implied[q]:
                counts = extra.get(tree.dir_paths[q])
                if counts is None:
                    counts = extra[tree.dir_paths[q]] = [0] * KINDS
                counts[UNCHANGED] += implied[q]

    # -- whole-view helpers --------------------------------------------------------------------
    def owner_width(self) -> int:
        """Room for the widest `uid:gid` of the layers in the view (worked out once per
        layer)."""
        uid = gid = 0
        for li in self.layers[: self.layer + 1]:
            if li is None or not len(li):
                continue
            found = _OWNER_WIDTHS.get(id(li))
            if found is None:
                found = _OWNER_WIDTHS[id(li)] = (max(li.uids), max(li.gids))
            uid, gid = max(uid, found[0]), max(gid, found[1])
        return len(f"{uid}:{gid}")

    def lower_paths(self) -> Column:
        """Lower-cased paths by node, for searching."""
        if self._lower is None:
            self._lower = Column(lambda node: self._path(node).lower())
        return self._lower


def build_view(
    image: Image,
    layer: int,
    mode: str,
    *,
    analysed: bool = True,
    cancelled: CancelFn | None = None,
) -> TreeView:
    """A view of an image's layer. `analysed=False` builds a changes view from the layer alone
    (status "pending"), before every layer of the image is read."""
    layers = [lyr.data for lyr in image.layers]
    return TreeView(layers, layer, mode, image.analysis if analysed else None, cancelled=cancelled)
