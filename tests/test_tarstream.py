"""The streaming tar parser (docs/formats.md 24-29), checked against Python's tarfile as a writer and,
where tarfile cannot write a shape (sparse files, odd number fields), against headers made by hand."""

from __future__ import annotations

import contextlib
import hashlib
import io
import random
import shutil
import subprocess
import tarfile

import pytest
from builder import (
    END,
    GNU_MAGIC,
    base256,
    gnu_sparse_member,
    octal,
    padded,
    pax_member,
    pax_records,
    pax_sparse_member,
    tar_header,
)

from layerscope.errors import LayerscopeError, LimitExceeded, TarError
from layerscope.limits import Limits
from layerscope.read.tarstream import (
    BLOCK,
    TYPEFLAGS,
    ChunkStream,
    FileStream,
    _num,
    iter_members,
)


def make_tar(*members: tuple[tarfile.TarInfo, bytes | None], fmt=tarfile.PAX_FORMAT, **kw) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, **kw) as tf:
        for ti, data in members:
            if data is not None:
                ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def info(name: str, type_: bytes = tarfile.REGTYPE, **attrs) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.mtime = 0
    for k, v in attrs.items():
        setattr(ti, k, v)
    return ti


def parse(data: bytes, *, chunk: int | None = None, require_end: bool = False, limits=None):
    """[(member, its stored data)] read through a ChunkStream fed `chunk` bytes at a time."""
    chunks = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    s = ChunkStream(iter(chunks))
    out = []
    kw = {"limits": limits} if limits is not None else {}
    for m in iter_members(s, require_end=require_end, **kw):
        out.append((m, s.read(m.stored) if m.stored else b""))
    return out


def parse_file(data: bytes, tmp_path, **kw):
    p = tmp_path / "t.tar"
    p.write_bytes(data)
    with open(p, "rb") as f:
        s = FileStream(f)
        return [(m, s.read(m.stored) if m.stored else b"") for m in iter_members(s, **kw)]


def names(data: bytes) -> list[bytes]:
    return [m.name for m, _ in parse(data)]


# -- name fields ---------------------------------------------------------------------------


def test_ustar_prefix_field_joins_the_name():
    long = "p" * 80 + "/" + "q" * 70 + "/file.txt"
    data = make_tar((info(long), b"x"), fmt=tarfile.USTAR_FORMAT)
    assert data[345:500].rstrip(b"\0"), "tarfile should have used the prefix field"
    assert names(data) == [long.encode()]


def test_gnu_prefix_area_is_not_a_prefix():
    # GNU headers ("ustar  \0") use bytes 345.. for atime/ctime/sparse: never join them
    hdr = tar_header(b"name", magic=GNU_MAGIC, raw={345: octal(12345, 12)})
    assert names(hdr + END) == [b"name"]


@pytest.mark.parametrize("chunk", [None, 7, 512])
def test_gnu_long_names_and_long_links(chunk):
    long = "d" * 120 + "/" + "n" * 150
    target = "t" * 200 + "/target"
    data = make_tar(
        (info(long), b"content"),
        (info(long + "-sym", tarfile.SYMTYPE, linkname=target), None),
        (info(long + "-hard", tarfile.LNKTYPE, linkname=long), None),
        (info("short"), b"s"),
        fmt=tarfile.GNU_FORMAT,
    )
    got = parse(data, chunk=chunk)
    assert [(m.name, m.type, m.linkname, d) for m, d in got] == [
        (long.encode(), "file", b"", b"content"),
        ((long + "-sym").encode(), "symlink", target.encode(), b""),
        ((long + "-hard").encode(), "hardlink", long.encode(), b""),
        (b"short", "file", b"", b"s"),  # the long name does not leak into the next member
    ]


