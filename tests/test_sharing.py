"""Space shared between images: by layer and by file content."""

from __future__ import annotations

from builder import File, Img, Layer, docker_archive, oci_archive

import layerscope
from layerscope.insight.sharing import sharing

BASE = Layer(File("bin/sh", b"s" * 100), File("etc/os", b"o" * 10))
REBUILT_BASE = Layer(File("bin/sh", b"s" * 100), File("etc/os", b"O" * 11))  # other diff_id
APP1 = Layer(File("app/one", b"1" * 7))
APP2 = Layer(File("app/two", b"2" * 5))


def test_layers_shared_in_one_archive(tmp_path):
    path = docker_archive(
        tmp_path / "m.tar", [Img([BASE, APP1], tag="a:1"), Img([BASE, APP2], tag="b:1")]
    )
    with layerscope.open(str(path)) as archive:
        s = sharing(archive.images)
        assert [(x.size, x.images) for x in s.layers] == [(110, [0, 1]), (7, [0]), (5, [1])]
        assert s.stored_bytes == 122
        assert s.unshared_bytes == 117 + 115
        assert s.shared_bytes == 110
        assert s.unique_bytes == [7, 5]
        assert s.contents == []  # the common content sits in one shared layer


def test_several_archives_and_content_shared_below_the_layers(tmp_path):
    a = docker_archive(tmp_path / "a.tar", [Img([BASE, APP1], tag="a:1")])
    b = oci_archive(tmp_path / "b.tar", [Img([REBUILT_BASE, APP2], tag="b:1")])
    with layerscope.open([str(a), str(b)]) as archive:
        assert [img.number for img in archive.images] == [0, 1]
        s = sharing(archive.images)
        assert s.shared_bytes == 0
        assert s.unique_bytes == [117, 116]
        (c,) = s.contents  # bin/sh: the same 100 bytes in two different base layers
        assert (c.size, c.paths, c.images, c.extra_bytes) == (100, ["bin/sh"], [0, 1], 100)
        assert s.file_shared_bytes == 100


def test_report_sharing_section(tmp_path):
    import io
    import json

    from layerscope.output.report import write_report

    path = docker_archive(
        tmp_path / "m.tar", [Img([BASE, APP1], tag="a:1"), Img([BASE, APP2], tag="b:1")]
    )
    with layerscope.open(str(path)) as archive:
        out = io.StringIO()
        write_report(out, archive.images, files=False)
    rep = json.loads(out.getvalue())["sharing"]
    assert rep["stored_bytes"] == 122 and rep["shared_bytes"] == 110
    assert rep["unique_bytes"] == [7, 5] and rep["unshared_bytes"] == 232
    assert rep["layers"][0]["images"] == [0, 1]


def test_saved_and_per_image_shared_bytes(tmp_path):
    path = docker_archive(
        tmp_path / "m.tar", [Img([BASE, APP1], tag="a:1"), Img([BASE, APP2], tag="b:1")]
    )
    with layerscope.open(str(path)) as archive:
        s = sharing(archive.images)
        assert s.saved_bytes == 232 - 122
        assert [s.image_shared_bytes(i) for i in (0, 1)] == [110, 110]
