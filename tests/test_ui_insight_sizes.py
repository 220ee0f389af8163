"""The waste, compare and sharing views at 80x24 and 120x40, read back from what the compositor
draws: the waste view's two groups (reclaimable and duplicate bytes) apart and labelled, their
totals the model's figures to the byte, a deleted directory one row that opens to its entries,
file names and reasons on screen however narrow; the compare pickers telling two long, alike
names apart; images numbered from 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from builder import Dir, File, Img, Layer, Whiteout, docker_archive
from pilots import drawn, drive, line_text, press
from textual.widgets import DataTable, Select, Static

import layerscope
from layerscope.insight.waste import REASONS, DeadDir
from layerscope.ui.screens.compare import CompareScreen
from layerscope.ui.screens.sharing import SharingScreen
from layerscope.ui.screens.waste import Held, WasteScreen
from layerscope.views import labels

SIZES = [(80, 24), (120, 40)]
OLD = "opt/application/old-plugins-directory"
SETTINGS = "etc/application/settings-of-the-application.conf"
LIBRARY = b"L" * 4000  # one content at three final paths: two extra copies


def wasteful(path: Path) -> Path:
    """One image: a directory of three files deleted by a whiteout, a file overwritten with
    other bytes (6,500 reclaimable bytes in all), and a content at three visible paths (8,000
    duplicate bytes)."""
    base = Layer(
        Dir("opt"), Dir("opt/application"), Dir(OLD),
        File(f"{OLD}/first.so", b"1" * 3000), File(f"{OLD}/second.so", b"2" * 2000),
        Dir(f"{OLD}/nested"), File(f"{OLD}/nested/third.so", b"3" * 1000),
        File(SETTINGS, b"s" * 500), File("usr/lib/libshared.so.1", LIBRARY),
        created_by="RUN install the application and its plugins",
    )  # fmt: skip
    top = Layer(
        Whiteout(OLD),
        File(SETTINGS, b"S" * 600),
        File("usr/lib/copy-of-libshared.so.1", LIBRARY),
        File("srv/data/another-copy-of-libshared.so.1", LIBRARY),
        created_by="RUN rm -rf /opt/application/old-plugins-directory && configure",
    )
    return docker_archive(path, [Img([base, top], tag="localhost/layerscope/wasteful:1")])


def region_lines(app, widget) -> list[str]:
    return [line_text(line) for line in drawn(app, widget)]


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_waste_view_groups_totals_and_names_at_any_size(tmp_path, size):
    async def test(app, pilot):
        await press(pilot, "w")
        screen = app.screen
        assert isinstance(screen, WasteScreen)
        image = screen.image
        tree = screen.outline_view
        # the model's figures, to the byte, and the tree's groups add up to them
        assert (image.reclaimable_bytes, image.duplicate_bytes) == (6500, 8000)
        reclaimable, duplicates = screen.root.children
        assert reclaimable.size == image.reclaimable_bytes
        assert duplicates.size == image.duplicate_bytes
        # the layer table counts what the first group counts, layer by layer, and in all
        per_layer = {n.data.layer: n.size for n in reclaimable.children if isinstance(n.data, Held)}
        assert per_layer == {0: 6500}
        assert [lw.stored for lw in screen.found.per_layer] == [6500, 0]
        assert [lw.caused for lw in screen.found.per_layer] == [0, 6500]
        table = screen.query_one("#waste-layers", DataTable)
        total = [str(cell) for cell in table.get_row("all")]
        assert total[:3] == ["all", labels.size(6500), labels.size(6500)]

        lines = region_lines(app, tree)
        # two labelled groups, each with the model's total
        group = next(line for line in lines if "reclaimable bytes" in line)
        assert labels.size(image.reclaimable_bytes) in group
        group = next(line for line in lines if "duplicate bytes" in line)
        assert labels.size(image.duplicate_bytes) in group
        # the deleted directory: one row, with its total, its entries below it
        rows = [r.node.data for r in tree.outline.rows]
        assert sum(isinstance(d, DeadDir) for d in rows) == 1
        assert sum("plugins-directory/" in line for line in lines) == 1
        dead_dir = next(line for line in lines if "plugins-directory/" in line).rstrip()
        whiteout, parent = REASONS["whiteout"], REASONS["parent-whiteout"]
        assert labels.size(6000) in dead_dir
        assert any(dead_dir.endswith(f"/old-plugins-directory/  {form}") for form in whiteout)
        # every entry's name and a form of its reason, whatever the width
        for name in ("first.so", "second.so", "nested/third.so"):
            line = next(line for line in lines if name in line)
            assert any(f"{name}  {form}" in line for form in parent), line
        settings = next(line for line in lines if "application.conf" in line)
        assert any(form in settings for form in REASONS["overwritten"])
        # the duplicates: the content's row (its first path), then its two extra copies
        ends = [line.rstrip() for line in lines]
        content = [e for e in ends if e.endswith(("libshared.so.1  2 extra copies", ".so.1  +2"))]
        assert len(content) == 1 and labels.size(8000) in content[0]
        extra = [e for e in ends if e.endswith(("libshared.so.1  extra copy", ".so.1  copy"))]
        assert len(extra) == 2 and all(labels.size(4000) in e for e in extra)
        # the row under the cursor in full, exact: the first group
        entry = str(screen.query_one("#waste-entry", Static).render())
        assert entry.startswith("reclaimable bytes: 6,500 bytes in 4 entries")
        # the summary names both totals as the Image pane does
        summary = str(screen.query_one("#waste-summary", Static).render())
        assert summary.startswith(f"reclaimable bytes {labels.size(6500)}")
        assert f"duplicate bytes {labels.size(8000)} in 2 extra copies" in summary
        # the directory's row closes and opens
        index = next(i for i, d in enumerate(rows) if isinstance(d, DeadDir))
        await press(pilot, *["down"] * index, "left")
        assert not any("first.so" in line for line in region_lines(app, tree))
        await press(pilot, "right")
        assert any("first.so" in line for line in region_lines(app, tree))
        entry = str(screen.query_one("#waste-entry", Static).render())
        assert entry.startswith(f"/{OLD}/ 6,000 bytes in 3 entries below it")
        assert "hidden by layer 1 (whiteout: deleted)" in entry

    drive(test, str(wasteful(tmp_path / "w.tar")), size=size)


def alike(tmp_path: Path) -> layerscope.Archive:
    """Three images with long names alike to their end, two of them named the same (in two
    archives)."""
    name = "localhost/layerscope/multi-platform-application-image"
    one = docker_archive(
        tmp_path / "one.tar",
        [
            Img([Layer(File("a", b"a"))], tag=f"{name}:first"),
            Img([Layer(File("b", b"bb"))], tag=f"{name}:second"),
        ],
    )
    two = docker_archive(tmp_path / "two.tar", [Img([Layer(File("c", b"c"))], tag=f"{name}:first")])
    return layerscope.discover([str(one), str(two)])


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_compare_pickers_tell_alike_names_apart(tmp_path, size):
    archive = alike(tmp_path)

    async def test(app, pilot):
        await press(pilot, "C")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        a, b = screen.query_one("#compare-a", Select), screen.query_one("#compare-b", Select)
        pick_a, pick_b = (" ".join(region_lines(app, s)) for s in (a, b))
        assert "1: " in pick_a and ":first" in pick_a
        assert "2: " in pick_b and ":second" in pick_b
        # the list a picker opens: each image by its number, three different labels
        b.focus()
        await press(pilot, "enter")
        shown = [line for line in region_lines(app, b) + [line_text(x) for x in drawn(app)]]
        digest = labels.short_digest(archive.images[2].config_digest)[7:]
        for label in ("1: ", "2: ", "3: "):
            assert any(label in line for line in shown)
        assert any("3: " in line and digest in line for line in shown)  # same name: its digest
        await press(pilot, "escape")
        assert screen.query_one("#compare-entry", Static) is not None
        entry = str(screen.query_one("#compare-entry", Static).render())
        assert entry.endswith("(enter: show it in image 2)")

    drive(test, archive=archive, size=size)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_sharing_view_numbers_images_from_1_and_says_what_it_counts(tmp_path, size):
    archive = alike(tmp_path)

    async def test(app, pilot):
        await press(pilot, "I")
        screen = app.screen
        assert isinstance(screen, SharingScreen)
        table = screen.query_one("#sharing-images", DataTable)
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == ["1", "2", "3"]
        lines = [line_text(line) for line in drawn(app)]
        header = next(line for line in lines if "image 1" in line)
        assert "image 2" in header and "image 3" in header
        summary = str(screen.query_one("#sharing-summary", Static).render())
        found = screen.found
        assert summary.startswith(
            f"distinct bytes {labels.size(found.stored_bytes)} (file content of 3 distinct layers)"
        )
        assert "stored" not in summary  # the Image pane's "Stored" is the blobs' bytes

    drive(test, archive=archive, size=size)
