"""Compression by magic bytes and streaming decompression of every member / frame (docs/formats.md 11-12)."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import random
import zlib

import pytest
import zstandard
from builder import compress

from layerscope.errors import CompressionError
from layerscope.read import compression
from layerscope.read.compression import decompress, detect, read_chunks

DATA = random.Random(0).randbytes(100_000) + b"tail" * 50_000
SKIPPABLE = (0x184D2A5F).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"abc"


def chunks(data: bytes, n: int = 4096) -> list[bytes]:
    return [data[i : i + n] for i in range(0, len(data), n)]


def undo(blob: bytes, kind: str | None = None, n: int = 4096) -> bytes:
    return b"".join(decompress(iter(chunks(blob, n)), kind or detect(blob[:6])))


@pytest.mark.parametrize(
    ("blob", "kind"),
    [
        (gzip.compress(b"x", mtime=0), "gzip"),
        (zstandard.ZstdCompressor().compress(b"x"), "zstd"),
        (SKIPPABLE + zstandard.ZstdCompressor().compress(b"x"), "zstd"),
        (bz2.compress(b"x"), "bzip2"),
        (lzma.compress(b"x"), "xz"),
        (b"ustar", "none"),
        (b"", "none"),
        (b"\x1f", "none"),
        (b"BZ", "none"),
        (lzma.compress(b"x", format=lzma.FORMAT_ALONE), "none"),  # .lzma is not a layer format
        (b"\x60\x2a\x4d\x18", "none"),  # almost a skippable frame
    ],
)
def test_detect(blob, kind):
    assert detect(blob[:6]) == kind


@pytest.mark.parametrize("kind", ["gzip", "gzip-multi", "zstd", "zstd-multi", "bzip2", "xz"])
@pytest.mark.parametrize("n", [1, 1000, 1 << 20])
def test_round_trip(kind, n):
    blob = compress(DATA, kind)
    assert undo(blob, n=n if n > 1 else 1 if len(blob) < 5000 else 97) == DATA


def test_round_trip_bytes_at_a_time():
    for kind in ("gzip-multi", "zstd-multi", "bzip2", "xz"):
        blob = compress(b"small payload " * 20, kind)
        assert undo(blob, n=1) == b"small payload " * 20, kind


def test_many_members_and_frames():
    parts = [bytes([i]) * (i * 100) for i in range(1, 40)]
    want = b"".join(parts)
    gz = b"".join(gzip.compress(p, mtime=0) for p in parts)
    bz = b"".join(bz2.compress(p) for p in parts)
    xz = b"".join(lzma.compress(p) for p in parts)
    c = zstandard.ZstdCompressor()
    zs = b"".join(SKIPPABLE + c.compress(p) for p in parts) + SKIPPABLE
    for blob in (gz, bz, xz, zs):
        assert undo(blob, n=333) == want


def test_empty_members():
    assert undo(gzip.compress(b"") + gzip.compress(b"a") + gzip.compress(b"")) == b"a"
    assert undo(zstandard.ZstdCompressor().compress(b"")) == b""
    assert undo(SKIPPABLE, "zstd") == b""  # only a skippable frame
    assert undo(b"", "gzip") == b""


def test_gzip_zero_padding_after_the_last_member_is_tolerated():
    assert undo(gzip.compress(b"abc") + bytes(1000)) == b"abc"


def test_gzip_written_by_zlib_with_a_header_name():
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="layer.tar", mode="wb", fileobj=buf, mtime=1) as f:
        f.write(b"named")
    assert undo(buf.getvalue()) == b"named"
    assert undo(co.compress(b"raw") + co.flush()) == b"raw"


@pytest.mark.parametrize("kind", ["gzip", "gzip-multi", "bzip2", "xz", "zstd", "zstd-multi"])
def test_truncated_streams(kind):
    blob = compress(DATA, kind)
    with pytest.raises(CompressionError, match=f"truncated {kind.split('-')[0]}"):
        undo(blob[: len(blob) * 2 // 3])


ZSTD_KINDS = {
    "default": zstandard.ZstdCompressor(),
    "checksum": zstandard.ZstdCompressor(write_checksum=True),
    "no-content-size": zstandard.ZstdCompressor(write_content_size=False),
    "level-19": zstandard.ZstdCompressor(level=19, write_checksum=True),
    "threads": zstandard.ZstdCompressor(threads=2, write_checksum=True),
}


def _stream_compress(c: zstandard.ZstdCompressor, data: bytes) -> bytes:
    """A frame written as a stream (no content size, several blocks)."""
    co = c.compressobj()
    return b"".join(co.compress(data[i : i + 50_000]) for i in range(0, len(data), 50_000)) + (
        co.flush()
    )


@pytest.mark.parametrize("how", [*sorted(ZSTD_KINDS), "stream"])
def test_zstd_cut_anywhere_inside_a_frame_is_truncated(how):
    """Every cut is an error but one at a frame boundary, which is a valid shorter stream
    (the tar end-of-archive check and the diff_id catch that one)."""
    parts = [b"", bytes(3000), random.Random(2).randbytes(200), b"abc" * 40_000]
    c = ZSTD_KINDS.get(how, ZSTD_KINDS["default"])
    frames = [_stream_compress(c, p) if how == "stream" else c.compress(p) for p in parts]
    frames.insert(2, SKIPPABLE)
    blob = b"".join(frames)
    boundaries = {sum(len(f) for f in frames[:i]) for i in range(len(frames) + 1)}
    assert undo(blob, n=1000) == b"".join(parts)
    for cut in range(1, len(blob)):
        if cut in boundaries:
            assert undo(blob[:cut], "zstd") == b"".join(parts)[: len(undo(blob[:cut], "zstd"))]
            continue
        with pytest.raises(CompressionError, match=r"truncated zstd|corrupt zstd"):
            undo(blob[:cut], "zstd", n=cut // 3 + 1)


def test_zstd_garbage_after_the_last_frame_is_corrupt():
    blob = zstandard.ZstdCompressor().compress(b"data") + b"trailing garbage"
    with pytest.raises(CompressionError, match="corrupt zstd"):
        undo(blob)


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz", "zstd"])
def test_corrupt_streams(kind):
    if kind == "zstd":  # frames with a checksum; without one, the diff_id check catches it
        blob = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(DATA))
    else:
        blob = bytearray(compress(DATA, kind))
    for i in range(20, len(blob) - 20, len(blob) // 10):
        blob[i] ^= 0x55
    with pytest.raises(CompressionError, match=f"(corrupt|truncated) {kind}"):
        undo(bytes(blob), kind)


def test_garbage_after_a_gzip_member_is_corrupt():
    with pytest.raises(CompressionError, match="gzip"):
        undo(gzip.compress(b"abc") + b"garbage!garbage!")


def test_output_is_bounded_per_chunk():
    """A bomb never sits whole in memory: each yielded chunk is at most CHUNK bytes."""
    bomb = bytes(6 * compression.CHUNK)
    for kind in ("gzip", "bzip2", "xz", "zstd"):
        sizes = [len(c) for c in decompress(iter([compress(bomb, kind)]), kind)]
        assert sum(sizes) == len(bomb) and max(sizes) <= compression.CHUNK, kind


def test_read_chunks_region_and_hash():
    f = io.BytesIO(b"0123456789" * 1000)
    f.seek(5)
    seen = []
    got = b"".join(read_chunks(f, 100, seen.append))
    assert got == (b"0123456789" * 20)[5:105]
    assert b"".join(seen) == got
    f.seek(9990)
    with pytest.raises(CompressionError, match="truncated: 90 bytes missing"):
        b"".join(read_chunks(f, 100))
    f.seek(0)
    assert len(b"".join(read_chunks(f, None))) == 10000


def test_unknown_kind():
    with pytest.raises(ValueError):
        decompress(iter([b""]), "lz4")
