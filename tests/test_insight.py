"""Waste grouping, path history and on-demand content reading."""

from __future__ import annotations

import pytest
from builder import Dir, File, Hardlink, Img, Layer, Opaque, Whiteout, docker_archive, open_image

from layerscope.insight.content import read_entry
from layerscope.insight.pathhistory import path_history
from layerscope.insight.waste import DUPLICATE, DeadDir, waste

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


def test_waste_keeps_the_reclaimable_and_the_duplicate_bytes_apart(img):
    w = waste(img)
    assert [(c.first, c.size, [i.path for i in c.extra], c.extra_bytes) for c in w.copies] == [
        ("c2", 20, ["hl"], 20)
    ]
    groups = w.groups()
    assert all(
        not isinstance(g, DeadDir) and g.reason != DUPLICATE for v in groups.values() for g in v
    )
    assert sum(g.size for v in groups.values() for g in v) == img.reclaimable_bytes
    for (stored, _by), listed in groups.items():
        assert all(g.layer == stored for g in listed)
    assert [i.reason_text for i in w.items] == [
        "opaque", "extra copy", "overwritten (rewritten)", "opaque", "overwritten (metadata)",
    ]  # fmt: skip


DELETED = [
    Layer(
        Dir("old"), File("old/a", b"a" * 10), Dir("old/sub"), File("old/sub/b", b"b" * 20),
        File("old/sub/c", b"c" * 5), File("keep/x", b"x" * 3), Dir("tree"),
        File("tree/t1", b"1" * 4), File("tree/t2", b"2" * 6), Dir("lone"),
        File("lone/only", b"o" * 7),
    ),
    Layer(Whiteout("old"), Opaque("keep"), File("tree", b"a file now"), Whiteout("lone")),
]  # fmt: skip


@pytest.mark.parametrize("implied", [False, True], ids=["dirs", "implied-dirs"])
def test_a_directory_removed_with_its_entries_is_one_group(tmp_path, implied):
    """A whiteout of a directory, a directory replaced by a file, an opaque directory: each
    removal is one group under its directory (whether the directory has an entry or is implied
    by what lies under it)."""
    layers = DELETED
    if implied:
        layers = [Layer(*(e for e in DELETED[0].entries if not isinstance(e, Dir))), DELETED[1]]
    img = open_image(docker_archive(tmp_path / "d.tar", [Img(layers)]))
    w = waste(img)
    ((key, listed),) = w.groups().items()
    assert key == (0, 1)
    shown = [
        (g.path, g.how.label, g.size, [i.path for i in g.items])
        if isinstance(g, DeadDir) else (g.path, g.reason, g.size)
        for g in listed
    ]  # fmt: skip
    assert shown == [
        ("old", "whiteout", 35, ["old/sub/b", "old/a", "old/sub/c"]),
        ("tree", "type-change", 10, ["tree/t2", "tree/t1"]),
        ("lone/only", "parent-whiteout", 7),  # alone under its directory: a row of its own
        ("keep/x", "opaque", 3),
    ]
    assert sum(g.size for g in listed) == w.hidden_bytes == img.reclaimable_bytes == 55
    assert [(x.stored, x.caused) for x in w.per_layer] == [(55, 0), (0, 55)]
    if implied:
        return
    # every hidden entry: each directory's own entry goes with it, the empty ones below it too
    listed = w_all = waste(img, include_empty=True).groups()[(0, 1)]
    dirs = {g.path: g for g in w_all if isinstance(g, DeadDir)}
    assert dirs["old"].entry is not None and dirs["old"].entry.reason == "whiteout"
    assert sorted(i.path for i in dirs["old"].items) == [
        "old/a",
        "old/sub",
        "old/sub/b",
        "old/sub/c",
    ]
    assert dirs["lone"].entry is not None and [i.path for i in dirs["lone"].items] == ["lone/only"]
    assert dirs["tree"].entry is not None and dirs["tree"].entry.reason == "type-change"
    assert "keep" not in dirs  # cleared, not removed: the directory stays
    assert sum(g.size for g in listed) == 55


def test_path_history(img):
    steps = [(s.layer, s.action, s.size, s.detail) for s in path_history(img, "d/a")]
    assert steps == [
        (0, "added", 10, ""),
        (1, "rewritten", 10, ""),
        (2, "removed", 0, "opaque"),  # how, spelt as the report and the file tree spell it
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
