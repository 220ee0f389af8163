"""Read one layer blob in a single streaming pass: decompress, parse the tar, hash every regular
file's content, and check the blob digest and the diff_id, all at once.

The cost per entry is what matters on an image of small files: plain members (files,
directories, links with ASCII headers) are taken many at a time from a window of the stream
(`TarReader.scan`), their names decoded, normalised and classified together as one text, their
numbers packed into the columns at once (`_add_plain`); anything else goes member by member
(`_add_member`). A thread reads, decompresses and hashes the blob ahead of the parse
(`_ReadAhead`). A big uncompressed blob can be read in two parts at once (`read_part`)."""

from __future__ import annotations

import hashlib
import queue
import struct
import threading
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NoReturn, Protocol

from layerscope.errors import Cancelled, DigestMismatch, LayerscopeError, LimitExceeded, TarError
from layerscope.limits import (
    DEFAULT_LIMITS,
    ArchiveLimitExceeded,
    Limits,
    archive_bytes_message,
    layer_bytes_message,
)
from layerscope.read import compression
from layerscope.read.records import (
    BLOCK,
    CHAR,
    DIR,
    ESTARGZ_META,
    F_ABSOLUTE,
    F_ALSO_OPAQUE,
    F_BAD_WHITEOUT,
    F_DOTDOT,
    F_META,
    F_OVERLAY,
    F_SPARSE,
    FILE,
    HARDLINK,
    NO_DIGEST,
    OPAQUE,
    SYMLINK,
    WHITEOUT,
    EntryType,
    LayerIndex,
    normalise,
)
from layerscope.read.tarstream import BLOCK as BLOCK_SIZE
from layerscope.read.tarstream import ChunkStream, Plain, TarMember, TarReader

_TYPES = {t.label: t for t in EntryType}  # a tar member's type name -> its EntryType
_ZEROS = bytes(1 << 16)
_OPAQUE_XATTRS = ("SCHILY.xattr.trusted.overlay.opaque", "SCHILY.xattr.user.overlay.opaque")


class RemoteBytes(Protocol):
    """A blob that lies elsewhere (a registry): opened as a stream in any process, and known to
    the cache by its `identity`."""

    @property
    def digest(self) -> str: ...  # the blob's sha256 (a registry serves blobs by it)

    @property
    def identity(self) -> str: ...

    def open(self, start: int = 0) -> BinaryIO: ...


@dataclass(frozen=True)
class BlobLocation:
    """Where a blob's bytes lie: a file on disk and a region of it; or, with `remote`, a blob
    in a registry (`file` then names it: registry and digest, one location per blob)."""

    file: str
    offset: int
    size: int
    remote: RemoteBytes | None = field(default=None, compare=False, repr=False)

    def open(self, start: int = 0) -> BinaryIO:
        """The blob's bytes from `start` on, read as a file (`read(n)`; more may follow than
        the blob holds for a file on disk: read `size - start` bytes)."""
        if self.remote is not None:
            return self.remote.open(start)
        f = open(self.file, "rb")  # noqa: SIM115 (the caller closes it)
        try:
            f.seek(self.offset + start)
        except BaseException:
            f.close()
            raise
        return f


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def entry_path(raw_name: str) -> tuple[str, int, int | None, bool] | None:
    """(path, flags, type override, whether the name had `..`) of a member's name, normalised
    and classified (`classify`: a marker's path is the one it acts on, "" for the root's opaque
    marker); None for the root entry itself."""
    path, dotdot = normalise(raw_name)
    if not path:
        return None
    path, flags, override = classify(path)
    if dotdot:
        flags |= F_DOTDOT
    if raw_name[:1] == "/":
        flags |= F_ABSOLUTE
    return path, flags, override, dotdot


