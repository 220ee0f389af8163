"""The union filesystem: one test per semantic rule, exact figures worked out by hand."""

from __future__ import annotations

import hashlib

import pytest
from builder import (
    Device,
    Dir,
    File,
    Hardlink,
    Img,
    Layer,
    Opaque,
    Symlink,
    Whiteout,
    docker_archive,
    open_image,
)


def build(tmp_path, *layers: Layer, apply: str = "overlay"):
    return open_image(docker_archive(tmp_path / "img.tar", [Img(list(layers))]), apply=apply)


def hidden(img) -> set[tuple[str, int, int, str]]:
    return {(h.path, h.layer, h.hidden_by, h.how) for h in img.hidden}


def statuses(img, pos: int) -> list[tuple[str, str | None]]:
    layer = img.layers[pos]
    return [(layer.data.paths[r], layer.status(r)) for r in range(len(layer))]


def final(img) -> dict[str, str]:
    return {p: (e.type if e else "implied") for p, e in img.final_entries()}


def figures(img) -> tuple[int, int, int, int]:
    return img.size, img.final_size, img.reclaimable_bytes, img.final_files


def test_overwrite_with_different_content(tmp_path):
    img = build(tmp_path, Layer(File("a", b"x" * 10)), Layer(File("a", b"y" * 7)))
    assert statuses(img, 1) == [("a", "modified")]
    assert hidden(img) == {("a", 0, 1, "overwritten")}
    assert figures(img) == (17, 7, 10, 1)
    assert img.layers[1].changes.as_dict() == {
        "added": 0, "modified": 1, "metadata": 0, "rewritten": 0, "removed": 0
    }  # fmt: skip


def test_rewrite_with_identical_content_is_rewritten(tmp_path):
    img = build(tmp_path, Layer(File("a", b"x" * 10)), Layer(File("a", b"x" * 10)))
    assert statuses(img, 1) == [("a", "rewritten")]
    assert figures(img) == (20, 10, 10, 1)


def test_mode_or_owner_change_is_metadata(tmp_path):
    img = build(
        tmp_path,
        Layer(File("a", b"x" * 10), File("b", b"q")),
        Layer(File("a", b"x" * 10, mode=0o600), File("b", b"q", uid=7)),
    )
    assert statuses(img, 1) == [("a", "metadata"), ("b", "metadata")]
    assert img.reclaimable_bytes == 11


def test_mtime_alone_is_rewritten(tmp_path):
    img = build(tmp_path, Layer(File("a", b"x")), Layer(File("a", b"x", mtime=99)))
    assert statuses(img, 1) == [("a", "rewritten")]


@pytest.mark.parametrize("order", ["whiteout-first", "file-first"])
def test_whiteout_and_file_in_one_layer_in_either_order(tmp_path, order):
    top = [Whiteout("a"), File("a", b"new")]
    if order == "file-first":
        top.reverse()
    img = build(tmp_path, Layer(File("a", b"x" * 10)), Layer(*top))
    assert hidden(img) == {("a", 0, 1, "whiteout")}
    assert final(img) == {"a": "file"}
    assert img.layers[1].changes.removed == 1
    assert img.layers[1].changes.modified == 1
    assert figures(img) == (13, 3, 10, 1)


def test_whiteout_only_affects_lower_layers(tmp_path):
    # the same layer's own entry survives its whiteout, and a whiteout of nothing removes nothing
    img = build(tmp_path, Layer(File("a", b"1")), Layer(File("b", b"22"), Whiteout("b")))
    assert final(img) == {"a": "file", "b": "file"}
    assert img.layers[1].changes.removed == 0


def test_deleting_a_directory_counts_every_path_under_it(tmp_path):
    img = build(
        tmp_path,
        Layer(Dir("d"), File("d/x", b"x" * 4), Dir("d/sub"), File("d/sub/y", b"y" * 6)),
        Layer(Whiteout("d")),
    )
    assert hidden(img) == {
        ("d", 0, 1, "whiteout"),
        ("d/x", 0, 1, "parent-whiteout"),
        ("d/sub", 0, 1, "parent-whiteout"),
        ("d/sub/y", 0, 1, "parent-whiteout"),
    }
    assert img.layers[1].changes.removed == 4
    assert figures(img) == (10, 0, 10, 0)
    assert final(img) == {}


@pytest.mark.parametrize("marker_first", [True, False])
def test_opaque_directory_keeps_its_own_layer(tmp_path, marker_first):
    top = [Dir("d"), Opaque("d"), File("d/z", b"zz")]
    if not marker_first:
        top = [Dir("d"), File("d/z", b"zz"), Opaque("d")]
    img = build(
        tmp_path,
        Layer(Dir("d"), File("d/x", b"x" * 4), Dir("d/s"), File("d/s/y", b"y" * 5)),
        Layer(*top),
    )
    assert hidden(img) == {
        ("d", 0, 1, "overwritten"),
        ("d/x", 0, 1, "opaque"),
        ("d/s", 0, 1, "opaque"),
        ("d/s/y", 0, 1, "opaque"),
    }
    assert final(img) == {"d": "dir", "d/z": "file"}
    assert img.layers[1].changes.removed == 3
    assert figures(img) == (11, 2, 9, 1)


