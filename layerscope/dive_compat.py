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
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["DiveEntry", "DiveFigures", "InefficientPath", "dive_figures", "go_clean"]

_WHITEOUT = ".wh."
_DOUBLE_WHITEOUT = ".wh..wh.."
_OPAQUE_NAME = ".wh..wh..opq"


class DiveEntry(NamedTuple):
    """One tar entry of a layer, as layerscope normalises it.

    ``size`` is the size field of the tar header (dive counts it for every type). ``raw_name`` is
    optional: when given (the name exactly as stored in the tar), dive's view is derived from it
    rather than from ``path``/``type``; this only matters for names our normalisation changes in a
    way ``path.Clean`` does not (e.g. ``..`` components, an empty ``.wh.`` marker).
    """

    path: str
    type: str
    size: int
    link: str | None = None
    raw_name: str | None = None


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
    user_wasted_fraction: (
        float  # dive's "userWastedPercent" as a fraction; NaN or +Inf if user size is 0
    )
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


def _byte_key(name: str) -> bytes:
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogatepass")


def _components(entry: DiveEntry) -> list[str] | None:
    """The components of the cleaned name dive sees, or None for a name dive skips (".")."""
    if entry.raw_name is not None:
        clean = go_clean(entry.raw_name)
        return None if clean == "." else clean.strip("/").split("/")
    path = entry.path
    if entry.type == "opaque":
        return [*path.split("/"), _OPAQUE_NAME] if path else [_OPAQUE_NAME]
    if not path:
        return None
    parts = path.split("/")
    if entry.type == "whiteout":
        parts[-1] = _WHITEOUT + parts[-1]
    return parts


def _add(root: _Node, comps: list[str], size: int, is_dir: bool) -> None:
    """dive's ``FileTree.AddPath`` on already cleaned components."""
    node = root
    last = len(comps) - 1
    for idx, name in enumerate(comps):
        if not name:
            continue
        children = node.children
        child = children.get(name) if children is not None else None
        if child is None:
            if name.startswith(_DOUBLE_WHITEOUT):
                return
            child = _Node(name, node)
            if children is None:
                children = node.children = {}
            children[name] = child
        node = child
        if idx == last:
            node.size = size
            node.is_dir = is_dir


def _add_path(root: _Node, path: str, size: int, is_dir: bool) -> None:
    if "//" in path or "/./" in path or "/.." in path or path.endswith("/."):
        path = go_clean(path)
        if path == ".":
            return
    _add(root, path.strip("/").split("/"), size, is_dir)


def _get(root: _Node, path: str) -> _Node | None:
    """dive's ``FileTree.GetNode``."""
    node = root
    for name in path.strip("/").split("/"):
        if not name:
            continue
        children = node.children
        child = children.get(name) if children is not None else None
        if child is None:
            return None
        node = child
    return node


def _walk(root: _Node) -> Iterator[tuple[_Node, str]]:
    """Every node but the root with dive's ``Path()``: children first, siblings in byte order."""
    if not root.children:
        return
    stack: list[tuple[_Node, str, str, Iterator[_Node]]] = [
        (root, "", "", iter(sorted(root.children.values(), key=lambda n: _byte_key(n.name))))
    ]
    while stack:
        node, prefix, own_path, it = stack[-1]
        child = next(it, None)
        if child is None:
            stack.pop()
            if stack:
                yield node, own_path
            continue
        name = child.name
        shown = name[4:] if name.startswith(_WHITEOUT) else name
        child_own = prefix + "/" + shown
        if child.children:
            kids = sorted(child.children.values(), key=lambda n: _byte_key(n.name))
            stack.append((child, prefix + "/" + name, child_own, iter(kids)))
        else:
            yield child, child_own


def _copy(root: _Node) -> _Node:
    new_root = _Node(root.name, None)
    new_root.size, new_root.is_dir = root.size, root.is_dir
    todo = [(root, new_root)]
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
    return new_root


def _stack(lower: _Node, upper: _Node) -> None:
    """dive's ``FileTree.Stack``: apply ``upper`` onto ``lower`` in place."""
    for node, path in _walk(upper):
        if node.name.startswith(_WHITEOUT):
            target = _get(lower, path)
            if target is not None and target.parent is not None and target.parent.children:
                target.parent.children.pop(target.name, None)
        else:
            _add_path(lower, path, node.size, node.is_dir)


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


def _build(entries: Sequence[DiveEntry]) -> tuple[_Node, int]:
    root = _Node("", None)
    size = 0
    for entry in entries:
        comps = _components(entry)
        if comps is None:
            continue
        size += entry.size
        _add(root, comps, entry.size, entry.type == "dir")
    return root, size


def dive_figures(layers: Sequence[Sequence[DiveEntry]]) -> DiveFigures:
    """dive 0.13.1's figures for an image whose layers (bottom to top) hold these tar entries."""
    # path -> [cumulative size, minimum size (-1 = none yet), leaves seen]
    stats: dict[str, list[int]] = {}
    layer_sizes: list[int] = []
    aborted: list[int] = []
    stacked: _Node | None = None  # the layers below the current one, stacked as dive does
    for index, entries in enumerate(layers):
        tree, size = _build(entries)
        layer_sizes.append(size)
        lower = tree if stacked is None else stacked
        memo: dict[int, int] = {}
        for node, path in _walk(tree):
            if node.children:
                continue
            rec = stats.get(path)
            if rec is None:
                rec = stats[path] = [0, -1, 0]
            if node.name.startswith(_WHITEOUT):
                target = _get(lower, path)
                if target is None:
                    aborted.append(index)
                    break
                seen = _subtree_size(target, memo) if target.is_dir else 0
            else:
                seen = node.size
            rec[0] += seen
            if rec[1] < 0 or seen < rec[1]:
                rec[1] = seen
            rec[2] += 1
        if index + 1 < len(layers):
            if stacked is None:
                stacked = _copy(tree)
            _stack(stacked, tree)

    minimum = sum(rec[1] for rec in stats.values())
    discovered = sum(rec[0] for rec in stats.values())
    efficiency = 1.0 if discovered == 0 else float(minimum) / float(discovered)
    inefficient = sorted(
        (
            InefficientPath(path.lstrip("/"), rec[2], rec[0])
            for path, rec in stats.items()
            if rec[2] >= 2
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