def classify(name: str) -> tuple[str, int, int | None]:
    """(path, flags, type override) for a normalised name: whiteout and opaque markers become
    the path they act on, with type WHITEOUT or OPAQUE (FORMATS.md 15-17)."""
    slash = name.rfind("/")
    base = name[slash + 1 :]
    if not base.startswith(".wh."):
        if slash < 0 and base in ESTARGZ_META:
            return name, F_META, None
        return name, 0, None
    parent = name[:slash] if slash >= 0 else ""
    if base == ".wh..wh..opq":
        return parent, 0, OPAQUE
    if base.startswith(".wh..wh."):
        return name, F_META, None
    target = base[4:]
    if target in ("", ".", ".."):
        return name, F_BAD_WHITEOUT, None
    return (f"{parent}/{target}" if parent else target), 0, WHITEOUT


def read_layer(
    location: BlobLocation,
    *,
    diff_id: str | None = None,
    digest: str | None = None,
    verify: bool = True,
    limits: Limits = DEFAULT_LIMITS,
    progress: Callable[[int], object] | None = None,
    cancelled: Callable[[], bool] | None = None,
    archive_left: int | None = None,
) -> LayerIndex:
    """Read a layer blob. `diff_id` and `digest` are what the image claims; with `verify`, a
    mismatch raises DigestMismatch. Progress is reported in stored bytes consumed. The work the
    read does (`work_bytes`) is bounded by --max-layer-bytes and, when given, by `archive_left`:
    what its input may still do under --max-archive-bytes (ArchiveLimitExceeded)."""
    index = LayerIndex.empty()
    with location.open() as f:
        head = f.read(min(6, location.size))
        kind = compression.detect(head)
        hashed = getattr(f, "blob_digest", None)  # a download hashes what it streams
        blob_hash = hashlib.sha256() if (verify or not digest) and kind != "none" else None
        diff_hash = hashlib.sha256() if verify or not diff_id or kind == "none" else None
        if hashed is not None:
            blob_hash = None
            if kind == "none":
                diff_hash = None  # the tar is the blob
        tar_bytes = 0
        work = _Work(limits, location.size, archive_left)

        def on_tar(chunk: bytes) -> None:
            nonlocal tar_bytes
            tar_bytes += len(chunk)
            work.add(len(chunk))

        ahead = _ReadAhead(f, location.size, head, kind, blob_hash, diff_hash, limits,
                           eager=location.remote is not None)  # fmt: skip
        try:
            stream = ChunkStream(ahead.chunks(progress, cancelled), on_tar)
            _index_tar(TarReader(stream, limits, require_end=True), index, limits, work)
            stream.drain()
        finally:
            ahead.close()

    index.compression = kind
    index.stored_size = location.size
    index.tar_size = tar_bytes
    computed_diff = "sha256:" + diff_hash.hexdigest() if diff_hash is not None else None
    if hashed is not None:
        computed_blob = hashed()
        if computed_blob is None:  # cannot be after a whole read: never count it as checked
            raise DigestMismatch("the blob was not read to its end: its digest is unknown")
        if kind == "none":
            computed_diff = computed_blob
    elif kind == "none":
        computed_blob = computed_diff
    else:
        computed_blob = "sha256:" + blob_hash.hexdigest() if blob_hash is not None else None
    check_digests(index, computed_blob, computed_diff, digest, diff_id, verify)
    return index


def check_digests(index: LayerIndex, blob: str | None, diff: str | None, digest: str | None,
                  diff_id: str | None, verify: bool) -> None:  # fmt: skip
    """Give an index the digests computed of its blob (`blob`) and tar (`diff`), else those
    claimed; with `verify`, a computed one unlike the claimed one raises DigestMismatch."""
    if verify:
        if digest and blob and blob != digest:
            raise DigestMismatch(f"blob digest is {blob}, the manifest says {digest}")
        if diff_id and diff and diff != diff_id:
            raise DigestMismatch(f"diff_id is {diff}, the config says {diff_id}")
        index.verified = True
    index.diff_id = diff or diff_id or ""
    index.digest = blob or digest or ""


