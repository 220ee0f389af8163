"""The figures dive 0.13.1 shows (efficiency, wasted bytes, user wasted percent), computed as it does.

dive (wagoodman/dive) builds one file tree per layer and scores the image in
``filetree.Efficiency``. This module reproduces its *results*, quirks included, without its cost
(dive re-stacks every lower layer for each whiteout it meets, which is quadratic).

How dive 0.13.1 computes them:

* Each layer's tar becomes a tree. Names are ``path.Clean``-ed; ``.`` is skipped. A name's missing
  parents are created as nodes with an empty payload (size 0, *not* a directory). A later entry at
  an existing path replaces the node's payload and keeps its children. A name with a component
  starting ``.wh..wh..`` (the opaque marker) is dropped, after its missing parents were created:
  dive ignores opaque directories. A whiteout ``.wh.NAME`` is kept as a node of that name.
* The layer's size is the sum of the tar header sizes of all its entries but ``.`` (whiteout
  markers, hardlinks and duplicates included). The image size sums the layers; the "user" size
  skips the first layer.
* For each layer, bottom to top, dive visits the *leaves* of its tree (nodes without children),
  depth first, children before parents, siblings in byte order. A leaf's path has a ``.wh.`` prefix
  of its own name removed, so a whiteout and the file it deletes share one path. Per path it sums
  the sizes seen (``cumulative``), keeps the smallest (``minimum``) and counts the leaves.

  - A plain leaf counts its own size.
  - A whiteout leaf looks its path up in the lower layers stacked together (for the first layer:
    the first layer itself). A directory counts the sizes of all nodes under it, itself included;
    anything else counts 0. If the path is missing, dive logs an error and *stops visiting that
    layer*: the rest of its leaves are never counted, and the path keeps a minimum of -1.

* Stacking a layer walks all its nodes (children first, byte order): a whiteout removes its path,
  anything else is added (payload replaced, missing parents created with an empty payload). The
  stack for the second layer on is the first layer stacked onto a copy of itself.
* ``efficiency`` = sum of minimums / sum of cumulatives (1.0 when the latter is 0);
  ``wastedBytes`` = sum of cumulatives of the paths seen at least twice;
  ``userWastedPercent`` = wastedBytes / user size, a Go float division (NaN for 0/0, +Inf for x/0).

So a file overwritten or deleted later is waste (all its copies count, the smallest included), but
the files under a deleted directory are not (their paths are seen once, and so is the directory,
which is no leaf in the layer that made it); the same path in two layers is waste even when both
are empty directories of size 0; entries repeated inside one layer are not waste but add to that
layer's size; opaque markers change nothing.

How this module saves memory (the figures are the same as the algorithm above):

* A layer is read into columns (the caller's path strings, sizes, directory flags). When none of
  its entries is special (a whiteout or opaque marker, ``.wh.`` or ``..`` in the path, a raw
  name, a leading or trailing "/"), its leaves are simply the paths no other path lies under, it
  needs no lookup, and it is never visited as a tree. Only a layer with special entries is built
  as a tree and visited in dive's order, with the lower layers stacked: the stack is built from
  the waiting columns when such a layer first comes, then kept.
* Only paths seen in two leaves or more need a record. A first pass marks the hash of every
  counted leaf's path in two bitmaps (seen once, seen again); the second pass adds a leaf whose
  bit says "seen once" straight to both sums (its cumulative is its minimum), and counts the
  others by name, so a hash collision costs a record but never changes a figure. A whiteout with
  no target has its path counted by name too: it keeps a minimum of -1 only if no leaf counts it.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import compress, count
from operator import itemgetter, methodcaller, ne
from typing import NamedTuple

from layerscope.model import bulk
from layerscope.model.gcpause import paused
from layerscope.read.records import F_OVERLAY, OPAQUE, TYPE_NAMES, WHITEOUT, EntryType, LayerIndex

__all__ = ["DiveEntry", "DiveFigures", "InefficientPath", "dive_figures", "go_clean"]

_WHITEOUT = ".wh."
_DOUBLE_WHITEOUT = ".wh..wh.."
_OPAQUE_NAME = ".wh..wh..opq"


class DiveEntry(NamedTuple):
    """One tar entry of a layer, as layerscope normalises it.

    ``size`` is the size field of the tar header (dive counts it for every type). The two optional
    fields matter only for tars no real tool writes:

    * ``raw_name``, the name exactly as stored: when given, dive's view is derived from it rather
      than from ``path``/``type`` (for names ``path.Clean`` reads otherwise than our normalisation,
      e.g. with ``..`` components or an empty ``.wh.`` marker);
    * ``is_dir``, whether the tar header said "directory", when not ``type == "dir"``: a whiteout
      marker stored as a directory is still one for dive, and its size can count.
    """

    path: str
    type: str
    size: int
    link: str | None = None
    raw_name: str | None = None
    is_dir: bool | None = None


@dataclass(frozen=True, slots=True)
class InefficientPath:
    """A path dive lists under "Inefficient Files": seen in ``count`` leaves."""

    path: str  # without the leading "/" dive prints
    count: int
    cumulative_size: int


@dataclass(frozen=True)
class DiveFigures:
    efficiency: float  # dive's "efficiency" score (may be < 0 or > 1 in corner cases)
    wasted_bytes: int  # dive's "wastedBytes" / "inefficientBytes"
    # dive's "userWastedPercent" as a fraction; NaN (0/0) or +Inf (x/0) when the user size is 0
    user_wasted_fraction: float
    layer_sizes: tuple[int, ...]  # dive's per-layer "sizeBytes"
    size_bytes: int  # sum of layer_sizes
    user_size_bytes: int  # sum of layer_sizes without the first layer
    inefficient: tuple[InefficientPath, ...]  # largest cumulative size first, then by path
    aborted_layers: tuple[int, ...]  # layers whose visit dive stopped at a whiteout with no target

    def as_report(self) -> dict[str, float | int | None]:
        """The ``dive`` object of the JSON report (non-finite numbers become ``None``)."""

        def finite(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {
            "efficiency": finite(self.efficiency),
            "wasted_bytes": self.wasted_bytes,
            "user_wasted_fraction": finite(self.user_wasted_fraction),
        }


def go_clean(name: str) -> str:
    """Go's ``path.Clean``."""
    if not name:
        return "."
    rooted = name.startswith("/")
    parts: list[str] = []
    for comp in name.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(comp)
    joined = "/".join(parts)
    if rooted:
        return "/" + joined
    return joined or "."


