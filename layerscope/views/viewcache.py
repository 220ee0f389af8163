"""The views of the file tree kept in memory, and what is made ahead so that any of them shows
at once.

A view (`TreeView`) costs nothing to make once its layers are indexed (each layer's tree and
facts: views/imagefacts.py), and holds only the directories listed in it. What takes a while is
indexing a layer, once: `prepare` does it ahead for an analysed image (the loader does it as
layers are read), the layers nearest the one on screen first, then makes each view of the
image so that switching to it finds it made. The cache keeps the views made, up to a number of
listed nodes in all (the least recently used go first; the latest one always stays). It is safe
to use from several threads (the UI thread asks, the tree threads make).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from layerscope.model.image import Image
from layerscope.views.imagefacts import image_facts
from layerscope.views.treeview import MODES, CancelFn, Cancelled, TreeView, build_view

VIEW_NODES = 2_000_000  # nodes listed in the views kept, in all (the latest view is always kept)

ViewKey = tuple[int, int, str, bool]  # image number, layer, mode, analysed


def view_key(image: Image, layer: int, mode: str, analysed: bool) -> ViewKey:
    """What tells one view from another."""
    return (image.number, layer, mode, analysed)


def preparation_order(image: Image, layer: int, mode: str) -> list[ViewKey]:
    """The views of an analysed image, nearest to `layer` and in `mode` first."""
    order = sorted(
        ((pos, m) for pos in range(len(image.layers)) for m in MODES),
        key=lambda pm: (abs(pm[0] - layer), pm[1] != mode, pm[0]),
    )
    return [view_key(image, pos, m, True) for pos, m in order]


class ViewCache:
    """Views by `ViewKey`, the least recently used dropped once they hold more than `limit`
    listed nodes. `on_built` is called after each layer is indexed ahead (the UI hides the new
    objects from the cyclic garbage collector there)."""

    def __init__(
        self, limit: int = VIEW_NODES, on_built: Callable[[], object] | None = None
    ) -> None:
        self.limit = limit
        self.on_built = on_built
        self._views: OrderedDict[ViewKey, TreeView] = OrderedDict()
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
        """The nodes listed in every view kept."""
        with self._lock:
            return sum(view.built for view in self._views.values())

    def get(self, key: ViewKey) -> TreeView | None:
        """The view kept under `key` (now the most recently used), or None."""
        with self._lock:
            view = self._views.get(key)
            if view is not None:
                self._views.move_to_end(key)
            return view

    def build(self, key: ViewKey, image: Image, cancelled: CancelFn | None = None) -> TreeView:
        """Make a view (its layers indexed first if they are not: in a thread) and keep it, the
        least recently used ones making room. Raises `Cancelled` once `cancelled()` says so."""
        _, layer, mode, analysed = key
        view = build_view(image, layer, mode, analysed=analysed, cancelled=cancelled)
        view.owner_width()  # scans every uid and gid of a layer once, here rather than on screen
        with self._lock:
            self._views[key] = view
            self._views.move_to_end(key)
            self._trim()
        return view

    def _trim(self) -> None:
        """Drop the least recently used views while those kept list too many nodes."""
        total = sum(view.built for view in self._views.values())
        while total > self.limit and len(self._views) > 1:
            _, dropped = self._views.popitem(last=False)
            total -= dropped.built

    def view(
        self,
        image: Image,
        layer: int,
        mode: str,
        analysed: bool,
        cancelled: CancelFn | None = None,
    ) -> TreeView:
        """The view of `image` at `layer` in `mode`: kept, or made now."""
        key = view_key(image, layer, mode, analysed)
        view = self.get(key)
        if view is None:
            view = self.build(key, image, cancelled)
        return view

    def prepare(
        self, image: Image, layer: int, mode: str, cancelled: CancelFn | None = None
    ) -> None:
        """Index every layer of an analysed image (if the loader has not), then make the views
        of the image not kept yet, the nearest to `layer` first: switching to them is then
        instant. Stops quietly once cancelled."""
        try:
            image_facts(image.analysis).prepare(cancelled)
            if self.on_built is not None:
                self.on_built()
            for key in preparation_order(image, layer, mode):
                if cancelled is not None and cancelled():
                    return
                if key not in self:
                    view = self.build(key, image, cancelled)
                    view.totals()  # the legend's counts, worked out here too
        except Cancelled:
            return