@dataclass
class PartRead:
    """What a process read of a part of an uncompressed layer's tar (`read_part`)."""

    index: LayerIndex  # the entries of the members it read
    starts: dict[int, int]  # where each of its first members starts -> the rows before it
    end: int | None  # where the first member at or after its stop starts; None: the tar's end
    pax: bool  # it met a global PAX header (which the members after it inherit)
    error: LayerscopeError | None  # what stopped it (a judge of the parts decides if it counts)
    digest: str | None = None  # "sha256:..." of the whole blob, when the part read all of it


STARTS = 4096  # the first members of a part whose start is noted (to find the part before's end)


def read_part(
    location: BlobLocation,
    start: int,
    stop: int | None,
    *,
    limits: Limits = DEFAULT_LIMITS,
    progress: Callable[[int], object] | None = None,
    cancelled: Callable[[], bool] | None = None,
    archive_left: int | None = None,
    exact: bool = False,
) -> PartRead:
    """Index the members of an uncompressed layer's tar that start from offset `start` (the
    first header found there, `TarReader.sync`; with `exact`, `start` is known to be a member's
    start) up to the first that starts at or after `stop` (None: the end): so that two
    processes read a big layer at once. Whether the parts are one tar is for their reader to
    judge (`PartRead.starts` of one must hold the `end` of the one before). The first part
    (from 0) goes on reading, without parsing, to the blob's end, and gives its sha256 (the
    digest and diff_id of an uncompressed blob). Errors are handed back, not raised."""
    index = LayerIndex.empty()
    starts: dict[int, int] = {}
    reader: TarReader | None = None
    work = _Work(limits, location.size, archive_left)
    whole = hashlib.sha256() if not start else None
    digest = None
    with location.open(start) as f:
        ahead = _ReadAhead(f, location.size - start, b"", "none", None, whole, limits)
        try:
            stream = ChunkStream(ahead.chunks(progress, cancelled), lambda c: work.add(len(c)))
            stream.offset = start
            reader = TarReader(stream, limits, require_end=True)
            if start:
                reader.first = False
                if not exact and not reader.sync():
                    return PartRead(index, starts, None, False, None)
            end = _index_tar(reader, index, limits, work, stop, starts)
            error = None
            if whole is not None:
                stream.drain()
                digest = "sha256:" + whole.hexdigest()
        except LayerscopeError as e:
            end, error = None, e
        finally:
            ahead.close()
    return PartRead(index, starts, end, bool(reader and reader.global_pax), error, digest)