class _Node:
    # no parent link: a tree without cycles is freed as soon as it is dropped, gc or not
    __slots__ = ("children", "is_dir", "name", "size")

    def __init__(self, name: str) -> None:
        self.name = name
        self.children: dict[str, _Node] | None = None
        self.size = 0
        self.is_dir = False


def _sorted_children(node: _Node) -> list[_Node]:
    """Children in Go's ``sort.Strings`` order (bytes; code points agree unless surrogates)."""
    children = node.children
    assert children is not None
    if all(name.isascii() for name in children):
        return [children[name] for name in sorted(children)]
    return [children[name] for name in sorted(children, key=_byte_key)]


def _byte_key(name: str) -> bytes:
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogatepass")


class _Tree:
    """A dive ``FileTree``, with a cache of directory nodes by path to skip walks from the root."""

    __slots__ = ("dirs", "plain", "root")

    def __init__(self) -> None:
        self.root = _Node("")
        self.dirs: dict[str, _Node] = {}
        # no whiteout-like or ".." name: stacking the tree onto a copy of itself changes nothing
        self.plain = True

    def add(self, parent: str, name: str, size: int, is_dir: bool) -> None:
        """dive's ``AddPath`` of the cleaned path ``parent/name`` (``parent`` "" for the root)."""
        node = self.dirs.get(parent)
        if node is None:
            node = self.root
            if parent:
                for comp in parent.split("/"):
                    children = node.children
                    child = children.get(comp) if children is not None else None
                    if child is None:
                        if comp.startswith(_DOUBLE_WHITEOUT):
                            return
                        child = _Node(comp)
                        if children is None:
                            children = node.children = {}
                        children[comp] = child
                    node = child
            self.dirs[parent] = node
        if not name:
            return
        children = node.children
        child = children.get(name) if children is not None else None
        if child is None:
            if name.startswith(_DOUBLE_WHITEOUT):
                return
            child = _Node(name)
            if children is None:
                node.children = {name: child}
            else:
                children[name] = child
        child.size = size
        child.is_dir = is_dir

    def add_path(self, path: str, size: int, is_dir: bool) -> None:
        """dive's ``AddPath`` of a ``Path()`` string such as ``/a/b``."""
        if "/.." in path:
            path = go_clean(path)
            if path == ".":
                return
        parent, _, name = path.strip("/").rpartition("/")
        self.add(parent, name, size, is_dir)

    def get(self, path: str) -> _Node | None:
        """dive's ``GetNode``."""
        return self._find([name for name in path.strip("/").split("/") if name])

    def _find(self, names: list[str]) -> _Node | None:
        node = self.root
        for name in names:
            children = node.children
            child = children.get(name) if children is not None else None
            if child is None:
                return None
            node = child
        return node

    def remove(self, path: str) -> None:
        """dive's ``RemovePath`` (a missing path, or the root, is left alone)."""
        names = [name for name in path.strip("/").split("/") if name]
        if not names:
            return
        parent = self._find(names[:-1])
        if parent is None or parent.children is None or names[-1] not in parent.children:
            return
        del parent.children[names[-1]]
        self.dirs.clear()


