"""Read one entry's bytes from the archive on demand (preview, diff, export), without keeping any
content in memory: a plain layer is read by seeking straight to the entry; a compressed one is
decompressed from its start up to the entry (layers are not seekable streams)."""

from __future__ import annotations

from collections.abc import Iterator

from layerscope.model.analysis import pack, unpack
from layerscope.model.image import Image
from layerscope.read import compression
from layerscope.read.layerreader import BlobLocation
from layerscope.read.records import F_SPARSE, FILE, HARDLINK, LayerIndex

CHUNK = 1 << 20


def content_source(image: Image, layer: int, row: int) -> tuple[int, int]:
    """The (layer, row) whose bytes an entry shows: itself, or a hardlink's target file."""
    li = image.layers[layer].data
    if li is not None and li.types[row] == HARDLINK:
        target = image.analysis.hardlink_targets.get(pack(layer, row))
        if target is not None:
            return unpack(target)
    return layer, row


def iter_entry(image: Image, layer: int, row: int, limit: int | None = None) -> Iterator[bytes]:
    """The logical content of a regular file (or a hardlink's target), chunk by chunk, at most
    `limit` bytes. Sparse files come back with their holes as zeros."""
    layer, row = content_source(image, layer, row)
    lyr = image.layers[layer]
    li = lyr.index
    if li.types[row] != FILE:
        return
    size = li.sizes[row]
    want = size if limit is None else min(size, limit)
    sparse = (li.extras.get(row) or {}).get("sparse")
    stored = sum(n for _o, n in sparse) if sparse else size
    raw = _stored_bytes(
        lyr.spec.location, li, li.offsets[row], stored, image.spec.max_decoder_memory
    )
    if not sparse:
        yield from _take(raw, want)
        return
    yield from _take(_unsparse(raw, sparse, size), want)


def read_entry(image: Image, layer: int, row: int, limit: int | None = None) -> bytes:
    return b"".join(iter_entry(image, layer, row, limit))


def _stored_bytes(
    loc: BlobLocation, li: LayerIndex, offset: int, n: int, max_memory: int
) -> Iterator[bytes]:
    if li.compression == "none":
        with loc.open(offset) as f:
            left = n
            while left:
                chunk = f.read(min(CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk
        return
    with loc.open() as f:
        raw = compression.read_chunks(f, loc.size)
        stream = compression.decompress(raw, li.compression, max_memory)  # --max-decoder-memory
        pos = 0
        end = offset + n
        for chunk in stream:
            nxt = pos + len(chunk)
            if nxt > offset:
                yield chunk[max(0, offset - pos) : min(len(chunk), end - pos)]
            pos = nxt
            if pos >= end:
                return


def _take(chunks: Iterator[bytes], n: int) -> Iterator[bytes]:
    for chunk in chunks:
        if n <= 0:
            return
        if len(chunk) > n:
            chunk = chunk[:n]
        n -= len(chunk)
        yield chunk


def _unsparse(raw: Iterator[bytes], segments: list, size: int) -> Iterator[bytes]:
    buf = b""
    pos = 0
    for off, length in segments:
        if off > pos:
            yield bytes(off - pos)
        while len(buf) < length:
            chunk = next(raw, b"")
            if not chunk:
                break
            buf += chunk
        yield buf[:length]
        buf = buf[length:]
        pos = off + length
    if size > pos:
        yield bytes(size - pos)


def read_entries(image: Image, layer: int, rows: list[int]) -> Iterator[tuple[int, bytes]]:
    """(row, content) of several regular files of one layer (sparse files and hardlinks aside),
    in the order they lie in the blob, read in one pass: a plain layer by seeking to each, a
    compressed one decompressed once up to the last of them (not once per file)."""
    lyr = image.layers[layer]
    li = lyr.index
    wanted = sorted(
        (r for r in set(rows) if li.types[r] == FILE and not li.flags[r] & F_SPARSE),
        key=li.offsets.__getitem__,
    )
    if not wanted:
        return
    loc = lyr.spec.location
    if li.compression == "none" and loc.remote is None:
        with loc.open() as f:
            for row in wanted:
                f.seek(loc.offset + li.offsets[row])
                yield row, f.read(li.sizes[row])
        return
    with loc.open() as f:
        raw = compression.read_chunks(f, loc.size)
        stream = compression.decompress(raw, li.compression, image.spec.max_decoder_memory)
        pos = 0  # where `buf` starts in the layer's tar
        buf = b""
        for row in wanted:
            start, end = li.offsets[row], li.offsets[row] + li.sizes[row]
            if start > pos + len(buf):  # skip whole chunks before the entry
                pos += len(buf)
                buf = b""
                for chunk in stream:
                    if pos + len(chunk) > start:
                        buf = chunk
                        break
                    pos += len(chunk)
            buf, pos = buf[max(0, start - pos) :], max(pos, start)
            while pos + len(buf) < end:
                chunk = next(stream, b"")
                if not chunk:
                    break
                buf += chunk
            yield row, buf[: end - pos]
