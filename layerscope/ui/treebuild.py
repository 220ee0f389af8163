"""Building the file tree behind the UI: what a build depends on (`TreeRequest`), the build a
tree thread runs (`build_rows`: the view, from the `ViewCache` or built now, filtered, sorted and
opened as asked, and the row the cursor goes to), and the message it posts back (`TreeReady`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message

from layerscope.model.image import Image
from layerscope.views.listing import Filter, Listing
from layerscope.views.outline import AUTO_EXPAND_NODES, Outline, expanded_nodes
from layerscope.views.treeview import CancelFn, TreeView
from layerscope.views.viewcache import ViewCache


@dataclass(frozen=True)
class TreeRequest:
    """Everything a tree build depends on."""

    serial: int
    image: Image
    layer: int
    mode: str
    analysed: bool
    filter: Filter
    sort: str
    everything: bool | None
    paths: frozenset[str] = field(default_factory=frozenset)
    cursor_path: str = ""
    generation: int = 0  # the tree's open/close count when asked


class TreeReady(Message):
    """A tree build finished: the rows to show, and where the cursor goes."""

    def __init__(self, request: TreeRequest, outline: Outline, cursor: int, everything: bool):
        super().__init__()
        self.request = request
        self.outline = outline
        self.cursor = cursor
        self.everything = everything


def build_rows(views: ViewCache, req: TreeRequest, cancelled: CancelFn) -> TreeReady:
    """The rows a request asks for (in a tree thread; `Cancelled` once `cancelled()` says so):
    every directory open but `req.paths` when `everything` (decided by the view's size when the
    request leaves it open), else only those (a search opens the directories above its matches);
    the cursor on `req.cursor_path`, or the nearest row above it. The view's counts are worked
    out here too, so the legend finds them done."""
    view = views.view(req.image, req.layer, req.mode, req.analysed, cancelled=cancelled)
    listing = Listing(view, req.filter, cancelled=cancelled)
    view.totals()
    everything = req.everything
    if everything is None:
        everything = not view.rows_at_least(AUTO_EXPAND_NODES) and len(view) <= AUTO_EXPAND_NODES
    if everything:  # (a search opens only the directories above its matches)
        closed = {view.find(p) for p in req.paths}
        opened = listing.kept_dirs() if req.filter.pattern else view.all_dirs(cancelled)
        expanded = {d for d in opened if d not in closed}
    else:
        expanded = expanded_nodes(view, req.paths, everything=False)
    outline = Outline(listing, req.sort, expanded, cancelled=cancelled)
    return TreeReady(req, outline, cursor_row(view, outline, req.cursor_path), everything)


def cursor_row(view: TreeView, outline: Outline, path: str) -> int:
    """The row of `path`; if the view has no such path, of its nearest ancestor there; if the
    rows do not show it, of its nearest ancestor they show; else the first row."""
    if not path:
        return 0
    node = view.find(path)
    while node is None and "/" in path:
        path = path.rsplit("/", 1)[0]
        node = view.find(path)
    if node is None:
        return 0
    index = outline.index_of(node)
    while index is None and node > 0:
        node = view.parents[node]
        index = outline.index_of(node) if node > 0 else None
    return index or 0
