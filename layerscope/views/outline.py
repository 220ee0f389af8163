"""A small tree of labelled nodes, flattened through its open branches into rows: what the waste
and compare views draw. Plain Python, no Textual (the widget is widgets/outline.py); the rows
are worked out as for the file tree (tree.BaseOutline).

Children are kept in the order they are to be shown (the builder sorts them); opening or
closing one branch costs O(rows it adds or removes), so a tree of 500,000 nodes with its
branches closed is as quick to move in as a small one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from layerscope.views.tree import BaseOutline


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


class Outline(BaseOutline[OutlineNode]):
    """The rows of a tree through its open branches."""

    def __init__(self, root: OutlineNode, expanded: Iterable[OutlineNode] = ()) -> None:
        self.root = root
        super().__init__(root, expanded)

    def _children(self, node: OutlineNode) -> list[OutlineNode]:
        return node.children or []

    def _is_branch(self, node: OutlineNode) -> bool:
        return node.is_branch

    def _ancestors(self, node: OutlineNode) -> list[OutlineNode]:
        return node.ancestors()


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
