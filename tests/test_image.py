"""Figures of the real-tool fixtures, worked out by hand from tests/fixtures/real/README.md."""

from __future__ import annotations

from pathlib import Path

import pytest

import layerscope

REAL = Path(__file__).parent / "fixtures" / "real"
DEMO_FORMATS = [
    "docker-archive.tar",
    "docker-archive.tar.gz",
    "docker-archive.tar.zst",
    "oci-archive.tar",
    "oci-dir",
    "docker-dir",
    "gzip.tar",
    "zstd.tar",
]
# (added, modified, metadata, rewritten, removed) per layer of the demo image
DEMO_CHANGES = [
    (31, 0, 0, 0, 0),  # L1: the base tree
    (7, 0, 0, 4, 0),  # L2: 4 links + 3 new paths; etc/, usr/, usr/bin/ and usr/bin/tool copied up
    (0, 1, 1, 9, 6),  # L3: motd modified, LICENSE chmod; extra.conf + var/cache/demo (5 paths) gone
    (3, 0, 0, 4, 4),  # L4: opt/app opaque (v1.txt, data, data/old.bin) + tool-link deleted
    (4, 0, 0, 1, 0),  # L5: COPY of srv/app (srv/ itself rewritten)
]
DEMO_HIDDEN_FILES = {  # path: (size, layer, hidden_by, how)
    "etc/motd": (30, 0, 2, "overwritten"),
    "usr/bin/tool": (20, 0, 1, "overwritten"),
    "etc/config/app.conf": (18, 0, 2, "overwritten"),
    "usr/share/doc/demo/LICENSE": (18, 0, 2, "overwritten"),
    "opt/app/data/old.bin": (14, 0, 3, "opaque"),
    "opt/app/v1.txt": (14, 0, 3, "opaque"),
    "etc/config/extra.conf": (10, 0, 2, "whiteout"),
    "var/cache/demo/a.cache": (8, 0, 2, "parent-whiteout"),
    "var/cache/demo/b.cache": (8, 0, 2, "parent-whiteout"),
    "var/cache/demo/sub/c.cache": (8, 0, 2, "parent-whiteout"),
}


def changes(img):
    return [tuple(layer.changes.as_dict().values()) for layer in img.layers]


@pytest.mark.parametrize("name", DEMO_FORMATS)
def test_demo_figures_are_the_same_in_every_format(name):
    with layerscope.open(str(REAL / name)) as archive:
        (img,) = archive.images
        assert [layer.size for layer in img.layers] == [1377, 33, 76, 33, 26]
        assert img.size == 1545
        assert img.final_size == 1397
        assert img.reclaimable_bytes == 148
        assert img.size == img.final_size + img.reclaimable_bytes
        assert changes(img) == DEMO_CHANGES
        files = {
            h.path: (h.size, h.layer, h.hidden_by, h.how) for h in img.hidden if h.type == "file"
        }
        assert files == DEMO_HIDDEN_FILES
        assert [h.size for h in img.hidden] == sorted((h.size for h in img.hidden), reverse=True)
        assert img.duplicate_bytes == 0
        symlinks = [h for h in img.hidden if h.type == "symlink"]
        assert [(h.path, h.layer, h.hidden_by, h.how) for h in symlinks] == [
            ("usr/bin/tool-link", 1, 3, "whiteout")
        ]


def test_demo_final_filesystem():
    with layerscope.open(str(REAL / "docker-archive.tar")) as archive:
        img = archive.images[0]
        final = {p: e for p, e in img.final_entries()}
        assert "var/cache/demo" not in final and "etc/config/extra.conf" not in final
        assert final["etc/motd"].size == 40  # L3 size 76 = motd 40 + app.conf 18 + LICENSE 18
        assert final["usr/share/doc/demo/LICENSE"].mode & 0o7777 == 0o600
        assert final["usr/bin/su-helper"].mode & 0o7777 == 0o4755
        assert sorted(p for p in final if p.startswith("opt/")) == [
            "opt/app", "opt/app/bin", "opt/app/bin/run", "opt/app/v2.txt"
        ]  # fmt: skip
        assert img.final_files == sum(
            1 for e in final.values() if e is not None and e.type != "dir"
        )


def test_umoci_layer_deletes_a_hardlink_name_and_a_directory():
    with layerscope.open(str(REAL / "umoci.tar")) as archive:
        demo, umoci = archive.images
        assert umoci.refs == ["demo-umoci"]
        assert changes(umoci)[:5] == DEMO_CHANGES
        top = umoci.layers[5]
        # etc/umoci.txt added; etc/motd modified; shared-hard.txt stored again with equal bytes;
        # opt/app/bin (dir + run) and etc/motd.link and srv/data/shared.txt removed
        assert top.changes.removed == 4
        assert top.changes.added == 1
        assert top.changes.modified == 1
        assert umoci.size == demo.size + 66
        assert umoci.size == umoci.final_size + umoci.reclaimable_bytes


def test_second_image_of_a_multi_image_archive():
    with layerscope.open(str(REAL / "multi.tar")) as archive:
        demo, other = archive.images
        assert other.refs == ["localhost/layerscope-other:1"]
        assert [layer.diff_id for layer in other.layers[:2]] == [
            layer.diff_id for layer in demo.layers[:2]
        ]
        assert other.size == 1377 + 33 + 40
        # README (1191) deleted, etc/motd (30) overwritten, usr/bin/tool (20) copied up in L2
        assert other.reclaimable_bytes == 1191 + 30 + 20
        assert other.final_size == 209


def test_history_is_attached_to_the_right_layers():
    with layerscope.open(str(REAL / "docker-archive.tar")) as archive:
        img = archive.images[0]
        steps = img.history
        assert len(steps) == 7
        assert [s.layer for s in steps] == [0, 1, 2, 3, None, 4, None]
        assert steps[4].empty_layer and steps[6].empty_layer
        assert img.layers[2].history.author == "Layerscope Fixtures <fixtures@example.invalid>"
        assert img.layers[4].created_by.startswith("/bin/sh -c #(nop) COPY")


def test_dive_figures_started_before_the_analysis_equal_those_computed_after():
    with layerscope.open(str(REAL / "umoci.tar")) as archive:
        a, _b = archive.images
        a.start_dive()
        assert "dive" in a.__dict__ and "analysis" not in a.__dict__
        with layerscope.open(str(REAL / "umoci.tar")) as again:
            later = again.images[0]
            later.analysis  # noqa: B018
            assert a.dive == later.dive