def test_pax_path_and_linkpath():
    long = "x" * 150 + "/y" * 30
    data = make_tar(
        (info(long), b"a"),
        (info("k", tarfile.SYMTYPE, linkname="ü/" + "z" * 120), None),
        (info("plain"), b"b"),
    )
    got = parse(data)
    assert [m.name for m, _ in got] == [long.encode(), b"k", b"plain"]
    assert got[1][0].linkname == ("ü/" + "z" * 120).encode()
    assert got[2][0].pax is None  # a local header applies to one member only


def test_pax_global_header_applies_to_every_later_member_local_overrides():
    data = make_tar(
        (info("a"), b"1"),
        (info("b", pax_headers={"uid": "7"}), b"2"),
        (info("c"), b"3"),
        pax_headers={"uid": "4242", "comment": "global"},
    )
    assert data[156:157] == b"g"
    got = {m.name: m for m, _ in parse(data)}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        oracle = {ti.name.encode(): ti.uid for ti in tf}
    assert {n: m.uid for n, m in got.items()} == oracle == {b"a": 4242, b"b": 7, b"c": 4242}


def test_pax_size_overrides_the_header_and_fractional_mtime():
    body = b"hello world"
    hdr = tar_header(b"f", size=0)
    data = pax_member({"size": str(len(body)), "mtime": "1700000000.75"}) + hdr
    data += padded(body) + tar_header(b"g", size=1) + padded(b"!") + END
    got = parse(data)
    assert [(m.name, m.size, m.mtime, d) for m, d in got] == [
        (b"f", len(body), 1700000000, body),
        (b"g", 1, 0, b"!"),
    ]


def test_non_utf8_names_are_kept_as_bytes():
    raw = "caf\udce9/\udcff\udcfe"  # bytes e9, ff, fe: not UTF-8
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT):
        data = make_tar((info(raw), b"x"), fmt=fmt, encoding="utf-8", errors="surrogateescape")
        assert names(data) == [b"caf\xe9/\xff\xfe"], fmt


# -- numbers ---------------------------------------------------------------------------------


def test_num_octal_forms():
    assert _num(b"0000644\0") == 0o644
    assert _num(b"   644 \0") == 0o644
    assert _num(b"\0\0\0\0\0\0\0\0") == 0
    assert _num(b"        ") == 0
    with pytest.raises(TarError):
        _num(b"12x4\0")


@pytest.mark.parametrize("n", [0, 1, 0o77777777, 2**40, 2**62, -1, -2, -(2**33)])
def test_num_base256(n):
    assert _num(base256(n, 12)) == n
    if 0 <= n < 2**56:
        assert _num(base256(n, 8)) == n


def test_base256_fields_written_by_gnu_tarfile():
    ti = info("big", uid=2**31, gid=2**40, mtime=-86400 * 365)
    data = make_tar((ti, b"z"), fmt=tarfile.GNU_FORMAT)
    assert data[108] & 0x80 and data[116] & 0x80 and data[136] & 0x80  # base-256 really used
    ((m, d),) = parse(data)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        (oracle,) = list(tf)
    assert (m.uid, m.gid, m.mtime, d) == (oracle.uid, oracle.gid, oracle.mtime, b"z")
    assert (m.uid, m.gid, m.mtime) == (2**31, 2**40, -86400 * 365)


def test_base256_size():
    body = b"0123456789"
    data = tar_header(b"f", raw={124: base256(len(body), 12)}) + padded(body) + END
    ((m, d),) = parse(data)
    assert (m.size, d) == (10, body)


def test_huge_base256_size_is_read_then_reported_truncated(tmp_path):
    data = tar_header(b"huge", raw={124: base256(2**40, 12)}) + padded(b"abc") + END
    s = ChunkStream(iter([data]))
    members = iter_members(s)
    m = next(members)
    assert m.size == m.stored == 2**40
    with pytest.raises(TarError, match="truncated"):
        next(members)
    with pytest.raises(TarError, match="truncated"):
        parse_file(data, tmp_path)


# -- checksums and ends ------------------------------------------------------------------------


