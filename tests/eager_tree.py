"""The reference the lazy file tree (layerscope/views/treeview.py) is checked against: the eager
view it replaced, every node of a view built up front, column by column, in one pass over the
entries (tests only: the property tests compare every node of both).

A `TreeView` is one view of an image at layer N, in one of two modes:

  - "changes": the entries layer N stores, plus the paths its whiteouts and opaque directories
    removed from the layers below (shown as removed);
  - "image": the filesystem as of layer N (every entry of layers 0..N still visible then), plus
    the paths layer N removed.

Every node carries a status (added, modified, metadata, rewritten: from the model; removed; or
unchanged for entries of lower layers), whether a later layer hides it (and how), and for
directories the sum of the regular-file sizes below it in that view. Nodes are stored column by
column and indexed by directory once, in O(entries of the view), so listing a directory costs
O(its children) even with 500,000 entries.

What a user sees of a view is a `listing.Listing` (a filter applied), drawn through an
`outline.Outline` (the rows of its expanded directories).
"""

from __future__ import annotations

import stat
import weakref
from array import array
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from layerscope.errors import Cancelled
from layerscope.model.analysis import IMPLIED, VISIBLE, Analysis, pack, unpack
from layerscope.model.kinds import NO_STATUS, REMOVING, How, Kind
from layerscope.read.records import (
    DIR,
    F_ALSO_OPAQUE,
    F_META,
    FILE,
    OPAQUE,
    TYPE_NAMES,
    WHITEOUT,
    LayerIndex,
)

if TYPE_CHECKING:
    from layerscope.model.image import Image

MODES = ("changes", "image")

# A node's status (`statuses` column) is a `Kind` value: the model's (one of kinds.STATUSES), or
# REMOVED, UNCHANGED or PENDING; its kind (`kinds` column), what colours and filters it, is its
# status, or HIDDEN. Short names for the build's loops, as plain ints (what the columns hold).
REMOVED = int(Kind.REMOVED)
HIDDEN = int(Kind.HIDDEN)
UNCHANGED = int(Kind.UNCHANGED)
PENDING = int(Kind.PENDING)
OVERWRITTEN = int(How.OVERWRITTEN)
# Each kind's and each way's label by value, for reading nodes.
_KIND_LABELS = {int(kind): kind.label for kind in Kind}
_HOW_LABELS = {int(how): how.label for how in How}

# Node flags.
N_IMPLIED = 1  # a directory with no entry of its own in this view
N_OPAQUE = 2  # layer N made this directory opaque (cleared what lay below)

ROOT = 0

CancelFn = Callable[[], bool]  # asked now and then while building: True stops with Cancelled


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
    children: int  # number of children, unfiltered
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


def _parent(path: str) -> str:
    i = path.rfind("/")
    return path[:i] if i >= 0 else ""


def base_name(path: str) -> str:
    """The last part of a path."""
    return path[path.rfind("/") + 1 :]


# -- what each layer removed, computed once per analysis ---------------------------------------
_REMOVALS: dict[int, dict[int, list[int]]] = {}  # id(analysis) -> its removals, while it lives


def removals(analysis: Analysis) -> dict[int, list[int]]:
    """Layer -> refs of the lower entries its whiteouts and opaque directories removed."""
    found = _REMOVALS.get(id(analysis))
    if found is None:
        found = {}
        for pos, hidden_by in enumerate(analysis.hidden_by):
            how = analysis.how[pos]
            for row, h in enumerate(hidden_by):
                if h != VISIBLE and how[row] in REMOVING:
                    found.setdefault(h, []).append(pack(pos, row))
        _REMOVALS[id(analysis)] = found
        weakref.finalize(analysis, _REMOVALS.pop, id(analysis), None)
    return found


