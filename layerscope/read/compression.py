"""Compression told by magic bytes (never by media type or name), and streaming decompressors that
decode every gzip member, every zstd frame (skippable frames included), every bzip2 stream."""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO, cast

import zstandard

from layerscope.errors import CompressionError, LimitExceeded
from layerscope.limits import DEFAULT_LIMITS

CHUNK = 1 << 20

NONE, GZIP, ZSTD, BZIP2, XZ = "none", "gzip", "zstd", "bzip2", "xz"


def detect(head: bytes) -> str:
    """The compression of a stream from its first bytes (at least 6 are wanted)."""
    if head[:2] == b"\x1f\x8b":
        return GZIP
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return ZSTD
    if len(head) >= 4 and head[1:4] == b"\x2a\x4d\x18" and head[0] & 0xF0 == 0x50:
        return ZSTD  # starts with a skippable frame
    if head[:3] == b"BZh":
        return BZIP2
    if head[:6] == b"\xfd7zXZ\x00":
        return XZ
    return NONE


def read_chunks(
    f: BinaryIO, size: int | None, on_chunk: Callable[[bytes], object] | None = None
) -> Iterator[bytes]:
    """The raw bytes of a region, in chunks; `on_chunk` sees each (the blob digest)."""
    left = size
    while left is None or left > 0:
        want = CHUNK if left is None else min(CHUNK, left)
        chunk = f.read(want)
        if not chunk:
            if left:
                raise CompressionError(f"truncated: {left} bytes missing from the blob")
            return
        if left is not None:
            left -= len(chunk)
        if on_chunk is not None:
            on_chunk(chunk)
        yield chunk


def decompress(
    raw: Iterator[bytes], kind: str, max_memory: int = DEFAULT_LIMITS.max_decoder_memory
) -> Iterator[bytes]:
    """Decompressed chunks of `raw`, which is compressed with `kind`. A stream that needs more
    than `max_memory` bytes of decoder memory (a zstd window, an xz dictionary: the stream
    chooses, up to GiBs) is refused before that memory is taken."""
    if kind == NONE:
        return raw
    if kind == GZIP:
        return _multi(raw, lambda: zlib.decompressobj(31), "gzip", zlib.error)
    if kind == BZIP2:
        return _multi(raw, bz2.BZ2Decompressor, "bzip2", OSError)
    if kind == XZ:
        return _multi(
            raw,
            lambda: lzma.LZMADecompressor(lzma.FORMAT_AUTO, memlimit=max_memory),
            "xz",
            lzma.LZMAError,
            max_memory,
        )
    if kind == ZSTD:
        return _zstd(raw, max_memory)
    raise ValueError(kind)


def _memory_error(name: str, max_memory: int) -> LimitExceeded:
    return LimitExceeded(
        f"the {name} stream needs over {max_memory} bytes of decoder memory; "
        f"raise with --max-decoder-memory"
    )


def _multi(
    raw: Iterator[bytes], make, name: str, error: type[Exception], max_memory: int = 0
) -> Iterator[bytes]:
    """Concatenated members (pigz, eStargz, pbzip2): a new decompressor after each one ends.
    Output is produced at most CHUNK bytes at a time, so a bomb never sits whole in memory."""
    d = make()
    started = False
    is_zlib = name == "gzip"
    try:
        for chunk in _pieces(raw):
            while chunk:
                started = True
                out = d.decompress(chunk, CHUNK)
                if out:
                    yield out
                while not d.eof and (d.unconsumed_tail if is_zlib else not d.needs_input):
                    out = d.decompress(d.unconsumed_tail if is_zlib else b"", CHUNK)
                    if out:
                        yield out
                if d.eof:
                    chunk = d.unused_data
                    d = make()
                    started = False
                    if chunk and not chunk.strip(b"\0"):
                        chunk = b""  # zero padding after the last member is tolerated, as gzip does
                else:
                    chunk = b""
        if started:
            raise CompressionError(f"truncated {name} stream")
    except error as e:
        if name == "xz" and "memory" in str(e).lower():  # "Memory usage limit was exceeded"
            raise _memory_error(name, max_memory) from None
        raise CompressionError(f"corrupt {name} stream: {e}") from None


PIECE = 16 << 10


