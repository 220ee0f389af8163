"""Archives written by real tools (podman, skopeo, umoci, zstd, gzip; see fixtures/real/README.md)
read by layerscope and compared, entry by entry, with the independent oracle's `*.expected.json`
(written by make_oracle.py with tarfile, sharing no code with layerscope)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import posixpath
import tempfile
from pathlib import Path

import pytest
import zstandard

import layerscope
from layerscope.read.records import normalise

REAL = Path(__file__).parent / "fixtures" / "real"
EXPECTED = sorted(REAL.glob("*.expected.json"))
ARCHIVES = [p.name[: -len(".expected.json")] for p in EXPECTED]


def test_every_archive_has_an_oracle():
    assert sorted(ARCHIVES) == sorted([
        "docker-archive.tar", "docker-archive.tar.gz", "docker-archive.tar.zst", "docker-dir",
        "gzip.tar", "multi.tar", "oci-archive.tar", "oci-dir", "umoci.tar", "zstd.tar",
    ])  # fmt: skip
    for name in ARCHIVES:
        assert (REAL / name).exists(), name


@pytest.fixture(scope="module")
def read_all():
    """Every fixture read once (the module's tests share them), spool files cleaned up."""
    spool = tempfile.mkdtemp(prefix="layerscope-test-")
    old = tempfile.tempdir
    tempfile.tempdir = spool
    opened = {}
    try:
        for name in ARCHIVES:
            opened[name] = layerscope.open(str(REAL / name))
        yield opened
    finally:
        for archive in opened.values():
            archive.close()
        tempfile.tempdir = old
        assert not list(Path(spool).iterdir()), "a spooled archive was left behind"
        Path(spool).rmdir()


def oracle(name: str) -> dict:
    return json.loads((REAL / f"{name}.expected.json").read_text())


def expected_rows(entries: list[dict]) -> list[tuple]:
    """The oracle's raw entries as layerscope should report them: names normalised, whiteout
    and opaque markers turned into the path they act on (docs/report.md), the root entry dropped."""
    out = []
    for e in entries:
        path, _ = normalise(e["name"])
        if not path:
            continue
        parent, base = posixpath.split(path)
        type_, digest = e["type"], e["sha256"] and "sha256:" + e["sha256"]
        if base == ".wh..wh..opq":
            path, type_, digest = parent, "opaque", None
        elif base.startswith(".wh.") and not base.startswith(".wh..wh."):
            path, type_, digest = posixpath.join(parent, base[4:]), "whiteout", None
        link = e["link"]
        if type_ == "hardlink":
            link = normalise(link)[0]
        out.append((path, type_, e["size"], int(e["mode"], 8), e["uid"], e["gid"], link, digest,
                    e["mtime"]))  # fmt: skip
    return out


def got_rows(layer) -> list[tuple]:
    return [
        (e.path, e.type, e.size, e.mode & 0o7777, e.uid, e.gid, e.link, e.digest, e.mtime)
        for e in layer.entries()
    ]


def expected_attachment(history: list[dict], n_layers: int) -> list[int | None]:
    non_empty = [i for i, h in enumerate(history) if not h.get("empty_layer")]
    if len(non_empty) != n_layers:
        return [None] * len(history)
    where = {step: layer for layer, step in enumerate(non_empty)}
    return [where.get(i) for i in range(len(history))]


def pairs(name, read_all):
    exp = oracle(name)
    images = read_all[name].images
    assert len(images) == len(exp["images"])
    return list(zip(images, exp["images"], strict=True))


@pytest.mark.parametrize("name", ARCHIVES)
def test_images(name, read_all):
    for img, exp in pairs(name, read_all):
        assert img.refs == exp["refs"]
        assert img.config_digest == exp["config_digest"]
        assert img.platform == f"{exp['os']}/{exp['architecture']}"
        assert img.config.env == (exp["env"] or [])
        assert img.config.labels == (exp["labels"] or {})
        assert [ly.diff_id for ly in img.layers] == exp["diff_ids"]


@pytest.mark.parametrize("name", ARCHIVES)
def test_layers(name, read_all):
    for img, exp in pairs(name, read_all):
        assert len(img.layers) == len(exp["layers"])
        for layer, el in zip(img.layers, exp["layers"], strict=True):
            assert layer.diff_id == layer.data.diff_id == el["diff_id"]
            assert layer.digest == el["digest"]
            assert layer.compression == el["compression"]
            assert layer.stored_size == el["size"]
            assert layer.data.tar_size == el["uncompressed_size"]
            assert layer.data.verified


@pytest.mark.parametrize("name", ARCHIVES)
def test_entries(name, read_all):
    for img, exp in pairs(name, read_all):
        for layer, el in zip(img.layers, exp["layers"], strict=True):
            assert got_rows(layer) == expected_rows(el["entries"]), (name, layer.position)


@pytest.mark.parametrize("name", ARCHIVES)
def test_history(name, read_all):
    for img, exp in pairs(name, read_all):
        hist = exp["history"] or []
        got = [h.as_dict() for h in img.history]
        attach = expected_attachment(hist, len(exp["diff_ids"]))
        assert got == [
            {
                "created_by": h.get("created_by"),
                "created": h.get("created"),
                "author": h.get("author"),
                "comment": h.get("comment"),
                "empty_layer": bool(h.get("empty_layer", False)),
                "layer": attach[i],
            }
            for i, h in enumerate(hist)
        ]
        for layer in img.layers:
            steps = [h for h, a in zip(hist, attach, strict=True) if a == layer.position]
            assert layer.created_by == (steps[0].get("created_by") if steps else None)


def _uncompressed(blob: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.decompress(blob)
    if compression == "zstd":
        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob),
                                                          read_across_frames=True).read()  # fmt: skip
    return blob


