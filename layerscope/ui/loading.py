"""Reading an archive's layers behind the UI: what each layer's read stands at, the messages a
loader thread posts, and the loop it runs (layers of the image on screen first)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.message import Message

from layerscope.errors import Cancelled
from layerscope.model.archive import Archive
from layerscope.model.image import Image, Layer
from layerscope.views.treeview import removals

WAITING, READING, DONE, FAILED = "waiting", "reading", "done", "failed"
PROGRESS_INTERVAL = 0.05  # seconds between two progress messages of one layer


@dataclass
class LayerLoad:
    """Where the read of one layer blob stands."""

    total: int  # stored bytes
    done: int = 0
    state: str = WAITING
    error: str | None = None

    @property
    def fraction(self) -> float:
        if self.state == DONE:
            return 1.0
        return self.done / self.total if self.total else 0.0


class LayerProgress(Message):
    """Bytes read of one layer blob, and of every blob; a newer one replaces an older one."""

    def __init__(self, layer: Layer, done: int, overall_done: int, overall_total: int) -> None:
        super().__init__()
        self.layer = layer
        self.done = done
        self.overall_done = overall_done
        self.overall_total = overall_total

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LayerProgress) and message.layer.spec.location == (
            self.layer.spec.location
        )


class LayerLoaded(Message):
    """A layer blob was read (and attached to every position that uses it)."""

    def __init__(self, layer: Layer, overall_done: int, overall_total: int) -> None:
        super().__init__()
        self.layer = layer
        self.overall_done = overall_done
        self.overall_total = overall_total


class LayerFailed(Message):
    """A layer blob could not be read; the rest goes on."""

    def __init__(self, layer: Layer, error: str) -> None:
        super().__init__()
        self.layer = layer
        self.error = error


class ImageAnalysed(Message):
    """Every layer of an image is read and its figures are computed."""

    def __init__(self, image: Image) -> None:
        super().__init__()
        self.image = image


class LoadingFinished(Message):
    """The loader has nothing left to read."""

    def __init__(self, failed: int) -> None:
        super().__init__()
        self.failed = failed


def keep() -> None:
    """Move every object alive now out of the cyclic garbage collector's sight. Layer indexes,
    the analysis and tree views hold millions of references that never form cycles (reference
    counting frees them); left in sight, a full collection walks them all, blocking every
    thread for a quarter of a second now and then."""
    gc.freeze()


def load_order(archive: Archive, first: Image) -> list[Image]:
    """The images in the order to read them: the one on screen first."""
    return [first] + [img for img in archive.images if img is not first]


def analyse(image: Image) -> None:
    """Compute what the UI shows about an image (dive's figures too), so the UI thread never
    waits on it. Every layer is read: nothing here is expected to fail, and a failure is a bug
    the loader's worker reports."""
    for layer in image.layers:
        _ = layer.size, layer.changes
    _ = (
        image.size,
        image.final_size,
        image.final_files,
        image.reclaimable_bytes,
        image.duplicate_bytes,
    )
    removals(image.analysis)
    _ = image.dive


def read_layers(
    archive: Archive,
    first: Image,
    post: Callable[[Message], Any],
    cancelled: Callable[[], bool],
) -> None:
    """Read every layer not yet read (`first`'s first; a big image in several processes at
    once); analyse each image as soon as all its layers are read. Runs in a thread: it only
    posts messages."""
    images = load_order(archive, first)
    todo = [layer for img in images for layer in img.layers if not layer.loaded]
    overall_total = sum({ly.spec.location: ly.stored_size for ly in todo}.values())
    done: dict[Any, int] = {}  # stored bytes read, by blob
    last: dict[Any, float] = {}  # when each blob's progress was last posted

    def progress(layer: Layer, n: int) -> None:
        loc = layer.spec.location
        done[loc] = n
        now = time.monotonic()
        if now - last.get(loc, 0.0) >= PROGRESS_INTERVAL:
            last[loc] = now
            post(LayerProgress(layer, n, sum(done.values()), overall_total))

    failed = 0
    waiting = list(images)

    def analyse_complete() -> bool:
        """Analyse every image whose layers are all read; False once cancelled."""
        for img in [img for img in waiting if img.loaded]:
            waiting.remove(img)
            _analyse_and_post(archive, img, post)
            if cancelled():
                return False
        return True

    if not analyse_complete():
        return
    try:
        for layer, error in archive.read_each(todo, progress, cancelled):
            loc = layer.spec.location
            done[loc] = layer.stored_size
            if error is not None:
                failed += 1
                post(LayerFailed(layer, error.message))
                continue
            keep()
            for img in images:  # every position of the blob: its size, off the UI thread
                for other in img.layers:
                    if other.spec.location == loc:
                        _ = other.size
            post(LayerLoaded(layer, sum(done.values()), overall_total))
            if not analyse_complete():
                return
    except Cancelled:
        return
    post(LoadingFinished(failed))


def _analyse_and_post(archive: Archive, img: Image, post: Callable[[Message], Any]) -> None:
    archive.recall(img)
    analyse(img)
    archive.remember(img, analysis=True)
    keep()
    post(ImageAnalysed(img))
