"""Read one layer blob in a single streaming pass: decompress, parse the tar, hash every regular
file's content, and check the blob digest and the diff_id, all at once."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from layerscope.errors import Cancelled, DigestMismatch, LimitExceeded, TarError
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
from layerscope.read.tarstream import ChunkStream, iter_members

_TYPES = {t.label: t for t in EntryType}  # a tar member's type name -> its EntryType
_ZEROS = bytes(1 << 16)
_OPAQUE_XATTRS = ("SCHILY.xattr.trusted.overlay.opaque", "SCHILY.xattr.user.overlay.opaque")


@dataclass(frozen=True)
class BlobLocation:
    """Where a blob's bytes lie: a file on disk and a region of it."""

    file: str
    offset: int
    size: int


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


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
    with open(location.file, "rb") as f:
        f.seek(location.offset)
        head = f.read(min(6, location.size))
        kind = compression.detect(head)
        blob_hash = hashlib.sha256() if (verify or not digest) and kind != "none" else None
        done = 0

        def on_raw(chunk: bytes) -> None:
            nonlocal done
            if blob_hash is not None:
                blob_hash.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done)
            if cancelled is not None and cancelled():
                raise Cancelled()

        def raw_chunks():
            if head:
                on_raw(head)
                yield head
            yield from compression.read_chunks(f, location.size - len(head), on_raw)

        diff_hash = hashlib.sha256() if verify or not diff_id or kind == "none" else None
        tar_bytes = 0
        work = _Work(limits, location.size, archive_left)

        def on_tar(chunk: bytes) -> None:
            nonlocal tar_bytes
            tar_bytes += len(chunk)
            if diff_hash is not None:
                diff_hash.update(chunk)
            work.add(len(chunk))

        stream = ChunkStream(
            compression.decompress(raw_chunks(), kind, limits.max_decoder_memory), on_tar
        )
        _index_tar(stream, index, limits, work)
        stream.drain()

    index.compression = kind
    index.stored_size = location.size
    index.tar_size = tar_bytes
    computed_diff = "sha256:" + diff_hash.hexdigest() if diff_hash is not None else None
    if kind == "none":
        computed_blob = computed_diff
    else:
        computed_blob = "sha256:" + blob_hash.hexdigest() if blob_hash is not None else None
    if verify:
        if digest and computed_blob and computed_blob != digest:
            raise DigestMismatch(f"blob digest is {computed_blob}, the manifest says {digest}")
        if diff_id and computed_diff and computed_diff != diff_id:
            raise DigestMismatch(f"diff_id is {computed_diff}, the config says {diff_id}")
        index.verified = True
    index.diff_id = computed_diff or diff_id or ""
    index.digest = computed_blob or digest or ""
    return index


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


def _index_tar(stream: ChunkStream, index: LayerIndex, limits: Limits, work: _Work) -> None:
    add = index.add
    max_entries = limits.max_entries
    sha256 = hashlib.sha256
    for m in iter_members(stream, limits, require_end=True):
        raw_name = _decode(m.name)
        path, dotdot = normalise(raw_name)
        if not path:
            continue  # the root entry: metadata only (FORMATS.md 23)
        path, flags, override = classify(path)
        if dotdot:
            flags |= F_DOTDOT
        if raw_name.startswith("/"):
            flags |= F_ABSOLUTE
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
            h = sha256()
            if m.sparse is not None:
                flags |= F_SPARSE
                _hash_sparse(stream, m.sparse, m.stored, m.size, h, work)
                extra = {**(extra or {}), "sparse": list(m.sparse)}  # for reading it back
            elif m.stored:
                stream.feed(m.stored, h.update)
            digest = h.digest()
        if override is not None:
            type_ = override
        add(path, type_, flags, m.size, m.mode, m.uid, m.gid, m.mtime, m.data_offset,
            digest, link, extra)  # fmt: skip
        if len(index.paths) > max_entries:
            raise LimitExceeded(
                f"over {max_entries} entries in one layer; raise with --max-entries"
            )


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