@pytest.mark.parametrize("name", ["docker-archive.tar", "oci-archive.tar", "zstd.tar", "oci-dir"])
def test_offsets_point_at_the_content(name, read_all):
    """Where each file's bytes lie in the uncompressed layer: enough for a later preview."""
    for img in read_all[name].images:
        for layer in img.layers:
            loc = layer.spec.location
            with open(loc.file, "rb") as f:
                f.seek(loc.offset)
                tar = _uncompressed(f.read(loc.size), layer.compression)
            for e in layer.entries():
                if e.type == "file" and e.digest:
                    content = tar[e.offset : e.offset + e.size]
                    assert "sha256:" + hashlib.sha256(content).hexdigest() == e.digest


def test_shared_layers_read_once(read_all):
    archive = read_all["multi.tar"]
    demo, other = archive.images
    assert demo.layers[0].data is other.layers[0].data
    assert demo.layers[1].data is other.layers[1].data
    assert len(archive.distinct_layers()) == 6


def test_the_demo_image_as_the_readme_describes_it(read_all):
    """A few facts from fixtures/real/README.md, checked directly."""
    img = read_all["docker-archive.tar"].images[0]
    l1, l2, l3, l4, l5 = img.layers
    mode = {e.path: e.mode_octal for e in l1.entries()}
    assert (mode["usr/bin/su-helper"], mode["tmp"], mode["var/mail"]) == ("4755", "1777", "2775")
    home = next(e for e in l1.entries() if e.path == "home/user")
    assert (home.uid, home.gid) == (1000, 1000)
    links = {e.path: (e.type, e.link) for e in l2.entries() if e.link}
    assert links["usr/bin/tool-link"] == ("symlink", "tool")
    assert links["etc/motd.link"] == ("symlink", "/etc/motd")
    assert links["srv/data/shared.txt"] == ("hardlink", "srv/data/shared-hard.txt")
    marks = [(e.path, e.type) for e in l3.entries() if e.type in ("whiteout", "opaque")]
    assert marks == [("etc/config/extra.conf", "whiteout"), ("var/cache/demo", "whiteout")]
    marks = [(e.path, e.type) for e in l4.entries() if e.type in ("whiteout", "opaque")]
    assert ("opt/app", "opaque") in marks and ("usr/bin/tool-link", "whiteout") in marks
    assert [s.empty_layer for s in img.history] == [False] * 4 + [True, False, True]
    assert [s.layer for s in img.history] == [0, 1, 2, 3, None, 4, None]
    assert l3.history.author and l3.history.comment
    assert l5.created_by and "COPY" in l5.created_by
