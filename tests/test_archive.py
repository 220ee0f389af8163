"""Opening archives: images found without reading layers, each distinct blob read once and
attached to every position that uses it, errors naming the input and the layer, the same
result whether layers are read in this process or in several."""

from __future__ import annotations

import tarfile
import tempfile

import pytest
from builder import (
    END,
    Dir,
    File,
    Img,
    Layer,
    Whiteout,
    docker_archive,
    gnu_sparse_member,
    layer_tar,
    oci_archive,
    padded,
    sha,
    tar_header,
)

import layerscope
from layerscope.errors import DigestMismatch, LayerscopeError

A = Layer(File("a", b"A" * 5000), Dir("d"))
B = Layer(File("b", b"B"), Whiteout("a"), compression="gzip")
C = Layer(File("c", b"C" * 100), compression="zstd")


def rows(archive) -> list:
    return [[list(layer.entries()) for layer in img.layers] for img in archive.images]


def test_each_blob_read_once_and_shared(tmp_path):
    p = docker_archive(tmp_path / "m.tar", [Img([A, B, A], tag="x:1"), Img([B, C], tag="y:1")],
                       style="podman")  # fmt: skip
    calls = []
    with layerscope.discover(str(p)) as archive:
        assert len(archive.distinct_layers()) == 3
        archive.load(progress=lambda layer, n: calls.append((layer.spec.member, n)))
        x, y = archive.images
        assert x.layers[0].data is x.layers[2].data
        assert x.layers[1].data is y.layers[0].data
        assert {m for m, _ in calls} == {ly.spec.member for ly in archive.distinct_layers()}
        archive.load()  # nothing left to read


def test_reprs_are_short(tmp_path):
    p = docker_archive(tmp_path / "m.tar", [Img([A, B, A], tag="x:1")], style="podman")
    with layerscope.open(str(p)) as archive:
        img = archive.images[0]
        assert repr(archive) == f"<Archive {p}: 1 image, 2 layer blobs read>"
        assert repr(img) == f"<Image x:1 ({img.platform}): 3 layers>"
        assert repr(img.layers[1]) == f"<Layer 1 {img.layers[1].diff_id[:19]}: 2 entries>"
        assert repr(img.layers[1].data) == f"<LayerIndex {img.layers[1].diff_id[:19]}: 2 entries>"
        assert len(repr(img.analysis)) < 80


def test_worker_processes_give_the_same_result(tmp_path):
    p = oci_archive(tmp_path / "o.tar", [Img([A, B, C]), Img([C, A], tag="two")])
    with layerscope.discover(str(p)) as one, layerscope.discover(str(p)) as many:
        one.load(workers=1)
        many.load(workers=2)
        assert rows(one) == rows(many)
        for a, b in zip(one.images, many.images, strict=True):
            for la, lb in zip(a.layers, b.layers, strict=True):
                assert (la.digest, la.compression, la.data.tar_size) == (
                    lb.digest, lb.compression, lb.data.tar_size
                )  # fmt: skip


@pytest.mark.parametrize("workers", [1, 2])
def test_layer_errors_name_the_input_and_the_layer(tmp_path, workers):
    bad = "sha256:" + "0" * 64
    rootfs = {"type": "layers", "diff_ids": [sha(A.tar_bytes), bad]}
    img = Img([A, B], config_extra={"rootfs": rootfs})
    p = docker_archive(tmp_path / "d.tar", [img], style="podman")
    with layerscope.discover(str(p)) as archive:
        with pytest.raises(DigestMismatch) as info:
            archive.load(workers=workers)
        member = archive.images[0].layers[1].spec.member
        assert str(info.value).startswith(f"{p}: layer 1 ({member}): diff_id is ")
        assert str(info.value).endswith(f"the config says {bad}")


def test_open_closes_on_error(tmp_path, monkeypatch):
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    bad = Layer(tar=b"not a tar" * 100)
    p = docker_archive(tmp_path / "d.tar.gz", [Img([A, bad])], whole="gzip")
    with pytest.raises(LayerscopeError, match="layer 1"):
        layerscope.open(str(p), verify=False)
    assert list(spool.iterdir()) == []
    with pytest.raises(LayerscopeError):
        layerscope.open([str(p), str(tmp_path / "missing.tar")], engine="archive")
    assert list(spool.iterdir()) == []


def test_several_inputs_number_their_images(tmp_path):
    a = docker_archive(tmp_path / "a.tar", [Img([A], tag="a:1"), Img([B], tag="b:1")])
    b = oci_archive(tmp_path / "b.tar", [Img([C], tag="c:1")])
    with layerscope.open([str(a), str(b)]) as archive:
        assert [(i.number, i.ref, i.source) for i in archive.images] == [
            (0, "a:1", str(a)), (1, "b:1", str(a)), (2, "c:1", str(b))
        ]  # fmt: skip
        assert len(archive.sources) == 2


def test_paths_may_be_path_objects(tmp_path):
    p = docker_archive(tmp_path / "a.tar", [Img([A])])
    with layerscope.open(p) as one, layerscope.open([p, str(p)]) as two:
        assert one.images[0].source == str(p)
        assert len(two.images) == 2


# -- a big layer read by two processes at once ---------------------------------------------------

