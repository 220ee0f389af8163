"""Waste grouping, path history and on-demand content reading."""

from __future__ import annotations

import pytest
from builder import Dir, File, Hardlink, Img, Layer, Opaque, Whiteout, docker_archive, open_image

from layerscope.insight.content import read_entry
from layerscope.insight.pathhistory import path_history
from layerscope.insight.waste import waste

LAYERS = [
    Layer(Dir("d"), File("d/a", b"a" * 10), File("d/b", b"b" * 20), File("k", b"k" * 7)),
    Layer(File("d/a", b"a" * 10), File("k", b"k" * 7, mode=0o600), File("c1", b"same" * 5)),
    Layer(Opaque("d"), File("d/n", b"n"), File("c2", b"same" * 5), Hardlink("hl", "c1")),
    Layer(Whiteout("c1")),
]


@pytest.fixture(params=[None, "gzip", "zstd"])
def img(request, tmp_path):
    layers = [Layer(*ly.entries, compression=request.param) for ly in LAYERS]
    from builder import oci_archive

    if request.param is None:
        return open_image(docker_archive(tmp_path / "a.tar", [Img(layers)]))
    return open_image(oci_archive(tmp_path / "a.tar", [Img(layers)], compression=request.param))


def test_waste_reasons_and_totals(img):
    w = waste(img)
    got = [(i.path, i.size, i.layer, i.made_dead_by, i.reason) for i in w.items]
    assert got == [
        ("d/b", 20, 0, 2, "opaque"),
        ("hl", 20, 2, None, "duplicate"),  # c1 is gone, but hl keeps its bytes, as c2 has them
        ("d/a", 10, 0, 1, "rewritten"),
        ("d/a", 10, 1, 2, "opaque"),
        ("k", 7, 0, 1, "metadata"),
    ]
    assert w.hidden_bytes == 47 == img.reclaimable_bytes
    assert w.duplicate_bytes == 20 == img.duplicate_bytes
    assert [(x.stored, x.caused) for x in w.per_layer] == [(37, 0), (10, 17), (0, 30), (0, 0)]
    assert next(iter(w.groups())) == (0, 2)


def test_path_history(img):
    steps = [(s.layer, s.action, s.size, s.detail) for s in path_history(img, "d/a")]
    assert steps == [
        (0, "added", 10, ""),
        (1, "rewritten", 10, ""),
        (2, "removed", 0, "cleared by an opaque directory"),
    ]
    steps = [(s.layer, s.action, s.mode) for s in path_history(img, "/k")]
    assert steps == [(0, "added", 0o644), (1, "metadata", 0o600)]
    assert [(s.layer, s.action) for s in path_history(img, "c1")] == [(1, "added"), (3, "removed")]


def test_read_entry_in_every_compression(img):
    li = img.layers[2].data
    assert read_entry(img, 2, li.paths.index("c2")) == b"same" * 5
    assert read_entry(img, 2, li.paths.index("hl")) == b"same" * 5  # through the hardlink
    assert read_entry(img, 0, img.layers[0].data.paths.index("d/b"), limit=3) == b"bbb"
    assert read_entry(img, 0, 0) == b""  # a directory has no content
