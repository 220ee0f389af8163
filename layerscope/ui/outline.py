"""A small tree of labelled nodes, flattened through its open branches into rows: what the waste
and compare views draw. Plain Python, no Textual (the widget is widgets/outline.py).

Children are kept in the order they are to be shown (the builder sorts them); opening or
closing one branch costs O(rows it adds or removes), so a tree of 500,000 nodes with its
branches closed is as quick to move in as a small one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

GUIDE_MORE = "│   "
GUIDE_NONE = "    "


class OutlineNode:
    """One node: a name, what it stands for (`data`), a size, and children if it is a branch."""

    __slots__ = ("children", "data", "name", "parent", "size")

    def __init__(self, name: str, data: Any = None, size: int = 0, *, branch: bool = False) -> None:
        self.name = name
        self.data = data
        self.size = size
        self.parent: OutlineNode | None = None
        self.children: list[OutlineNode] | None = [] if branch else None

    @property
    def is_branch(self) -> bool:
        return self.children is not None

    def add(self, child: OutlineNode) -> OutlineNode:
        if self.children is None:
            self.children = []
        child.parent = self
        self.children.append(child)
        return child

    def walk(self) -> Iterator[OutlineNode]:
        """This node's descendants, depth first, in order (iteratively: trees can be deep)."""
        stack = [iter(self.children or ())]
        while stack:
            node = next(stack[-1], None)
            if node is None:
                stack.pop()
                continue
            yield node
            if node.children:
                stack.append(iter(node.children))

    def ancestors(self) -> list[OutlineNode]:
        """The branches above this node, the root excluded, top first."""
        out = []
        p = self.parent
        while p is not None and p.parent is not None:
            out.append(p)
            p = p.parent
        out.reverse()
        return out

    def __repr__(self) -> str:
        return f"<OutlineNode {self.name!r}>"


class Row(NamedTuple):
    node: OutlineNode
    depth: int
    guide: str  # the tree lines of the ancestors
    last: bool  # the last child of its parent


class Outline:
    """The rows of a tree through its open branches."""

    def __init__(self, root: OutlineNode, expanded: Iterable[OutlineNode] = ()) -> None:
        self.root = root
        self.expanded: set[OutlineNode] = set(expanded)
        self.rows: list[Row] = list(self._flatten(root, 0, ""))

    def _flatten(self, node: OutlineNode, depth: int, guide: str) -> Iterator[Row]:
        stack: list[Iterator[Row]] = [self._rows_of(node, depth, guide)]
        while stack:
            row = next(stack[-1], None)
            if row is None:
                stack.pop()
                continue
            yield row
            if row.node in self.expanded and row.node.children:
                sub = row.guide + (GUIDE_NONE if row.last else GUIDE_MORE)
                stack.append(self._rows_of(row.node, row.depth + 1, sub))

    @staticmethod
    def _rows_of(node: OutlineNode, depth: int, guide: str) -> Iterator[Row]:
        kids = node.children or []
        last = len(kids) - 1
        return (Row(k, depth, guide, i == last) for i, k in enumerate(kids))

    def __len__(self) -> int:
        return len(self.rows)

    def index_of(self, node: OutlineNode) -> int | None:
        for i, row in enumerate(self.rows):
            if row.node is node:
                return i
        return None

    def is_expanded(self, index: int) -> bool:
        return self.rows[index].node in self.expanded

    def expand(self, index: int) -> int:
        """Open the branch at a row; returns the number of rows added."""
        row = self.rows[index]
        if row.node in self.expanded or not row.node.is_branch:
            return 0
        self.expanded.add(row.node)
        sub = row.guide + (GUIDE_NONE if row.last else GUIDE_MORE)
        new = list(self._flatten(row.node, row.depth + 1, sub))
        self.rows[index + 1 : index + 1] = new
        return len(new)

    def collapse(self, index: int) -> int:
        """Close the branch at a row; returns the number of rows removed."""
        row = self.rows[index]
        if row.node not in self.expanded:
            return 0
        self.expanded.discard(row.node)
        end = index + 1
        rows = self.rows
        while end < len(rows) and rows[end].depth > row.depth:
            end += 1
        del rows[index + 1 : end]
        return end - index - 1

    def parent_index(self, index: int) -> int | None:
        depth = self.rows[index].depth
        for i in range(index - 1, -1, -1):
            if self.rows[i].depth < depth:
                return i
        return None

    def reveal(self, node: OutlineNode) -> int | None:
        """Open the branches above a node and return its row."""
        for anc in node.ancestors():
            i = self.index_of(anc)
            if i is None:
                return None
            self.expand(i)
        return self.index_of(node)


def open_while_small(root: OutlineNode, budget: int) -> set[OutlineNode]:
    """Branches to open so that at most about `budget` rows show: level by level from the top,
    a whole level at a time."""
    opened: set[OutlineNode] = set()
    level = [n for n in root.children or () if n.is_branch]
    shown = len(root.children or ())
    while level:
        more = sum(len(n.children or ()) for n in level)
        if shown + more > budget:
            break
        opened.update(level)
        shown += more
        level = [c for n in level for c in n.children or () if c.is_branch]
    return opened
