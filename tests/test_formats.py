"""Every saved-image format of issue 2, told by content (docs/formats.md 1-10), through the public
entry point `layerscope.open`: docker-archive (legacy, podman, Docker 25 blobs), the Docker 25
dual layout and its fall-back, containerd-store exports, oci-archive, OCI directories,
docker-dir, whole-archive compression, several images, platforms."""

from __future__ import annotations

import json
import tarfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from builder import (
    Dir,
    File,
    Img,
    Layer,
    Symlink,
    TarWriter,
    Whiteout,
    docker_archive,
    docker_dir,
    layer_tar,
    oci_archive,
    oci_dir,
    oci_layout,
    sha,
)

import layerscope
from layerscope.errors import DigestMismatch, FormatError, LayerscopeError, LimitExceeded
from layerscope.limits import Limits
from layerscope.read import formats

pytestmark = pytest.mark.usefixtures("spool_dir")  # no spooled copy is left behind

A = Layer(File("etc/motd", b"A-motd"), Dir("var"), created_by="add A")
B = Layer(File("usr/bin/tool", b"#!tool", mode=0o755), Whiteout("etc/motd"), created_by="add B")
C = Layer(File("srv/c", b"c" * 3000), Symlink("srv/l", "c"), created_by="add C")


@contextmanager
def opened(path, **kw):
    with layerscope.open(str(path), **kw) as archive:
        yield archive


def summary(img) -> list:
    """What the reader found: per layer, its entries (path, type, size, digest)."""
    return [[(e.path, e.type, e.size, e.digest) for e in layer.entries()] for layer in img.layers]


EXPECTED_ABC = [
    [("etc/motd", "file", 6, sha(b"A-motd")), ("var", "dir", 0, None)],
    [("usr/bin/tool", "file", 6, sha(b"#!tool")), ("etc/motd", "whiteout", 0, None)],
    [("srv/c", "file", 3000, sha(b"c" * 3000)), ("srv/l", "symlink", 0, None)],
]


def check_image(img, layers=(A, B, C), *, expected=None, ref="test:latest"):
    assert summary(img) == (expected if expected is not None else EXPECTED_ABC)
    assert [ly.diff_id for ly in img.layers] == [sha(ly.tar_bytes) for ly in layers]
    assert [ly.created_by for ly in img.layers] == [ly.created_by or f"step {i}"
                                                    for i, ly in enumerate(layers)]  # fmt: skip
    assert img.ref == ref
    assert img.platform == "linux/amd64"
    assert img.config.env == ["PATH=/usr/bin"] and img.config.cmd == ["/bin/sh"]
    for layer in img.layers:
        assert layer.data.verified


# -- docker-archive --------------------------------------------------------------------------


