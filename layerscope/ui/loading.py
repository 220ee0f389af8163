"""Reading an archive's layers behind the UI: what each layer's read stands at, the messages a
loader thread posts, and the loop it runs (layers of the image on screen first).

The loader does every slow thing off the event loop: it reads, analyses, and indexes each layer
for the file tree (views/imagefacts.py) before saying it is done, so the UI thread only draws.
Its messages are coalesced (`Coalescer`): posted together at most every `FLUSH_INTERVAL`, a
layer's progress only as it last stood, so the screen is redrawn a few times a second however
many layers are read at once."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.message import Message

from layerscope.errors import Cancelled
from layerscope.insight.findings import Findings, findings
from layerscope.model.archive import Archive
from layerscope.model.image import Image, Layer
from layerscope.views.imagefacts import forget_pending, image_facts, pending_facts
from layerscope.views.layertree import layer_tree

WAITING, READING, DONE, FAILED = "waiting", "reading", "done", "failed"
FLUSH_INTERVAL = 0.08  # seconds between two posts of the loader's messages, at least
PROGRESS_INTERVAL = 0.02  # seconds between two progress messages of one layer, at least
# While the loader works, the interpreter passes between threads every millisecond at most (5 by
# default): the UI thread, woken many times to answer one key, waits at most that long each time
SWITCH_INTERVAL = 0.001
LOADER_NICE = 10  # how much less the loader thread is scheduled than the UI thread


@dataclass
class LayerLoad:
    """Where the read of one layer blob stands."""

    total: int  # stored bytes
    done: int = 0
    state: str = WAITING
    error: str | None = None
    started: float | None = None  # time.monotonic() of its first progress

    def advance(self, done: int) -> None:
        """Bytes read so far (the first call starts the clock of `rate`)."""
        if self.started is None:
            self.started = time.monotonic()
        self.done = done

    @property
    def rate(self) -> float | None:
        """Stored bytes read (downloaded, for a registry's blob) per second, so far."""
        if self.started is None:
            return None
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 and self.done else None

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


class FindingsMade(Message):
    """An image's findings are made (after its analysis)."""

    def __init__(self, image: Image, found: Findings) -> None:
        super().__init__()
        self.image = image
        self.found = found


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


def analyse(image: Image, cancelled: Callable[[], bool] | None = None) -> None:
    """Compute what the UI shows about an image (dive's figures too) and index its layers for
    the file tree, so the UI thread never waits on it. Every layer is read: nothing here is
    expected to fail, and a failure is a bug the loader's worker reports."""
    _ = image.analysis
    keep()  # (each step's objects out of the collector's sight before the next makes more)
    for layer in image.layers:
        _ = layer.size, layer.changes
    _ = (
        image.size,
        image.final_size,
        image.final_files,
        image.reclaimable_bytes,
        image.duplicate_bytes,
        image.through_symlink_refs,  # (the last of the figures the cache keeps, see remember)
    )
    keep()
    image_facts(image.analysis).prepare(cancelled)
    keep()
    _ = image.dive


def index_layer(archive: Archive, layer: Layer, unanalysed: bool) -> None:
    """Index a layer just read for the file tree: its tree, and (if an image using it waits
    for other layers: its views show the bare layer meanwhile) its facts before the analysis."""
    data = layer.data
    if data is None:
        return
    layer_tree(data)
    if unanalysed:
        pending_facts(data)


class Coalescer:
    """The loader's messages, posted together at most every `interval` seconds (a thread posts
    what waits once the interval is over); of a layer's progress, only the last. `close`
    posts what is left."""

    def __init__(self, post: Callable[[Message], Any], interval: float = FLUSH_INTERVAL) -> None:
        self._post = post
        self._interval = interval
        self._waiting: list[Message] = []
        self._lock = threading.Condition()
        self._last = 0.0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="loader-post", daemon=True)
        self._thread.start()

    def post(self, message: Message) -> None:
        """Post `message` with the others due."""
        with self._lock:
            if isinstance(message, LayerProgress):
                self._waiting = [m for m in self._waiting if not message.can_replace(m)]
            self._waiting.append(message)
            self._lock.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._waiting and not self._closed:
                    self._lock.wait()
                if not self._waiting and self._closed:
                    return
                wait = self._last + self._interval - time.monotonic()
                if wait > 0 and not self._closed:
                    self._lock.wait(wait)
                    continue
                batch, self._waiting = self._waiting, []
                self._last = time.monotonic()
            for message in batch:
                self._post(message)

    def close(self) -> None:
        """Post what waits now, and stop."""
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join()


def _yield_to_the_ui() -> None:
    """Lower this thread's scheduling priority (Linux: a thread's own nice value), so that on
    a busy machine the kernel runs the UI thread first when both could run."""
    with contextlib.suppress(AttributeError, OSError):  # another system, or not allowed
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOADER_NICE)


def read_layers(
    archive: Archive,
    first: Image,
    post: Callable[[Message], Any],
    cancelled: Callable[[], bool],
) -> None:
    """Read every layer not yet read (`first`'s first; a big image in several processes at
    once), index each for the file tree; analyse each image as soon as all its layers are read.
    Runs in a thread: it only posts messages (coalesced)."""
    coalescer = Coalescer(post)
    _yield_to_the_ui()
    switching = sys.getswitchinterval()
    sys.setswitchinterval(min(switching, SWITCH_INTERVAL))
    try:
        _read_layers(archive, first, coalescer.post, cancelled)
    finally:
        sys.setswitchinterval(switching)
        coalescer.close()


def _read_layers(
    archive: Archive,
    first: Image,
    post: Callable[[Message], Any],
    cancelled: Callable[[], bool],
) -> None:
    images = load_order(archive, first)
    todo = [layer for img in images for layer in img.layers if not layer.loaded]
    overall_total = sum({ly.spec.location: ly.stored_size for ly in todo}.values())
    done: dict[Any, int] = {}  # stored bytes read, by blob
    last: dict[Any, float] = {}  # when each blob's progress was last told

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
            _analyse_and_post(archive, img, post, cancelled)
            if cancelled():
                return False
            blobs = {ly.spec.location for other in waiting for ly in other.layers}
            for layer in img.layers:  # no view shows these layers unanalysed any more
                if layer.data is not None and layer.spec.location not in blobs:
                    forget_pending(layer.data)
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
            unanalysed = any(
                not img.loaded and any(ly.spec.location == loc for ly in img.layers)
                for img in waiting
            )
            keep()  # (what was read, out of the collector's sight before indexing makes more)
            index_layer(archive, layer, unanalysed)
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


def _analyse_and_post(
    archive: Archive, img: Image, post: Callable[[Message], Any], cancelled: Callable[[], bool]
) -> None:
    archive.recall(img)
    keep()
    try:
        analyse(img, cancelled)
    except Cancelled:
        return
    archive.remember(img, analysis=True)
    keep()
    post(ImageAnalysed(img))
    # what to fix, and the secrets (the summary strip counts them); should they fail, the
    # findings view makes them again when opened, and says why
    with contextlib.suppress(Exception):
        post(FindingsMade(img, findings(img)))
