"""The squashed layer as a tar stream: headers made from the plan's index (PAX where a field
needs it, as Go's archive/tar and Python's tarfile write them), contents copied from the source
blobs one pass per blob, the tar hashed (its diff_id) and compressed (the blob, hashed too) as it
is written. Nothing but one chunk of one file is held in memory."""

from __future__ import annotations

import hashlib
import tarfile
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

import zstandard

from layerscope.errors import LayerscopeError
from layerscope.insight.content import iter_layer_entries
from layerscope.model.analysis import SHIFT, unpack
from layerscope.model.image import Image
from layerscope.read.records import (
    BLOCK,
    CHAR,
    DIR,
    FIFO,
    FILE,
    HARDLINK,
    OPAQUE,
    SYMLINK,
    WHITEOUT,
    LayerIndex,
)
from layerscope.write.plan import SlimPlan

BLOCK_SIZE = 512
END = bytes(2 * BLOCK_SIZE)  # two zero blocks, as Go's archive/tar ends a tar (no record padding)
COMPRESSIONS = ("none", "gzip", "zstd")
_TAR_TYPES: dict[int, bytes] = {FILE: tarfile.REGTYPE, DIR: tarfile.DIRTYPE, SYMLINK: tarfile.SYMTYPE,
              HARDLINK: tarfile.LNKTYPE, CHAR: tarfile.CHRTYPE, BLOCK: tarfile.BLKTYPE,
              FIFO: tarfile.FIFOTYPE}  # fmt: skip

CHUNK = 1 << 20  # the pieces the tar is hashed and written in, at least (but for the last)
SMALL = 64 << 10  # a piece smaller than this is gathered with the next ones
Progress = Callable[[int], object]  # content bytes written so far


def header(li: LayerIndex, row: int) -> bytes:
    """The tar header (with its PAX header when a field needs one) of row `row` of a squashed
    layer's index."""
    fast = _fast_header(li, row)
    if fast is not None:
        return fast
    t = li.types[row]
    path = li.paths[row]
    if t == WHITEOUT:
        i = path.rfind("/")
        ti = tarfile.TarInfo(f"{path[: i + 1]}.wh.{path[i + 1 :]}")
    elif t == OPAQUE:
        ti = tarfile.TarInfo(f"{path}/.wh..wh..opq" if path else ".wh..wh..opq")
    else:
        ti = tarfile.TarInfo(path + "/" if t == DIR else path)
        ti.type = _TAR_TYPES[t]
        ti.mode = li.modes[row]
        ti.uid, ti.gid = li.uids[row], li.gids[row]
        ti.mtime = li.mtimes[row]
        ti.size = li.sizes[row] if t == FILE else 0
        ti.linkname = li.links.get(row) or ""
        extra = li.extras.get(row) or {}
        if t in (CHAR, BLOCK):
            ti.devmajor, ti.devminor = extra.get("devmajor", 0), extra.get("devminor", 0)
        pax: dict[str, str] = {}
        for k, v in (extra.get("xattrs") or {}).items():
            value = v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else str(v)
            pax["SCHILY.xattr." + k] = value
        ti.pax_headers = pax
    if t in (WHITEOUT, OPAQUE):
        ti.type, ti.mode, ti.mtime = tarfile.REGTYPE, 0, 0
    ti.uname = ti.gname = ""
    return ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


_SIMPLE_TYPES = {FILE, DIR, SYMLINK, HARDLINK, FIFO}
_MAX8, _MAX12 = 8**7, 8**11  # the largest numbers (exclusive) an 8- and a 12-byte field hold


def _plain(li: LayerIndex, row: int) -> bool:
    """Whether a row's header is one ustar block, with no PAX header: an ASCII name and link
    of 100 bytes or less, numbers that fit their fields, no xattrs (no rare field at all)."""
    t = li.types[row]
    if t not in _SIMPLE_TYPES or row in li.extras:
        return False
    name = li.paths[row]
    link = li.links.get(row) or ""
    size = li.sizes[row] if t == FILE else 0
    return (
        len(name) + (t == DIR) <= 100
        and len(link) <= 100
        and name.isascii()
        and link.isascii()
        and 0 <= li.uids[row] < _MAX8
        and 0 <= li.gids[row] < _MAX8
        and 0 <= li.mtimes[row] < _MAX12
        and size < _MAX12
    )


def _fast_header(li: LayerIndex, row: int) -> bytes | None:
    """The header tarfile would write for a `_plain` row, made directly (tarfile's own costs
    about 0.1 ms a header); None for any other row."""
    if not _plain(li, row):
        return None
    t = li.types[row]
    name = li.paths[row] + "/" if t == DIR else li.paths[row]
    link = li.links.get(row) or ""
    size = li.sizes[row] if t == FILE else 0
    head = b"".join(
        (
            name.encode("ascii").ljust(100, b"\0"),
            b"%07o\0" % (li.modes[row] & 0o7777),
            b"%07o\0" % li.uids[row],
            b"%07o\0" % li.gids[row],
            b"%011o\0" % size,
            b"%011o\0" % li.mtimes[row],
            b"        ",
            _TAR_TYPES[t],
            link.encode("ascii").ljust(100, b"\0"),
            b"ustar\x0000",
            bytes(64),  # uname, gname
            bytes(16),  # devmajor, devminor: empty, as tarfile leaves them but for devices
            bytes(155 + 12),  # prefix, padding
        )
    )
    chksum = b"%06o\0" % sum(head)
    return head[:148] + chksum + head[155:]