def _entry_parts(entry: DiveEntry) -> tuple[str, str] | None:
    """(parent, name) of the cleaned name dive sees, or None for a name it skips (".")."""
    if entry.raw_name is not None:
        clean = go_clean(entry.raw_name)
        if clean == ".":
            return None
        parent, _, name = clean.strip("/").rpartition("/")
        return parent, name
    path = entry.path
    if entry.type == "opaque":
        return path, _OPAQUE_NAME
    if not path:
        return None
    parent, _, name = path.rpartition("/")
    if entry.type == "whiteout":
        name = _WHITEOUT + name
    return parent, name


def _walk(root: _Node) -> Iterator[tuple[_Node, str, str]]:
    """Every node but the root, children first, siblings in byte order, as (node, parent path,
    dive's ``Path()``); the parent path is "" or like "/a/b"."""
    if not root.children:
        return
    stack: list[tuple[_Node, str, str, str, Iterator[_Node]]] = [
        (root, "", "", "", iter(_sorted_children(root)))
    ]
    while stack:
        node, parent, own_path, prefix, it = stack[-1]
        child = next(it, None)
        if child is None:
            stack.pop()
            if stack:
                yield node, parent, own_path
            continue
        name = child.name
        child_path = prefix + "/" + (name[4:] if name.startswith(_WHITEOUT) else name)
        if child.children:
            kids = iter(_sorted_children(child))
            stack.append((child, prefix, child_path, prefix + "/" + name, kids))
        else:
            yield child, prefix, child_path


def _copy(tree: _Tree) -> _Tree:
    new = _Tree()
    todo = [(tree.root, new.root)]
    while todo:
        src, dst = todo.pop()
        if src.children is None:
            continue
        dst.children = {}
        for name, child in src.children.items():
            copy = _Node(name)
            copy.size, copy.is_dir = child.size, child.is_dir
            dst.children[name] = copy
            todo.append((child, copy))
    return new


def _stack(lower: _Tree, upper: _Tree) -> None:
    """dive's ``FileTree.Stack``: apply ``upper`` onto ``lower`` in place."""
    for node, parent, path in _walk(upper.root):
        if node.name.startswith(_WHITEOUT):
            lower.remove(path)
        elif "/.." in path:
            lower.add_path(path, node.size, node.is_dir)
        else:
            lower.add(parent[1:], node.name, node.size, node.is_dir)


