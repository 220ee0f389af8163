"""Two final filesystems compared path by path."""

from __future__ import annotations

import json
import subprocess
import sys

from builder import Dir, File, Img, Layer, Symlink, Whiteout, docker_archive

import layerscope
from layerscope.insight.compare import compare

A = Img([Layer(Dir("etc"), File("etc/a", b"x" * 10), File("etc/b", b"b"), Symlink("l", "etc/a"),
               File("gone", b"g" * 4))], tag="a:1")  # fmt: skip
B = Img(
    [
        A.layers[0],
        Layer(
            File("etc/a", b"y" * 12),
            File("etc/b", b"b", mode=0o600),
            Symlink("l", "etc/b"),
            Whiteout("gone"),
            File("new/n", b"n" * 3),
        ),
    ],
    tag="b:1",
)


def test_compare_two_images(tmp_path):
    path = docker_archive(tmp_path / "ab.tar", [A, B])
    with layerscope.open(str(path)) as archive:
        c = compare(*archive.images)
    assert [(x.path, x.size_b) for x in c.added] == [("new", 0), ("new/n", 3)]
    assert [(x.path, x.size_a) for x in c.removed] == [("gone", 4)]
    assert [(x.path, x.what, x.size_a, x.size_b) for x in c.changed] == [
        ("etc/a", ("content",), 10, 12),
        ("etc/b", ("mode",), 1, 1),
        ("l", ("link",), 0, 0),
    ]
    assert (c.added_bytes, c.removed_bytes, c.changed_bytes_delta) == (3, 4, 2)


def test_compare_from_the_command_line(tmp_path):
    a = docker_archive(tmp_path / "a.tar", [A])
    b = docker_archive(tmp_path / "b.tar", [B])
    out = subprocess.run(
        [sys.executable, "-m", "layerscope", str(a), str(b), "--compare", "--json", "-", "--no-files"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    rep = json.loads(out.stdout)["compare"]
    assert rep["a"] == "a:1" and rep["b"] == "b:1"
    assert [x["path"] for x in rep["removed"]] == ["gone"]
    both = docker_archive(tmp_path / "ab.tar", [A, B])
    out = subprocess.run(
        [sys.executable, "-m", "layerscope", str(both), "--image", "2", "--image", "a:1",
         "--compare", "--json", "-", "--no-files"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    rep = json.loads(out.stdout)["compare"]
    assert (rep["a"], rep["b"]) == ("b:1", "a:1")
    assert [x["path"] for x in rep["added"]] == ["gone"]


def test_compare_needs_two_images(tmp_path):
    a = docker_archive(tmp_path / "a.tar", [A])
    out = subprocess.run(
        [sys.executable, "-m", "layerscope", str(a), "--compare", "--json", "-"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "layerscope: --compare needs two images and there is one (a:1): give two archives, or "
        "an archive of several images"
    ]