def header_size(li: LayerIndex, row: int) -> int:
    """The bytes of a row's header (`header`), without making it where it is one block."""
    if _plain(li, row):
        return BLOCK_SIZE
    return len(header(li, row))


def padding(size: int) -> int:
    return -size % BLOCK_SIZE


def tar_size(li: LayerIndex) -> int:
    """The exact bytes of the squashed layer's tar (its headers made, no content read)."""
    total = len(END)
    for row in range(len(li)):
        size = li.sizes[row] if li.types[row] == FILE else 0
        total += header_size(li, row) + size + padding(size)
    return total


@dataclass
class Written:
    """A layer blob written: digests and sizes."""

    diff_id: str
    digest: str
    tar_size: int
    blob_size: int
    compression: str


class _Sink:
    """Where the tar goes: hashed (diff_id), compressed and hashed again (digest; an
    uncompressed blob's digest is its diff_id), written. The tar's hash is computed in a thread
    beside the compression and the write (hashlib lets go of the interpreter for big pieces):
    one piece at a time, in order. A sink is a context manager: its thread ends with it."""

    def __init__(self, out: BinaryIO, compression: str) -> None:
        self.out = out
        self.tar_hash = hashlib.sha256()
        self.blob_hash = hashlib.sha256() if compression != "none" else None
        self.tar_size = 0
        self.blob_size = 0
        self.compression = compression
        self._gzip = zlib.compressobj(6, zlib.DEFLATED, 31) if compression == "gzip" else None
        self._zstd = zstandard.ZstdCompressor().compressobj() if compression == "zstd" else None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="layerscope-hash")
        self._hashing: Future[None] | None = None
        self._small = bytearray()

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)

    def write(self, data: bytes | memoryview) -> None:
        """Take the next bytes of the tar: small pieces (headers, small files, padding) are
        gathered into pieces of about CHUNK bytes first (one hand-over to the hashing thread,
        one write, per piece rather than per header)."""
        if len(data) < SMALL:
            self._small += data
            if len(self._small) >= CHUNK:
                self._push(bytes(self._small))
                self._small.clear()
            return
        if self._small:
            self._push(bytes(self._small))
            self._small.clear()
        self._push(data)

    def _push(self, data: bytes | memoryview) -> None:
        if self._hashing is not None:
            self._hashing.result()
        self._hashing = self._pool.submit(self.tar_hash.update, data)
        self.tar_size += len(data)
        if self._gzip is not None:
            self._emit(self._gzip.compress(data))
        elif self._zstd is not None:
            self._emit(self._zstd.compress(data))
        else:
            self._emit(data)

    def _emit(self, data: bytes | memoryview) -> None:
        if data:
            if self.blob_hash is not None:
                self.blob_hash.update(data)
            self.blob_size += len(data)
            self.out.write(data)

    def close(self) -> Written:
        if self._small:
            self._push(bytes(self._small))
            self._small.clear()
        if self._gzip is not None:
            self._emit(self._gzip.flush())
        elif self._zstd is not None:
            self._emit(self._zstd.flush())
        if self._hashing is not None:
            self._hashing.result()
        diff_id = "sha256:" + self.tar_hash.hexdigest()
        blob = self.blob_hash
        return Written(
            diff_id=diff_id,
            digest=diff_id if blob is None else "sha256:" + blob.hexdigest(),
            tar_size=self.tar_size,
            blob_size=self.blob_size,
            compression=self.compression,
        )


def write_layer(
    image: Image, slim: SlimPlan, out: BinaryIO, compression: str, progress: Progress | None = None
) -> Written:
    """Write the squashed layer's blob to `out`: each member's header, and a file's content
    streamed from the source blob that stores it (the members' order reads each source blob
    once, front to back)."""
    if compression not in COMPRESSIONS:
        raise LayerscopeError(f"--compress {compression}: must be one of {', '.join(COMPRESSIONS)}")
    with _Sink(out, compression) as sink:
        li = slim.index
        members = slim.members
        done = 0
        row = 0
        n = len(members)
        while row < n:
            m = members[row]
            if m.type != FILE:
                sink.write(header(li, row))
                row += 1
                continue
            # a run of files whose bytes lie in the same source layer: one pass over its blob
            assert m.content is not None
            layer = m.content >> SHIFT
            end = row
            while end < n and members[end].type == FILE and members[end].content >> SHIFT == layer:  # type: ignore[operator]
                end += 1
            done = _copy_run(image, slim, sink, row, end, layer, done, progress)
            row = end
        sink.write(END)
        return sink.close()


def _copy_run(image: Image, slim: SlimPlan, sink: _Sink, start: int, end: int, layer: int,
              done: int, progress: Progress | None) -> int:  # fmt: skip
    """Members start..end-1 (files whose bytes lie in `layer`, in offset order)."""
    li = slim.index
    by_source: dict[int, int] = {}
    for row in range(start, end):
        content = slim.members[row].content
        assert content is not None
        by_source[unpack(content)[1]] = row
    wanted = list(by_source)
    for src_row, chunks in iter_layer_entries(image, layer, wanted):
        row = by_source[src_row]
        size = li.sizes[row]
        sink.write(header(li, row))
        got = 0
        for chunk in chunks:
            sink.write(chunk)
            got += len(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done)
        if got != size:
            raise LayerscopeError(
                f"layer {layer}: {li.paths[row]}: {got} bytes of {size} could be read "
                "(the archive changed since it was read?)"
            )
        sink.write(bytes(padding(size)))
    return done