def _subtree_size(node: _Node, memo: dict[int, int]) -> int:
    """Sum of the sizes of ``node`` and every node under it (memoised for the current layer)."""
    done = memo.get(id(node))
    if done is not None:
        return done
    order: list[_Node] = []
    todo = [node]
    while todo:
        cur = todo.pop()
        order.append(cur)
        if cur.children:
            todo.extend(c for c in cur.children.values() if id(c) not in memo)
    for cur in reversed(order):
        total = cur.size
        if cur.children:
            for c in cur.children.values():
                total += memo[id(c)]
        memo[id(cur)] = total
    return memo[id(node)]


def _build(entries: Iterable[DiveEntry]) -> tuple[_Tree, int]:
    tree = _Tree()
    size = 0
    for entry in entries:
        parts = _entry_parts(entry)
        if parts is None:
            continue
        size += entry.size
        parent, name = parts
        if name.startswith(_WHITEOUT) or ".." in name or ".." in parent or _WHITEOUT in parent:
            tree.plain = False
        is_dir = entry.type == "dir" if entry.is_dir is None else entry.is_dir
        tree.add(parent, name, entry.size, is_dir)
    return tree, size


class _Layer:
    """A layer's entries column by column (the root entries dive skips left out).

    A *plain* entry is a file, directory, link... whose path has nothing dive reads specially
    (no whiteout or opaque marker, no ``.wh.`` or ``..``, no leading or trailing "/", no raw
    name); any other entry is kept whole in ``odd``, by row. In a layer of plain entries only,
    the tree's nodes are the paths and their prefixes, and its leaves the paths no other path
    lies under. The path strings are the caller's, not copies.
    """

    __slots__ = ("dirs", "odd", "paths", "sizes")

    def __init__(self, entries: Iterable[DiveEntry]) -> None:
        self.paths: list[str] = []
        self.sizes = array("q")
        self.dirs = bytearray()
        self.odd: dict[int, DiveEntry] = {}
        paths, sizes, dirs, odd = self.paths, self.sizes, self.dirs, self.odd
        for entry in entries:
            path, kind, size, _link, raw_name, is_dir = entry
            if (
                raw_name is not None
                or kind in _MARKER_TYPES
                or _WHITEOUT in path
                or ".." in path
                or path[:1] == "/"
                or path[-1:] == "/"
            ):
                odd[len(paths)] = entry
            elif not path:
                continue  # the root: dive skips "."
            paths.append(path)
            sizes.append(size)
            dirs.append(kind == "dir" if is_dir is None else is_dir)

    def entries(self) -> Iterator[DiveEntry]:
        """The entries again, as dive's tree needs them."""
        odd = self.odd
        for row, path in enumerate(self.paths):
            entry = odd.get(row)
            if entry is None:
                entry = DiveEntry(path, "dir" if self.dirs[row] else "file", self.sizes[row])
            yield entry

    def plain_tree(self) -> _Tree:
        """The tree of a layer without odd entries (what ``_build`` makes of it, faster)."""
        tree = _Tree()
        for path, size, is_dir in zip(self.paths, self.sizes, self.dirs, strict=True):
            parent, _, name = path.rpartition("/")
            tree.add(parent, name, size, bool(is_dir))
        return tree

    @classmethod
    def of_index(cls, li: LayerIndex) -> _Layer:
        """The layer of an index, as `_Layer` makes it of the entries `_dive_entry` gives, sharing its columns:
        the odd rows are found by scans at C speed, and no entry is made for the others."""
        layer = cls.__new__(cls)
        layer.paths = li.paths
        layer.sizes = li.sizes
        layer.dirs = li.types.translate(_IS_DIR)
        layer.odd = {row: _dive_entry(li, row) for row in _odd_rows(li)}
        return layer

    def leaves(self) -> bytearray:
        """1 for the rows of a plain layer that are leaves of its tree, else 0: the paths that
        are no ancestor of a path."""
        parents = _ancestors(self.paths)
        return bulk.bytes_of(map(parents.__contains__, self.paths)).translate(_NOT)


