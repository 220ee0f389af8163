"""The container of images: outer tar members (symlinks resolved inside the archive, docs/formats.md
3 and 30), directories, compressed archives and standard input spooled to a temporary file that
never has a name (read through /proc, by any of our processes) and is gone once closed, and
image names saved by docker or podman (after `--`)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from builder import File, Img, Layer, TarWriter, compress, docker_archive

from layerscope.errors import (
    CompressionError,
    FormatError,
    LayerscopeError,
    LimitExceeded,
    TarError,
)
from layerscope.limits import Limits
from layerscope.read.sources import (
    DirSource,
    TarSource,
    clean_member_path,
    looks_like_reference,
    open_source,
)


@pytest.fixture
def tmpdir_spool(tmp_path, monkeypatch):
    """A fresh directory for temporary files (where spooled archives go)."""
    d = tmp_path / "spool"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


def blob_of(src, path: str) -> bytes:
    loc = src.locate(path)
    with open(loc.file, "rb") as f:
        f.seek(loc.offset)
        return f.read(loc.size)


@pytest.mark.parametrize(
    ("path", "clean"),
    [
        ("manifest.json", "manifest.json"),
        ("./manifest.json", "manifest.json"),
        ("blobs//sha256/./ab", "blobs/sha256/ab"),
        ("a/b/", "a/b"),
    ],
)
def test_clean_member_path(path, clean):
    assert clean_member_path(path) == clean


@pytest.mark.parametrize("path", ["../x", "a/../../x", "a/../b", "/etc/passwd", "a\0b", "", "./"])
def test_clean_member_path_refuses(path):
    with pytest.raises(FormatError):
        clean_member_path(path)


def outer(tmp_path: Path, build) -> TarSource:
    w = TarWriter()
    build(w)
    p = tmp_path / "outer.tar"
    p.write_bytes(w.bytes())
    return TarSource(str(p), str(p))


def test_members_and_regions(tmp_path):
    def build(w):
        w.file("./manifest.json", b"[]")
        w.dir("blobs")
        w.file("blobs/sha256/" + "a" * 64, b"A" * 1000)
        w.file("dup", b"first")
        w.file("other", b"x")

    src = outer(tmp_path, build)
    assert sorted(src.names()) == ["blobs", "blobs/sha256/" + "a" * 64, "dup", "manifest.json",
                                   "other"]  # fmt: skip
    assert blob_of(src, "manifest.json") == b"[]"
    assert blob_of(src, "./blobs//sha256/" + "a" * 64) == b"A" * 1000
    assert src.exists("other") and not src.exists("nope")
    with pytest.raises(FormatError, match="missing from the archive"):
        src.locate("nope")
    with pytest.raises(FormatError, match="is a dir in the archive"):
        src.locate("blobs")


def test_duplicate_member_names_last_wins(tmp_path):
    def build(w):
        w.file("x", b"old")
        w.names.discard("x")
        w.file("./x", b"new!")

    assert blob_of(outer(tmp_path, build), "x") == b"new!"


def test_symlinks_inside_the_archive(tmp_path):
    def build(w):
        w.file("abc.tar", b"layer bytes")
        w.dir("id1")
        w.symlink("id1/layer.tar", "../abc.tar")  # podman / skopeo
        w.dir("id2")
        w.symlink("id2/layer.tar", "../id1/layer.tar")  # old docker: a chain
        w.symlink("id3", "id2")  # a symlinked parent directory
        w.hardlink("hard.tar", "abc.tar")
        w.symlink("dot", "./sub/../abc.tar")

    src = outer(tmp_path, build)
    for name in ("id1/layer.tar", "id2/layer.tar", "id3/layer.tar", "hard.tar", "dot"):
        assert blob_of(src, name) == b"layer bytes", name
    assert src.locate("id2/layer.tar") == src.locate("abc.tar")  # no copy: the same region


@pytest.mark.parametrize(
    ("target", "error"),
    [
        ("../../etc/passwd", "leaves the archive"),
        ("../outside.tar", "leaves the archive"),
        ("/etc/passwd", "absolute path"),
        (".", "archive root|is a dir|not a file|names no file"),
    ],
)
def test_symlinks_may_not_leave_the_archive(tmp_path, target, error):
    (tmp_path / "outside.tar").write_bytes(b"secret")

    def build(w):
        w.file("real", b"r")
        w.symlink("layer.tar", target)

    with pytest.raises(FormatError, match=error):
        outer(tmp_path, build).locate("layer.tar")


def test_symlinked_parent_leaving_the_archive(tmp_path):
    def build(w):
        w.symlink("d", "../..")

    with pytest.raises(FormatError):
        outer(tmp_path, build).locate("d/etc/passwd")


def test_symlink_loop(tmp_path):
    def build(w):
        w.symlink("a", "b")
        w.symlink("b", "a")

    with pytest.raises(LimitExceeded, match="symlink hops"):
        outer(tmp_path, build).locate("a")


def test_dir_source(tmp_path):
    root = tmp_path / "layout"
    (root / "blobs" / "sha256").mkdir(parents=True)
    (root / "index.json").write_bytes(b"{}")
    (root / "blobs" / "sha256" / "ab").write_bytes(b"blob")
    (root / "link").symlink_to("blobs/sha256/ab")
    (tmp_path / "secret").write_bytes(b"s")
    (root / "escape").symlink_to("../secret")
    (root / "abs").symlink_to(tmp_path / "secret")
    src = DirSource(str(root), str(root))
    assert sorted(src.names()) == ["abs", "blobs/sha256/ab", "escape", "index.json", "link"]
    assert blob_of(src, "./blobs/sha256/ab") == b"blob"
    assert blob_of(src, "link") == b"blob"
    for name in ("escape", "abs"):
        with pytest.raises(FormatError, match="leaves the image directory"):
            src.locate(name)
    with pytest.raises(FormatError, match="missing"):
        src.locate("blobs/sha256/cd")
    with pytest.raises(FormatError, match="missing"):
        src.locate("blobs")  # a directory is not a blob
    with pytest.raises(FormatError):
        src.locate("../secret")


# -- open_source -------------------------------------------------------------------------------

IMG = Img([Layer(File("etc/motd", b"hi"))])


def test_plain_file_is_read_in_place(tmp_path, tmpdir_spool):
    p = docker_archive(tmp_path / "a.tar", [IMG])
    with open_source(str(p)) as src:
        assert isinstance(src, TarSource) and src.file == str(p)
        assert "manifest.json" in src.names()
    assert p.exists() and list(tmpdir_spool.iterdir()) == []


def assert_spooled(src, tmpdir_spool) -> None:
    """The copy is a file of the temporary directory, without a name there, open by its
    /proc path; another process (a worker) reads it by that path."""
    assert src.file == f"/proc/{os.getpid()}/fd/{int(src.file.rsplit('/', 1)[1])}"
    assert os.readlink(src.file).startswith(str(tmpdir_spool) + "/")
    assert list(tmpdir_spool.iterdir()) == []
    loc = src.locate("manifest.json")
    read = f"f = open({src.file!r}, 'rb'); f.seek({loc.offset}); print(f.read({loc.size}).hex())"
    out = subprocess.run([sys.executable, "-c", read], capture_output=True, text=True, check=True)
    assert bytes.fromhex(out.stdout) == blob_of(src, "manifest.json")


def assert_gone(src) -> None:
    """Closed, the copy is no longer open: the kernel frees it."""
    assert not os.path.exists(src.file)


@pytest.mark.parametrize("whole", ["gzip", "gzip-multi", "zstd", "zstd-multi", "bzip2", "xz"])
def test_compressed_archive_is_spooled_and_removed(tmp_path, tmpdir_spool, whole):
    p = docker_archive(tmp_path / "a.tar.x", [IMG], whole=whole)
    src = open_source(str(p))
    assert src.name == str(p)
    assert "manifest.json" in src.names()
    assert_spooled(src, tmpdir_spool)
    src.close()
    assert_gone(src)
    src.close()  # twice is fine


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (compress(b"not a tar at all" * 100, "gzip"), TarError),
        (compress(bytes(2048) + b"x" * 10, "gzip")[:-30], CompressionError),
        (compress(b"y" * 5000, "zstd")[:-3], CompressionError),
        (b"garbage, not even compressed" * 30, TarError),
    ],
)
def test_bad_archives_leave_no_spool(tmp_path, tmpdir_spool, data, error):
    p = tmp_path / "bad"
    p.write_bytes(data)
    with pytest.raises(error):
        open_source(str(p))
    assert list(tmpdir_spool.iterdir()) == []


def test_whole_archive_bomb_is_refused(tmp_path, tmpdir_spool):
    p = tmp_path / "bomb.tar.gz"
    p.write_bytes(compress(bytes(4 << 20), "gzip"))
    with pytest.raises(LimitExceeded, match="--max-ratio"):
        open_source(str(p), limits=Limits(max_ratio=50))
    assert list(tmpdir_spool.iterdir()) == []


def test_empty_file(tmp_path):
    p = tmp_path / "empty"
    p.write_bytes(b"")
    with open_source(str(p)) as src:
        assert src.names() == []


class FakeStdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


@pytest.mark.parametrize("whole", [None, "gzip", "zstd"])
def test_stdin_is_spooled_and_removed(tmp_path, tmpdir_spool, monkeypatch, whole):
    data = compress(docker_archive(tmp_path / "a.tar", [IMG]).read_bytes(), whole)
    monkeypatch.setattr(sys, "stdin", FakeStdin(data))
    src = open_source("-")
    assert src.name == "-" and "manifest.json" in src.names()
    assert_spooled(src, tmpdir_spool)
    src.close()
    assert_gone(src)


@pytest.mark.parametrize("whole", [None, "zstd"])
def test_a_pipe_is_spooled(tmp_path, tmpdir_spool, whole):
    """`layerscope <(docker save app)`: the name is a pipe, which cannot seek."""
    data = compress(docker_archive(tmp_path / "a.tar", [IMG]).read_bytes(), whole)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def feed():
        with open(fifo, "wb") as f:
            f.write(data)

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        src = open_source(str(fifo))
    finally:
        writer.join()
    assert src.name == str(fifo) and "manifest.json" in src.names()
    assert_spooled(src, tmpdir_spool)
    src.close()
    assert_gone(src)


def test_a_pipe_that_trickles(tmp_path, tmpdir_spool):
    """A pipe read a system call at a time: the compression is still told from the first six
    bytes when they come one by one."""
    data = compress(docker_archive(tmp_path / "a.tar", [IMG]).read_bytes(), "zstd")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def feed():
        with open(fifo, "wb", buffering=0) as f:
            for i in range(8):
                f.write(data[i : i + 1])
                time.sleep(0.01)
            f.write(data[8:])

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        src = open_source(str(fifo))
    finally:
        writer.join()
    with src:
        assert "manifest.json" in src.names()


def test_bad_stdin_leaves_no_spool(tmpdir_spool, monkeypatch):
    monkeypatch.setattr(sys, "stdin", FakeStdin(b"nonsense" * 100))
    with pytest.raises(TarError):
        open_source("-")
    assert list(tmpdir_spool.iterdir()) == []


def test_directory(tmp_path):
    (tmp_path / "d").mkdir()
    assert isinstance(open_source(str(tmp_path / "d")), DirSource)


def test_missing_file_with_source_archive(tmp_path):
    with pytest.raises(LayerscopeError, match="no such file"):
        open_source(str(tmp_path / "nope.tar"), engine="archive")


DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "name",
    ["nginx", "nginx:1.27-alpine", "library/nginx", "ghcr.io/org/app:v1", "localhost:5000/a/b:c",
     f"docker.io/library/nginx@{DIGEST}", f"app:1@{DIGEST}", "3f57d9401f8d", DIGEST, "a__b",
     "a--b", "a.b", "[::1]:5000/x", "out"],
)  # fmt: skip
def test_image_references(name):
    assert looks_like_reference(name)


@pytest.mark.parametrize(
    "name",
    ["/nonexistent.tar", "./app", "../app", "~/app", "app/", "dir//app", "a.tar", "A.TAR",
     "app.tar.gz", "app.tgz", "app.tar.zst", "app.oci.tar.xz", "app:1.tar", "App", "my app",
     "-o/etc/passwd", "--help", "a___b", "a..b", ".app", "app:", "app@sha256:abc", "a" * 256, ""],
)  # fmt: skip
def test_paths_and_archive_names_are_not_references(name):
    assert not looks_like_reference(name)


def test_a_missing_path_is_no_such_file_and_no_engine_is_asked(tmp_path, monkeypatch):
    """Only what looks like an image reference goes to docker or podman; a missing path is
    "no such file or directory", in one line, whatever engines are installed."""
    asked = tmp_path / "asked"
    for engine in ("docker", "podman"):
        fake_engine(
            tmp_path / "bin", engine, f'echo "$@" >> "{asked}"\necho "no daemon" >&2\nexit 1\n'
        )
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    for name in ("/nonexistent.tar", str(tmp_path / "gone.tar.gz"), "./app", "app.tar"):
        with pytest.raises(LayerscopeError) as info:
            open_source(name)
        assert str(info.value) == f"{name}: no such file or directory"
    assert not asked.exists()
    with pytest.raises(LayerscopeError, match="docker save: no daemon; podman save: no daemon"):
        open_source("app:1")  # a reference: both engines are asked
    assert asked.read_text().splitlines() == ["save -- app:1", "save -- app:1"]


# -- image names saved by an engine -----------------------------------------------------------


CAT = shutil.which("cat")


def fake_engine(bindir: Path, name: str, script: str) -> None:
    bindir.mkdir(exist_ok=True)
    p = bindir / name
    p.write_text("#!/bin/sh\n" + script)
    p.chmod(0o755)


def test_no_engine_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LayerscopeError, match="neither docker nor podman is installed"):
        open_source("nginx:latest")
    with pytest.raises(LayerscopeError, match="podman is not installed"):
        open_source("nginx:latest", engine="podman")


def test_engine_that_fails(tmp_path, tmpdir_spool, monkeypatch):
    fake_engine(tmp_path / "bin", "docker",
                'echo "Error response from daemon: reference does not exist" >&2\nexit 1\n')  # fmt: skip
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(LayerscopeError) as info:
        open_source("nosuch:1")
    assert info.value.source == "nosuch:1"
    assert info.value.message == "docker save: Error response from daemon: reference does not exist"
    assert "\n" not in str(info.value)
    assert list(tmpdir_spool.iterdir()) == []


def test_engine_that_saves(tmp_path, tmpdir_spool, monkeypatch):
    archive = docker_archive(tmp_path / "saved.tar", [IMG])
    # docker fails (having written something), podman works: both are tried, in that order,
    # and podman's output is read alone
    fake_engine(tmp_path / "bin", "docker", "printf 'half a tar'\necho 'no daemon' >&2\nexit 1\n")
    fake_engine(tmp_path / "bin", "podman",
                f'[ "$# $1 $2 $3" = "3 save -- app:1" ] || exit 3\nexec {CAT} "{archive}"\n')  # fmt: skip
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    src = open_source("app:1")
    assert src.name == "app:1" and "manifest.json" in src.names()
    assert_spooled(src, tmpdir_spool)
    src.close()
    assert_gone(src)
    src = open_source("app:1", engine="podman")
    src.close()
    with pytest.raises(LayerscopeError, match="docker save: no daemon"):
        open_source("app:1", engine="docker")
    assert list(tmpdir_spool.iterdir()) == []


def test_engine_output_that_is_not_an_archive(tmp_path, tmpdir_spool, monkeypatch):
    fake_engine(tmp_path / "bin", "docker", 'printf "\\377\\376garbage"\n')
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(TarError):
        open_source("x:1")
    assert list(tmpdir_spool.iterdir()) == []


def test_engine_stderr_that_is_not_utf8(tmp_path, tmpdir_spool, monkeypatch):
    fake_engine(tmp_path / "bin", "docker", 'printf "bad \\377 bytes\\n" >&2\nexit 1\n')
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(LayerscopeError, match="docker save: bad"):
        open_source("x:1")
    assert list(tmpdir_spool.iterdir()) == []


@pytest.mark.parametrize("name", ["-o/etc/passwd", "--output=/tmp/x", "--help", "-q"])
def test_an_image_name_is_never_an_option(tmp_path, tmpdir_spool, monkeypatch, name):
    """`--` comes before the name: docker and podman (cobra) read it as the image's name."""
    archive = docker_archive(tmp_path / "saved.tar", [IMG])
    argv = tmp_path / "argv"
    fake_engine(tmp_path / "bin", "docker",
                f'printf "%s\\n" "$@" > "{argv}"\nexec {CAT} "{archive}"\n')  # fmt: skip
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with open_source(name, engine="docker") as src:
        assert "manifest.json" in src.names()
    assert argv.read_text().splitlines() == ["save", "--", name]
    assert list(tmpdir_spool.iterdir()) == []


def test_an_existing_file_wins_over_an_engine(tmp_path, monkeypatch):
    p = docker_archive(tmp_path / "app:1", [IMG])
    fake_engine(tmp_path / "bin", "docker", "exit 1\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.chdir(tmp_path)
    with open_source("app:1") as src:
        assert src.file == "app:1" and os.path.samefile(src.file, p)
    with pytest.raises(LayerscopeError, match="docker save"):
        open_source("app:1", engine="docker")