class _ReadAhead:
    """A blob read, decompressed and hashed (its digest, and its tar's: the diff_id) by a thread,
    a few chunks ahead of the parse that takes them (`chunks`): file reads, zlib, zstd, bz2, lzma
    and hashlib let other threads run while they work, so this takes a second core. What the
    thread meets (an error included) reaches the parse in order, as a plain loop would."""

    AHEAD = 8  # batches of chunks decompressed ahead of the parse
    BATCH = 1 << 20  # bytes of chunks (of 1 MiB at most) in a batch: so at most 16 MiB ahead
    EAGER = 64 << 10  # eager: blob bytes read that hand a batch over, however small

    def __init__(self, f: BinaryIO, size: int, head: bytes, kind: str, blob_hash: Any,
                 diff_hash: Any, limits: Limits, eager: bool = False) -> None:  # fmt: skip
        """`eager`: hand over what each read gave at once (a download's bytes come as they
        come: the parse, and the progress, follow them)."""
        self.eager = eager
        self.f = f
        self.queue: queue.Queue[tuple[list[bytes] | BaseException | None, int]] = queue.Queue(
            self.AHEAD
        )
        self.stop = threading.Event()
        args = (f, size, head, kind, blob_hash, diff_hash, limits.max_decoder_memory)
        self.thread = threading.Thread(target=self._run, args=args, daemon=True)
        self.thread.start()

    def _run(self, f: BinaryIO, size: int, head: bytes, kind: str, blob_hash: Any,
             diff_hash: Any, max_memory: int) -> None:  # fmt: skip
        done = 0

        def on_raw(chunk: bytes) -> None:
            nonlocal done
            if blob_hash is not None:
                blob_hash.update(chunk)
            done += len(chunk)

        def raw_chunks() -> Iterator[bytes]:
            if head:
                on_raw(head)
                yield head
            yield from compression.read_chunks(f, size - len(head), on_raw)

        batch: list[bytes] = []  # handed over together: a stream of tiny chunks (a gzip
        held = 0  # member per byte) must not cost a hand-over per chunk
        handed = 0  # blob bytes read when a batch was last handed over
        try:
            for chunk in compression.decompress(raw_chunks(), kind, max_memory):
                if diff_hash is not None:
                    diff_hash.update(chunk)
                batch.append(chunk)
                held += len(chunk)
                full = held >= self.BATCH or (self.eager and done - handed >= self.EAGER)
                if full and not self._put((batch, done)):
                    return
                if full:
                    batch, held, handed = [], 0, done
            if batch and not self._put((batch, done)):
                return
            self._put((None, done))
        except BaseException as e:  # the parse raises it where a plain loop would have
            if not batch or self._put((batch, done)):
                self._put((e, done))

    def _put(self, item: tuple[list[bytes] | BaseException | None, int]) -> bool:
        """Hand an item to the parse; False once the parse stopped taking them."""
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def chunks(
        self, progress: Callable[[int], object] | None, cancelled: Callable[[], bool] | None
    ) -> Iterator[bytes]:
        """The tar's chunks, in order; progress is told the blob bytes read so far (0 first:
        the read started, which starts the clock of a download's rate)."""
        if progress is not None:
            progress(0)
        while True:
            item, done = self.queue.get()
            if progress is not None:
                progress(done)
            if cancelled is not None and cancelled():
                raise Cancelled()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield from item

    def close(self) -> None:
        """Stop the thread (the parse ended, or failed) and wait for it."""
        self.stop.set()  # a hand-over waiting for room gives up within its timeout
        abort = getattr(self.f, "abort", None)
        if abort is not None and self.thread.is_alive():
            abort()  # a download waiting for bytes that may never come: cut it
        self.thread.join()


class _Work:
    """Bytes a layer makes the reader process: its tar, and the holes of its sparse files (hashed
    as zeros). Both count against --max-layer-bytes and the input's share of --max-archive-bytes
    (and --max-ratio, when set), so a small blob never costs unbounded time."""

    __slots__ = ("archive_left", "done", "limit", "limits", "stored")

    def __init__(self, limits: Limits, stored: int, archive_left: int | None = None) -> None:
        self.limits = limits
        self.stored = stored
        self.archive_left = archive_left
        self.limit = limits.max_layer_bytes
        if archive_left is not None:
            self.limit = min(self.limit, archive_left)
        self.done = 0

    def add(self, n: int) -> None:
        """Count `n` bytes processed."""
        self.done += n
        if self.done > self.limit:
            self._refuse()
        self.limits.check_ratio(self.done, self.stored, "the layer")

    def reserve(self, n: int) -> None:
        """Refuse at once what would cross a limit once `n` more bytes are processed (a sparse
        file's holes: known from its header, refused before any is hashed)."""
        if self.done + n > self.limit:
            self._refuse()
        self.limits.check_ratio(self.done + n, self.stored, "the layer")

    def _refuse(self) -> NoReturn:
        """Name the limit that was crossed: the input's share, when it is the lower one."""
        if self.archive_left is not None and self.archive_left < self.limits.max_layer_bytes:
            raise ArchiveLimitExceeded(archive_bytes_message(self.limits.max_archive_bytes))
        raise LimitExceeded(layer_bytes_message(self.limits.max_layer_bytes))


