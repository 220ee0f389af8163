"""The file tree in the app: directory sizes under a filter are those of what it shows (and the
tree's frame says so), and a big directory is listed in a thread when opened, its rows put in
place once listed."""

from __future__ import annotations

from builder import File, Img, Layer, docker_archive
from pilots import drive, main_screen, press, settle

from layerscope.ui.widgets import file_tree
from layerscope.views import labels


def _row(tree, path: str) -> int:
    outline = tree.outline
    return next(i for i in range(len(outline)) if tree.view.paths[outline.node_at(i)] == path)


def test_directory_sizes_follow_the_filter_and_the_frame_says_so(tmp_path):
    path = docker_archive(
        tmp_path / "a.tar",
        [
            Img(
                [
                    Layer(
                        File("srv/a.bin", b"a" * 3000),
                        File("srv/b.txt", b"b" * 5000),
                        File("srv/sub/c.bin", b"c" * 1000),
                    )
                ]
            )
        ],
    )

    async def test(app, pilot):
        s = main_screen(app)
        tree = s.file_tree
        pane = s.query_one("#tree-pane")
        listing = tree.outline.listing
        srv = tree.view.find("srv")
        assert listing.size(srv) == 9000 and "sizes:" not in str(pane.border_subtitle)
        await press(pilot, "slash", *"*.bin", "enter")
        listing = tree.outline.listing
        assert listing.filter.search == "*.bin"
        assert listing.size(srv) == 4000  # the two .bin files, not b.txt
        assert "sizes: of what is shown" in str(pane.border_subtitle)
        drawn = "".join(seg.text for seg in tree.row_segments(_row(tree, "srv")))
        assert labels.size(4000) in drawn and labels.size(9000) not in drawn
        await press(pilot, "escape")
        assert "sizes:" not in str(s.query_one("#tree-pane").border_subtitle)

    drive(test, str(path))


def test_a_big_directory_is_listed_in_a_thread(tmp_path, monkeypatch):
    monkeypatch.setattr(file_tree, "BIG_DIR", 50)
    files = [File(f"big/f{n:03d}", b"x" * n) for n in range(120)]
    path = docker_archive(tmp_path / "a.tar", [Img([Layer(File("small/one", b"1"), *files)])])
    listed: list[int] = []
    splice = file_tree.FileTree._splice

    def spliced(self, *args):
        listed.append(len(args[-1]))
        splice(self, *args)

    monkeypatch.setattr(file_tree.FileTree, "_splice", spliced)

    async def test(app, pilot):
        s = main_screen(app)
        tree = s.file_tree
        tree.focus()
        await settle(pilot)
        if tree.outline.is_expanded(_row(tree, "big")):  # (a small view opens whole)
            tree.move_cursor(_row(tree, "big"))
            await press(pilot, "enter")
        tree.move_cursor(_row(tree, "big"))
        await press(pilot, "enter")
        assert listed == [120]  # listed in the thread, then put in place
        assert tree.rows == 2 + 120 + tree.outline.is_expanded(_row(tree, "small"))
        assert tree.view.paths[tree.outline.node_at(_row(tree, "big") + 1)] == "big/f119"
        # remembered as open (with everything open, `paths` holds the closed ones)
        assert ("big" in tree.paths) is not tree.everything
        await press(pilot, "left")  # closes it at once
        assert tree.rows <= 3

    drive(test, str(path))
