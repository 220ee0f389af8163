"""The views of the file tree kept in memory: which are built, which are built ahead, which make
room for others.

A view (`TreeView`) of a big image takes a while to build and a lot of memory to keep. The
cache keeps the views built, up to a number of nodes in all (the least recently used go first;
the latest one always stays), and builds ahead the views of an analysed image the user is likely
to open next: the layers nearest the one on screen, in the mode on screen first. It is safe to
use from several threads (the UI thread asks, the tree threads build).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from itertools import accumulate

from layerscope.model.image import Image
from layerscope.views.treeview import MODES, CancelFn, Cancelled, TreeView, build_view

VIEW_NODES = 2_000_000  # nodes of the views kept in all (the latest view is always kept)

ViewKey = tuple[int, int, str, bool]  # image number, layer, mode, analysed


def view_key(image: Image, layer: int, mode: str, analysed: bool) -> ViewKey:
    """What tells one view from another."""
    return (image.number, layer, mode, analysed)


def preparation_order(image: Image, layer: int, mode: str) -> list[tuple[ViewKey, int]]:
    """The views of an analysed image, nearest to `layer` and in `mode` first, each with the
    nodes it may hold (entries of the layer; of the layers up to it for the image mode)."""
    sizes = [len(lyr.data) if lyr.data is not None else 0 for lyr in image.layers]
    below = list(accumulate(sizes))
    order = sorted(
        ((pos, m) for pos in range(len(sizes)) for m in MODES),
        key=lambda pm: (abs(pm[0] - layer), pm[1] != mode, pm[0]),
    )
    return [
        (view_key(image, pos, m, True), sizes[pos] if m == "changes" else below[pos])
        for pos, m in order
    ]


class ViewCache:
    """Views by `ViewKey`, the least recently used dropped once they hold more than `limit`
    nodes. `on_built` is called after each build (the UI hides the new objects from the cyclic
    garbage collector there)."""

    def __init__(
        self, limit: int = VIEW_NODES, on_built: Callable[[], object] | None = None
    ) -> None:
        self.limit = limit
        self.on_built = on_built
        self._views: OrderedDict[ViewKey, TreeView] = OrderedDict()
        self._nodes = 0  # nodes of the views kept
        self._lock = threading.Lock()

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._views

    def __len__(self) -> int:
        with self._lock:
            return len(self._views)

    def keys(self) -> list[ViewKey]:
        """The keys of the views kept, the least recently used first."""
        with self._lock:
            return list(self._views)

    @property
    def nodes(self) -> int:
        """The nodes of every view kept."""
        with self._lock:
            return self._nodes

    def get(self, key: ViewKey) -> TreeView | None:
        """The view kept under `key` (now the most recently used), or None."""
        with self._lock:
            view = self._views.get(key)
            if view is not None:
                self._views.move_to_end(key)
            return view

    def build(self, key: ViewKey, image: Image, cancelled: CancelFn | None = None) -> TreeView:
        """Build a view (in a thread: it takes a while) and keep it, the least recently used
        ones making room. Raises `Cancelled` once `cancelled()` says so."""
        _, layer, mode, analysed = key
        view = build_view(image, layer, mode, analysed=analysed, cancelled=cancelled)
        view.owner_width()  # scans every uid and gid once, here rather than on screen
        if self.on_built is not None:
            self.on_built()
        with self._lock:
            old = self._views.pop(key, None)
            self._nodes += len(view) - (len(old) if old is not None else 0)
            self._views[key] = view
            while self._nodes > self.limit and len(self._views) > 1:
                _, dropped = self._views.popitem(last=False)
                self._nodes -= len(dropped)
        return view

    def view(
        self,
        image: Image,
        layer: int,
        mode: str,
        analysed: bool,
        cancelled: CancelFn | None = None,
    ) -> TreeView:
        """The view of `image` at `layer` in `mode`: kept, or built now."""
        key = view_key(image, layer, mode, analysed)
        view = self.get(key)
        if view is None:
            view = self.build(key, image, cancelled)
        return view

    def prepare(
        self, image: Image, layer: int, mode: str, cancelled: CancelFn | None = None
    ) -> None:
        """Build ahead the views of an analysed image not kept yet, the nearest to `layer`
        first, while they fit in the room left: switching to them is then instant. Stops
        quietly once cancelled."""
        for key, nodes in preparation_order(image, layer, mode):
            with self._lock:
                if key in self._views:
                    continue
                if self._nodes + nodes > self.limit:
                    return
            try:
                self.build(key, image, cancelled)
            except Cancelled:
                return
