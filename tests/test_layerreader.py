"""One layer blob → a LayerIndex: every entry, whiteouts (docs/formats.md 15-18), tar edge cases
(24-29), compression by magic (11-12) and digest / diff_id verification (14), in one pass."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest
import zstandard
from builder import (
    END,
    Device,
    Dir,
    File,
    Hardlink,
    Opaque,
    Raw,
    Symlink,
    Whiteout,
    compress,
    gnu_sparse_member,
    layer_tar,
    pax_sparse_member,
    sha,
    sparse_content,
    tar_header,
)

from layerscope.errors import (
    Cancelled,
    CompressionError,
    DigestMismatch,
    LayerscopeError,
    LimitExceeded,
    TarError,
)
from layerscope.limits import Limits
from layerscope.read.layerreader import BlobLocation, classify, read_layer
from layerscope.read.records import (
    DIR,
    F_ABSOLUTE,
    F_ALSO_OPAQUE,
    F_BAD_WHITEOUT,
    F_DOTDOT,
    F_META,
    F_OVERLAY,
    F_SPARSE,
    OPAQUE,
    WHITEOUT,
)


@pytest.fixture
def read(tmp_path):
    """read(blob, **kw) -> LayerIndex, the blob written to a file of its own."""
    counter = iter(range(10**6))

    def _read(blob: bytes, **kw):
        p = tmp_path / f"blob{next(counter)}"
        p.write_bytes(blob)
        return read_layer(BlobLocation(str(p), 0, len(blob)), **kw)

    return _read


def raw(name: str, type_=tarfile.REGTYPE, data: bytes = b"", **attrs) -> Raw:
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.mtime = 0
    for k, v in attrs.items():
        setattr(ti, k, v)
    return Raw(ti, data)


def rows(li, *fields):
    fields = fields or ("path", "type")
    return [tuple(getattr(e, f) for f in fields) for e in li]


# -- whiteout recognition ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("etc/motd", ("etc/motd", 0, None)),
        ("etc/.wh.motd", ("etc/motd", 0, WHITEOUT)),
        (".wh.top", ("top", 0, WHITEOUT)),
        ("a/b/.wh..hidden", ("a/b/.hidden", 0, WHITEOUT)),
        ("opt/app/.wh..wh..opq", ("opt/app", 0, OPAQUE)),
        (".wh..wh..opq", ("", 0, OPAQUE)),
        ("a/.wh..wh.plnk", ("a/.wh..wh.plnk", F_META, None)),
        (".wh..wh.aufs", (".wh..wh.aufs", F_META, None)),
        ("d/.wh..wh.orph", ("d/.wh..wh.orph", F_META, None)),
        ("d/.wh.", ("d/.wh.", F_BAD_WHITEOUT, None)),
        ("d/.wh..", ("d/.wh..", F_BAD_WHITEOUT, None)),
        ("d/.wh...", ("d/.wh...", F_BAD_WHITEOUT, None)),
        (".wh.", (".wh.", F_BAD_WHITEOUT, None)),
        (".wh.etc/file", (".wh.etc/file", 0, None)),
        ("x.wh.y", ("x.wh.y", 0, None)),
        ("stargz.index.json", ("stargz.index.json", F_META, None)),
        (".prefetch.landmark", (".prefetch.landmark", F_META, None)),
        (".no.prefetch.landmark", (".no.prefetch.landmark", F_META, None)),
        ("app/stargz.index.json", ("app/stargz.index.json", 0, None)),
    ],
)
def test_classify(name, want):
    assert classify(name) == want


def test_whiteouts_in_a_layer(read):
    tar = layer_tar(
        Dir("etc"),
        Whiteout("etc/old"),
        File("etc/.wh..wh..opq", b""),  # the opaque marker, written as a file like podman does
        Opaque("opt/app"),
        Whiteout("top"),
        raw(".wh..wh.plnk/123.4", data=b"aufs"),
        raw("d/.wh.", data=b""),
        raw("d/.wh..", data=b""),
        raw("d/.wh...", data=b"x"),
        raw(".wh.etc/file", data=b"ordinary"),
        Device("dev/wh", "char", 0, 0),
        Device("dev/null", "char", 1, 3),
        Device("dev/zero-block", "block", 0, 0),
        raw("stargz.index.json", data=b"{}"),
        raw(".prefetch.landmark", data=b"\xf0"),
        raw(".no.prefetch.landmark", data=b"\xf0"),
    )
    li = read(tar)
    got = rows(li, "path", "type", "flags", "size", "digest")
    empty = sha(b"")
    assert got == [
        ("etc", "dir", 0, 0, None),
        ("etc/old", "whiteout", 0, 0, None),
        ("etc", "opaque", 0, 0, None),
        ("opt/app", "opaque", 0, 0, None),
        ("top", "whiteout", 0, 0, None),
        (".wh..wh.plnk/123.4", "file", 0, 4, sha(b"aufs")),  # a file inside the aufs dir
        ("d/.wh.", "file", F_BAD_WHITEOUT, 0, empty),
        ("d/.wh..", "file", F_BAD_WHITEOUT, 0, empty),
        ("d/.wh...", "file", F_BAD_WHITEOUT, 1, sha(b"x")),
        (".wh.etc/file", "file", 0, 8, sha(b"ordinary")),
        ("dev/wh", "whiteout", F_OVERLAY, 0, None),
        ("dev/null", "char", 0, 0, None),
        ("dev/zero-block", "whiteout", F_OVERLAY, 0, None),
        ("stargz.index.json", "file", F_META, 2, None),
        (".prefetch.landmark", "file", F_META, 1, None),
        (".no.prefetch.landmark", "file", F_META, 1, None),
    ]
    assert li.extras[10] == {"devmajor": 0, "devminor": 0}
    assert li.extras[11] == {"devmajor": 1, "devminor": 3}
    assert li.size == 4 + 0 + 0 + 1 + 8  # markers and metadata are not content


def test_aufs_metadata_directory_is_flagged(read):
    li = read(layer_tar(Dir(".wh..wh.plnk"), Dir("a/.wh..wh.orph")))
    assert rows(li, "path", "type", "flags") == [
        (".wh..wh.plnk", "dir", F_META),
        ("a/.wh..wh.orph", "dir", F_META),
    ]


def test_overlay_opaque_xattr_on_a_directory(read):
    ti = tarfile.TarInfo("opt/app/")
    ti.type, ti.mode = tarfile.DIRTYPE, 0o755
    ti.pax_headers = {"SCHILY.xattr.trusted.overlay.opaque": "y"}
    other = tarfile.TarInfo("opt/keep/")
    other.type = tarfile.DIRTYPE
    other.pax_headers = {"SCHILY.xattr.trusted.overlay.opaque": "n"}
    li = read(layer_tar(Raw(ti), Raw(other)))
    assert rows(li, "path", "type", "flags") == [
        ("opt/app", "dir", F_ALSO_OPAQUE | F_OVERLAY),
        ("opt/keep", "dir", 0),
    ]


# -- entries ---------------------------------------------------------------------------------


def test_every_entry_kind_with_offsets(read):
    content = {"etc/motd": b"hello\n", "bin/tool": b"\x7fELF" + bytes(3000), "empty": b""}
    tar = layer_tar(
        Dir("etc", mode=0o755),
        File("etc/motd", content["etc/motd"], mode=0o644, uid=1, gid=2, mtime=1700000000),
        File("bin/tool", content["bin/tool"], mode=0o4755),
        File("empty", b"", mode=0o600),
        Dir("tmp", mode=0o1777),
        Dir("var/mail", mode=0o2775, gid=8),
        Symlink("abs", "/etc/motd"),
        Symlink("rel", "../x/./y"),
        Hardlink("motd.hard", "./etc/motd"),
        Hardlink("motd.hard2", "/etc/motd"),
        Device("dev/sda", "block", 8, 1),
        Device("dev/fifo", "fifo"),
    )
    li = read(tar)
    assert rows(li, "path", "type", "size", "uid", "gid", "mtime", "link") == [
        ("etc", "dir", 0, 0, 0, 0, None),
        ("etc/motd", "file", 6, 1, 2, 1700000000, None),
        ("bin/tool", "file", 3004, 0, 0, 0, None),
        ("empty", "file", 0, 0, 0, 0, None),
        ("tmp", "dir", 0, 0, 0, 0, None),
        ("var/mail", "dir", 0, 0, 8, 0, None),
        ("abs", "symlink", 0, 0, 0, 0, "/etc/motd"),  # symlink targets are kept as written
        ("rel", "symlink", 0, 0, 0, 0, "../x/./y"),
        ("motd.hard", "hardlink", 0, 0, 0, 0, "etc/motd"),  # hardlink names are normalised
        ("motd.hard2", "hardlink", 0, 0, 0, 0, "etc/motd"),
        ("dev/sda", "block", 0, 0, 0, 0, None),
        ("dev/fifo", "fifo", 0, 0, 0, 0, None),
    ]
    modes = [e.mode_octal for e in li]
    assert modes == ["0755", "0644", "4755", "0600", "1777", "2775", "0777", "0777",
                     "0644", "0644", "0644", "0644"]  # fmt: skip
    assert li.extras[10] == {"devmajor": 8, "devminor": 1}
    assert li.extras.get(11) is None or li.extras[11] == {}  # a fifo has no device numbers
    for e in li:
        if e.type == "file":
            assert e.digest == sha(content[e.path])
            assert tar[e.offset : e.offset + e.size] == content[e.path]  # where the bytes lie
        else:
            assert e.digest is None
    assert li.size == 6 + 3004
    assert li.tar_size == len(tar)


def test_names_are_normalised(read):
    tar = layer_tar(
        raw(".", tarfile.DIRTYPE),
        raw("./", tarfile.DIRTYPE),
        raw("/", tarfile.DIRTYPE),
        raw("/abs/file", data=b"1"),
        raw("./dot/file", data=b"2"),
        raw("a//b///c", data=b"3"),
        raw("./x/./y/.", tarfile.DIRTYPE),
        raw("dir/", tarfile.DIRTYPE),
        raw("../up/../escape", data=b"4"),
        raw("./etc/.wh.gone"),
        raw("/opt//.wh..wh..opq"),
    )
    li = read(tar)
    assert rows(li, "path", "type", "flags") == [
        ("abs/file", "file", F_ABSOLUTE),  # absolute names are flagged (issue 7)
        ("dot/file", "file", 0),
        ("a/b/c", "file", 0),
        ("x/y", "dir", 0),
        ("dir", "dir", 0),
        ("escape", "file", F_DOTDOT),
        ("etc/gone", "whiteout", 0),
        ("opt", "opaque", F_ABSOLUTE),
    ]
    assert li.extras[5]["raw_name"] == "../up/../escape"


def test_duplicate_paths_keep_both_rows_in_tar_order(read):
    li = read(layer_tar(
        File("etc/motd", b"first"),
        Dir("etc"),
        raw("./etc/motd", data=b"second!"),
        Whiteout("etc/motd"),
        File("etc/motd", b"third"),
    ))  # fmt: skip
    assert rows(li, "path", "type", "size", "digest") == [
        ("etc/motd", "file", 5, sha(b"first")),
        ("etc", "dir", 0, None),
        ("etc/motd", "file", 7, sha(b"second!")),
        ("etc/motd", "whiteout", 0, None),
        ("etc/motd", "file", 5, sha(b"third")),
    ]
    assert li.size == 17  # every stored copy counts


def test_non_utf8_names_survive(read):
    ti = tarfile.TarInfo("caf\udce9/\udcff.txt")
    ti.mtime = 0
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT,
                      encoding="utf-8", errors="surrogateescape") as tf:  # fmt: skip
        tf.addfile(ti, io.BytesIO(b""))
        wh = tarfile.TarInfo("caf\udce9/.wh.\udcfe")
        wh.mtime = 0
        tf.addfile(wh, io.BytesIO(b""))
        ln = tarfile.TarInfo("link")
        ln.type, ln.linkname, ln.mtime = tarfile.SYMTYPE, "\udce9", 0
        tf.addfile(ln)
    li = read(buf.getvalue())
    assert rows(li, "path", "type", "link") == [
        ("caf\udce9/\udcff.txt", "file", None),
        ("caf\udce9/\udcfe", "whiteout", None),
        ("link", "symlink", "\udce9"),
    ]
    assert li.paths[0].encode("utf-8", "surrogateescape") == b"caf\xe9/\xff.txt"


def test_xattrs_are_kept_as_bytes(read):
    ti = tarfile.TarInfo("bin/ping")
    ti.mtime = 0
    ti.pax_headers = {
        "SCHILY.xattr.security.capability": "\x01\x00\x00\x02\udc80\udcff\x00\x00",
        "SCHILY.xattr.user.note": "é",
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT,
                      encoding="utf-8", errors="surrogateescape") as tf:  # fmt: skip
        tf.addfile(ti, io.BytesIO(b""))
    li = read(buf.getvalue())
    assert li.extras[0]["xattrs"] == {
        "security.capability": b"\x01\x00\x00\x02\x80\xff\x00\x00",
        "user.note": "é".encode(),
    }


def test_tar_formats_read_alike(read):
    """The same entries written as ustar, GNU and PAX give the same rows."""
    entries = (
        File("a" * 60 + "/" + "b" * 80, b"long", uid=7),
        Symlink("s", "t" * 90),
        Dir("d"),
        File("f", b"x" * 513, mode=0o2755),
    )
    got = [
        rows(read(layer_tar(*entries, fmt=fmt)), "path", "type", "size", "mode", "uid", "link",
             "digest")
        for fmt in (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT)
    ]  # fmt: skip
    assert got[0] == got[1] == got[2]
    assert got[0][0][0] == "a" * 60 + "/" + "b" * 80


def test_huge_numbers_via_gnu_base256(read):
    ti = tarfile.TarInfo("big")
    ti.uid, ti.gid, ti.mtime = 2**33, 2**35 + 1, 2**36
    li = read(layer_tar(Raw(ti, b"z"), fmt=tarfile.GNU_FORMAT))
    assert rows(li, "uid", "gid", "mtime", "size") == [(2**33, 2**35 + 1, 2**36, 1)]


SEGS = [(4096, b"A" * 100), (70_000, b"B" * 5000), (200_000, b"C")]
SPARSE_SIZE = 300_000


@pytest.mark.parametrize("kind", ["gnu", "0.0", "0.1", "1.0"])
def test_sparse_files_logical_size_and_content(read, kind):
    if kind == "gnu":
        member = gnu_sparse_member(b"var/sparse.img", SPARSE_SIZE, SEGS)
    else:
        member = pax_sparse_member(b"var/sparse.img", SPARSE_SIZE, SEGS, kind)
    tar = member + tar_header(b"after", size=3) + b"end" + bytes(509) + END
    li = read(compress(tar, "gzip"))
    (e, after) = list(li)
    logical = sparse_content(SPARSE_SIZE, SEGS)
    assert (e.path, e.type, e.size, e.flags) == ("var/sparse.img", "file", SPARSE_SIZE, F_SPARSE)
    assert e.digest == "sha256:" + hashlib.sha256(logical).hexdigest()
    assert (after.path, after.digest) == ("after", sha(b"end"))
    assert li.size == SPARSE_SIZE + 3


def test_sparse_map_beyond_the_file_is_corrupt(read):
    member = gnu_sparse_member(b"s", 10, [(5, b"toolong")])
    with pytest.raises(TarError, match="sparse"):
        read(member + END)


# -- compression and digests -------------------------------------------------------------------

TAR = layer_tar(File("etc/motd", b"hello"), Dir("var"), File("var/data", bytes(200_000)))


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        (None, "none"),
        ("gzip", "gzip"),
        ("gzip-multi", "gzip"),
        ("zstd", "zstd"),
        ("zstd-multi", "zstd"),
        ("bzip2", "bzip2"),
        ("xz", "xz"),
    ],
)
def test_compressions_by_magic(read, kind, name):
    blob = compress(TAR, kind)
    li = read(blob, diff_id=sha(TAR), digest=sha(blob))
    assert (li.compression, li.diff_id, li.digest) == (name, sha(TAR), sha(blob))
    assert (li.stored_size, li.tar_size, li.verified) == (len(blob), len(TAR), True)
    assert rows(li, "path", "size") == [("etc/motd", 5), ("var", 0), ("var/data", 200_000)]
    # offsets are into the uncompressed tar, whatever the compression
    e = li.entry(0)
    assert TAR[e.offset : e.offset + e.size] == b"hello"
    # nothing claimed: both digests computed
    li2 = read(blob)
    assert (li2.diff_id, li2.digest) == (sha(TAR), sha(blob))


def test_zstd_starting_with_a_skippable_frame(read):
    skip = (0x184D2A50).to_bytes(4, "little") + (2).to_bytes(4, "little") + b"zz"
    blob = skip + zstandard.ZstdCompressor().compress(TAR)
    li = read(blob, diff_id=sha(TAR), digest=sha(blob))
    assert li.compression == "zstd" and len(li) == 3


def test_a_blob_inside_a_bigger_file(tmp_path):
    blob = compress(TAR, "gzip")
    p = tmp_path / "outer"
    p.write_bytes(b"H" * 1234 + blob + b"T" * 999)
    li = read_layer(BlobLocation(str(p), 1234, len(blob)), diff_id=sha(TAR), digest=sha(blob))
    assert len(li) == 3 and li.stored_size == len(blob)


@pytest.mark.parametrize(
    "blob",
    [b"", bytes(1024), bytes(10240), compress(b"", "gzip"), compress(bytes(1024), "zstd")],
    ids=["0-bytes", "1024-zeros", "10240-zeros", "gzip-empty", "zstd-zeros"],
)
def test_empty_layers(read, blob):
    tar = compress(blob, None) if blob[:1] in (b"", b"\0") else None
    li = read(blob, digest=sha(blob))
    assert len(li) == 0 and li.size == 0
    if tar is not None:
        assert li.diff_id == sha(blob) and li.compression == "none"


def test_wrong_diff_id(read):
    blob = compress(TAR, "gzip")
    with pytest.raises(DigestMismatch, match=f"diff_id is {sha(TAR)}, the config says sha256:0+"):
        read(blob, diff_id="sha256:" + "0" * 64, digest=sha(blob))
    li = read(blob, diff_id="sha256:" + "0" * 64, digest=sha(blob), verify=False)
    assert len(li) == 3 and not li.verified


def test_wrong_blob_digest(read):
    blob = compress(TAR, "zstd")
    with pytest.raises(DigestMismatch, match=f"blob digest is {sha(blob)}, the manifest says"):
        read(blob, diff_id=sha(TAR), digest="sha256:" + "1" * 64)
    # uncompressed: the blob digest is the diff_id
    with pytest.raises(DigestMismatch, match="blob digest"):
        read(TAR, diff_id=sha(TAR), digest="sha256:" + "1" * 64)
    assert len(read(blob, diff_id=sha(TAR), digest="sha256:" + "1" * 64, verify=False)) == 3


def test_a_tar_cut_at_a_member_boundary_fails_the_diff_id_or_the_end_check(read):
    cut = TAR[: 512 + 512]  # etc/motd's header and data, no end marker
    with pytest.raises(TarError, match="end-of-archive"):
        read(cut, verify=False)


@pytest.mark.parametrize("kind", ["gzip", "gzip-multi", "zstd", "zstd-multi", "bzip2", "xz"])
def test_truncated_compressed_layer(read, kind):
    blob = compress(TAR, kind)
    for verify in (True, False):
        with pytest.raises(LayerscopeError) as info:
            read(blob[: len(blob) // 2], diff_id=sha(TAR), verify=verify)
        assert isinstance(info.value, CompressionError | TarError | DigestMismatch)


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz", "zstd"])
def test_corrupt_compressed_layer(read, kind):
    blob = bytearray(compress(TAR, kind))
    for i in range(12, len(blob) - 8, 7):
        blob[i] ^= 0xA5
    with pytest.raises(LayerscopeError):
        read(bytes(blob), diff_id=sha(TAR))


def test_not_a_tar(read):
    with pytest.raises(TarError, match="not a tar"):
        read(b"this is not a tar archive at all" * 40)
    with pytest.raises(TarError, match="not a tar"):
        read(compress(b'{"json": true}' + bytes(600), "gzip"))


def test_blob_shorter_than_its_location(tmp_path):
    p = tmp_path / "short"
    p.write_bytes(compress(TAR, "gzip")[:100])
    with pytest.raises(CompressionError, match="bytes missing"):
        read_layer(BlobLocation(str(p), 0, 5000))


def test_limits(read):
    many = layer_tar(*(File(f"f{i}") for i in range(20)))
    with pytest.raises(LimitExceeded, match="--max-entries"):
        read(many, limits=Limits(max_entries=10))
    with pytest.raises(LimitExceeded, match="--max-layer-bytes"):
        read(many, limits=Limits(max_layer_bytes=10_000))
    bomb = compress(layer_tar(File("zeros", bytes(8 << 20))), "gzip")
    with pytest.raises(LimitExceeded, match="--max-ratio"):
        read(bomb, limits=Limits(max_ratio=100))


def test_progress_and_cancel(read):
    blob = compress(TAR, "gzip")
    seen = []
    read(blob, progress=seen.append)
    assert seen and seen[-1] == len(blob) and seen == sorted(seen)
    with pytest.raises(Cancelled):
        read(blob, cancelled=lambda: True)


def test_dir_type_code_is_dir(read):
    li = read(layer_tar(Dir("a")))
    assert li.types[0] == DIR