WINDOW = 1 << 20  # bytes of the stream the plain members are looked for in at once
EMPTY_DIGEST = hashlib.sha256(b"").digest()
# a plain member's typeflag byte -> its EntryType (TarReader.scan takes no other)
_PLAIN_TYPES = bytes.maketrans(
    b"0\x00712" + b"5", bytes([FILE, FILE, FILE, HARDLINK, SYMLINK, DIR])
)
# what makes a name need more than dropping one trailing "/" (normalise), in names joined by NUL
_ODD_NAMES = ("//", "/./", "..", "\0/", "\0./", "/.\0", "\0.\0", "\0\0")
_META_NAMES = tuple(f"\0{name}\0" for name in ESTARGZ_META)  # classify's F_META at the root
_SYMLINK_FLAG = ord("2")
_NARROW = {"i": (-(1 << 31), (1 << 31) - 1), "I": (0, (1 << 32) - 1)}  # 4-byte columns' range


def _index_tar(
    reader: TarReader,
    index: LayerIndex,
    limits: Limits,
    work: _Work,
    stop: int | None = None,
    starts: dict[int, int] | None = None,
) -> int | None:
    """Index the members `reader` reads, to the end of the tar (None) or to the first member
    at or after `stop` (where it starts); note where the first members start (`starts`)."""
    stream = reader.stream
    assert isinstance(stream, ChunkStream)
    max_entries = limits.max_entries
    while True:
        reader.finish()
        at = stream.offset  # where the next member starts
        if stop is not None and at >= stop:
            return at  # the next part's
        members, buf, base = reader.scan(WINDOW)
        if members.names:
            crossed = None  # where the first member at or after `stop` starts, in this batch
            if stop is not None or starts is not None:
                members, crossed = _noted(members, at, stop, index, starts)
            if members.names:
                _add_plain(index, members, buf, base)
            if crossed is not None:
                return crossed
        else:
            if starts is not None and len(starts) < STARTS:
                starts[at] = len(index)
            m = reader.next()
            if m is None:
                return None
            _add_member(index, m, stream, work)
        if len(index.paths) > max_entries:
            raise LimitExceeded(
                f"over {max_entries} entries in one layer; raise with --max-entries"
            )


def _noted(
    members: Plain, at: int, stop: int | None, index: LayerIndex, starts: dict[int, int] | None
) -> tuple[Plain, int | None]:
    """The plain members (the first starting at `at`, each where the one before ends) that
    start before `stop`, their starts noted; and where the first that does not starts."""
    ends = [offset + ((size + BLOCK_SIZE - 1) & -BLOCK_SIZE) for offset, size in
            zip(members.offsets, members.sizes, strict=True)]  # fmt: skip
    first = [at, *ends[:-1]]
    hi = len(first) if stop is None else bisect_left(first, stop)
    if starts is not None and len(starts) < STARTS:
        rows = len(index)
        for where, name in zip(first[: STARTS - len(starts)], members.names, strict=False):
            starts[where] = rows
            if name.strip(b"./") or normalise(_decode(name))[0]:  # not the root: a row
                rows += 1
    if hi == len(first):
        return members, None
    return members.slice(0, hi), first[hi]


def _add_plain(index: LayerIndex, members: Plain, buf: bytes, base: int) -> None:
    """Add plain members (TarReader.scan) whose data lies in `buf` from stream offset `base`:
    what `_add_member` makes of each, for all at once where the names allow (no name that
    normalise or classify would change but for a trailing "/", the case of nearly every layer),
    else one by one."""
    # NUL never occurs in a name from a tar header, and decoding names joined by it gives the
    # names decoded one by one: an undecodable byte stays one escape, whatever follows it
    text = "\0" + b"\0".join(members.names).decode("utf-8", "surrogateescape") + "\0"
    if any(odd in text for odd in _ODD_NAMES):
        _add_plain_each(index, members, buf, base)
        return
    text = text.replace("/\0", "\0")  # each name's trailing "/" ("//" is not there)
    if any(meta in text for meta in _META_NAMES):
        _add_plain_each(index, members, buf, base)
        return
    paths = text[1:-1].split("\0")
    row = len(index.paths)
    types = members.types.translate(_PLAIN_TYPES)
    flags = bytearray(len(paths))
    if ".wh." in text:
        for i, path in enumerate(paths):
            if ".wh." in path:
                paths[i], flags[i], override = classify(path)
                if override is not None:
                    types[i] = override
    digests = _digests(members, buf, base, types)
    for i, target in members.links.items():
        if members.types[i] == _SYMLINK_FLAG:
            index.links[row + i] = _decode(target)
        else:
            raw_link = _decode(target)
            link, link_dotdot = normalise(raw_link)
            index.links[row + i] = link
            flags[i] |= (F_DOTDOT if link_dotdot else 0) | (
                F_ABSOLUTE if raw_link[:1] == "/" else 0
            )
    _append_columns(index, members, paths, types, flags, digests)


