"""Read entries' bytes from the archive on demand, without keeping any content in memory: one
entry (preview, diff, export: `iter_entry`), or several of one layer in one pass over its blob
(slim, the secret scan: `iter_layer_entries`, `read_entries`). A plain layer on disk is read by
seeking straight to each entry; a compressed one, or a registry's blob, is read from its start
up to the entry (layers are not seekable streams)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from layerscope.model.analysis import pack, unpack
from layerscope.model.image import Image
from layerscope.read import compression
from layerscope.read.layerreader import BlobLocation
from layerscope.read.records import F_SPARSE, FILE, HARDLINK, LayerIndex

CHUNK = 1 << 20
Chunk = bytes | memoryview  # a piece of content: a view where it is read into a buffer


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
    pieces = (c if isinstance(c, bytes) else bytes(c) for c in _unsparse(raw, sparse, size))
    yield from _take(pieces, want)  # (slices of bytes: bytes, no copy)


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


def _unsparse(raw: Iterator[Chunk], segments: list, size: int) -> Iterator[Chunk]:
    """A sparse file's content from its stored segments: holes as zeros. No piece is larger
    than CHUNK: a hole of a terabyte costs no more memory than one of a kilobyte."""
    stored = _Cursor(raw)
    pos = 0
    for off, length in segments:
        if off > pos:
            yield from _zeros(off - pos)
        yield from stored.take(length)
        pos = off + length
    if size > pos:
        yield from _zeros(size - pos)


_ZEROS = bytes(CHUNK)


def _zeros(n: int) -> Iterator[bytes]:
    while n > 0:
        yield _ZEROS if n >= CHUNK else _ZEROS[:n]
        n -= CHUNK


def iter_layer_entries(
    image: Image, layer: int, rows: list[int]
) -> Iterator[tuple[int, Iterator[Chunk]]]:
    """(row, its content in chunks) of several regular files of one layer, in one pass over
    its blob (`rows` in any order: they come back in the order their data lies in the tar).
    Each row's chunks must be read to the end before the next row is asked for, and a chunk
    used (hashed, written) before the chunk after the next is asked for: from a plain blob
    they are views of two buffers read into in turn. A plain blob
    is read by seeking to each entry; a compressed one is decompressed once, from its start:
    reading N entries of it costs one pass, not N (what `iter_entry` would cost)."""
    lyr = image.layers[layer]
    li = lyr.index
    ordered = sorted(rows, key=li.offsets.__getitem__)
    if not ordered:
        return
    loc = lyr.spec.location
    if li.compression == "none" and loc.remote is None:  # a file on disk: seek to each
        with loc.open() as f:
            buffers = [bytearray(CHUNK), bytearray(CHUNK)]
            for row in ordered:
                f.seek(loc.offset + li.offsets[row])
                yield row, _logical(li, row, _region(f, _stored_size(li, row), buffers))
        return
    with loc.open() as f:  # compressed, or a registry's blob: one pass from its start
        raw = compression.read_chunks(f, loc.size)
        stream = _Cursor(compression.decompress(raw, li.compression, image.spec.max_decoder_memory))
        for row in ordered:
            stream.skip_to(li.offsets[row])
            yield row, _logical(li, row, stream.take(_stored_size(li, row)))


def _stored_size(li: LayerIndex, row: int) -> int:
    """The bytes of a row's data in the tar (a sparse file stores only its segments)."""
    sparse = (li.extras.get(row) or {}).get("sparse")
    return sum(n for _o, n in sparse) if sparse else li.sizes[row]


def _logical(li: LayerIndex, row: int, raw: Iterator[Chunk]) -> Iterator[Chunk]:
    """A row's content from its stored bytes: a sparse file's holes as zeros."""
    sparse = (li.extras.get(row) or {}).get("sparse")
    return _unsparse(raw, sparse, li.sizes[row]) if sparse else raw


def _region(f: BinaryIO, n: int, buffers: list[bytearray]) -> Iterator[memoryview]:
    """`n` bytes from where `f` stands, in chunks read into `buffers` in turn (no allocation,
    no page faults of new memory per chunk): a chunk is a view, good until two more chunks
    are read. A short file ends early (checked by the caller, which counts what it gets)."""
    turn = 0
    while n > 0:
        buf = buffers[turn]
        turn ^= 1
        got = f.readinto(memoryview(buf)[: min(CHUNK, n)])  # type: ignore[attr-defined]
        if not got:
            return
        n -= got
        yield memoryview(buf)[:got]


class _Cursor:
    """A stream of chunks read forward only: skip to an offset, take bytes."""

    def __init__(self, chunks: Iterator[Chunk]) -> None:
        self.chunks = chunks
        self.pos = 0  # offset of the start of `buf`
        self.buf: Chunk = b""

    def skip_to(self, offset: int) -> None:
        while self.pos + len(self.buf) < offset:
            self.pos += len(self.buf)
            self.buf = next(self.chunks, b"")
            if not self.buf:
                return
        cut = offset - self.pos
        self.buf = self.buf[cut:]
        self.pos = offset

    def take(self, n: int) -> Iterator[Chunk]:
        while n > 0:
            if not self.buf:
                self.buf = next(self.chunks, b"")
                if not self.buf:
                    return
            piece = self.buf[:n]
            self.buf = self.buf[len(piece) :]
            self.pos += len(piece)
            n -= len(piece)
            yield piece


def read_entries(image: Image, layer: int, rows: list[int]) -> Iterator[tuple[int, bytes]]:
    """(row, content) of several small regular files of one layer (sparse files and hardlinks
    aside), in the order they lie in the blob, read in one pass (`iter_layer_entries`)."""
    li = image.layers[layer].index
    wanted = [r for r in set(rows) if li.types[r] == FILE and not li.flags[r] & F_SPARSE]
    for row, chunks in iter_layer_entries(image, layer, wanted):
        yield row, b"".join(bytes(c) for c in chunks)