def test_not_a_tar():
    with pytest.raises(TarError, match="not a tar archive"):
        parse(b"PK\x03\x04" + bytes(600))
    with pytest.raises(TarError, match="not a tar archive"):
        parse(b"{}" + b" " * 510)


def test_corrupt_later_header_names_its_offset():
    data = bytearray(make_tar((info("a"), b"1"), (info("b"), b"2")))
    data[1024 + 10] ^= 0xFF  # inside the second header
    with pytest.raises(TarError, match="corrupt tar header at offset 1024"):
        parse(bytes(data))


def test_signed_checksum_of_old_tars_is_accepted():
    hdr = bytearray(tar_header("é".encode("latin-1") + b"name"))
    hdr[148:156] = b" " * 8
    signed = sum(b - 256 if b > 127 else b for b in hdr)
    hdr[148:156] = b"%06o\0 " % signed
    assert names(bytes(hdr) + END) == [b"\xe9name"]


def test_end_of_archive_and_clean_ends():
    member = tar_header(b"a", size=1) + padded(b"1")
    assert names(member + END) == [b"a"]
    assert names(member + bytes(512)) == [b"a"]  # one zero block is enough
    assert names(member) == [b"a"]  # a clean end without the marker...
    with pytest.raises(TarError, match="end-of-archive"):
        parse(member, require_end=True)  # ...is an error where the marker is required
    assert parse(b"", require_end=True) == []  # an empty stream is an empty archive
    assert parse(END, require_end=True) == []
    # anything after the marker is not read as members
    assert names(member + END + tar_header(b"late") + END) == [b"a"]


@pytest.mark.parametrize("cut", [100, 512, 700, 1023])
def test_truncated(cut, tmp_path):
    data = (tar_header(b"a", size=600) + padded(b"x" * 600) + END)[:cut]
    with pytest.raises(TarError, match="truncated"):
        parse(data)
    with pytest.raises(TarError, match="truncated"):
        parse_file(data, tmp_path)


# -- types, modes, devices, offsets ------------------------------------------------------------


def test_every_type_flag():
    members = [
        tar_header(b"reg", type_=b"0", size=1) + padded(b"r"),
        tar_header(b"oldreg", type_=b"\0", size=1) + padded(b"o"),
        tar_header(b"contig", type_=b"7", size=1) + padded(b"c"),
        tar_header(b"hard", type_=b"1", linkname=b"reg"),
        tar_header(b"sym", type_=b"2", linkname=b"reg"),
        tar_header(b"chr", type_=b"3", devmajor=1, devminor=3),
        tar_header(b"blk", type_=b"4", devmajor=8, devminor=1),
        tar_header(b"dir/", type_=b"5"),
        tar_header(b"fifo", type_=b"6"),
        tar_header(b"dumpdir", type_=b"D", magic=GNU_MAGIC),
        tar_header(b"unknown", type_=b"Z", size=1) + padded(b"u"),  # POSIX: read as a file
        tar_header(b"label", type_=b"V", magic=GNU_MAGIC),  # volume label: not an entry
        tar_header(b"oldname", type_=b"N", size=3, magic=GNU_MAGIC) + padded(b"abc"),
    ]
    got = parse(b"".join(members) + END)
    assert [(m.name, m.type, m.devmajor, m.devminor, d) for m, d in got] == [
        (b"reg", "file", 0, 0, b"r"),
        (b"oldreg", "file", 0, 0, b"o"),
        (b"contig", "file", 0, 0, b"c"),
        (b"hard", "hardlink", 0, 0, b""),
        (b"sym", "symlink", 0, 0, b""),
        (b"chr", "char", 1, 3, b""),
        (b"blk", "block", 8, 1, b""),
        (b"dir/", "dir", 0, 0, b""),
        (b"fifo", "fifo", 0, 0, b""),
        (b"dumpdir", "dir", 0, 0, b""),
        (b"unknown", "file", 0, 0, b"u"),
    ]


