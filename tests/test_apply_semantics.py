"""How layers are applied: as overlay-based storage applies them (each layer's entries placed at
their own paths: Docker's overlay2, containerd's overlayfs snapshotter, podman's overlay driver),
by default, or following the symlinks of lower layers (podman's vfs driver, `umoci unpack`) with
`apply="follow"`; and every entry whose place differs between the two, flagged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from builder import Dir, File, Img, Layer, Opaque, Symlink, Whiteout, docker_archive, open_image

from layerscope.cli import main


def final(img) -> dict[str, str | None]:
    """The final filesystem: path -> type."""
    return {path: (e.type if e is not None else "dir") for path, e in img.final_entries()}


def flagged(image, layer: int) -> list[str]:
    """The paths of a layer's entries placed differently by the two ways of applying layers."""
    ly = image.layers[layer]
    return [e.path for row, e in enumerate(ly.entries()) if ly.through_symlink(row)]


# -- a symlink replaced by a directory carrying an opaque marker ----------------------------

SYMLINK_TO_OPAQUE_DIR = [
    Layer(
        Dir("t"),
        Dir("t/real"),
        Dir("t/real/dir"),
        File("t/real/dir/target2", b"12345678"),
        Symlink("t/s2d", "real/dir"),
    ),
    Layer(Dir("t/s2d"), Opaque("t/s2d"), File("t/s2d/new", b"n")),
]


@pytest.mark.parametrize("apply", ["overlay", "follow"])
def test_an_opaque_marker_acts_on_the_directory_that_replaced_a_symlink(tmp_path, apply):
    """`RUN rm /s && mkdir /s` over `ln -s real /s`: the marker clears what lay below at `t/s2d`
    (only the old symlink), never what the old symlink pointed to."""
    archive = docker_archive(tmp_path / "a.tar", [Img(SYMLINK_TO_OPAQUE_DIR)])
    img = open_image(archive, apply=apply)
    fs = final(img)
    assert fs["t/real/dir/target2"] == "file"
    assert fs["t/s2d"] == "dir" and fs["t/s2d/new"] == "file"
    assert img.final_files == 2 and img.final_size == 9
    hidden = {(h.path, h.how) for h in img.hidden}
    assert ("t/real/dir/target2", "opaque") not in hidden
    assert ("t/s2d", "type-change") in hidden
    assert img.layers[1].changes.removed == 0  # nothing lay under the symlink's own path


# -- entries written through a lower layer's symlink ----------------------------------------

MERGED_USR = Layer(
    Dir("usr"),
    Dir("usr/bin"),
    File("usr/bin/ls", b"ls"),
    File("usr/bin/old", b"old"),
    Symlink("bin", "usr/bin"),
)


def test_overlay_places_an_entry_at_its_own_path_under_a_lower_symlink(tmp_path):
    """A layer holding `bin/tool` (no `bin/` entry) over `bin -> usr/bin`: overlay storage makes
    `bin` a directory of that layer, which hides the symlink: /bin holds only `tool`."""
    img = Img([MERGED_USR, Layer(File("bin/tool", b"tool"))])
    archive = docker_archive(tmp_path / "a.tar", [img])
    image = open_image(archive)
    fs = final(image)
    assert fs["bin"] == "dir" and fs["bin/tool"] == "file"
    assert "usr/bin/tool" not in fs
    assert fs["usr/bin/ls"] == "file"
    assert ("bin", "type-change") in {(h.path, h.how) for h in image.hidden}
    # the entry runs differently on another engine: flagged
    assert flagged(image, 1) == ["bin/tool"] and image.through_symlink == 1


def test_follow_places_an_entry_through_a_lower_symlink(tmp_path):
    img = Img([MERGED_USR, Layer(File("bin/tool", b"tool"))])
    archive = docker_archive(tmp_path / "a.tar", [img])
    image = open_image(archive, apply="follow")
    fs = final(image)
    assert fs["bin"] == "symlink" and fs["usr/bin/tool"] == "file"
    assert "bin/tool" not in fs
    assert flagged(image, 1) == ["bin/tool"]  # flagged in either mode: engines disagree on it


