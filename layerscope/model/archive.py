"""Open one or more archives: find their images at once, read their layers when asked (each
distinct blob once, whatever the number of images or positions that use it)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from layerscope.errors import Cancelled, LayerscopeError, LimitExceeded
from layerscope.limits import DEFAULT_LIMITS, ArchiveBudget, ArchiveLimitExceeded, Limits
from layerscope.model.cache import KeptBlobs, LayerCache, LayerKey, Stored, StoreIndex, layer_key
from layerscope.model.figurecache import ImageMemo, image_key
from layerscope.model.filesystem import APPLY_MODES, OVERLAY
from layerscope.model.image import Image, Layer
from layerscope.read import compression
from layerscope.read.formats import find_images
from layerscope.read.layerreader import (
    BlobLocation,
    check_digests,
    read_layer,
    read_part,
    work_bytes,
)
from layerscope.read.parallel import Task, default_workers, read_in_processes
from layerscope.read.records import LayerIndex
from layerscope.read.registryoptions import RegistryOptions, wants_registry
from layerscope.read.sources import Source, open_source

ProgressFn = Callable[[Layer, int], object]  # (layer, stored bytes read so far)
SPLIT_MIN = 256 << 20  # a blob this big or more may be read by two processes at once
SPLIT_AT = 0.45  # the share of its bytes the first part indexes (it also hashes all of them)
Part = tuple[int, "int | None"]  # (start, stop) offsets in a layer's tar: see read_part
REUSE = 4  # entries the images of one input may hold in all, in units of --max-entries


@dataclass(repr=False)
class Archive:
    """Every image found in the inputs, and the layer blobs they use."""

    sources: list[Source]
    images: list[Image]
    verify: bool = True
    limits: Limits = DEFAULT_LIMITS
    cache: LayerCache | None = None
    _blobs: dict[BlobLocation, LayerIndex] = field(default_factory=dict)
    _by_loc: tuple[int, dict[BlobLocation, list[Layer]]] | None = field(
        default=None, repr=False, compare=False
    )
    _work: ArchiveBudget | None = field(default=None, repr=False, compare=False)

    def distinct_layers(self, images: Sequence[Image] | None = None) -> list[Layer]:
        """One Layer per distinct blob (of every image, or of `images`), in image then layer
        order."""
        seen: set[BlobLocation] = set()
        out = []
        for img in self.images if images is None else images:
            for layer in img.layers:
                if layer.spec.location not in seen:
                    seen.add(layer.spec.location)
                    out.append(layer)
        return out

    def needs_workers(self) -> bool:
        """Whether reading the layers not read yet would start worker processes."""
        todo = [ly for ly in self.distinct_layers() if not ly.loaded]
        return self._workers(todo) > 1

    def _workers(self, todo: Sequence[Layer]) -> int:
        """Processes worth starting to read these layers (a big one read in parts counts as
        several reads)."""
        sizes = [ly.stored_size for ly in todo]
        tasks = len(todo) + sum(len(parts) - 1 for parts in self._parts(todo, 2).values())
        return default_workers(sum(sizes), tasks)

    def _parts(self, todo: Sequence[Layer], workers: int) -> dict[BlobLocation, list[Part]]:
        """The blobs worth reading in two parts, by two processes at once, and the parts (the
        first from the tar's start to a middle, the second from there): an uncompressed blob of
        SPLIT_MIN bytes or more that is more than its share of the work (reading the blobs
        largest first, the other processes would be done long before it), and that no limit on
        the bytes of work it makes can stop midway (each part is counted on its own)."""
        if workers < 2 or default_workers(1 << 62, 2) < 2:
            return {}
        total = sum(ly.stored_size for ly in todo)
        parts: dict[BlobLocation, list[Part]] = {}
        for ly in todo:
            loc = ly.spec.location
            if loc.size < SPLIT_MIN or loc.size * workers <= total:
                continue
            if 2 * loc.size > min(self.limits.max_layer_bytes, self._left(ly)):
                continue
            if self.limits.max_ratio or not _stored_plain(loc):
                continue
            cut = int(loc.size * SPLIT_AT) & -512
            parts[loc] = [(0, cut), (cut, None)]
        return parts

    def load_layer(
        self,
        layer: Layer,
        progress: ProgressFn | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> LayerIndex:
        """Read a layer's blob (once) and attach it to every position that uses it."""
        loc = layer.spec.location
        index = self._blobs.get(loc)
        if index is None and (index := self._cached(layer)) is not None:
            self._admit(layer, index)
        if index is None:
            try:
                index = read_layer(
                    loc,
                    diff_id=layer.spec.diff_id,
                    digest=layer.spec.digest,
                    verify=self.verify,
                    limits=self.limits,
                    progress=(lambda n: progress(layer, n)) if progress else None,
                    cancelled=cancelled,
                    archive_left=self._left(layer),
                )
            except LayerscopeError as e:
                if isinstance(e, ArchiveLimitExceeded):
                    self._budget.spend(self._uses(layer))
                raise self._layer_error(layer, e) from None
            except OSError as e:
                err = LayerscopeError(f"cannot be read ({e.strerror or e})")
                raise self._layer_error(layer, err) from None
            self._admit(layer, index)
            self._store(layer, index)
        self._attach(loc, index)
        return index

    def _key(self, layer: Layer) -> LayerKey | None:
        if self.cache is None:
            return None
        spec = layer.spec
        try:
            return layer_key(spec.location, spec.diff_id, spec.digest, self.verify)
        except OSError:
            return None

    def _cached(self, layer: Layer) -> LayerIndex | None:
        key = self._key(layer)
        if key is None or self.cache is None:
            return None
        return self.cache.get(key, layer.spec.location if self.verify else None)

    def _store(self, layer: Layer, index: LayerIndex) -> None:
        key = self._key(layer)
        if key is not None and self.cache is not None:
            self.cache.put(key, index, layer.spec.location)

    def recall(self, image: Image) -> None:
        """Once an image's layers are read: give it its figures from the cache, if there, and
        the means to find its analysis there and to store what it computes (`remember`)."""
        if image.memo is not None or self.cache is None or not image.loaded:
            return
        keys = [k for layer in image.layers if (k := self._key(layer)) is not None]
        if len(keys) != len(image.layers):
            return
        spec = image.spec
        image.memo = ImageMemo(self.cache, image_key(keys, spec.max_symlink_hops, spec.apply))
        image.recall_figures()

    def remember(self, image: Image, analysis: bool = False) -> None:
        """Store the image's figures in the cache, once all are computed; with `analysis`, its
        analysis too (what the UI needs to re-open at once; a report does not)."""
        image.remember_figures()
        if analysis:
            image.remember_analysis()

    def _layer_error(self, layer: Layer, e: LayerscopeError) -> LayerscopeError:
        e.message = f"layer {layer.position} ({layer.spec.member}): {e.message}"
        return e.with_source(layer.image.source)

    @property
    def _budget(self) -> ArchiveBudget:
        """--max-archive-bytes: the work the layers of each input have made so far."""
        if self._work is None:
            self._work = ArchiveBudget(self.limits.max_archive_bytes)
        return self._work

    def _uses(self, layer: Layer) -> Counter[str]:
        """The positions that use a layer's blob, counted by input."""
        return Counter(ly.image.source for ly in self._positions().get(layer.spec.location, ()))

    def _left(self, layer: Layer) -> int:
        """The work a read of a layer's blob may do before its input crosses --max-archive-bytes."""
        return self._budget.left(self._uses(layer))

    def _admit(self, layer: Layer, index: LayerIndex) -> None:
        """Check a blob's work (read or cached) against --max-layer-bytes, and count it against
        --max-archive-bytes, every use of it; crossing a limit is the layer's error."""
        work = work_bytes(index)
        try:
            self.limits.check_layer(work, index.stored_size)
            self._budget.admit(self._uses(layer), work)
        except LayerscopeError as e:
            raise self._layer_error(layer, e) from None

    def _attach(self, loc: BlobLocation, index: LayerIndex) -> None:
        self._blobs[loc] = index
        for other in self._positions().get(loc, ()):
            other.data = index

    def _positions(self) -> dict[BlobLocation, list[Layer]]:
        """Every layer position, by the blob it reads (built once: attaching each blob by a scan
        of every position would cost layers x blobs)."""
        if self._by_loc is not None and self._by_loc[0] == len(self.images):
            return self._by_loc[1]
        by_loc: dict[BlobLocation, list[Layer]] = {}
        for img in self.images:
            for layer in img.layers:
                by_loc.setdefault(layer.spec.location, []).append(layer)
        self._by_loc = (len(self.images), by_loc)
        return by_loc

    def load(
        self,
        progress: ProgressFn | None = None,
        cancelled: Callable[[], bool] | None = None,
        workers: int | None = None,
        images: Sequence[Image] | None = None,
    ) -> Archive:
        """Read every layer not read yet (see `read_each`), or only those of `images`; the
        first error stops it."""
        layers = self.distinct_layers(images)
        for _layer, error in self.read_each(layers, progress, cancelled, workers):
            if error is not None:
                raise error
        return self._loaded()

    def read_each(
        self,
        layers: Sequence[Layer],
        progress: ProgressFn | None = None,
        cancelled: Callable[[], bool] | None = None,
        workers: int | None = None,
    ) -> Iterator[tuple[Layer, LayerscopeError | None]]:
        """Read the blobs of these layers not read yet, each once, and yield each layer read
        with None or the error that stopped it, as each is done: those in the cache first, the
        others in order, or with big images in several processes at once (`workers`: how many;
        default: one per core when there is enough to read), largest first."""
        todo: list[Layer] = []
        seen: set[BlobLocation] = set()
        for ly in layers:
            loc = ly.spec.location
            if loc in seen or loc in self._blobs:
                continue
            seen.add(loc)
            hit = self._cached(ly)
            if hit is None:
                todo.append(ly)
                continue
            try:
                self._admit(ly, hit)
            except LayerscopeError as e:
                yield ly, e
                continue
            self._attach(loc, hit)
            if progress is not None:
                progress(ly, ly.stored_size)
            yield ly, None
        if workers is None:
            workers = self._workers(todo)
        if workers <= 1:
            for layer in todo:
                if cancelled is not None and cancelled():
                    raise Cancelled()
                try:
                    self.load_layer(layer, progress, cancelled)
                except LayerscopeError as e:
                    yield layer, e
                    continue
                yield layer, None
            return
        yield from self._read_in_workers(todo, progress, cancelled, workers)

    def _read_in_workers(
        self,
        todo: list[Layer],
        progress: ProgressFn | None,
        cancelled: Callable[[], bool] | None,
        workers: int,
    ) -> Iterator[tuple[Layer, LayerscopeError | None]]:
        """`read_each` in worker processes. Each read is given its input's share of
        --max-archive-bytes as it was when the reads started; once an input crosses it, the
        workers are stopped and the blobs not read yet go through `read_each` again (those of
        that input are refused at once), so the reads of one run stay bounded."""
        split = self._parts(todo, workers)
        tasks: list[Task] = []
        owner: list[tuple[int, int]] = []  # task -> (layer in todo, part number)
        for i, ly in enumerate(todo):
            spec = ly.spec
            for n, part in enumerate(split.get(spec.location, [None])):
                storer = self._storer(ly) if part is None else None
                tasks.append(
                    (spec.location, spec.diff_id, spec.digest, self._left(ly), storer, part)
                )
                owner.append((i, n))
        # a layer read in parts: its progress is the sum of theirs (the first reads it all, to
        # hash it: the sum can pass its size)
        report = None
        if progress is not None:
            done_by: dict[int, int] = {}

            def report(task: int, done: int) -> None:
                done_by[task] = done
                i, _n = owner[task]
                done = sum(d for t, d in done_by.items() if owner[t][0] == i)
                progress(todo[i], min(done, todo[i].stored_size))

        results = read_in_processes(tasks, self.verify, self.limits, workers, report, cancelled)
        finished: set[int] = set()
        lost: list[Layer] = []  # stored by their worker, but gone from the cache since
        halves: dict[int, dict[int, Any]] = {}  # the parts read so far of the layers split
        try:
            for task, answer in results:
                i, n = owner[task]
                result = answer
                loc = todo[i].spec.location
                if loc in split:
                    halves.setdefault(i, {})[n] = answer
                    if len(halves[i]) < 2:
                        continue
                    result = self._joined(todo[i], halves.pop(i))
                finished.add(i)
                layer = todo[i]
                stored = isinstance(result, Stored)
                if stored:
                    result = self._cached(layer)
                    if result is None:
                        lost.append(layer)
                        continue
                error = self._result_error(layer, result)
                if error is None:
                    assert isinstance(result, LayerIndex)
                    self._attach(layer.spec.location, result)
                    if not stored:
                        self._store(layer, result)
                yield layer, error
                if isinstance(error, ArchiveLimitExceeded) and len(finished) < len(todo):
                    break
        finally:
            results.close()
        if lost:
            yield from self.read_each(lost, progress, cancelled, workers=1)
        rest = [ly for i, ly in enumerate(todo) if i not in finished]
        if rest:
            yield from self.read_each(rest, progress, cancelled, workers)

    def _joined(self, layer: Layer, parts: dict[int, Any]) -> LayerIndex | BaseException:
        """A layer read in two parts: the index a whole read would give, or the error it would
        have raised first. The second part is the tar's only if it found a member where the
        first part ended (else it is read again from there); the digests are the first part's,
        which goes on reading (not parsing) to the end of the blob."""
        spec = layer.spec
        first, rest = parts[0], parts[1]
        if isinstance(first, BaseException):
            return first
        if first.error is not None:
            return first.error
        index = first.index
        if first.pax:  # a global header: the second part could not know it
            try:
                return self._whole(layer)
            except BaseException as e:
                return e
        if first.end is not None:
            if isinstance(rest, BaseException):
                return rest
            skip = rest.starts.get(first.end)
            if skip is None:  # it started in a file's data, on something like a header
                rest = read_part(spec.location, first.end, None, limits=self.limits,
                                 archive_left=self._left(layer), exact=True)  # fmt: skip
                skip = 0
            if rest.error is not None:
                if len(index) + len(rest.index) - skip > self.limits.max_entries:
                    return self._too_many()
                return rest.error
            index.extend(rest.index.tail(skip))
        if len(index) > self.limits.max_entries:
            return self._too_many()
        index.compression, index.stored_size = compression.NONE, spec.location.size
        index.tar_size = spec.location.size
        try:
            check_digests(index, first.digest, first.digest, spec.digest, spec.diff_id, self.verify)
        except LayerscopeError as e:
            return e
        return index

    def _whole(self, layer: Layer) -> LayerIndex:
        """A layer read whole, in this process (what a read in parts could not do)."""
        spec = layer.spec
        return read_layer(spec.location, diff_id=spec.diff_id, digest=spec.digest,
                          verify=self.verify, limits=self.limits,
                          archive_left=self._left(layer))  # fmt: skip

    def _too_many(self) -> LimitExceeded:
        n = self.limits.max_entries
        return LimitExceeded(f"over {n} entries in one layer; raise with --max-entries")

    def _storer(self, layer: Layer) -> StoreIndex | None:
        """What the worker reading a layer does with its index: store it in the cache, where
        this process reads it back (none of it passes between the processes), if there is one."""
        key = self._key(layer)
        if key is None or self.cache is None:
            return None
        return StoreIndex(self.cache.root, key, layer.spec.location)

    def _result_error(
        self, layer: Layer, result: LayerIndex | BaseException
    ) -> LayerscopeError | None:
        """What a worker's result makes of a layer: None (read and admitted) or its error."""
        if isinstance(result, ArchiveLimitExceeded):
            self._budget.spend(self._uses(layer))
        if isinstance(result, LayerscopeError):
            return self._layer_error(layer, result)
        if isinstance(result, OSError):
            err = LayerscopeError(f"cannot be read ({result.strerror or result})")
            return self._layer_error(layer, err)
        if isinstance(result, BaseException):
            raise result
        try:
            self._admit(layer, result)
        except LayerscopeError as e:
            return e
        return None

    def _loaded(self) -> Archive:
        self._check_reuse()
        for image in self.images:
            self.recall(image)
        return self

    def _check_reuse(self) -> None:
        """Each use of a layer costs a pass over its entries (the union, the report): one big
        layer named 4,000 times must not cost 4,000 passes. The images of one input may hold
        REUSE times --max-entries entries in all, each use counted."""
        total: dict[str, int] = {}
        for img in self.images:
            n = sum(len(ly.data) for ly in img.layers if ly.data is not None)
            total[img.source] = total.get(img.source, 0) + n
        limit = REUSE * self.limits.max_entries
        for source, n in total.items():
            if n > limit:
                raise LimitExceeded(
                    f"the images hold {n} entries in all, each use of a layer counted: over "
                    f"{REUSE} x {self.limits.max_entries}; raise with --max-entries",
                    source=source,
                )

    def close(self) -> None:
        """Close every source (and remove the temporary copies they made)."""
        for s in self.sources:
            s.close()

    def __repr__(self) -> str:
        names = ", ".join(s.name for s in self.sources)
        images = f"{len(self.images)} image{'s' if len(self.images) != 1 else ''}"
        return f"<Archive {names}: {images}, {len(self._blobs)} layer blobs read>"

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def discover(
    names: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    platform: str | None = None,
    verify: bool = True,
    engine: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    cache: bool = False,
    apply: str = OVERLAY,
    registry: RegistryOptions | None = None,
) -> Archive:
    """Find every image in the inputs without reading any layer (fast: manifests and configs).
    With `cache`, layer indexes are kept in the user's cache directory (see cache.py). `apply`:
    how layers are applied, "overlay" (as overlay-based storage does) or "follow" (through the
    symlinks of lower layers, as podman's vfs driver and umoci do). `registry`: how registries
    are reached (credentials, insecure hosts, offline), for the inputs that name one."""
    if apply not in APPLY_MODES:
        raise LayerscopeError(f"--apply {apply}: must be one of {', '.join(APPLY_MODES)}")
    inputs = [names] if isinstance(names, str | os.PathLike) else names
    paths = [os.fspath(n) for n in inputs]
    sources: list[Source] = []
    images: list[Image] = []
    store = LayerCache() if cache else None
    options = replace(registry or RegistryOptions(), docs=store)
    if store is not None:  # for the run; after it only with --keep-blobs (registry.py)
        options.keeper = KeptBlobs(store.root)
    if options.offline and store is None:
        raise LayerscopeError("--offline opens from the cache: it cannot go with --no-cache")
    try:
        for name in paths:
            try:
                if wants_registry(name, engine):
                    from layerscope.read.registry import RegistrySource  # HTTP, TLS: when needed

                    src: Source = RegistrySource(name, options, limits)
                else:
                    src = open_source(name, engine=engine, limits=limits)
            except LayerscopeError as e:
                raise e.with_source(name) from None
            except OSError as e:
                raise LayerscopeError(e.strerror or str(e), source=name) from None
            sources.append(src)
            try:
                specs = find_images(src, platform=platform, verify=verify)
            except LayerscopeError as e:
                raise e.with_source(name) from None
            except OSError as e:
                raise LayerscopeError(e.strerror or str(e), source=name) from None
            for spec in specs:
                if src.format is not None:
                    spec.format = src.format
                spec.max_symlink_hops = limits.max_symlink_hops
                spec.max_decoder_memory = limits.max_decoder_memory
                spec.apply = apply
                images.append(Image(spec, len(images)))
    except BaseException:
        for s in sources:
            s.close()
        raise
    return Archive(sources, images, verify=verify, limits=limits, cache=store)


def open(
    names: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    platform: str | None = None,
    verify: bool = True,
    engine: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    progress: ProgressFn | None = None,
    cache: bool = False,
    apply: str = OVERLAY,
    registry: RegistryOptions | None = None,
) -> Archive:
    """Open archives and read every layer: `layerscope.open("app.tar").images[0].hidden`."""
    archive = discover(
        names,
        platform=platform,
        verify=verify,
        engine=engine,
        limits=limits,
        cache=cache,
        apply=apply,
        registry=registry,
    )
    try:
        return archive.load(progress)
    except BaseException:
        archive.close()
        raise


def _stored_plain(loc: BlobLocation) -> bool:
    """Whether a blob is stored uncompressed (its tar offsets are its own: it can be read from
    the middle)."""
    if loc.remote is not None:  # a registry's blob is read as it streams in, in one piece
        return False
    try:
        with loc.open() as f:
            return compression.detect(f.read(min(6, loc.size))) == compression.NONE
    except OSError:
        return False