_MARKER_TYPES = frozenset({"whiteout", "opaque"})
_IS_DIR = bytes(int(t == EntryType.DIR) for t in range(256))  # a types column -> dirs
_NOT = bytes([1, 0, *range(2, 256)])  # 0 <-> 1
_CHUNK = 1 << 16  # paths joined at once to look for odd ones
_ODD_IN_JOINED = (_WHITEOUT, "..", "\0/", "/\0", "\0\0")  # in paths joined by NUL (and framed)


def _odd_rows(li: LayerIndex) -> list[int]:
    """The rows of an index that `_Layer` keeps whole: markers (but overlay whiteouts, plain
    devices to dive), raw names, and paths with ".wh.", "..", a leading or trailing "/", or empty."""
    types, flags, paths = li.types, li.flags, li.paths
    rows = {row for row, extra in li.extras.items() if extra.get("raw_name") is not None}
    for marker in (WHITEOUT, OPAQUE):
        row = types.find(marker)
        while row >= 0:
            if marker == OPAQUE or not flags[row] & F_OVERLAY:
                rows.add(row)
            row = types.find(marker, row + 1)
    for start in range(0, len(paths), _CHUNK):
        chunk = paths[start : start + _CHUNK]
        joined = "\0" + "\0".join(chunk) + "\0"
        if any(odd in joined for odd in _ODD_IN_JOINED):
            rows.update(
                start + i
                for i, path in enumerate(chunk)
                if not path
                or _WHITEOUT in path
                or ".." in path
                or path[0] == "/"
                or path[-1] == "/"
            )
    return sorted(rows)


def _dive_entry(li: LayerIndex, row: int) -> DiveEntry:
    """A row as dive sees its tar entry: overlay-style whiteouts are plain devices to dive."""
    t = li.types[row]
    kind = EntryType.CHAR.label if t == WHITEOUT and li.flags[row] & F_OVERLAY else TYPE_NAMES[t]
    extra = li.extras.get(row)
    raw_name = extra.get("raw_name") if extra else None
    return DiveEntry(li.paths[row], kind, li.sizes[row], li.links.get(row), raw_name)


class _Stack:
    """The layers below the current one, stacked as dive does, but only once a whiteout asks.

    Until then the layers wait in ``pending`` (as ``_Layer`` columns, or as the trees already
    built for odd layers).
    """

    __slots__ = ("pending", "tree")

    def __init__(self) -> None:
        self.tree: _Tree | None = None
        self.pending: list[_Layer | _Tree] = []

    def plain_only(self) -> _Layer | None:
        """The layer below, if it is the only one and plain (not built as a tree yet)."""
        if self.tree is None and len(self.pending) == 1:
            layer = self.pending[0]
            if isinstance(layer, _Layer) and not layer.odd:
                return layer
        return None

    def below(self) -> _Tree | None:
        """Every pending layer stacked (None when there is none, below the first layer)."""
        for layer in self.pending:
            if isinstance(layer, _Tree):
                tree = layer
            else:
                tree = _build(layer.entries())[0] if layer.odd else layer.plain_tree()
            if self.tree is not None:
                _stack(self.tree, tree)
            elif tree.plain:
                self.tree = tree
            else:
                self.tree = _copy(tree)
                _stack(self.tree, tree)
        self.pending.clear()
        return self.tree


class _Visit(NamedTuple):
    """The leaves dive counted in one layer: ``keys[i]`` (a path without the leading "/") seen
    with size ``seen[i]``, for the rows ``selected`` marks (all when None). ``dedupe``: rows of
    one path are one leaf whose size is the last row's (entries repeated in a plain layer);
    otherwise each row is a leaf of its own (a whiteout and a file of one path)."""

    keys: list[str]
    seen: array
    selected: bytearray | None
    dedupe: bool

    def pairs(self) -> Iterator[tuple[str, int]]:
        pairs = zip(self.keys, self.seen, strict=True)
        return pairs if self.selected is None else compress(pairs, self.selected)

    def leaf_keys(self) -> list[str]:
        """The keys of the leaves counted, in order."""
        if self.selected is None:
            return self.keys
        return bulk.list_of(compress(bulk.paced(self.keys), self.selected))

    def sizes(self) -> Iterator[int]:
        """The sizes of the leaves counted, in order."""
        return iter(self.seen) if self.selected is None else compress(self.seen, self.selected)