# -- one view ----------------------------------------------------------------------------------
class TreeView:
    """The nodes of one (image, layer, mode) view, column by column, indexed by directory."""

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
        self.layers = layers
        self.layer = layer
        self.mode = mode
        self.analysis = analysis
        # The columns, one value per node; node 0 is the root directory.
        self.paths: list[str] = [""]
        self.refs = array("q", [IMPLIED])  # packed (layer, row), or IMPLIED
        self.parents = array("i", [-1])
        self.types = bytearray([DIR])
        self.kinds = bytearray([UNCHANGED])
        self.statuses = bytearray([UNCHANGED])
        self.hidden_by = array("i", [VISIBLE])
        self.how = bytearray([0])
        self.flags = bytearray([N_IMPLIED])
        self.sizes = array("q", [0])
        self.children: dict[int, list[int]] = {ROOT: []}  # directory node -> child nodes
        self._dirs: dict[str, int] = {"": ROOT}  # directory path -> node
        self._lower: list[str] | None = None
        self._owner_width: int | None = None
        self._cancelled = cancelled
        self._opaque: set[str] = set()  # directories layer N made opaque
        self._cleared: set[str] = set()  # ... and those it made opaque by their xattr
        self._whiteouts: set[str] = set()  # paths layer N's whiteouts delete
        self._non_dirs: set[str] = set()  # paths where layer N stores something not a directory
        if mode == "changes":
            self._add_layer_entries()
        else:
            self._add_image_entries()
        if analysis is not None:
            self._add_removed()
        for path in self._opaque:  # an opaque marker of a directory that is not there: nothing
            node = self._dirs.get(path)
            if node is not None:
                self.flags[node] |= N_OPAQUE
        self._finish()

    # -- building ------------------------------------------------------------------------------
    def _check_cancelled(self) -> None:
        if self._cancelled is not None and self._cancelled():
            raise Cancelled()

    def _dir(self, path: str) -> int:
        """The node of directory `path`, made (implied, with its parents) if missing."""
        node = self._dirs.get(path)
        if node is not None:
            return node
        missing = [path]
        parent = _parent(path)
        while parent not in self._dirs:
            missing.append(parent)
            parent = _parent(parent)
        node = self._dirs[parent]
        for p in reversed(missing):
            node = self._new(p, IMPLIED, node, DIR, UNCHANGED, VISIBLE, 0, 0, N_IMPLIED)
            self._dirs[p] = node
        return node

    def _new(
        self,
        path: str,
        ref: int,
        parent: int,
        type_: int,
        status: int,
        hidden_by: int,
        how: int,
        size: int,
        flags: int,
    ) -> int:
        node = len(self.paths)
        self.paths.append(path)
        self.refs.append(ref)
        self.parents.append(parent)
        self.types.append(type_)
        self.statuses.append(status)
        self.hidden_by.append(hidden_by)
        self.how.append(how)
        self.sizes.append(size)
        self.flags.append(flags)
        self.kinds.append(status)
        self.children[parent].append(node)
        if type_ == DIR:
            self.children[node] = []
        return node

    def _put(
        self, path: str, ref: int, type_: int, status: int, hidden_by: int, how: int, size: int
    ) -> int:
        """Add an entry; a directory merges with the node already at its path. (The hot path of
        every build: one call per entry, the columns appended inline.)"""
        dirs = self._dirs
        if type_ == DIR:
            node = dirs.get(path)
            if node is not None:
                self.refs[node] = ref
                self.statuses[node] = status
                self.hidden_by[node] = hidden_by
                self.how[node] = how
                self.flags[node] &= ~N_IMPLIED
                return node
        i = path.rfind("/")
        parent_path = path[:i] if i >= 0 else ""
        parent = dirs.get(parent_path)
        if parent is None:
            parent = self._dir(parent_path)
        node = len(self.paths)
        self.paths.append(path)
        self.refs.append(ref)
        self.parents.append(parent)
        self.types.append(type_)
        self.statuses.append(status)
        self.kinds.append(status)
        self.hidden_by.append(hidden_by)
        self.how.append(how)
        self.sizes.append(size)
        self.flags.append(0)
        self.children[parent].append(node)
        if type_ == DIR:
            self.children[node] = []
            dirs[path] = node
        return node

    def _add_layer_entries(self) -> None:
        """Changes mode: every entry layer N stores (markers become notes or removals)."""
        pos = self.layer
        li = self.layers[pos]
        assert li is not None
        a = self.analysis
        types, flags, paths, sizes = li.types, li.flags, li.paths, li.sizes
        status = a.status[pos] if a is not None else None
        hidden = a.hidden_by[pos] if a is not None else None
        how = a.how[pos] if a is not None else None
        real_paths = a.real_paths if a is not None else {}
        base = pack(pos, 0)  # a row's ref is `base | row` (pack, inline)
        for row in range(len(paths)):
            if not row & 0x3FFF:
                self._check_cancelled()
            t = types[row]
            f = flags[row]
            if f & F_META:
                continue
            if t in (WHITEOUT, OPAQUE):
                marker = a.real_path(base | row) if a is not None else paths[row]
                if t == OPAQUE:
                    self._opaque.add(marker)
                elif a is None:  # without the analysis, show what the marker names
                    self._put(marker, base | row, WHITEOUT, REMOVED, pos, How.WHITEOUT, 0)
                else:
                    self._whiteouts.add(marker)
                continue
            ref = base | row
            path = real_paths.get(ref, paths[row]) if real_paths else paths[row]
            if t != DIR:
                self._non_dirs.add(path)
            if a is None:
                node = self._put(path, ref, t, PENDING, VISIBLE, 0, sizes[row] if t == FILE else 0)
            else:
                h = hidden[row]  # type: ignore[index]
                w = how[row]  # type: ignore[index]
                if t == DIR and w == OVERWRITTEN:
                    h, w = VISIBLE, 0  # directories merge: the later one replaces metadata only
                s = status[row]  # type: ignore[index]
                node = self._put(
                    path,
                    ref,
                    t,
                    UNCHANGED if s == NO_STATUS else s,
                    h,
                    w,
                    sizes[row] if t == FILE else 0,
                )
            if t == DIR and f & F_ALSO_OPAQUE:
                self.flags[node] |= N_OPAQUE
                self._cleared.add(path)

    def _add_image_entries(self) -> None:
        """Image mode: every entry of layers 0..N still visible as of layer N."""
        a = self.analysis
        assert a is not None
        n = self.layer
        real_paths = a.real_paths
        for pos in range(n + 1):
            li = self.layers[pos]
            if li is None:
                raise ValueError(f"layer {pos} is not loaded")
            types, flags, paths, sizes = li.types, li.flags, li.paths, li.sizes
            hidden, how, status = a.hidden_by[pos], a.how[pos], a.status[pos]
            base = pack(pos, 0)  # a row's ref is `base | row` (pack, inline)
            own = pos == n
            for row in range(len(paths)):
                if not row & 0x3FFF:
                    self._check_cancelled()
                h = hidden[row]
                t = types[row]
                f = flags[row]
                if own and t not in (DIR, WHITEOUT, OPAQUE) and not f & F_META:
                    ref = base | row
                    self._non_dirs.add(
                        real_paths.get(ref, paths[row]) if real_paths else paths[row]
                    )
                if own and t == DIR and f & F_ALSO_OPAQUE and not f & F_META:
                    self._cleared.add(a.real_path(base | row))
                if h != VISIBLE and h <= n:
                    continue  # gone as of layer N
                if t == OPAQUE:
                    if own:
                        self._opaque.add(a.real_path(base | row))
                    continue
                if t == WHITEOUT or f & F_META:
                    if own and t == WHITEOUT and not f & F_META:
                        self._whiteouts.add(a.real_path(base | row))
                    continue
                w = how[row]
                if t == DIR and w == OVERWRITTEN:
                    h, w = VISIBLE, 0
                ref = base | row
                path = real_paths.get(ref, paths[row]) if real_paths else paths[row]
                s = status[row] if own else UNCHANGED
                node = self._put(
                    path,
                    ref,
                    t,
                    UNCHANGED if s == NO_STATUS else s,
                    h,
                    w,
                    sizes[row] if t == FILE else 0,
                )
                if own and t == DIR and f & F_ALSO_OPAQUE:
                    self.flags[node] |= N_OPAQUE
        if n == len(self.layers) - 1:
            # The final filesystem is known exactly: add implied directories left empty.
            for path, ref in a.final.items():
                if ref == IMPLIED and path not in self._dirs:
                    self._dir(path)

    def _add_removed(self) -> None:
        """The lower entries layer N's whiteouts and opaque directories removed (parents first,
        so a removed directory holds what was removed below it)."""
        a = self.analysis
        assert a is not None
        refs = removals(a).get(self.layer, ())
        for i, (path, ref) in enumerate(sorted((a.real_path(r), r) for r in refs)):
            if not i & 0x3FFF:
                self._check_cancelled()
            pos, row = unpack(ref)
            li = self.layers[pos]
            assert li is not None
            t = li.types[row]
            if t == DIR and path in self._dirs:
                continue  # this layer has a directory there again: what was removed hangs below
            size = li.sizes[row] if t == FILE else 0
            parent = self._dir(_parent(path))
            node = self._new(path, ref, parent, t, REMOVED, self.layer, a.how[pos][row], size, 0)
            if t == DIR:
                self._dirs[path] = node

    def _finish(self) -> None:
        """Implied directories whose content was all removed, then kinds and directory sizes
        (children always come after their parents, so one backward pass settles each)."""
        parents, statuses, kinds = self.parents, self.statuses, self.kinds
        hidden, flags, sizes, children = self.hidden_by, self.flags, self.sizes, self.children
        n = len(self.paths)
        live = bytearray(n)  # something not removed lies below
        for node in range(n - 1, 0, -1):
            if (
                flags[node] & N_IMPLIED
                and not live[node]
                and children[node]
                and self._removed_by_marker(self.paths[node])
            ):
                statuses[node] = REMOVED
                hidden[node] = self.layer
            if statuses[node] != REMOVED:
                live[parents[node]] = 1
        for node in range(n - 1, 0, -1):
            s = statuses[node]
            kinds[node] = HIDDEN if (hidden[node] != VISIBLE and s != REMOVED) else s
            p = parents[node]
            # A directory counts the bytes it shows; a removed one, the bytes it removed.
            if (s == REMOVED) == (statuses[p] == REMOVED):
                sizes[p] += sizes[node]

    def _removed_by_marker(self, path: str) -> bool:
        """Whether layer N removed an implied directory (one that only holds what layer N
        removed): a whiteout of it or of a directory above it, an opaque directory above it, or
        something not a directory stored at its path or above it."""
        opaque = self._opaque | self._cleared
        if path in self._whiteouts or path in self._non_dirs:
            return True
        while path:
            path = _parent(path)
            if path in self._whiteouts or path in self._non_dirs or path in opaque:
                return True
        return False

    # -- reading -------------------------------------------------------------------------------
    def __len__(self) -> int:
        """Number of nodes, the root included."""
        return len(self.paths)

    def kind(self, node: int) -> str:
        """A node's kind (a kinds.Kind label)."""
        return _KIND_LABELS[self.kinds[node]]

    def node(self, node: int) -> Node:
        """A node as plain values."""
        ref = self.refs[node]
        path = self.paths[node]
        h = self.hidden_by[node]
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
            type=TYPE_NAMES[self.types[node]],
            size=self.sizes[node],
            mode=mode,
            uid=uid,
            gid=gid,
            link=link,
            kind=_KIND_LABELS[self.kinds[node]],
            status=_KIND_LABELS[self.statuses[node]],
            hidden_by=None if h == VISIBLE else h,
            how=_HOW_LABELS.get(self.how[node]),  # None where nothing hid it
            layer=layer,
            implied=bool(self.flags[node] & N_IMPLIED),
            opaque=bool(self.flags[node] & N_OPAQUE),
            children=len(self.children.get(node, ())),
            through_symlink=(self.analysis is not None and ref in self.analysis.through_symlink),
        )

    def find(self, path: str) -> int | None:
        """The node at `path` (leading/trailing `/` ignored); a directory wins over a removed
        entry of the same name."""
        path = path.strip("/")
        node = self._dirs.get(path)
        if node is not None:
            return node
        # Every node of a path hangs below the directory node of its parent path (never
        # replaced once made), in the order made: the first one of the path wins.
        parent = self._dirs.get(_parent(path))
        if parent is None:
            return None
        paths = self.paths
        return next((kid for kid in self.children[parent] if paths[kid] == path), None)

    def ancestors(self, node: int) -> list[int]:
        """The directories above a node, the root excluded, top first."""
        out = []
        p = self.parents[node]
        while p > 0:
            out.append(p)
            p = self.parents[p]
        out.reverse()
        return out

    def count(self, kind: str) -> int:
        """Nodes of one kind (a kinds.Kind label; the root aside)."""
        code = Kind.from_label(kind)
        return self.kinds.count(code) - (self.kinds[ROOT] == code)

    def owner_width(self) -> int:
        """Room for the widest `uid:gid` of the layers in the view (worked out once)."""
        if self._owner_width is None:
            layers = [li for li in self.layers[: self.layer + 1] if li is not None and len(li)]
            uid = max((max(li.uids) for li in layers), default=0)
            gid = max((max(li.gids) for li in layers), default=0)
            self._owner_width = len(f"{uid}:{gid}")
        return self._owner_width

    def lower_paths(self) -> list[str]:
        """Lower-cased paths, for searching (made once)."""
        if self._lower is None:
            self._lower = [p.lower() for p in self.paths]
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
