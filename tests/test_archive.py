"""Opening archives: images found without reading layers, each distinct blob read once and
attached to every position that uses it, errors naming the input and the layer, the same
result whether layers are read in this process or in several."""

from __future__ import annotations

import tempfile

import pytest
from builder import Dir, File, Img, Layer, Whiteout, docker_archive, oci_archive, sha

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
