"""Trees flattened through their open branches into the rows a tree widget draws: one algorithm
(`BaseOutline`) for the file tree (`Outline`, over a `listing.Listing`) and for the small trees
of labelled nodes the waste and compare views draw (`NodeOutline`, over `OutlineNode`s). Plain
Python, no Textual (the widgets are ui/widgets/file_tree.py and ui/widgets/outline.py).

Children are listed in the order they are shown; opening or closing one branch costs O(rows it
adds or removes), so a tree of 500,000 nodes with its branches closed is as quick to move in as
a small one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from itertools import repeat
from typing import Any, Generic, NamedTuple, TypeVar

from layerscope.read.records import DIR
from layerscope.views.listing import SORTS, Listing
from layerscope.views.treeview import ROOT, CancelFn, Cancelled, TreeView

AUTO_EXPAND_NODES = 400  # views this small open fully expanded


# -- the algorithm -----------------------------------------------------------------------------
N = TypeVar("N")


class Row(NamedTuple):
    """One row a tree widget draws: a node, its depth and the tree lines before it."""

    node: Any  # a node id of a TreeView here; an OutlineNode in the UI's small trees
    depth: int
    guide: str  # the tree lines of the ancestors
    last: bool  # the last child of its parent


class BaseOutline(Generic[N]):
    """A tree flattened through its expanded branches: the rows a tree widget draws. Expanding or
    collapsing one branch costs O(rows it adds or removes). Subclasses say what a node's children
    are (in the order shown), whether it is a branch, and which branches lie above it."""

    GUIDE_MORE = "│   "
    GUIDE_NONE = "    "

    def __init__(
        self, root: N, expanded: Iterable[N] = (), *, cancelled: CancelFn | None = None
    ) -> None:
        self.expanded: set[N] = set(expanded)
        self._cancelled = cancelled
        self.rows: list[Row] = list(self._flatten(root, 0, ""))

    def _children(self, node: N) -> Sequence[N]:
        raise NotImplementedError

    def _is_branch(self, node: N) -> bool:
        raise NotImplementedError

    def _ancestors(self, node: N) -> Iterable[N]:
        """The branches above a node, the root excluded, top first."""
        raise NotImplementedError

    def _flatten(self, node: N, depth: int, guide: str) -> Iterator[Row]:
        """Rows below a node, through expanded branches (iteratively: trees can be deep)."""
        stack: list[Iterator[Row]] = [self._rows_of(node, depth, guide)]
        expanded = self.expanded
        count = 0
        while stack:
            row = next(stack[-1], None)
            if row is None:
                stack.pop()
                continue
            yield row
            count += 1
            if not count & 0x3FFF and self._cancelled is not None and self._cancelled():
                raise Cancelled()
            if row.node in expanded and self._is_branch(row.node):
                sub = row.guide + (self.GUIDE_NONE if row.last else self.GUIDE_MORE)
                stack.append(self._rows_of(row.node, row.depth + 1, sub))

    def _rows_of(self, node: N, depth: int, guide: str) -> Iterator[Row]:
        kids = self._children(node)
        last = len(kids) - 1
        return (Row(k, depth, guide, i == last) for i, k in enumerate(kids))

    def __len__(self) -> int:
        """Number of rows."""
        return len(self.rows)

    def node_at(self, index: int) -> N:
        """The node of a row."""
        return self.rows[index].node

    def index_of(self, node: N) -> int | None:
        """The row of a node, if it is shown."""
        for i, row in enumerate(self.rows):
            if row.node == node:
                return i
        return None

    def is_expanded(self, index: int) -> bool:
        """Whether the branch at a row is open."""
        return self.rows[index].node in self.expanded

    def expand(self, index: int) -> int:
        """Open the branch at a row; returns the number of rows added."""
        row = self.rows[index]
        if row.node in self.expanded or not self._is_branch(row.node):
            return 0
        return self.insert_below(index, self.rows_below(index))

    def rows_below(self, index: int) -> list[Row]:
        """The rows the branch at a row would show open (`expand` in two steps: these may be
        worked out in another thread, then put in place by `insert_below`). With no branch
        open below it, a row per child, made at C speed (100,000 children: milliseconds)."""
        row = self.rows[index]
        sub = row.guide + (self.GUIDE_NONE if row.last else self.GUIDE_MORE)
        kids = self._children(row.node)
        if not self.expanded.isdisjoint(kids):
            return list(self._flatten(row.node, row.depth + 1, sub))
        depth = row.depth + 1
        rows = list(
            map(tuple.__new__, repeat(Row), zip(kids, repeat(depth), repeat(sub), repeat(False)))
        )
        if rows:
            rows[-1] = Row(kids[-1], depth, sub, True)
        return rows

    def insert_below(self, index: int, rows: list[Row]) -> int:
        """Open the branch at a row, showing `rows` (from `rows_below`) below it."""
        self.expanded.add(self.rows[index].node)
        self.rows[index + 1 : index + 1] = rows
        return len(rows)

    def collapse(self, index: int) -> int:
        """Close the branch at a row; returns the number of rows removed. Branches open below it
        stay open for when it opens again."""
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
        """The row of the branch above a row, if any."""
        depth = self.rows[index].depth
        for i in range(index - 1, -1, -1):
            if self.rows[i].depth < depth:
                return i
        return None

    def reveal(self, node: N) -> int | None:
        """Expand the branches above a node and return its row (None if it is not shown)."""
        for anc in self._ancestors(node):
            i = self.index_of(anc)
            if i is None:
                return None
            self.expand(i)
        return self.index_of(node)


# -- the file tree -----------------------------------------------------------------------------
class Outline(BaseOutline[int]):
    """A listing flattened through its expanded directories."""

    def __init__(
        self,
        listing: Listing,
        sort: str = "size",
        expanded: Collection[int] = (),
        *,
        cancelled: CancelFn | None = None,
    ) -> None:
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {SORTS}, not {sort!r}")
        self.listing = listing
        self.view = listing.view
        self.sort = sort
        super().__init__(ROOT, expanded, cancelled=cancelled)

    def _children(self, node: int) -> list[int]:
        return self.listing.children(node, self.sort)

    def _is_branch(self, node: int) -> bool:
        return self.view.types[node] == DIR

    def _ancestors(self, node: int) -> list[int]:
        return self.view.ancestors(node)

    def reveal(self, node: int) -> int | None:
        """As `BaseOutline.reveal`; None for a node the filter leaves out."""
        if node not in self.listing:
            return None  # filtered out
        return super().reveal(node)


def all_dirs(view: TreeView) -> list[int]:
    """Every directory node with children (what "expand all" opens; lists them all)."""
    return view.all_dirs()


def expanded_nodes(
    view: TreeView, paths: Iterable[str], *, everything: bool, except_paths: Iterable[str] = ()
) -> set[int]:
    """Node ids to open in a view: the directories at `paths`, or every directory but those at
    `except_paths` when `everything` is set."""
    if everything:
        closed = {view.find(p) for p in except_paths}
        return {d for d in all_dirs(view) if d not in closed}
    out = set()
    for p in paths:
        node = view.find(p)
        if node is not None and view.types[node] == DIR:
            out.add(node)
    return out


# -- small trees of labelled nodes -------------------------------------------------------------
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
        """Whether the node can hold children (even none)."""
        return self.children is not None

    def add(self, child: OutlineNode) -> OutlineNode:
        """Append a child (this node becomes a branch); returns the child."""
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


class NodeOutline(BaseOutline[OutlineNode]):
    """The rows of a tree of `OutlineNode`s through its open branches."""

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