def test_opaque_root(tmp_path):
    img = build(tmp_path, Layer(File("a", b"1"), File("b", b"2")), Layer(Opaque(""), File("c")))
    assert final(img) == {"c": "file"}
    assert img.layers[1].changes.removed == 2


def test_file_replaced_by_directory(tmp_path):
    img = build(tmp_path, Layer(File("p", b"12345")), Layer(Dir("p"), File("p/q", b"1")))
    assert hidden(img) == {("p", 0, 1, "type-change")}
    assert statuses(img, 1) == [("p", "modified"), ("p/q", "added")]
    assert final(img) == {"p": "dir", "p/q": "file"}


def test_directory_replaced_by_file_hides_what_was_under_it(tmp_path):
    img = build(tmp_path, Layer(Dir("p"), File("p/q", b"123")), Layer(File("p", b"12")))
    assert hidden(img) == {("p", 0, 1, "type-change"), ("p/q", 0, 1, "parent-replaced")}
    assert figures(img) == (5, 2, 3, 1)


def test_directory_over_directory_merges(tmp_path):
    img = build(tmp_path, Layer(Dir("d"), File("d/a", b"1")), Layer(Dir("d", mode=0o700)))
    assert final(img) == {"d": "dir", "d/a": "file"}
    assert statuses(img, 1) == [("d", "metadata")]
    assert hidden(img) == {("d", 0, 1, "overwritten")}


SYMLINKED_LIB = (
    Layer(Dir("usr"), Dir("usr/lib"), Symlink("lib", "usr/lib"), File("usr/lib/x", b"abc")),
    Layer(File("lib/x", b"abcd")),
    Layer(File("lib/y", b"yy")),
    Layer(Whiteout("lib/y")),
)


def test_symlinked_parent_is_followed_for_entries_and_whiteouts(tmp_path):
    img = build(tmp_path, *SYMLINKED_LIB, apply="follow")
    assert ("usr/lib/x", 0, 1, "overwritten") in hidden(img)
    assert ("lib/y", 2, 3, "whiteout") in hidden(img)
    assert statuses(img, 1) == [("lib/x", "modified")]
    assert final(img) == {"usr": "dir", "usr/lib": "dir", "lib": "symlink", "usr/lib/x": "file"}


def test_overlay_storage_places_entries_at_their_own_paths(tmp_path):
    """The same layers as overlay storage applies them: layer 1's `lib/` is a directory of its
    own, which hides the symlink; the later layers act under that directory."""
    img = build(tmp_path, *SYMLINKED_LIB)
    assert ("lib", 0, 1, "type-change") in hidden(img)
    assert ("lib/y", 2, 3, "whiteout") in hidden(img)
    assert statuses(img, 1) == [("lib/x", "added")]
    assert final(img) == {"usr": "dir", "usr/lib": "dir", "usr/lib/x": "file", "lib": "implied",
                          "lib/x": "file"}  # fmt: skip


def test_absolute_symlink_parent_is_relative_to_the_image_root(tmp_path):
    img = build(
        tmp_path,
        Layer(Dir("real"), Symlink("link", "/real"), File("real/f", b"1")),
        Layer(Whiteout("link/f")),
        apply="follow",
    )
    assert final(img) == {"real": "dir", "link": "symlink"}


def test_whiteout_of_a_symlink_deletes_the_link_not_its_target(tmp_path):
    img = build(
        tmp_path,
        Layer(Dir("t"), File("t/f", b"1"), Symlink("s", "t")),
        Layer(Whiteout("s")),
    )
    assert final(img) == {"t": "dir", "t/f": "file"}
    assert hidden(img) == {("s", 0, 1, "whiteout")}


def test_symlink_loop_does_not_hang(tmp_path):
    img = build(
        tmp_path,
        Layer(Symlink("a", "b"), Symlink("b", "a")),
        Layer(File("a/x", b"1")),
    )
    assert "a/x" in final(img) or "b/x" in final(img) or len(final(img)) >= 2


def test_hardlink_to_a_lower_layer_keeps_content_after_the_target_is_deleted(tmp_path):
    img = build(
        tmp_path,
        Layer(File("f", b"x" * 8)),
        Layer(Hardlink("h", "f")),
        Layer(Whiteout("f")),
    )
    (h,) = img.hidden
    assert (h.path, h.how, h.kept_by_hardlink) == ("f", "whiteout", True)
    # the bytes are still in the final filesystem, through h: not reclaimable, counted once
    assert figures(img) == (8, 8, 0, 1)
    assert img.size == img.final_size + img.reclaimable_bytes