def _pieces(raw: Iterator[bytes]) -> Iterator[bytes]:
    """The input in pieces of at most 16 KiB: when a member ends, the decompressor copies the
    rest of its input (`unused_data`), so a stream of tiny members (a gzip member per byte) costs
    a copy of at most one piece per member, not of a whole 1 MiB chunk."""
    for chunk in raw:
        if len(chunk) <= PIECE:
            yield chunk
        else:
            for start in range(0, len(chunk), PIECE):
                yield chunk[start : start + PIECE]


class _IterReader:
    """A minimal file-like view of a chunk iterator, for zstandard's stream_reader."""

    def __init__(self, it: Iterator[bytes]) -> None:
        self._it = it
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        if not self._buf:
            self._buf = next(self._it, b"")
        if n < 0 or n >= len(self._buf):
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out


class _ZstdFrames:
    """Walks the frame and block headers of a zstd stream without decoding it, to tell whether
    the stream ends where a frame ends: python-zstandard's reader stops quietly on a stream cut
    inside a frame (a cut inside the first block even decodes to nothing at all)."""

    __slots__ = ("_buf", "_checksum", "_skip", "_state", "_want")

    def __init__(self) -> None:
        self._state = "magic"
        self._want = 4  # header bytes wanted in the current state
        self._buf = b""
        self._skip = 0  # bytes to pass over (block contents, skippable frames)
        self._checksum = False

    def feed(self, data: bytes) -> None:
        pos, n = 0, len(data)
        while pos < n:
            if self._skip:
                k = min(self._skip, n - pos)
                self._skip -= k
                pos += k
                continue
            k = min(self._want - len(self._buf), n - pos)
            self._buf += data[pos : pos + k]
            pos += k
            if len(self._buf) == self._want:
                head, self._buf = self._buf, b""
                self._header(head)

    def _header(self, h: bytes) -> None:
        state = self._state
        if state == "magic":
            magic = int.from_bytes(h, "little")
            if magic == 0xFD2FB528:
                self._state, self._want = "descriptor", 1
            elif magic & 0xFFFFFFF0 == 0x184D2A50:
                self._state, self._want = "skippable", 4
            else:
                raise CompressionError("corrupt zstd stream: no frame where one should start")
        elif state == "skippable":
            self._skip = int.from_bytes(h, "little")
            self._state, self._want = "magic", 4
        elif state == "descriptor":
            d = h[0]
            single = (d >> 5) & 1
            self._checksum = bool(d & 4)
            fcs = (single, 2, 4, 8)[d >> 6]
            self._skip = (0 if single else 1) + (0, 1, 2, 4)[d & 3] + fcs
            self._state, self._want = "block", 3
        else:  # block header: last flag, type, size
            b = int.from_bytes(h, "little")
            self._skip = 1 if (b >> 1) & 3 == 1 else b >> 3  # an RLE block stores one byte
            if b & 1:
                self._skip += 4 if self._checksum else 0
                self._state, self._want = "magic", 4

    def complete(self) -> bool:
        return self._state == "magic" and not self._buf and not self._skip


def _zstd(raw: Iterator[bytes], max_memory: int) -> Iterator[bytes]:
    """Every frame (zstd:chunked writes many), skippable frames skipped, output bounded per read;
    a stream that ends inside a frame is an error."""
    frames = _ZstdFrames()

    def walked() -> Iterator[bytes]:
        for chunk in raw:
            frames.feed(chunk)
            yield chunk
        if not frames.complete():
            raise CompressionError("truncated zstd stream")

    # zstd windows are powers of two (plus eighths): allow the largest one within the budget
    window = max(1 << 10, min(max_memory, 1 << 31))
    # zstandard reads its source through read(size) alone; its stubs ask for a whole IO[bytes]
    source = cast(BinaryIO, _IterReader(walked()))
    reader = zstandard.ZstdDecompressor(max_window_size=window).stream_reader(
        source, read_across_frames=True, read_size=CHUNK
    )
    try:
        while True:
            out = reader.read(CHUNK)
            if not out:
                return
            yield out
    except zstandard.ZstdError as e:
        if "too much memory" in str(e):
            raise _memory_error("zstd", max_memory) from None
        raise CompressionError(f"corrupt zstd stream: {e}") from None