def test_multi_volume_is_refused():
    with pytest.raises(TarError, match="multi-volume"):
        parse(tar_header(b"cont", type_=b"M", magic=GNU_MAGIC) + END)


def test_modes_owners_devices_compared_with_tarfile():
    data = make_tar(
        (info("suid", mode=0o4755, uid=1000, gid=1000, mtime=1234567890), b"#!"),
        (info("sgid/", tarfile.DIRTYPE, mode=0o2775, gid=8), None),
        (info("tmp/", tarfile.DIRTYPE, mode=0o1777), None),
        (info("null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666), None),
        (info("sda", tarfile.BLKTYPE, devmajor=8, devminor=0, mode=0o660), None),
        (info("pipe", tarfile.FIFOTYPE, mode=0o600), None),
        (info("wh", tarfile.CHRTYPE, devmajor=0, devminor=0), None),
    )
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        oracle = [(ti.mode, ti.uid, ti.gid, ti.mtime, ti.devmajor, ti.devminor) for ti in tf]
    got = [(m.mode, m.uid, m.gid, m.mtime, m.devmajor, m.devminor) for m, _ in parse(data)]
    assert got == oracle
    assert [g[0] for g in got] == [0o4755, 0o2775, 0o1777, 0o666, 0o660, 0o600, 0o644]


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_data_offsets_point_at_the_content(fmt):
    rng = random.Random(fmt)
    files = [(f"d{i}/" + "n" * rng.randint(1, 140), rng.randbytes(rng.randint(0, 3000)))
             for i in range(30)]  # fmt: skip
    if fmt == tarfile.USTAR_FORMAT:
        files = [(n[:90], d) for n, d in files]
    data = make_tar(*((info(n), d) for n, d in files), fmt=fmt)
    got = parse(data, chunk=333)
    assert [(m.name.decode(), d) for m, d in got] == files
    for m, d in got:
        assert data[m.data_offset : m.data_offset + m.stored] == d
        assert m.data_offset % BLOCK == 0


def test_caller_may_read_part_of_the_data():
    data = make_tar((info("a"), b"A" * 5000), (info("b"), b"B" * 10))
    s = ChunkStream(iter([data[i : i + 100] for i in range(0, len(data), 100)]))
    out = []
    for m in iter_members(s):
        out.append((m.name, s.read(min(3, m.stored))))
    assert out == [(b"a", b"AAA"), (b"b", b"BBB")]


def test_chunkstream_drain_and_on_chunk():
    seen = []
    s = ChunkStream(iter([b"abc", b"", b"defg", b"h"]), seen.append)
    assert s.read(2) == b"ab"
    assert s.drain() == 6
    assert s.offset == 8
    assert b"".join(seen) == b"abcdefgh"


# -- PAX records and xattrs ------------------------------------------------------------------


def test_xattrs_are_binary():
    value = "\udcff\x00\x01bin"  # bytes ff 00 01 'bin'
    ti = info("f", pax_headers={"SCHILY.xattr.user.blob": value, "SCHILY.xattr.user.txt": "é"})
    data = make_tar((ti, b""), encoding="utf-8", errors="surrogateescape")
    ((m, _),) = parse(data)
    assert m.pax["SCHILY.xattr.user.blob"] == b"\xff\x00\x01bin"
    assert m.pax["SCHILY.xattr.user.txt"] == "é".encode()


def test_pax_values_may_hold_newlines_and_equals():
    records = [("SCHILY.xattr.user.k", b"a=b\nc\n"), ("path", "p=q")]
    rec = pax_records(records)
    data = pax_member(records)
    ((m, _),) = parse(data + tar_header(b"ignored") + END)
    assert m.name == b"p=q"
    assert m.pax["SCHILY.xattr.user.k"] == b"a=b\nc\n"
    assert rec in data


@pytest.mark.parametrize(
    "body",
    [
        b"abc path=x\n",  # length is not a number
        b"99 path=x\n",  # length runs past the header
        b"11 pathxxx\n",  # no '='
        b"10 path=xx",  # the record does not end with a newline
        b"nospace",
    ],
)
def test_corrupt_pax_records(body):
    data = tar_header(b"h", type_=b"x", size=len(body)) + padded(body) + tar_header(b"f") + END
    with pytest.raises(TarError, match="PAX"):
        parse(data)


def test_header_and_name_limits():
    big = pax_member({"comment": "c" * 5000})
    with pytest.raises(LimitExceeded, match="--max-header-bytes"):
        parse(big + tar_header(b"f") + END, limits=Limits(max_header_bytes=4096))
    data = make_tar((info("a" * 300), b""), fmt=tarfile.GNU_FORMAT)
    with pytest.raises(LimitExceeded, match="--max-path-length"):
        parse(data, limits=Limits(max_path_length=200))


# -- sparse files ------------------------------------------------------------------------------

SEGMENTS = [(1000, b"A" * 700), (5000, b"B" * 10), (9000, b"C" * 1)]
SEGMENTS_MANY = [(i * 4096 + 13, bytes([65 + i % 26]) * (i + 1)) for i in range(30)]


@pytest.mark.parametrize("segments", [SEGMENTS, SEGMENTS_MANY], ids=["3", "30"])
@pytest.mark.parametrize("kind", ["gnu", "0.0", "0.1", "1.0"])
def test_sparse_members(kind, segments):
    size = segments[-1][0] + len(segments[-1][1]) + 777
    if kind == "gnu":
        member = gnu_sparse_member(b"sparse.bin", size, segments)
    else:
        member = pax_sparse_member(b"sparse.bin", size, segments, kind)
    data = member + tar_header(b"after", size=2) + padded(b"ok") + END
    got = parse(data, chunk=100)
    (m, stored), (after, tail) = got
    assert m.name == b"sparse.bin" and m.type == "file"
    assert m.size == size
    assert m.sparse == [(off, len(d)) for off, d in segments]
    assert stored == b"".join(d for _, d in segments)
    assert (after.name, tail) == (b"after", b"ok")


def test_sparse_1_0_map_longer_than_a_block():
    segments = [(i * 100, b"x") for i in range(200)]  # the decimal map spans several blocks
    member = pax_sparse_member(b"s", 200 * 100, segments, "1.0")
    ((m, stored),) = parse(member + END)
    assert len(m.sparse) == 200 and stored == b"x" * 200


@pytest.mark.parametrize(
    "records",
    [
        [("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0"), ("GNU.sparse.realsize", "10")],
        [("GNU.sparse.size", "10"), ("GNU.sparse.map", "0,x")],
        [("GNU.sparse.size", "10"), ("GNU.sparse.map", "0,1,2")],
    ],
)
def test_corrupt_sparse_maps(records):
    body = b"not a map at all, and no newline" if records[0][1] == "1" else b"z"
    data = pax_member(records) + tar_header(b"s", size=len(body)) + padded(body) + END
    with pytest.raises(TarError, match="sparse"):
        parse(data)


def test_sparse_1_0_map_cannot_run_past_the_data():
    body = padded(b"999999\n")  # promises a map longer than the member
    recs = [("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0"), ("GNU.sparse.realsize", "9")]
    data = pax_member(recs) + tar_header(b"s", size=len(body)) + body + END
    with pytest.raises(TarError, match="sparse map"):
        parse(data)


GNU_TAR = shutil.which("tar")


def _is_gnu_tar() -> bool:
    if not GNU_TAR:
        return False
    out = subprocess.run([GNU_TAR, "--version"], capture_output=True, text=True).stdout
    return "GNU tar" in out


@pytest.mark.skipif(not _is_gnu_tar(), reason="GNU tar not installed")
@pytest.mark.parametrize("args", [["--format=gnu"]] + [
    ["--format=pax", f"--sparse-version={v}"] for v in ("0.0", "0.1", "1.0")
])  # fmt: skip
def test_sparse_written_by_gnu_tar(tmp_path, args):
    """The hand-made sparse headers above against the real thing (when GNU tar is here)."""
    from layerscope.read.layerreader import BlobLocation, read_layer

    src = tmp_path / "sparse.bin"
    with open(src, "wb") as f:
        for off, d in SEGMENTS_MANY:
            f.seek(off * 16)
            f.write(d * 100)
        f.truncate(600_000)
    content = src.read_bytes()
    out = tmp_path / "s.tar"
    subprocess.run([GNU_TAR, "--sparse", *args, "-C", str(tmp_path), "-cf", str(out),
                    "sparse.bin"], check=True)  # fmt: skip
    li = read_layer(BlobLocation(str(out), 0, out.stat().st_size), verify=False)
    (e,) = list(li)
    assert (e.path, e.size) == ("sparse.bin", 600_000)
    assert e.digest == "sha256:" + hashlib.sha256(content).hexdigest()


# -- hostile input never escapes as anything but a LayerscopeError -----------------------------


def _fix_checksum(block: bytearray) -> None:
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)


def test_random_corruption_raises_only_layerscope_errors():
    base = make_tar(
        (info("a" * 150), b"x" * 700),
        (info("l", tarfile.SYMTYPE, linkname="b" * 120), None),
        (info("p", pax_headers={"SCHILY.xattr.user.x": "v"}), b"y"),
        (info("g", mtime=-5, uid=2**40), b"z"),
        fmt=tarfile.GNU_FORMAT,
    )[:-1024]
    base += gnu_sparse_member(b"s", 3000, SEGMENTS[:1]) + pax_sparse_member(b"t", 3000, SEGMENTS)
    base += pax_member({"path": "q", "size": "3"}) + tar_header(b"q") + padded(b"abc") + END
    headers = [
        off
        for off in range(0, len(base), BLOCK)
        if base[off : off + BLOCK].strip(b"\0") and base[off + 257 : off + 262] == b"ustar"
    ]
    rng = random.Random(1)
    for _ in range(1500):
        data = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            if rng.random() < 0.7:  # inside a header, checksum kept right: reaches the parser
                off = rng.choice(headers)
                data[off + rng.randrange(BLOCK)] = rng.choice([0, 0x80, 0xFF, 0x30, 0x39, 0x20, 10])
                block = bytearray(data[off : off + BLOCK])
                _fix_checksum(block)
                data[off : off + BLOCK] = block
            else:
                data[rng.randrange(len(data))] = rng.randrange(256)
        cut = len(data) if rng.random() < 0.8 else rng.randrange(len(data))
        with contextlib.suppress(LayerscopeError):
            parse(bytes(data[:cut]), chunk=rng.choice([None, 64, 511]))


# -- plain members many at a time (TarReader.scan) -------------------------------------------

SHAPES = [
    tar_header(b"plain", size=3) + padded(b"abc"),
    tar_header(b"dir/", type_=b"5"),
    tar_header(b"sym", type_=b"2", linkname=b"target"),
    tar_header(b"hard", type_=b"1", linkname=b"plain"),
    tar_header(b"contiguous", type_=b"7", size=1) + padded(b"c"),
    tar_header(b"old-v7", magic=b"\0" * 8, size=2) + padded(b"v7"),
    tar_header(b"name", prefix=b"the/prefix", size=0),  # POSIX ustar: joined
    tar_header(b"name", prefix=b"gnu-area", magic=GNU_MAGIC),  # GNU: not a prefix
    tar_header(b"spaced", raw={100: b"  644 \0", 108: b" 1750 \0"}),  # number fields int() reads
    tar_header(b"odd-number", raw={108: b"0o17\0\0\0\0"}),  # int() reads it, after a NUL
    tar_header(b"negative", raw={100: b"-000001\0"}),
    tar_header(b"big-uid", raw={108: base256(2**40, 8)}),
    tar_header(b"big-size", raw={124: base256(5, 12)}, size=0) + padded(b"12345"),
    tar_header(b"checksum-signed", raw={200: b"\xff"}),
    tar_header("ünïcode".encode(), size=1) + padded(b"u"),
    tar_header(b"dev", type_=b"3", devmajor=1, devminor=3),
    tar_header(b"fifo", type_=b"6"),
    pax_member({"path": "pax/long/" + "p" * 120}) + tar_header(b"short", size=1) + padded(b"p"),
    tar_header(b"././@LongLink", type_=b"L", size=150) + padded(b"L" * 149 + b"\0")
    + tar_header(b"cut", size=2) + padded(b"ln"),
    tar_header(b"././@LongLink", type_=b"K", size=120) + padded(b"K" * 119 + b"\0")
    + tar_header(b"linked", type_=b"2", linkname=b"short"),
    tar_header(b"././@LongLink", type_=b"L", size=10) + padded(b"first\0") + tar_header(
        b"././@LongLink", type_=b"L", size=10) + padded(b"second\0") + tar_header(b"x"),
    tar_header(b"sparse", type_=b"S", size=0, raw={483: octal(100, 12)}),
    tar_header(b"bigger-than-a-window", size=70_000) + padded(b"w" * 70_000),
]  # fmt: skip


def _members(data: bytes, want: int | None, chunk: int | None = None) -> list[tuple]:
    """What a tar's members are, read with `next` alone (`want` None) or with `scan` first,
    each time, over windows of `want` bytes, as the layer reader does."""
    from layerscope.read.tarstream import TarReader

    chunks = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    stream = ChunkStream(iter(chunks))
    reader = TarReader(stream)
    out: list[tuple] = []
    while True:
        if want is not None:
            found, _buf, _base = reader.scan(want)
            for i, name in enumerate(found.names):
                link = found.links.get(i, b"")
                kind = TYPEFLAGS[bytes([found.types[i]])]
                out.append((name, kind, found.sizes[i], found.modes[i], found.uids[i],
                            found.gids[i], found.mtimes[i], link, found.offsets[i]))  # fmt: skip
            if found.names:
                continue
        m = reader.next()
        if m is None:
            return out
        link = m.linkname if m.type in ("symlink", "hardlink") else b""
        out.append((m.name, m.type, m.size, m.mode, m.uid, m.gid, m.mtime, link, m.data_offset))


@pytest.mark.parametrize("want", [512, 4096, 1 << 20])
@pytest.mark.parametrize("chunk", [None, 1000])
def test_scanned_members_are_what_next_reads(want, chunk):
    """Every member `scan` takes (the plain ones: files, directories, links, ASCII headers,
    octal numbers, GNU long names) is what `next` makes of it; it leaves the others (PAX, devices,
    sparse, base-256, odd numbers, names not ASCII) to `next`, in order."""
    data = b"".join(SHAPES * 3) + END
    assert _members(data, want, chunk) == _members(data, None, chunk)


def test_sync_finds_the_next_header_and_skips_data_that_is_none():
    """A part of a tar read on its own starts at the first header from its offset: in file
    data, blocks that fail the checksum (or whose next header would) are passed over."""
    from layerscope.read.tarstream import TarReader

    lookalike = tar_header(b"fake", size=4096)  # a header in a file's data, followed by junk
    junk = lookalike + b"\x01" * 4096 + b"\x02" * 512
    data = tar_header(b"file", size=len(junk)) + padded(junk) + tar_header(b"next", size=1)
    data += padded(b"n") + END
    for start in range(512, len(data), 512):
        stream = ChunkStream(iter([data[start:]]))
        stream.offset = start
        reader = TarReader(stream)
        found = reader.sync()
        at = stream.offset
        if start <= 512 + len(junk):  # the fake header in the data: its next "header" is junk
            assert found and at == 512 + len(junk), start
        else:  # in the last file's data, then the end marker: no header
            assert not found, start