def outer_members(path: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(path) as tf:
        return {ti.name: ti for ti in tf}


def test_legacy_docker_archive_with_a_repeated_layer(tmp_path):
    """A-B-A: the second A is stored as `<id>/layer.tar -> ../<id0>/layer.tar` (docs/formats.md 3, 10)."""
    img = Img([A, B, A])
    p = docker_archive(tmp_path / "legacy.tar", [img])
    members = outer_members(p)
    links = [ti for ti in members.values() if ti.issym()]
    assert len(links) == 1 and links[0].linkname.startswith("../")
    manifest = json.loads(p.read_bytes()[members["manifest.json"].offset_data:][
        : members["manifest.json"].size])  # fmt: skip
    assert all(x.endswith("/layer.tar") for x in manifest[0]["Layers"])
    with opened(p) as archive:
        (image,) = archive.images
        assert image.spec.format == "docker-archive"
        assert summary(image) == [EXPECTED_ABC[0], EXPECTED_ABC[1], EXPECTED_ABC[0]]
        first, _, again = image.layers
        assert first.spec.location == again.spec.location  # the symlink resolved to the blob
        assert first.data is again.data  # read once
        assert len(archive.distinct_layers()) == 2
        assert [ly.created_by for ly in image.layers] == ["add A", "add B", "add A"]
        assert first.digest == first.diff_id  # uncompressed: the blob is the layer tar


def test_podman_style_docker_archive(tmp_path):
    p = docker_archive(tmp_path / "podman.tar", [Img([A, B, C])], style="podman")
    members = outer_members(p)
    assert sum(ti.issym() for ti in members.values()) == 3
    with opened(p) as archive:
        check_image(archive.images[0])
        assert [ly.spec.member for ly in archive.images[0].layers] == [
            sha(ly.tar_bytes)[7:] + ".tar" for ly in (A, B, C)
        ]


def test_docker25_blob_paths_without_an_index(tmp_path):
    p = docker_archive(tmp_path / "blobs.tar", [Img([A, B, C])], style="blobs")
    with opened(p) as archive:
        img = archive.images[0]
        check_image(img)
        assert [ly.spec.digest for ly in img.layers] == [sha(ly.tar_bytes) for ly in (A, B, C)]


@pytest.mark.parametrize("style", ["legacy", "podman", "blobs"])
def test_manifest_order_is_irrelevant(tmp_path, style):
    got = []
    for first in (False, True):
        p = docker_archive(tmp_path / f"{first}.tar", [Img([A, B, C])], style=style,
                           manifest_first=first)  # fmt: skip
        names = list(outer_members(p))
        assert (names[0] == "manifest.json") == first
        with opened(p) as archive:
            got.append(summary(archive.images[0]))
    assert got[0] == got[1] == EXPECTED_ABC


def test_several_images_in_one_archive(tmp_path):
    """`podman save -m`: every image read, in manifest order; a shared layer read once."""
    one = Img([A, B], tag="one:1")
    two = Img([A, C], tag="two:2", arch="arm64")
    three = Img([C], tag=None)
    p = docker_archive(tmp_path / "multi.tar", [one, two, three], style="podman")
    with opened(p) as archive:
        images = archive.images
        assert [i.ref for i in images] == ["one:1", "two:2", None]
        assert [i.refs for i in images] == [["one:1"], ["two:2"], []]
        assert [i.platform for i in images] == ["linux/amd64", "linux/arm64", "linux/amd64"]
        assert [i.number for i in images] == [0, 1, 2]
        assert images[0].layers[0].data is images[1].layers[0].data
        assert images[1].layers[1].data is images[2].layers[0].data
        assert len(archive.distinct_layers()) == 3
        assert summary(images[1]) == [EXPECTED_ABC[0], EXPECTED_ABC[2]]


def test_repo_tags_null(tmp_path):
    p = docker_archive(tmp_path / "untagged.tar", [Img([A], tag=None)])
    assert json.loads(_member(p, "manifest.json"))[0]["RepoTags"] is None
    with opened(p) as archive:
        img = archive.images[0]
        assert (img.ref, img.refs) == (None, [])
        assert img.name == img.config_digest[:19]


def _member(path: Path, name: str) -> bytes:
    with tarfile.open(path) as tf:
        return tf.extractfile(name).read()


# -- OCI layouts -----------------------------------------------------------------------------


@pytest.mark.parametrize("comp", [None, "gzip", "gzip-multi", "zstd", "zstd-multi"])
def test_oci_archive(tmp_path, comp):
    p = oci_archive(tmp_path / "oci.tar", [Img([A, B, C])], compression=comp)
    with opened(p) as archive:
        img = archive.images[0]
        check_image(img)
        assert img.spec.format == "oci"
        name = {"gzip-multi": "gzip", "zstd-multi": "zstd"}.get(comp, comp or "none")
        assert [ly.compression for ly in img.layers] == [name] * 3
        for ly, layer in zip((A, B, C), img.layers, strict=True):
            blob = ly.blob(comp)
            assert (layer.digest, layer.stored_size) == (sha(blob), len(blob))


def test_oci_dir(tmp_path):
    d = oci_dir(tmp_path / "layout", [Img([A, B, C])])
    with opened(d) as archive:
        check_image(archive.images[0])
        assert archive.images[0].source == str(d)


@pytest.mark.parametrize("index_first", [False, True])
def test_oci_member_order_is_irrelevant(tmp_path, index_first):
    p = oci_archive(tmp_path / "o.tar", [Img([A, B, C])], index_first=index_first)
    assert (next(iter(outer_members(p))) == "index.json") == index_first
    with opened(p) as archive:
        check_image(archive.images[0])


def test_oci_layout_without_its_oci_layout_file(tmp_path):
    files = oci_layout([Img([A, B, C])])
    del files["oci-layout"]
    with opened(write_layout(tmp_path / "o.tar", files)) as archive:
        check_image(archive.images[0])


def test_oci_several_images_and_a_digest_listed_once_per_tag(tmp_path):
    files = oci_layout([Img([A, B], tag="one"), Img([C], tag="two")])
    index = json.loads(files["index.json"])
    again = dict(index["manifests"][0], annotations={"org.opencontainers.image.ref.name": "uno"})
    index["manifests"].insert(1, again)
    files["index.json"] = json.dumps(index).encode()
    with opened(write_layout(tmp_path / "o.tar", files)) as archive:
        assert [i.refs for i in archive.images] == [["one", "uno"], ["two"]]


def test_oci_layout_tolerates_missing_and_docker_media_types(tmp_path):
    files = oci_layout([Img([A, B, C])])

    def edit(man):
        del man["mediaType"]
        man["config"]["mediaType"] = "application/vnd.docker.container.image.v1+json"
        man["layers"][0]["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar.gzip"
        man["layers"][1]["mediaType"] = "application/x-something-else"
        del man["layers"][2]["mediaType"]

    edit_manifest(files, 0, edit)
    index = json.loads(files["index.json"])
    del index["manifests"][0]["mediaType"]
    files["index.json"] = json.dumps(index).encode()
    with opened(write_layout(tmp_path / "o.tar", files)) as archive:
        check_image(archive.images[0])


def test_media_types_lie_compression_by_magic(tmp_path):
    layers = [
        Layer(*A.entries, compression="zstd", media_type="application/vnd.oci.image.layer.v1.tar"),
        Layer(*B.entries, compression="gzip",
              media_type="application/vnd.oci.image.layer.v1.tar+zstd"),
        Layer(*C.entries, compression="none",
              media_type="application/vnd.oci.image.layer.v1.tar+gzip"),
    ]  # fmt: skip
    for ly, src in zip(layers, (A, B, C), strict=True):
        ly.created_by = src.created_by
    with opened(oci_archive(tmp_path / "o.tar", [Img(layers)])) as archive:
        img = archive.images[0]
        assert [ly.compression for ly in img.layers] == ["zstd", "gzip", "none"]
        assert summary(img) == EXPECTED_ABC
    ddir = docker_dir(tmp_path / "dd", Img([Layer(*A.entries, compression="xz")]))
    with opened(ddir) as archive:
        assert archive.images[0].layers[0].compression == "xz"


@pytest.mark.parametrize("comp", ["gzip", "gzip-multi", "zstd", "zstd-multi", "bzip2", "xz"])
def test_layer_compressions_mixed_in_one_image(tmp_path, comp):
    layers = [Layer(*A.entries, compression=comp, created_by="add A"), B, C]
    with opened(oci_archive(tmp_path / "o.tar", [Img(layers)], compression=None)) as archive:
        img = archive.images[0]
        assert img.layers[0].compression == comp.split("-")[0]
        check_image(img)


def test_empty_layers(tmp_path):
    empty0 = Layer(tar=b"", created_by="empty blob")
    empty1 = Layer(tar=bytes(1024), created_by="zeros")
    empty2 = Layer(tar=b"", compression="gzip", created_by="gzip of nothing")
    img = Img([A, empty0, empty1, empty2])
    for path in (
        docker_archive(tmp_path / "d.tar", [img]),
        oci_archive(tmp_path / "o.tar", [img], compression=None),
    ):
        with opened(path) as archive:
            image = archive.images[0]
            assert [len(ly) for ly in image.layers] == [2, 0, 0, 0]
            assert [ly.size for ly in image.layers] == [6, 0, 0, 0]
            assert image.layers[1].diff_id == sha(b"")
            assert image.layers[2].diff_id == sha(bytes(1024))


# -- Docker 25+ and containerd-store exports ---------------------------------------------------


def test_docker25_dual_layout_prefers_the_index(tmp_path):
    img = Img([A, B, C], tag="app:25")
    p = oci_archive(tmp_path / "d25.tar", [img], docker25=True, compression=None)
    assert {"index.json", "oci-layout", "manifest.json"} <= set(outer_members(p))
    with opened(p) as archive:
        (image,) = archive.images
        check_image(image, ref="app:25")
        assert image.spec.format == "docker-archive+oci"
        assert image.refs == ["app:25"]  # manifest.json's RepoTags
        assert not image.spec.notes


def test_docker25_falls_back_to_manifest_json_when_the_index_blobs_do_not_resolve(tmp_path):
    img = Img([A, B, C], tag="app:25")
    p = oci_archive(tmp_path / "d25.tar", [img], docker25=True, absent=(0,), compression=None)
    with opened(p) as archive:
        (image,) = archive.images
        check_image(image, ref="app:25")
        assert image.spec.format == "docker-archive"
        assert any("index.json unusable" in n for n in image.spec.notes)


def test_docker25_falls_back_when_index_json_is_broken(tmp_path):
    files = oci_layout([Img([A, B, C])], docker25=True)
    files["index.json"] = b"{not json"
    with opened(write_layout(tmp_path / "d.tar", files)) as archive:
        check_image(archive.images[0])


def test_no_fall_back_without_manifest_json(tmp_path):
    p = oci_archive(tmp_path / "o.tar", [Img([A])], absent=(0,))
    with pytest.raises(FormatError, match=r"no readable image: .* absent"):
        layerscope.open(str(p))


PLATFORMS = [
    Img([A, B], tag="app:1", arch="amd64"),
    Img([A, C], tag="app:1", arch="arm64", variant="v8"),
    Img([C], tag="app:1", arch="arm", variant="v7"),
    Img([B], tag="app:1", arch="s390x"),
]


def containerd_export(tmp_path, absent=(3,), **kw) -> Path:
    return oci_archive(tmp_path / "ctr.tar", PLATFORMS, multiplatform=True, attestation=True,
                       absent=absent, **kw)  # fmt: skip


def test_containerd_store_export(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "machine_platform", lambda: "linux/amd64")
    p = containerd_export(tmp_path, docker25=True)
    index = json.loads(_member(p, "index.json"))
    assert index["manifests"][0]["mediaType"].endswith("index.v1+json")  # a nested index
    with opened(p) as archive:
        (image,) = archive.images  # attestation skipped, one platform chosen
        assert image.platform == "linux/amd64"
        assert image.refs == ["app:1"]  # manifest.json RepoTags win over the annotation
        assert [summary(image)[0], summary(image)[1]] == [EXPECTED_ABC[0], EXPECTED_ABC[1]]
        assert any("absent: linux/s390x" in n for n in image.spec.notes)


def test_containerd_ref_annotation(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "machine_platform", lambda: "linux/amd64")
    with opened(containerd_export(tmp_path)) as archive:
        assert archive.images[0].refs == ["docker.io/library/app:1"]


@pytest.mark.parametrize(
    ("want", "platform"),
    [
        ("linux/amd64", "linux/amd64"),
        ("linux/arm64", "linux/arm64/v8"),
        ("linux/arm64/v8", "linux/arm64/v8"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/arm/v7", "linux/arm/v7"),
    ],
)
def test_platform_choice(tmp_path, want, platform):
    with opened(containerd_export(tmp_path), platform=want) as archive:
        (image,) = archive.images
        assert image.platform == platform


def test_platform_listed_but_absent(tmp_path):
    with pytest.raises(
        FormatError, match="platform linux/s390x is listed, but its blobs are absent"
    ):
        layerscope.open(str(containerd_export(tmp_path)), platform="linux/s390x")


def test_platform_not_listed(tmp_path):
    with pytest.raises(FormatError, match=r"no image for platform windows/amd64 \(present: "
                       r"linux/amd64, linux/arm64/v8, linux/arm/v7\)"):  # fmt: skip
        layerscope.open(str(containerd_export(tmp_path)), platform="windows/amd64")


@pytest.mark.parametrize("docker25", [False, True])
def test_platform_errors_are_not_a_reason_to_fall_back(tmp_path, monkeypatch, docker25):
    """Docker 25's manifest.json is a fall-back for blobs that do not resolve, not a way
    around the platform the user asked for."""
    p = containerd_export(tmp_path, docker25=docker25)
    with pytest.raises(formats.PlatformError, match="no image for platform linux/ppc64le"):
        layerscope.open(str(p), platform="linux/ppc64le")
    with pytest.raises(formats.PlatformError, match="linux/s390x is listed, but"):
        layerscope.open(str(p), platform="linux/s390x")
    monkeypatch.setattr(formats, "machine_platform", lambda: "linux/riscv64")
    with pytest.raises(formats.PlatformError, match="choose one with --platform"):
        layerscope.open(str(p))


def test_default_platform_is_this_machines(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "machine_platform", lambda: "linux/arm64")
    with opened(containerd_export(tmp_path)) as archive:
        assert archive.images[0].platform == "linux/arm64/v8"


def test_several_platforms_none_of_them_this_machines(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "machine_platform", lambda: "linux/riscv64")
    with pytest.raises(FormatError, match="choose one with --platform"):
        layerscope.open(str(containerd_export(tmp_path)))


def test_the_only_platform_present_is_chosen(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "machine_platform", lambda: "linux/riscv64")
    with opened(containerd_export(tmp_path, absent=(0, 1, 3))) as archive:
        (image,) = archive.images
        assert image.platform == "linux/arm/v7"
        assert any("linux/amd64, linux/arm64/v8, linux/s390x" in n for n in image.spec.notes)


def test_no_platform_present(tmp_path):
    with pytest.raises(FormatError, match="no platform's blobs are present"):
        layerscope.open(str(containerd_export(tmp_path, absent=(0, 1, 2, 3))))


def test_machine_platform_names():
    assert formats.machine_platform().startswith("linux/")


# -- docker-dir ------------------------------------------------------------------------------


def test_docker_dir(tmp_path):
    d = docker_dir(tmp_path / "dd", Img([A, B, C]))
    with opened(d) as archive:
        (img,) = archive.images
        assert img.spec.format == "docker-dir"
        check_image(img, ref=None)
        assert [ly.spec.member for ly in img.layers] == [sha(ly.tar_bytes)[7:] for ly in (A, B, C)]


# -- whole archive compressed ------------------------------------------------------------------


@pytest.mark.parametrize("whole", ["gzip", "gzip-multi", "zstd", "zstd-multi", "bzip2", "xz"])
def test_whole_archive_compressed(tmp_path, whole):
    p1 = docker_archive(tmp_path / "d.tar.x", [Img([A, B, C])], style="podman", whole=whole)
    p2 = oci_archive(tmp_path / "o.tar.x", [Img([A, B, C])], whole=whole)
    for p in (p1, p2):
        with opened(p) as archive:
            check_image(archive.images[0])
            assert archive.images[0].source == str(p)


# -- verification and bad manifests -------------------------------------------------------------


def write_layout(path: Path, files: dict[str, bytes]) -> Path:
    w = TarWriter()
    for name, data in files.items():
        w.file(name, data)
    path.write_bytes(w.bytes())
    return path


def edit_manifest(files: dict[str, bytes], n: int, edit) -> None:
    """Change image n's manifest; its new digest goes into index.json."""
    index = json.loads(files["index.json"])
    desc = index["manifests"][n]
    man = json.loads(files["blobs/sha256/" + desc["digest"][7:]])
    edit(man)
    data = json.dumps(man).encode()
    files["blobs/sha256/" + sha(data)[7:]] = data
    desc["digest"], desc["size"] = sha(data), len(data)
    files["index.json"] = json.dumps(index).encode()


def replace_config(files, n, edit) -> None:
    def change(man):
        cfg = json.loads(files["blobs/sha256/" + man["config"]["digest"][7:]])
        edit(cfg)
        data = json.dumps(cfg).encode()
        files["blobs/sha256/" + sha(data)[7:]] = data
        man["config"]["digest"], man["config"]["size"] = sha(data), len(data)

    edit_manifest(files, n, change)


def test_wrong_diff_id(tmp_path):
    bad = "sha256:" + "0" * 64
    img = Img([A, B], config_extra={"rootfs": {"type": "layers",
                                                "diff_ids": [sha(A.tar_bytes), bad]}})  # fmt: skip
    for p in (
        docker_archive(tmp_path / "d.tar", [img]),
        oci_archive(tmp_path / "o.tar", [img]),
        docker_dir(tmp_path / "dd", img),
    ):
        with pytest.raises(DigestMismatch) as info:
            layerscope.open(str(p))
        assert str(info.value).startswith(f"{p}: layer 1 (")
        assert f"the config says {bad}" in str(info.value)
        with opened(p, verify=False) as archive:
            assert summary(archive.images[0]) == EXPECTED_ABC[:2]


def test_wrong_blob_digest(tmp_path):
    files = oci_layout([Img([A, B, C])])
    index = json.loads(files["index.json"])
    man = json.loads(files["blobs/sha256/" + index["manifests"][0]["digest"][7:]])
    victim = "blobs/sha256/" + man["layers"][2]["digest"][7:]
    blob = bytearray(files[victim])
    blob[4] ^= 1  # the gzip header's mtime: same size, same content, another digest
    files[victim] = bytes(blob)
    p = write_layout(tmp_path / "o.tar", files)
    with pytest.raises(DigestMismatch, match=f"layer 2 \\({victim}\\): blob digest is"):
        layerscope.open(str(p))
    with opened(p, verify=False) as archive:
        assert summary(archive.images[0]) == EXPECTED_ABC


def test_wrong_blob_digest_docker25_path(tmp_path):
    p = docker_archive(tmp_path / "b.tar", [Img([A, B])], style="blobs")
    files = {}
    with tarfile.open(p) as tf:
        for ti in tf:
            files[ti.name] = tf.extractfile(ti).read()
    victim = next(n for n in files if n.startswith("blobs/") and files[n] == A.tar_bytes)
    files[victim] = B.tar_bytes
    p = write_layout(tmp_path / "b2.tar", files)
    with pytest.raises(DigestMismatch, match=r"layer 0 .*blob digest is"):
        layerscope.open(str(p))


@pytest.mark.parametrize("what", ["layer", "config", "manifest"])
def test_wrong_descriptor_size(tmp_path, what):
    files = oci_layout([Img([A, B, C])])
    if what == "layer":
        edit_manifest(files, 0, lambda m: m["layers"][1].update(size=m["layers"][1]["size"] + 1))
        match = "layer 1 blob is .* bytes, the manifest says"
    elif what == "config":
        edit_manifest(files, 0, lambda m: m["config"].update(size=m["config"]["size"] - 1))
        match = "size is .*, the descriptor says"
    else:
        index = json.loads(files["index.json"])
        index["manifests"][0]["size"] += 7
        files["index.json"] = json.dumps(index).encode()
        match = "size is .*, the descriptor says"
    p = write_layout(tmp_path / "o.tar", files)
    with pytest.raises(FormatError, match=match):
        layerscope.open(str(p))
    with opened(p, verify=False) as archive:
        assert summary(archive.images[0]) == EXPECTED_ABC


def test_wrong_config_digest_in_a_docker25_archive(tmp_path):
    p = docker_archive(tmp_path / "b.tar", [Img([A])], style="blobs")
    files = {}
    with tarfile.open(p) as tf:
        for ti in tf:
            files[ti.name] = tf.extractfile(ti).read()
    cfg_name = json.loads(files["manifest.json"])[0]["Config"]
    files[cfg_name] = files[cfg_name].replace(b"add A", b"add X")
    with pytest.raises(DigestMismatch, match="digest is"):
        layerscope.open(str(write_layout(tmp_path / "c.tar", files)))


BAD_DIGESTS = [
    "sha256:" + "A" * 64,
    "sha256:" + "a" * 63,
    "sha512:" + "a" * 128,
    "sha256:" + "a" * 64 + "/../x",
    "md5:abc",
    "",
    None,
    42,
]


@pytest.mark.parametrize("bad", BAD_DIGESTS)
@pytest.mark.parametrize("where", ["index", "config", "layer", "diff_id"])
def test_digests_must_be_sha256_hex(tmp_path, bad, where):
    files = oci_layout([Img([A, B])])
    if where == "index":
        index = json.loads(files["index.json"])
        index["manifests"][0]["digest"] = bad
        files["index.json"] = json.dumps(index).encode()
    elif where == "config":
        edit_manifest(files, 0, lambda m: m["config"].update(digest=bad))
    elif where == "layer":
        edit_manifest(files, 0, lambda m: m["layers"][0].update(digest=bad))
    else:
        replace_config(files, 0, lambda c: c["rootfs"]["diff_ids"].__setitem__(1, bad))
    with pytest.raises(FormatError, match="not a valid sha256 digest"):
        layerscope.open(str(write_layout(tmp_path / "o.tar", files)), verify=False)


@pytest.mark.parametrize("bad", ["sha256:" + "A" * 64, "sha256:../../../etc/passwd"])
def test_docker_dir_digests_must_be_sha256_hex(tmp_path, bad):
    d = docker_dir(tmp_path / "dd", Img([A]))
    man = json.loads((d / "manifest.json").read_bytes())
    man["layers"][0]["digest"] = bad
    (d / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(FormatError, match="not a valid sha256 digest"):
        layerscope.open(str(d))


def docker_files(path: Path) -> dict[str, bytes]:
    files = {}
    with tarfile.open(path) as tf:
        for ti in tf:
            if ti.isfile():
                files[ti.name] = tf.extractfile(ti).read()
    return files


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m: m[0]["Layers"].__setitem__(0, "../" + m[0]["Layers"][0]), "leaves the archive"),
        (lambda m: m[0]["Layers"].__setitem__(0, "/etc/passwd"), "leaves the archive"),
        (lambda m: m[0]["Layers"].__setitem__(0, "x/../" + m[0]["Layers"][0]),
         "leaves the archive"),
        (lambda m: m[0].__setitem__("Config", "/etc/hostname"), "leaves the archive"),
        (lambda m: m[0].__setitem__("Config", "../c.json"), "leaves the archive"),
        (lambda m: m[0]["Layers"].__setitem__(0, "nope.tar"), "nope.tar is missing"),
        (lambda m: m[0]["Layers"].pop(), "lists 1 layers but its config has 2 diff_ids"),
        (lambda m: m[0].pop("Config"), "has no Config"),
        (lambda m: m[0].__setitem__("Layers", "x"), "has no Layers list"),
        (lambda m: m.clear(), "lists no images"),
    ],
)  # fmt: skip
def test_bad_manifest_json(tmp_path, edit, match):
    files = docker_files(docker_archive(tmp_path / "d.tar", [Img([A, B])], style="podman"))
    manifest = json.loads(files["manifest.json"])
    edit(manifest)
    files["manifest.json"] = json.dumps(manifest).encode()
    with pytest.raises(FormatError, match=match):
        layerscope.open(str(write_layout(tmp_path / "bad.tar", files)))


def test_missing_oci_blob(tmp_path):
    files = oci_layout([Img([A, B])])
    index = json.loads(files["index.json"])
    man = json.loads(files["blobs/sha256/" + index["manifests"][0]["digest"][7:]])
    del files["blobs/sha256/" + man["layers"][1]["digest"][7:]]
    with pytest.raises(FormatError, match="is missing from the archive"):
        layerscope.open(str(write_layout(tmp_path / "o.tar", files)))


def test_layers_and_diff_ids_must_pair(tmp_path):
    files = oci_layout([Img([A, B])])
    edit_manifest(files, 0, lambda m: m["layers"].pop())
    with pytest.raises(FormatError, match="lists 1 layers but its config has 2 diff_ids"):
        layerscope.open(str(write_layout(tmp_path / "o.tar", files)))


@pytest.mark.parametrize(
    ("files", "match"),
    [
        ({}, "neither manifest.json nor index.json .an empty archive."),
        ({"README": b"hello"}, "neither manifest.json nor index.json"),
        ({"manifest.json": b"[not json"}, "manifest.json is not valid JSON"),
        ({"manifest.json": b"{}"}, "manifest.json lists no images"),
        ({"manifest.json": b'{"schemaVersion": 2}'}, "manifest.json has no config descriptor"),
        ({"index.json": b"{}", "oci-layout": b"{}"}, "index.json has no manifests list"),
        ({"index.json": b'{"manifests": []}', "oci-layout": b"{}"}, "index.json lists no image"),
        ({"index.json": b'{"manifests": [1]}', "oci-layout": b"{}"}, "not an object"),
        ({"index.json": b"[]", "oci-layout": b"{}"}, "not a JSON object"),
    ],
)
def test_not_a_saved_image(tmp_path, files, match):
    with pytest.raises(FormatError, match=match):
        layerscope.open(str(write_layout(tmp_path / "x.tar", files)))


def test_json_size_limit(tmp_path):
    p = docker_archive(tmp_path / "d.tar", [Img([A])])
    with pytest.raises(LimitExceeded, match="--max-json-bytes"):
        layerscope.open(str(p), limits=Limits(max_json_bytes=10))


def test_index_cycle_and_depth(tmp_path):
    files = oci_layout([Img([A])], multiplatform=True)
    # an index whose child is itself: its own digest cannot be known in advance, so make a
    # chain of nested indexes deeper than the limit instead
    index = json.loads(files["index.json"])
    top = index["manifests"][0]
    for _ in range(12):
        doc = json.dumps({"schemaVersion": 2, "manifests": [dict(top, platform={
            "os": "linux", "architecture": "amd64"})]}).encode()  # fmt: skip
        files["blobs/sha256/" + sha(doc)[7:]] = doc
        top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha(doc),
               "size": len(doc)}  # fmt: skip
    index["manifests"] = [top]
    files["index.json"] = json.dumps(index).encode()
    p = write_layout(tmp_path / "deep.tar", files)
    with pytest.raises(LimitExceeded, match="nested too deeply"):
        layerscope.open(str(p))
    with opened(p, limits=Limits(max_index_depth=20)) as archive:
        assert len(archive.images) == 1