Lookup = Callable[[str], "int | None"]  # a whiteout's path -> the size dive counts, None: none


def _visit_tree(leaves: list[tuple[_Node, str]], lookup: Lookup) -> tuple[_Visit, str | None]:
    """dive's visit of a layer's leaves (`_leaves`), whiteouts looked up in the layers below
    (`lookup`); and the path of the whiteout with no target it stopped at, if any."""
    keys: list[str] = []
    seen = array("q")
    missing = None
    for node, path in leaves:
        if node.name.startswith(_WHITEOUT):
            found = lookup(path)
            if found is None:
                missing = path[1:]
                break
            size = found
        else:
            size = node.size
        keys.append(path[1:])
        seen.append(size)
    return _Visit(keys, seen, None, False), missing


def _leaves(tree: _Tree) -> list[tuple[_Node, str]]:
    """The leaves of a layer's tree in dive's order, with their paths (`_walk`)."""
    return [(node, path) for node, _parent, path in _walk(tree.root) if not node.children]


def _tree_lookup(lower: _Tree) -> Lookup:
    """Whiteouts looked up in a stacked tree: a directory counts the sizes of every node under
    it, itself included; anything else 0."""
    memo: dict[int, int] = {}

    def lookup(path: str) -> int | None:
        target = lower.get(path)
        if target is None:
            return None
        return _subtree_size(target, memo) if target.is_dir else 0

    return lookup


def _plain_lookup(layer: _Layer, paths: list[str]) -> dict[str, int]:
    """What `_tree_lookup` would answer for these paths, the layers below being one plain
    layer, without its tree: its nodes are its paths (the last row's size and type) and their
    ancestors (size 0, not directories); a path that is none of them is left out (missing)."""
    keys = {path: "/".join(name for name in path.strip("/").split("/") if name) for path in paths}
    wanted = set(keys.values())
    rows, sizes, dirs = layer.paths, layer.sizes, layer.dirs
    payload: dict[str, tuple[int, int]] = {}  # a path -> (size, is_dir) of its last row
    for row in compress(range(len(rows)), map(wanted.__contains__, bulk.paced(rows))):
        payload[rows[row]] = (sizes[row], dirs[row])
    totals = {key: size for key, (size, is_dir) in payload.items() if is_dir}
    if totals:  # what lies under the directories: each path once, at its last row's size
        under = tuple(key + "/" for key in totals)
        last = {
            rows[row]: sizes[row]
            for row in compress(
                range(len(rows)), map(methodcaller("startswith", under), bulk.paced(rows))
            )
        }
        for path, size in last.items():
            end = path.rfind("/")
            while end > 0:
                ancestor = path[:end]
                if ancestor in totals:
                    totals[ancestor] += size
                end = path.rfind("/", 0, end)
    implied = _ancestors(rows) if len(payload) < len(wanted) else set()
    found: dict[str, int] = {}
    for path, key in keys.items():
        if key in payload:
            found[path] = totals.get(key, 0)
        elif not key or key in implied:
            found[path] = 0  # the root, or a directory only implied: not a directory to dive
    return found


def _ancestors(paths: list[str]) -> set[str]:
    """Every proper ancestor of these paths ("" for the root), gathered level by level (with
    no Python code run per path)."""
    parents = bulk.set_of(map(_HEAD, map(_SPLIT, paths)))
    level = parents
    while level:
        level = bulk.set_of(map(_HEAD, map(_SPLIT, level))) - parents
        parents |= level
    return parents


_SPLIT, _HEAD = methodcaller("rpartition", "/"), itemgetter(0)  # a path -> its parent


def dive_figures(layers: Iterable[Iterable[DiveEntry] | LayerIndex]) -> DiveFigures:
    """dive 0.13.1's figures for an image whose layers (bottom to top) hold these tar entries,
    or are these indexes (read as `_dive_entry` gives their rows).

    Layers are consumed one at a time, so both arguments may be iterators.
    """
    with paused():  # the trees are many small objects: the collector would only slow them
        return _figures(layers)


