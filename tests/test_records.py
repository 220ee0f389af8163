"""Columnar layer records: name normalisation (docs/formats.md 25), type codes, flags, rows."""

from __future__ import annotations

import hashlib

import pytest

from layerscope.read import records
from layerscope.read.records import (
    DIR,
    F_BAD_WHITEOUT,
    F_DOTDOT,
    F_META,
    F_OVERLAY,
    F_SPARSE,
    FILE,
    HARDLINK,
    SYMLINK,
    TYPE_NAMES,
    WHITEOUT,
    EntryType,
    LayerIndex,
    flag_names,
    normalise,
)


@pytest.mark.parametrize(
    ("raw", "path", "dotdot"),
    [
        ("etc/motd", "etc/motd", False),
        ("/etc/motd", "etc/motd", False),
        ("./etc/motd", "etc/motd", False),
        (".//etc//motd", "etc/motd", False),
        ("//etc/./motd", "etc/motd", False),
        ("etc/./motd/.", "etc/motd", False),
        ("etc/", "etc", False),
        ("./etc/", "etc", False),
        ("etc//", "etc", False),
        (".", "", False),
        ("./", "", False),
        ("/", "", False),
        ("", "", False),
        ("...", "...", False),
        ("..hidden/x", "..hidden/x", False),
        ("a/..b", "a/..b", False),
        ("a/../b", "b", True),
        ("../etc/passwd", "etc/passwd", True),
        ("/../../x", "x", True),
        ("a/b/..", "a", True),
        ("caf\udce9/x", "caf\udce9/x", False),
        (".wh..wh..opq", ".wh..wh..opq", False),
    ],
)
def test_normalise(raw, path, dotdot):
    assert normalise(raw) == (path, dotdot)


def test_entry_types_keep_their_values_and_the_report_names():
    names = ("file", "dir", "symlink", "hardlink", "char", "block", "fifo", "whiteout", "opaque")
    assert [(t.value, t.label) for t in EntryType] == list(enumerate(names))  # cached indexes
    assert names == TYPE_NAMES
    assert (records.FILE, records.OPAQUE) == (EntryType.FILE, EntryType.OPAQUE)


def test_flag_names():
    assert flag_names(0) == []
    assert flag_names(F_META | F_SPARSE) == ["metadata", "sparse"]
    every = 0
    for bit in records.FLAG_NAMES:
        every |= bit
    assert len(flag_names(every)) == len(records.FLAG_NAMES) == 7
    assert flag_names(F_DOTDOT | F_OVERLAY | F_BAD_WHITEOUT) == [
        "dotdot",
        "overlay",
        "invalid-whiteout",
    ]


def test_layer_index_rows():
    li = LayerIndex.empty()
    d = hashlib.sha256(b"hi").digest()
    assert li.add("etc/motd", FILE, 0, 2, 0o100644, 0, 0, 5, 512, d) == 0
    li.add("etc", DIR, 0, 0, 0o40755, 1000, 1000, 0, 1536)
    li.add("lnk", SYMLINK, 0, 0, 0o777, 0, 0, 0, 2048, link="/etc/motd")
    li.add("hl", HARDLINK, 0, 0, 0o644, 0, 0, 0, 2560, link="etc/motd")
    li.add("stargz.index.json", FILE, F_META, 7, 0o644, 0, 0, 0, 3072, d)
    li.add("gone", WHITEOUT, 0, 0, 0, 0, 0, 0, 3584)
    li.add("huge", FILE, F_SPARSE, 2**40, 0o4755, 2**40, 2**33, -1, 4096, d,
           extra={"xattrs": {"user.a": b"\0"}})  # fmt: skip
    assert len(li) == 7
    e = li.entry(0)
    assert e == (
        "etc/motd", "file", 2, 0o100644, 0, 0, 5, None, "sha256:" + d.hex(), 512, 0
    )  # fmt: skip
    assert e.mode_octal == "0644"
    assert li.entry(1).mode_octal == "0755" and li.entry(1).digest is None
    assert li.entry(2).link == "/etc/motd" and li.entry(2).digest is None
    assert li.entry(3).link == "etc/motd"
    assert li.entry(4).digest is None  # metadata entries have no content digest
    assert li.entry(5).type == "whiteout"
    huge = li.entry(6)
    assert (huge.size, huge.uid, huge.gid, huge.mtime, huge.mode_octal) == (
        2**40, 2**40, 2**33, -1, "4755"
    )  # fmt: skip
    assert li.extras[6] == {"xattrs": {"user.a": b"\0"}}
    assert [e.path for e in li] == [li.paths[i] for i in range(7)]
    # size: regular files, metadata aside
    assert li.size == 2 + 2**40
    assert li.digest_at(0) == d and li.digest_at(1) == bytes(32)
    assert repr(li) == "<LayerIndex (no diff_id): 7 entries>"