def _digests(members: Plain, buf: bytes, base: int, types: bytearray) -> bytes:
    """The sha256 of each regular file's content, NO_DIGEST for anything else (markers too)."""
    data = memoryview(buf)
    sha256 = hashlib.sha256
    return b"".join(
        [
            (sha256(data[at - base : at - base + size]).digest() if size else EMPTY_DIGEST)
            if t == FILE
            else NO_DIGEST
            for t, size, at in zip(types, members.sizes, members.offsets, strict=True)
        ]
    )


def _append_columns(index: LayerIndex, members: Plain, paths: list[str], types: bytearray,
                    flags: bytearray, digests: bytes) -> None:  # fmt: skip
    """Append rows of plain members: their paths, types, flags and digests as given, their
    numbers as the members have them."""
    if not paths:
        return
    index.paths += paths
    index.types += types
    index.flags += flags
    index.digests += digests
    for name, values in (
        ("sizes", members.sizes),
        ("modes", members.modes),
        ("uids", members.uids),
        ("gids", members.gids),
        ("mtimes", members.mtimes),
        ("offsets", members.offsets),
    ):
        column = getattr(index, name)
        narrow = _NARROW.get(column.typecode)
        if narrow is not None and (min(values) < narrow[0] or max(values) > narrow[1]):
            column = array("q", column)
            setattr(index, name, column)
        column.frombytes(struct.pack(f"{len(values)}{column.typecode}", *values))


def _add_plain_each(index: LayerIndex, members: Plain, buf: bytes, base: int) -> None:
    """`_add_plain`, one member at a time (names to normalise or classify)."""
    kept: list[int] = []  # the members that are entries (not the root)
    paths: list[str] = []
    types = members.types.translate(_PLAIN_TYPES)
    flags = bytearray()
    links: dict[int, str] = {}
    extras: dict[int, dict[str, Any]] = {}
    row = len(index.paths)
    for i, name in enumerate(members.names):
        raw_name = _decode(name)
        named = entry_path(raw_name)
        if named is None:
            continue  # the root entry: metadata only (FORMATS.md 23)
        path, flag, override, dotdot = named
        target = members.links.get(i)
        if target is not None:
            if members.types[i] == _SYMLINK_FLAG:
                links[row] = _decode(target)
            else:
                raw_link = _decode(target)
                links[row], link_dotdot = normalise(raw_link)
                if link_dotdot:
                    flag |= F_DOTDOT
                if raw_link[:1] == "/":
                    flag |= F_ABSOLUTE
        if override is not None:
            types[i] = override
        elif dotdot and raw_name.rstrip("/") != path:
            extras[row] = {"raw_name": raw_name}
        kept.append(i)
        paths.append(path)
        flags.append(flag)
        row += 1
    if len(kept) < len(members.names):
        members = _only(members, kept)
        types = bytearray(types[i] for i in kept)
    digests = _digests(members, buf, base, types)
    index.links.update(links)
    index.extras.update(extras)
    _append_columns(index, members, paths, types, flags, digests)