def _figures(layers: Iterable[Iterable[DiveEntry] | LayerIndex]) -> DiveFigures:
    visits: list[_Visit] = []
    layer_sizes: list[int] = []
    aborted: list[int] = []
    missing_paths: list[str] = []
    plain: dict[int, _Layer] = {}  # the visits of plain layers, by place, made last
    stack = _Stack()
    for index, entries in enumerate(layers):
        layer = _Layer.of_index(entries) if isinstance(entries, LayerIndex) else _Layer(entries)
        below = stack.plain_only()
        if layer.odd and below is not None and (columns := _whiteout_visits(layer, below)):
            # whiteouts over one plain layer, all found: the order of the visit cannot matter
            size = sum(layer.sizes)
            visits += columns
            stack.pending.append(layer)
        elif layer.odd:
            tree, size = _build(layer.entries())
            del layer
            leaves = _leaves(tree)
            if below is not None:  # one plain layer below: looked up in its columns
                whiteouts = [path for node, path in leaves if node.name.startswith(_WHITEOUT)]
                lookup: Lookup = _plain_lookup(below, whiteouts).get
            else:
                stacked = stack.below()
                lookup = _tree_lookup(tree if stacked is None else stacked)
            visit, missing = _visit_tree(leaves, lookup)
            del leaves
            if missing is not None:
                aborted.append(index)
                missing_paths.append(missing)
            stack.pending.append(tree)
            visits.append(visit)
        else:
            size = sum(layer.sizes)
            plain[len(visits)] = layer  # its leaves, once known to be needed
            visits.append(_Visit([], array("q"), None, True))
            stack.pending.append(layer)
        layer_sizes.append(size)
    del stack
    if len(visits) == 1 and plain and not missing_paths:
        # one plain layer: each path one leaf (its rows are one), its minimum its cumulative
        return _score([], [], layer_sizes, aborted)
    for at, layer in plain.items():
        visits[at] = _Visit(layer.paths, layer.sizes, layer.leaves(), True)
    return _score(visits, missing_paths, layer_sizes, aborted)


def _whiteout_visits(layer: _Layer, below: _Layer) -> list[_Visit] | None:
    """The visit of a layer whose odd entries are all whiteouts of plain paths (a file or
    directory deleted: the common case), made from its columns, when the one plain layer below
    has every target: the leaves of its plain entries (rows of one path are one leaf, the
    last), then its whiteouts (one leaf a target) with the sizes `_plain_lookup` gives. With
    no target missing, dive visits every leaf, so their order makes no difference to the
    figures. None otherwise (then the layer is built as a tree and visited in dive's order)."""
    odd = layer.odd
    if any(
        e.type != "whiteout" or e.raw_name is not None or not e.path or _WHITEOUT in e.path
        or ".." in e.path or e.path[0] == "/" or e.path[-1] == "/"
        for e in odd.values()
    ):  # fmt: skip
        return None
    targets = [e.path for e in odd.values()]
    found = _plain_lookup(below, ["/" + path for path in targets])
    if len(found) < len(set(targets)):
        return None  # a whiteout with no target: dive stops there
    rows = [row for row in range(len(layer.paths)) if row not in odd]
    paths = [layer.paths[row] for row in rows] if odd else layer.paths
    sizes = array("q", [layer.sizes[row] for row in rows]) if odd else layer.sizes
    parents = _ancestors(paths + targets)  # a whiteout's node has its target's ancestors
    leaves = bytearray(map(parents.__contains__, paths)).translate(_NOT)
    deleted = dict.fromkeys(targets)
    wsizes = array("q", [found["/" + path] for path in deleted])
    return [_Visit(paths, sizes, leaves, True), _Visit(list(deleted), wsizes, None, True)]