def test_hardlink_bytes_are_not_counted_twice(tmp_path):
    img = build(tmp_path, Layer(File("f", b"x" * 8), Hardlink("h", "f")))
    assert figures(img) == (8, 8, 0, 2)
    assert img.duplicate_bytes == 0


def test_hardlink_over_same_content_is_rewritten(tmp_path):
    img = build(
        tmp_path, Layer(File("f", b"x" * 8), File("g", b"x" * 8)), Layer(Hardlink("g", "f"))
    )
    assert statuses(img, 1) == [("g", "rewritten")]


def test_duplicate_path_in_one_layer_last_wins(tmp_path):
    img = build(tmp_path, Layer(File("a", b"x" * 5), File("a", b"y" * 3)))
    assert hidden(img) == {("a", 0, 0, "overwritten")}
    assert statuses(img, 0) == [("a", "added"), ("a", "added")]
    assert figures(img) == (8, 3, 5, 1)


def test_the_same_layer_twice_is_applied_twice(tmp_path):
    a = Layer(File("f", b"AAAA"))
    b = Layer(File("f", b"BB"))
    img = build(tmp_path, a, b, a)
    assert [e.digest for p, e in img.final_entries()] == [img.layers[0].data.entry(0).digest]
    assert hidden(img) == {("f", 0, 1, "overwritten"), ("f", 1, 2, "overwritten")}
    assert figures(img) == (10, 4, 6, 1)
    assert statuses(img, 2) == [("f", "modified")]


def test_missing_parents_are_implied(tmp_path):
    img = build(tmp_path, Layer(File("a/b/c", b"1")))
    assert final(img) == {"a": "implied", "a/b": "implied", "a/b/c": "file"}
    assert img.final_files == 1


def test_explicit_directory_over_an_implied_one_is_metadata(tmp_path):
    img = build(tmp_path, Layer(File("a/b", b"1")), Layer(Dir("a")))
    assert statuses(img, 1) == [("a", "metadata")]


def test_duplicate_bytes(tmp_path):
    img = build(
        tmp_path,
        Layer(File("a", b"z" * 100), File("b", b"z" * 100), File("c", b"z" * 100), File("d", b"q")),
        Layer(File("e", b"q"), Whiteout("c")),
    )
    assert img.duplicate_bytes == 101
    assert img.duplicates[0][1:] == (100, ["a", "b"])


@pytest.mark.parametrize("tiny_bitmap", [False, True])
def test_duplicates_are_exact_whatever_the_bitmap_says(tmp_path, monkeypatch, tiny_bitmap):
    """Contents that share a bit of the bitmap without being the same are told apart: with a
    bitmap of 8 bits nearly every content is a candidate, and the result does not change."""
    from layerscope.model import image as image_mod

    if tiny_bitmap:
        monkeypatch.setattr(image_mod, "DUP_BITS_MIN", 3)
        monkeypatch.setattr(image_mod, "DUP_BITS_PER_FILE", 0)
    files = [File(f"f{i:02}", bytes([65 + i % 7]) * (1 + i % 7)) for i in range(40)]
    img = build(tmp_path, Layer(*files, File("empty1"), File("empty2")))
    expect = []
    for k in range(7):
        paths = [f.path for f in files if f.data == bytes([65 + k]) * (1 + k)]
        digest = "sha256:" + hashlib.sha256(bytes([65 + k]) * (1 + k)).hexdigest()
        expect.append((digest, 1 + k, paths))
    expect.sort(key=lambda x: (-(x[1] * (len(x[2]) - 1)), x[2][0]))
    assert img.duplicates == expect
    assert img.final_size == sum(len(f.data) for f in files)
    assert img.final_files == 42


def test_devices_and_fifos_compare_by_number(tmp_path):
    img = build(
        tmp_path,
        Layer(Device("null", "char", 1, 3), Device("p", "fifo")),
        Layer(Device("null", "char", 1, 5), Device("p", "fifo")),
    )
    assert statuses(img, 1) == [("null", "modified"), ("p", "rewritten")]
    assert img.final_files == 2


def test_overlay_style_whiteout_is_a_whiteout(tmp_path):
    img = build(tmp_path, Layer(File("a", b"1")), Layer(Device("a", "char", 0, 0)))
    assert final(img) == {}
    assert img.layers[1].data.entry(0).type == "whiteout"


def test_removed_counts_paths_taken_by_opaque_and_whiteouts_together(tmp_path):
    img = build(
        tmp_path,
        Layer(Dir("d"), File("d/1"), File("d/2"), File("top")),
        Layer(Opaque("d"), Whiteout("top"), Whiteout("never-there")),
    )
    assert img.layers[1].changes.removed == 3
