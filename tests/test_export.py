"""Export writes exactly where asked: hostile names, symlinked parents, existing files."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile

import pytest
from builder import (
    Dir,
    File,
    Hardlink,
    Img,
    Layer,
    Raw,
    Symlink,
    Whiteout,
    docker_archive,
    open_image,
)

from layerscope.export import ExportError, export


def raw(name: str, data: bytes = b"") -> Raw:
    ti = tarfile.TarInfo(name)
    ti.mode = 0o644
    return Raw(ti, data)


def tree(root) -> list[str]:
    out = []
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            out.append(os.path.relpath(os.path.join(dirpath, n), root))
    return sorted(out)


def test_export_a_directory_as_of_a_layer(tmp_path):
    img = open_image(docker_archive(tmp_path / "a.tar", [Img([
        Layer(Dir("etc"), File("etc/a", b"one", mode=0o4755), File("etc/b", b"bee")),
        Layer(File("etc/a", b"two"), Whiteout("etc/b"), Hardlink("etc/h", "etc/a")),
    ])]))  # fmt: skip
    dest = tmp_path / "out"
    r = export(img, "etc", 0, str(dest))
    assert tree(dest) == ["etc", "etc/a", "etc/b"]
    assert (dest / "etc/a").read_bytes() == b"one"
    assert (dest / "etc/a").stat().st_mode & 0o7777 == 0o755  # no setuid bit is ever written
    assert r.written == ["etc/", "etc/a", "etc/b"]
    dest2 = tmp_path / "out2"
    export(img, "etc", 1, str(dest2))
    assert tree(dest2) == ["etc", "etc/a", "etc/h"]
    assert (dest2 / "etc/h").read_bytes() == b"two"  # a hardlink is written as its content


def test_existing_files_are_kept_unless_overwrite(tmp_path):
    img = open_image(docker_archive(tmp_path / "a.tar", [Img([Layer(File("f", b"new"))])]))
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "f").write_bytes(b"mine")
    r = export(img, "f", 0, str(dest))
    assert r.existing == ["f"] and (dest / "f").read_bytes() == b"mine"
    export(img, "f", 0, str(dest), overwrite=True)
    assert (dest / "f").read_bytes() == b"new"


def test_hostile_names_stay_inside_the_destination(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    img = open_image(docker_archive(tmp_path / "a.tar", [Img([Layer(
        raw("../../x", b"dotdot"), raw("/abs", b"absolute"), raw("a/../../../y", b"deep"),
        Symlink("escape", str(outside)), raw("escape/z", b"through a symlink"),
        Symlink("rel", "../../.."), raw("rel/w", b"relative"),
    )])]))  # fmt: skip
    dest = tmp_path / "out"
    export(img, "", 0, str(dest))
    assert tree(outside) == []
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    # `..` and `/` were resolved lexically inside the image; a symlinked parent was resolved
    # inside the image root, so its entries land under their real path in the destination
    names = tree(dest)
    assert {"x", "abs", "y", "escape", "rel"} <= set(names)
    assert os.readlink(dest / "escape") == str(outside)  # written as a link, never followed
    assert all(not os.path.islink(dest / n) or n in ("escape", "rel") for n in names)


def test_a_symlink_already_in_the_destination_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    img = open_image(
        docker_archive(tmp_path / "a.tar", [Img([Layer(Dir("etc"), File("etc/p", b"x"))])])
    )
    dest = tmp_path / "out"
    dest.mkdir()
    os.symlink(outside, dest / "etc")
    with pytest.raises(ExportError, match="not a plain directory"):
        export(img, "etc", 0, str(dest))
    assert tree(outside) == []


def test_export_from_the_command_line(tmp_path):
    path = docker_archive(
        tmp_path / "a.tar", [Img([Layer(File("a/b", b"hi")), Layer(Whiteout("a"))])]
    )
    dest = tmp_path / "out"
    cmd = [sys.executable, "-m", "layerscope", str(path), "--export", "a/b", "--to", str(dest)]
    out = subprocess.run([*cmd, "--layer", "0"], capture_output=True, text=True)
    assert out.returncode == 0 and (dest / "b").read_bytes() == b"hi"
    out = subprocess.run(cmd, capture_output=True, text=True)  # the last layer deleted it
    assert out.returncode == 2
    assert out.stderr == "layerscope: a/b is not in the image as of layer 1\n"
    assert tree(dest) == ["b"]
