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
"""

from __future__ import annotations

import gc
import math
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

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


@dataclass(frozen=True)
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
    __slots__ = ("children", "is_dir", "name", "parent", "size")

    def __init__(self, name: str, parent: _Node | None) -> None:
        self.name = name
        self.parent = parent
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
        self.root = _Node("", None)
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
                        child = _Node(comp, node)
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
            child = _Node(name, node)
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
        node = self.root
        for name in path.strip("/").split("/"):
            if not name:
                continue
            children = node.children
            child = children.get(name) if children is not None else None
            if child is None:
                return None
            node = child
        return node

    def remove(self, path: str) -> None:
        """dive's ``RemovePath`` (a missing path, or the root, is left alone)."""
        node = self.get(path)
        if node is None or node.parent is None:
            return
        siblings = node.parent.children
        assert siblings is not None
        del siblings[node.name]
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
            copy = _Node(name, dst)
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


def dive_figures(layers: Iterable[Iterable[DiveEntry]]) -> DiveFigures:
    """dive 0.13.1's figures for an image whose layers (bottom to top) hold these tar entries.

    Layers are consumed one at a time, so both arguments may be iterators.
    """
    collecting = gc.isenabled()
    gc.disable()  # the trees are many small objects; the cyclic collector only slows their building
    try:
        return _figures(layers)
    finally:
        if collecting:
            gc.enable()


def _figures(layers: Iterable[Iterable[DiveEntry]]) -> DiveFigures:
    # path -> slot in three columns: cumulative size, minimum size (-1 = none yet), leaves seen
    # (columns rather than a list per path: a third of the memory on 500,000 paths)
    stats: dict[str, int] = {}
    cumulative = array("q")
    minimum_of = array("q")
    count = array("l")
    layer_sizes: list[int] = []
    aborted: list[int] = []
    stacked: _Tree | None = None  # the layers below the current one, stacked as dive does
    previous: _Tree | None = None
    for index, entries in enumerate(layers):
        if previous is not None:
            if stacked is not None:
                _stack(stacked, previous)
            elif previous.plain:
                stacked = previous
            else:
                stacked = _copy(previous)
                _stack(stacked, previous)
        tree, size = _build(entries)
        layer_sizes.append(size)
        lower = stacked if stacked is not None else tree
        memo: dict[int, int] = {}
        for node, _parent, path in _walk(tree.root):
            if node.children:
                continue
            slot = stats.get(path)
            if slot is None:
                slot = stats[path] = len(count)
                cumulative.append(0)
                minimum_of.append(-1)
                count.append(0)
            if node.name.startswith(_WHITEOUT):
                target = lower.get(path)
                if target is None:
                    aborted.append(index)
                    break
                seen = _subtree_size(target, memo) if target.is_dir else 0
            else:
                seen = node.size
            cumulative[slot] += seen
            low = minimum_of[slot]
            if low < 0 or seen < low:
                minimum_of[slot] = seen
            count[slot] += 1
        previous = tree

    minimum = sum(minimum_of)
    discovered = sum(cumulative)
    efficiency = 1.0 if discovered == 0 else float(minimum) / float(discovered)
    inefficient = sorted(
        (
            InefficientPath(path[1:], count[slot], cumulative[slot])
            for path, slot in stats.items()
            if count[slot] >= 2
        ),
        key=lambda p: (-p.cumulative_size, p.path),
    )
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