def _only(members: Plain, kept: list[int]) -> Plain:
    """The members at these positions (in order), their link targets renumbered."""
    out = Plain()
    out.names = [members.names[i] for i in kept]
    out.types = bytearray(members.types[i] for i in kept)
    for name in ("sizes", "modes", "uids", "gids", "mtimes", "offsets"):
        values = getattr(members, name)
        setattr(out, name, [values[i] for i in kept])
    out.links = {j: members.links[i] for j, i in enumerate(kept) if i in members.links}
    return out


def _add_member(index: LayerIndex, m: TarMember, stream: ChunkStream, work: _Work) -> None:
    """Add one member read by `TarReader.next` (any kind), hashing its data from the stream."""
    raw_name = _decode(m.name)
    named = entry_path(raw_name)
    if named is None:
        return  # the root entry: metadata only (FORMATS.md 23)
    path, flags, override, dotdot = named
    type_: int = _TYPES[m.type]
    extra: dict[str, Any] | None = None
    if type_ in (CHAR, BLOCK):
        if m.devmajor == 0 and m.devminor == 0 and override is None:
            override = WHITEOUT
            flags |= F_OVERLAY
        extra = {"devmajor": m.devmajor, "devminor": m.devminor}
    if m.pax:
        xattrs = {k[13:]: v for k, v in m.pax.items() if k.startswith("SCHILY.xattr.")}
        if xattrs:
            extra = {**(extra or {}), "xattrs": xattrs}
            if type_ == DIR and any(m.pax.get(k) == b"y" for k in _OPAQUE_XATTRS):
                flags |= F_ALSO_OPAQUE | F_OVERLAY
    if raw_name.rstrip("/") != path and override is None and dotdot:
        extra = {**(extra or {}), "raw_name": raw_name}
    link = None
    if type_ == SYMLINK:
        link = _decode(m.linkname)
    elif type_ == HARDLINK:
        raw_link = _decode(m.linkname)
        link, link_dotdot = normalise(raw_link)
        if link_dotdot:
            flags |= F_DOTDOT
        if raw_link.startswith("/"):
            flags |= F_ABSOLUTE
    digest = NO_DIGEST
    if type_ == FILE and override is None:
        h = hashlib.sha256()
        if m.sparse is not None:
            flags |= F_SPARSE
            _hash_sparse(stream, m.sparse, m.stored, m.size, h, work)
            extra = {**(extra or {}), "sparse": list(m.sparse)}  # for reading it back
        elif m.stored:
            stream.feed(m.stored, h.update)
        digest = h.digest()
    if override is not None:
        type_ = override
    index.add(path, type_, flags, m.size, m.mode, m.uid, m.gid, m.mtime, m.data_offset,
              digest, link, extra)  # fmt: skip


def _hash_sparse(stream, segments, stored: int, size: int, h, work: _Work) -> None:
    """Hash a sparse file's logical content: its data segments with zero-filled holes. The holes
    its header claims are refused before any is hashed if they would cross a limit."""
    work.reserve(_holes(segments, size))
    pos = 0
    used = 0
    for off, length in segments:
        if off < pos or used + length > stored or off + length > size:
            raise TarError("corrupt sparse map")
        _feed_zeros(h, off - pos, work)
        stream.feed(length, h.update)
        pos = off + length
        used += length
    _feed_zeros(h, size - pos, work)


def _holes(segments, size: int) -> int:
    """The bytes of a sparse file that are holes: its logical size beyond its data segments."""
    return max(0, size - sum(length for _off, length in segments))


def work_bytes(index: LayerIndex) -> int:
    """The work reading a layer took (what --max-layer-bytes and --max-archive-bytes bound): its
    tar bytes and the holes of its sparse files. The same from an index read or cached."""
    holes = sum(
        _holes(extra["sparse"], index.sizes[row])
        for row, extra in index.extras.items()
        if "sparse" in extra
    )
    return index.tar_size + holes


def _feed_zeros(h, n: int, work: _Work) -> None:
    while n > 0:
        k = min(n, len(_ZEROS))
        work.add(k)
        h.update(_ZEROS[:k] if k < len(_ZEROS) else _ZEROS)
        n -= k