def _repeats(visits: list[_Visit], keys: list[list[str]], missing_paths: list[str]) -> set[str]:
    """The paths that may be seen in two leaves or more (counted by name), at C speed: those of
    leaves in two visits, of two leaves of one visit, and the missing paths (`keys`: each
    visit's leaf keys). Any other path is the key of exactly one leaf. The largest visit is only
    looked up in the others' keys."""
    repeats = set(missing_paths)
    if not visits:
        return repeats
    largest = max(range(len(visits)), key=lambda i: len(keys[i]))
    counts: Counter[str] = Counter()
    for i, mine in enumerate(keys):
        distinct = bulk.set_of(mine)
        if len(distinct) != len(mine):  # a path twice among this visit's leaves: where one is
            last = bulk.dict_of(zip(mine, count()))  # not the last of its path, it is one
            not_last = map(ne, map(last.__getitem__, mine), count())
            bulk.feed(repeats.update, compress(bulk.paced(mine), not_last))
        if i != largest:
            bulk.feed(counts.update, distinct)
        del distinct
    repeats.update(key for key, n in counts.items() if n > 1)
    bulk.feed(repeats.update, filter(counts.__contains__, bulk.paced(keys[largest])))
    return repeats


class _PathStats:
    """Per path: the sizes seen summed (``cumulative``), the smallest (``minimum``, -1 = none
    yet) and the leaves seen, in columns (a third of the memory of a list per path)."""

    __slots__ = ("count", "cumulative", "minimum", "slots")

    def __init__(self) -> None:
        self.slots: dict[str, int] = {}
        self.cumulative = array("q")
        self.minimum = array("q")
        self.count = array("l")

    def add(self, path: str, size: int) -> None:
        slot = self.slots.get(path)
        if slot is None:
            slot = self.slots[path] = len(self.count)
            self.cumulative.append(0)
            self.minimum.append(-1)
            self.count.append(0)
        self.cumulative[slot] += size
        low = self.minimum[slot]
        if low < 0 or size < low:
            self.minimum[slot] = size
        self.count[slot] += 1

    def inefficient(self) -> list[InefficientPath]:
        """The paths seen at least twice, largest cumulative size first."""
        count, cumulative = self.count, self.cumulative
        found = [
            InefficientPath(path, count[slot], cumulative[slot])
            for path, slot in self.slots.items()
            if count[slot] >= 2
        ]
        found.sort(key=lambda p: (-p.cumulative_size, p.path))
        return found


def _score(
    visits: list[_Visit], missing_paths: list[str], layer_sizes: list[int], aborted: list[int]
) -> DiveFigures:
    keys = [visit.leaf_keys() for visit in visits]
    repeats = _repeats(visits, keys, missing_paths)
    stats = _PathStats()  # only the paths that may be seen twice
    once = 0  # the sizes of the leaves of paths seen once: their cumulative and minimum alike
    for visit, mine in zip(visits, keys, strict=True):
        seen = bulk.total(visit.sizes())
        repeated: list[tuple[str, int]] = []
        if repeats:
            pick = map(repeats.__contains__, bulk.paced(mine))
            repeated = bulk.list_of(compress(visit.pairs(), pick))
        once += seen - bulk.total(map(itemgetter(1), repeated))
        if visit.dedupe:
            repeated = bulk.list_of(bulk.dict_of(repeated).items())
        for path, size in repeated:
            stats.add(path, size)
    # a whiteout with no target leaves its path a minimum of -1 if no leaf ever counts it
    never_counted = {path for path in missing_paths if path not in stats.slots}

    minimum = once + sum(stats.minimum) - len(never_counted)
    discovered = once + sum(stats.cumulative)
    efficiency = 1.0 if discovered == 0 else float(minimum) / float(discovered)
    inefficient = stats.inefficient()
    wasted = sum(p.cumulative_size for p in inefficient)
    user_size = sum(layer_sizes[1:])
    return DiveFigures(
        efficiency=efficiency,
        wasted_bytes=wasted,
        user_wasted_fraction=_go_divide(wasted, user_size),
        layer_sizes=tuple(layer_sizes),
        size_bytes=sum(layer_sizes),
        user_size_bytes=user_size,
        inefficient=tuple(inefficient),
        aborted_layers=tuple(aborted),
    )


def _go_divide(a: int, b: int) -> float:
    if b == 0:
        return math.nan if a == 0 else math.inf
    return float(a) / float(b)