def test_empty_index():
    li = LayerIndex.empty()
    assert len(li) == 0 and li.size == 0 and list(li) == []
    assert (li.compression, li.diff_id, li.verified) == ("none", "", False)


def test_numbers_too_large_for_four_bytes_widen_their_column(tmp_path):
    from layerscope.model.cache import LayerCache

    li = LayerIndex.empty()
    li.add("a", FILE, 0, 1, 0o644, 1000, 1000, 1_700_000_000, 512)
    assert li.uids.itemsize == li.gids.itemsize == li.mtimes.itemsize == 4
    li.add("b", FILE, 0, 1, 0o644, 2**40, -1, -(2**40), 1024)
    li.add("c", FILE, 0, 1, 0o644, 7, 8, 9, 2048)
    assert list(li.uids) == [1000, 2**40, 7]
    assert list(li.gids) == [1000, -1, 8]
    assert list(li.mtimes) == [1_700_000_000, -(2**40), 9]
    cache = LayerCache(tmp_path)
    cache.put("k" * 64, li)
    back = cache.get("k" * 64)
    assert back is not None and back.entry(1) == li.entry(1)
    assert back.uids.itemsize == 8 and back.modes.itemsize == 4


def _columns(li: LayerIndex) -> list:
    names = ("paths", "types", "flags", "sizes", "modes", "uids", "gids", "mtimes", "offsets",
             "digests", "links", "extras", "diff_id", "digest", "compression", "stored_size",
             "tar_size", "verified")  # fmt: skip
    return [getattr(li, n) for n in names] + [getattr(li, n).typecode for n in names[3:9]]


def test_the_payload_gives_the_index_back_whole():
    """An index's bytes (in the cache, from a worker process) give it back: paths of any text
    (a NUL from a PAX name, an undecodable byte kept as an escape, a lone surrogate from a JSON
    escape), blocks of paths, widened columns, links and extras."""
    import pickle

    from layerscope.read import records

    li = LayerIndex.empty()
    names = ["a", "dir/b", "nul\0inside", "esc\udcff", "lone\ud800", "", "ü"]
    for i in range(3 * 5):  # paths in blocks of 5: one holds the NUL
        li.add(names[i % len(names)] + str(i), FILE, 0, i, 0o644, 0, 0, 0, 512 * i)
    li.add("big", FILE, 0, 2**40, 0o755, 2**40, -1, -(2**40), 2**33, link="x",
           extra={"xattrs": {"user.a": b"\0"}})  # fmt: skip
    li.diff_id, li.verified = "sha256:" + "0" * 64, True
    old = records.PATH_BLOCK
    try:
        records.PATH_BLOCK = 5
        data = b"".join(li.payload())
        assert b"T" in data and b"M" in data[9:]  # text blocks, and the one with a NUL
        back = pickle.loads(pickle.dumps(li))
    finally:
        records.PATH_BLOCK = old
    assert _columns(back) == _columns(li)


def test_tail_and_extend_renumber_rows():
    li = LayerIndex.empty()
    for i in range(6):
        li.add(f"p{i}", SYMLINK if i % 2 else FILE, 0, i, 0o644, i, i, i, i, link=f"t{i}" if i % 2 else None,
               extra={"raw_name": f"./p{i}"} if i == 4 else None)  # fmt: skip
    head, rest = LayerIndex.empty(), li.tail(3)
    for i in range(3):
        head.add(li.paths[i], li.types[i], 0, i, 0o644, i, i, i, i, link=li.links.get(i))
    assert rest.links == {0: "t3", 2: "t5"} and rest.extras == {1: {"raw_name": "./p4"}}
    head.extend(rest)
    assert _columns(head)[:12] == _columns(li)[:12]
    wide = LayerIndex.empty()
    wide.add("w", FILE, 0, 2**40, 0o644, 0, 0, 0, 0)
    head.extend(wide)  # a wider column: both are widened
    assert head.sizes.itemsize == 8 and list(head.sizes) == [0, 1, 2, 3, 4, 5, 2**40]