FIELDS = ("paths", "types", "flags", "sizes", "modes", "uids", "gids", "mtimes", "offsets",
          "digests", "links", "extras", "diff_id", "digest", "compression", "stored_size",
          "tar_size", "verified")  # fmt: skip


def _tricky_tar() -> bytes:
    """A layer where a cut can fall anywhere awkward: long names (PAX and GNU), a file whose
    data is itself a tar (headers a part may take for the layer's own), a sparse file, the root
    entry, data longer than a read window (made 8 KiB by the tests), an end marker with bytes
    after it."""
    inner = layer_tar(File("inner/x", b"i" * 700), File("inner/y", b"j" * 30))
    long = "node_modules/" + "pkg/" * 30 + "index.js"
    gnu = tarfile.TarInfo(long + ".gnu")
    gnu.size = 5
    return (
        tar_header(b"./", type_=b"5")
        + layer_tar(File("a", b"a" * 3000), File(long, b"L" * 600), Dir("d"))[:-1024]
        + gnu.tobuf(tarfile.GNU_FORMAT) + padded(b"gnu!!")
        + tar_header(b"embedded.tar", size=len(inner)) + padded(inner)
        + gnu_sparse_member(b"sparse", 9000, [(0, b"s" * 10), (8192, b"t" * 20)])
        + tar_header(b"big", size=20_003) + padded(b"b" * 20_003)
        + layer_tar(*(File(f"f{i}", bytes([i]) * (i * 97 % 1500)) for i in range(40)))[:-1024]
        + END + b"after the end" * 50
    )  # fmt: skip


def _outcome(fn):
    try:
        return fn()
    except LayerscopeError as e:
        return type(e), str(e)


TRICKY = _tricky_tar()


@pytest.mark.parametrize(
    "tar",
    [TRICKY, TRICKY[:-2000], TRICKY[:60_000], b"\0" * 512 + TRICKY],
    ids=["whole", "truncated", "cut-short", "empty"],
)
def test_a_layer_read_in_two_parts_is_the_layer_read_whole(tmp_path, monkeypatch, tar):
    """Wherever the tar is cut, the two parts (the second finds its first header on its own,
    and is read again from where the first ended if that is not one of its members) make the
    index a whole read makes, or fail as it fails."""
    from layerscope.model import archive as archive_mod
    from layerscope.read import layerreader
    from layerscope.read.layerreader import read_layer, read_part

    monkeypatch.setattr(layerreader, "WINDOW", 8192)
    again = []  # second parts read again from where the first ended
    monkeypatch.setattr(archive_mod, "read_part",
                        lambda *a, **kw: again.append(a[1]) or read_part(*a, **kw))  # fmt: skip
    path = docker_archive(tmp_path / "a.tar", [Img([Layer(tar=tar)])])
    with layerscope.discover(str(path)) as archive:
        layer = archive.images[0].layers[0]
        spec = layer.spec
        whole = _outcome(lambda: read_layer(spec.location, diff_id=spec.diff_id,
                                            digest=spec.digest))  # fmt: skip
        for cut in range(0, spec.location.size + 1024, 512):
            parts = {0: read_part(spec.location, 0, cut), 1: read_part(spec.location, cut, None)}
            got = archive._joined(layer, parts)
            if isinstance(whole, tuple):
                assert (type(got), str(got)) == whole, cut
            else:
                assert [getattr(got, f) for f in FIELDS] == [getattr(whole, f) for f in FIELDS], cut
        # cuts in the embedded tar's data: its headers were taken for the layer's, then not
        assert again or tar is not TRICKY


def test_a_big_layer_is_read_by_two_processes_and_stored_by_the_parent(tmp_path, monkeypatch):
    """A layer over SPLIT_MIN and more than its share of the work is read in two parts at once;
    a layer read whole by a worker is stored in the cache by that worker. The figures are those
    of a read in this process, and a re-open reads no layer."""
    from layerscope.model import archive as archive_mod

    monkeypatch.setattr(archive_mod, "SPLIT_MIN", 1 << 16)
    monkeypatch.setenv("LAYERSCOPE_WORKERS", "2")
    monkeypatch.setenv("LAYERSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    big = Layer(tar=TRICKY)
    small = Layer(File("a", b"changed"), Whiteout("d"))
    path = docker_archive(tmp_path / "a.tar", [Img([big, small])])
    with layerscope.discover(str(path)) as archive:
        assert archive._parts(archive.distinct_layers(), 2)  # the big one is split
        assert archive._workers(archive.distinct_layers()) == 2
    with layerscope.open(str(path), cache=True) as archive:
        split = [[list(ly.entries()) for ly in img.layers] for img in archive.images]
        figures = archive.images[0].dive, archive.images[0].final_size
    monkeypatch.setenv("LAYERSCOPE_WORKERS", "1")
    with layerscope.open(str(path)) as archive:
        assert rows(archive) == split
        assert (archive.images[0].dive, archive.images[0].final_size) == figures

    def no_read(*args, **kw):
        raise AssertionError("a layer was read despite the cache")

    monkeypatch.setattr(archive_mod, "read_layer", no_read)
    monkeypatch.setattr(archive_mod, "read_in_processes", no_read)
    with layerscope.open(str(path), cache=True) as archive:
        assert rows(archive) == split
