"""Reading an archive's layers behind the UI: what each layer's read stands at, the messages a
loader thread posts, and the loop it runs (layers of the image on screen first)."""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.message import Message

from ..archive import Archive
from ..errors import Cancelled, LayerscopeError
from ..image import Image, Layer
from ..tree import removals

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
    """Compute what the UI shows about an image, so the UI thread never waits on it."""
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
    with contextlib.suppress(Exception):  # dive figures are optional: the pane shows "—"
        _ = image.dive


def read_layers(
    archive: Archive,
    first: Image,
    post: Callable[[Message], Any],
    cancelled: Callable[[], bool],
) -> None:
    """Read every layer not yet read, image by image (`first` first); analyse each image once
    all its layers are read. Runs in a thread: it only posts messages."""
    todo: dict[Any, Layer] = {}
    for img in load_order(archive, first):
        for layer in img.layers:
            if not layer.loaded:
                todo.setdefault(layer.spec.location, layer)
    overall_total = sum(layer.stored_size for layer in todo.values())
    overall_done = 0
    failed: set[Any] = set()
    for img in load_order(archive, first):
        for layer in img.layers:
            loc = layer.spec.location
            if layer.loaded or loc in failed:
                continue
            if cancelled():
                return
            base = overall_done
            last = 0.0

            def progress(lyr: Layer, done: int, base: int = base) -> None:
                nonlocal last
                now = time.monotonic()
                if now - last >= PROGRESS_INTERVAL:
                    last = now
                    post(LayerProgress(lyr, done, base + done, overall_total))

            post(LayerProgress(layer, 0, base, overall_total))
            try:
                archive.load_layer(layer, progress=progress, cancelled=cancelled)
            except Cancelled:
                return
            except LayerscopeError as e:
                failed.add(loc)
                overall_done += layer.stored_size
                post(LayerFailed(layer, e.message))
                continue
            except OSError as e:
                failed.add(loc)
                overall_done += layer.stored_size
                post(LayerFailed(layer, e.strerror or str(e)))
                continue
            overall_done += layer.stored_size
            keep()
            for other_img in archive.images:
                for other in other_img.layers:
                    if other.spec.location == loc:
                        _ = other.size
            post(LayerLoaded(layer, overall_done, overall_total))
        if img.loaded:
            archive.recall(img)
            analyse(img)
            archive.remember(img, analysis=True)
            keep()
            if cancelled():
                return
            post(ImageAnalysed(img))
    post(LoadingFinished(len(failed)))