def test_unknown_manifest_kinds_are_skipped(tmp_path):
    files = oci_layout([Img([A])])
    other = json.dumps({"schemaVersion": 2, "mediaType": "application/x-odd"}).encode()
    files["blobs/sha256/" + sha(other)[7:]] = other
    index = json.loads(files["index.json"])
    index["manifests"].append({"mediaType": "application/x-odd", "digest": sha(other),
                               "size": len(other)})  # fmt: skip
    files["index.json"] = json.dumps(index).encode()
    with opened(write_layout(tmp_path / "o.tar", files)) as archive:
        (img,) = archive.images
        assert any("not an image manifest" in n for n in img.spec.notes)


def test_discover_reads_no_layer(tmp_path):
    p = docker_archive(tmp_path / "d.tar", [Img([A, B])])
    with layerscope.discover(str(p)) as archive:
        assert not archive.images[0].loaded
        assert [ly.loaded for ly in archive.images[0].layers] == [False, False]
        archive.load_layer(archive.images[0].layers[1])
        assert [ly.loaded for ly in archive.images[0].layers] == [False, True]


def test_errors_carry_the_input_name(tmp_path):
    p = tmp_path / "junk.tar"
    p.write_bytes(b"junk" * 200)
    with pytest.raises(LayerscopeError) as info:
        layerscope.open(str(p))
    assert info.value.source == str(p)
    assert str(info.value) == f"{p}: not a tar archive (bad header checksum)"


def test_a_layer_tar_that_is_not_a_tar(tmp_path):
    bad = Layer(tar=b"definitely not a tar" * 50)
    p = docker_archive(tmp_path / "d.tar", [Img([A, bad])])
    with pytest.raises(FormatError) as info:
        layerscope.open(str(p), verify=False)
    assert str(info.value).startswith(f"{p}: layer 1 (")
    assert str(info.value).endswith("not a tar archive (bad header checksum)")


def test_layer_tar_of_every_shape_reads_through_an_archive(tmp_path):
    """A layer as raw bytes (a GNU-format tar) goes through the archive unchanged."""
    raw = layer_tar(File("a" * 150, b"long"), fmt=tarfile.GNU_FORMAT)
    with opened(docker_archive(tmp_path / "d.tar", [Img([Layer(tar=raw)])])) as archive:
        assert summary(archive.images[0]) == [[("a" * 150, "file", 4, sha(b"long"))]]