def test_a_whiteout_through_a_lower_symlink(tmp_path):
    """`bin/.wh.old` over `bin -> usr/bin`: overlay storage makes `bin` a directory of that layer
    (hiding the symlink) and deletes nothing in usr/bin; a following applier deletes usr/bin/old."""
    img = Img([MERGED_USR, Layer(Whiteout("bin/old"))])
    archive = docker_archive(tmp_path / "a.tar", [img])
    overlay, follow = open_image(archive), open_image(archive, apply="follow")
    assert final(overlay)["usr/bin/old"] == "file"
    assert final(overlay)["bin"] == "dir"
    assert "usr/bin/old" not in final(follow) and final(follow)["bin"] == "symlink"
    assert flagged(overlay, 1) == flagged(follow, 1) == ["bin/old"]


def test_entries_under_a_symlink_of_their_own_layer_follow_it_in_both(tmp_path):
    """Within one layer, extraction follows the layer's own symlinks (the runtimes resolve each
    parent inside the layer being extracted): nothing differs, nothing is flagged."""
    img = Img([Layer(Dir("usr"), Dir("usr/lib"), Symlink("lib", "usr/lib"), File("lib/x", b"x"))])
    archive = docker_archive(tmp_path / "a.tar", [img])
    for apply in ("overlay", "follow"):
        image = open_image(archive, apply=apply)
        assert final(image)["usr/lib/x"] == "file"
        assert flagged(image, 0) == [] and image.through_symlink == 0


def test_the_report_and_the_verdict_say_which_entries_differ(tmp_path, capsys):
    img = Img([MERGED_USR, Layer(File("bin/tool", b"tool"))])
    archive = docker_archive(tmp_path / "a.tar", [img])
    report = tmp_path / "r.json"
    assert main([str(archive), "--json", str(report)]) == 0
    doc = json.loads(report.read_text())
    files = doc["images"][0]["layers"][1]["files"]
    assert [f["flags"] for f in files if f["path"] == "bin/tool"] == [["through-symlink"]]
    assert doc["images"][0]["through_symlink"] == 1
    assert main([str(archive), "--ci"]) == 0  # a warning, not a failure, unless asked
    out = capsys.readouterr().out
    assert "WARN  throughSymlink: 1 entry is placed differently" in out
    assert main([str(archive), "--ci", "--fail-on-through-symlink"]) == 1


def test_the_cli_picks_the_semantics(tmp_path):
    img = Img([MERGED_USR, Layer(File("bin/tool", b"tool"))])
    archive = docker_archive(tmp_path / "a.tar", [img])
    out = tmp_path / "r.json"
    assert main([str(archive), "--json", str(out), "--apply", "follow"]) == 0
    doc = json.loads(out.read_text())
    assert doc["images"][0]["apply"] == "follow"
    assert doc["images"][0]["final_files"] == 4  # ls, old and tool in usr/bin; the symlink bin


# -- real images, held against what overlay storage really shows -------------------------

REAL = Path(__file__).parent / "fixtures" / "real"
TYPE_LETTERS = {"file": "f", "dir": "d", "symlink": "l", "hardlink": "f"}


@pytest.mark.parametrize("name", ["symlink-to-dir.tar", "merged-usr.tar"])
def test_real_images_show_what_a_mounted_overlay_shows(name):
    """Made by tests/fixtures/real/make_apply_fixtures.sh with buildah, GNU tar and umoci; the
    `.mounted.txt` beside each is the image loaded into podman's overlay storage, mounted and
    walked."""
    mounted = (REAL / f"{name}.mounted.txt").read_text().split("\n")
    want = sorted(line for line in mounted if line)
    image = open_image(REAL / name)
    got = sorted(f"{TYPE_LETTERS[t or 'dir']} {p}" for p, t in final(image).items())
    assert got == want


def test_real_merged_usr_differs_by_engine():
    image = open_image(REAL / "merged-usr.tar", apply="follow")
    assert final(image)["usr/bin/tool"] == "file" and final(image)["bin"] == "symlink"
    assert flagged(image, 1) == ["bin/tool"]


def test_the_app_marks_the_entries_engines_place_differently():
    """The tree's row note, the line under the tree and the image pane say it."""
    from layerscope.ui.widgets.file_tree import _note
    from layerscope.ui.widgets.status import entry_status
    from layerscope.views.treeview import build_view

    image = open_image(REAL / "merged-usr.tar")
    view = build_view(image, 1, "changes")
    node = view.node(view.find("bin/tool"))
    assert node.through_symlink
    assert "placed differently by other engines" in _note(node, view)
    assert "under a lower layer's symlink" in entry_status(node, 200).plain
    other = view.node(view.find("bin"))
    assert not other.through_symlink and _note(other, view) == ""
