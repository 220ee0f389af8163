"""The main screen at 80x24 and 120x40, read from what the compositor draws: the summary strip,
the Layers pane fitting its counts, the line above the tree, rows scrolled sideways, the status
line, and where Tab goes."""

from __future__ import annotations

import pytest
from builder import Dir, File, Img, Layer, Whiteout, docker_archive, padded, raw_tar, tar_header
from pilots import DEMO, clicks, drawn, drive, line_text, main_screen, press, settle

from layerscope.ui.widgets.details import ImageDetails
from layerscope.ui.widgets.summary import SummaryStrip
from layerscope.views import headline

SMALL, BIG = (80, 24), (120, 40)
FILES = 12_345  # files of /srv/data: layer 1 removes 12,346 paths (the directory too)
LONG = "opt/app/a/very/long/path/that/goes/on/with/many/dirs/inside/it/config-file-name.conf"


@pytest.fixture(scope="module")
def many(tmp_path_factory) -> str:
    """An image whose counts need five digits: 12,347 added, then 12,346 removed."""
    files = raw_tar(
        tar_header(b"srv/", type_=b"5", mode=0o755),
        tar_header(b"srv/data/", type_=b"5", mode=0o755),
        *(tar_header(b"srv/data/f%05d.bin" % i, size=10) + padded(b"x" * 10) for i in range(FILES)),
    )
    img = Img(
        [
            Layer(tar=files, created_by="/bin/sh -c apt-get update && apt-get install -y curl"),
            Layer(
                Whiteout("srv/data"),
                File("etc/motd", b"bye"),
                File(LONG, b"c" * 3000),
                created_by="/bin/sh -c rm -rf /srv/data",
            ),
            Layer(Dir("opt"), File(LONG, b"d"), created_by="COPY conf /opt/app"),
        ],
        tag="example.com/team/many:1",
    )
    return str(docker_archive(tmp_path_factory.mktemp("many") / "many.tar", [img]))


def screen_text(app) -> list[str]:
    return [line_text(line) for line in drawn(app)]


def pane_text(app, widget) -> list[str]:
    return [line_text(line) for line in drawn(app, widget)]


# -- the summary strip ---------------------------------------------------------------------------
@pytest.mark.parametrize("size", [SMALL, BIG])
def test_the_summary_shows_the_image_pane_figures_at_any_size(size):
    async def test(app, pilot):
        s = main_screen(app)
        strip = s.query_one(SummaryStrip)
        shown = "\n".join(pane_text(app, strip))
        fields = s.query_one(ImageDetails).fields  # the same names, the same values
        for name, value in (
            ("Size", "1.5 kB"),
            ("Final size", "1.4 kB"),
            ("Reclaimable", "148 B (9.6 %)"),
            ("dive efficiency", "93.2 %"),
        ):
            assert f"{name} {value}" in shown
        assert fields["Size"].startswith("1.5 kB") and fields["Final size"].startswith("1.4 kB")
        assert fields["Reclaimable"].startswith("148 B (9.6 %)")
        assert fields["dive"].startswith("efficiency 93.2 %")
        assert "Top wastes (b): /etc/motd 30 B" in shown
        lines = screen_text(app)
        assert all(len(line) == size[0] for line in lines)
        assert "Size 1.5 kB" in lines[1]  # just under the title: never below the fold

    drive(test, size=size)


def test_top_wastes_are_shortened_in_the_middle_and_clickable(many):
    async def test(app, pilot):
        s = main_screen(app)
        strip = s.query_one(SummaryStrip)
        second = drawn(app, strip)[1]
        text = line_text(second)
        assert "Top wastes (b): /opt/" in text and "…/config-file-name.conf 3.0 kB" in text
        assert LONG not in text  # shortened in the middle, its file name kept
        assert "jump(0)" in clicks(second)
        x = text.index("/opt/") + 2
        await pilot.click(strip, offset=(x, 1))
        await settle(pilot)
        assert (s.layer_index, s.mode) == (1, "changes")  # the layer that stored it
        assert s.file_tree.cursor_path == LONG and s.file_tree.has_focus
        status = line_text(drawn(app, s.query_one("#entry"))[0])
        assert status.rstrip().endswith("hidden by layer 2 (overwritten)")
        assert "config-file-name.conf" in status
        await press(pilot, "b", "b")  # in turn: the next ones
        assert (s.layer_index, s.file_tree.cursor_path) == (0, "srv/data/f00001.bin")
        # the Reclaimable figure opens the waste view
        first = drawn(app, strip)[0]
        assert "screen.waste" in clicks(first)

    drive(test, many, size=SMALL)


def test_the_summary_while_the_layers_are_read(monkeypatch):
    import asyncio
    import threading

    import layerscope
    from layerscope.ui.app import LayerscopeApp

    gate = threading.Event()
    archive = layerscope.discover([DEMO])
    load = archive.load_layer

    def slow(layer, progress=None, cancelled=None):
        if layer.position > 0:
            while not gate.wait(0.01):
                if cancelled and cancelled():
                    raise layerscope.errors.Cancelled()
        return load(layer, progress, cancelled)

    monkeypatch.setattr(archive, "load_layer", slow)

    async def main():
        app = LayerscopeApp(archive)
        try:
            async with app.run_test(size=SMALL) as pilot:
                await pilot.pause(0.3)
                s = main_screen(app)
                strip = s.query_one(SummaryStrip)
                shown = "  ".join(strip.lines)
                for name in ("Size", "Final size", "Reclaimable", "dive efficiency"):
                    assert f"{name} pending" in shown
                assert "Top wastes (b): pending" in shown
                assert "(reading layers: 1 of 5 read)" in shown
                gate.set()
                await settle(pilot, 3, stop_when_idle=False)
                assert "Size 1.5 kB" in strip.lines[0]
                assert [f.known for f in strip.figures] == [True] * len(headline.NAMES)
        finally:
            gate.set()
            archive.close()

    asyncio.run(main())


# -- the Layers pane -----------------------------------------------------------------------------
def test_the_layers_pane_abbreviates_counts_before_cutting(many):
    async def test(app, pilot):
        s = main_screen(app)
        rows = pane_text(app, s.layer_list)
        if app.size.width == SMALL[0]:
            assert "+12k" in rows[0] and "-12k" in rows[1]  # 12,347 and 12,346
            assert "█" not in rows[0]  # the bar went first
        else:  # room for the exact counts and the bar
            assert "+12347" in rows[0] and "-12346" in rows[1] and "█" in rows[0]
        assert "~0" not in "".join(rows) and "*0" not in "".join(rows)  # zeros left blank
        header = line_text(drawn(app, s.query_one("#layers-header"))[0])
        column = header.index("command")
        assert header.index("changes") == rows[0].index("+12")
        for row, command in zip(rows, ("RUN apt-get", "RUN rm -rf", "COPY conf"), strict=False):
            assert row[column:].startswith(command[:8])  # the command keeps room

    drive(test, many, size=SMALL)
    drive(test, many, size=BIG)


def test_the_layers_pane_of_the_sample_keeps_every_count_at_80_columns():
    async def test(app, pilot):
        rows = pane_text(app, main_screen(app).layer_list)
        assert "=9 -6" in rows[2] and "~1 *1" in rows[2]  # the = and - counts stay
        assert all("layersc" in row for row in rows[:4])

    drive(test, size=SMALL)


# -- the line above the tree ---------------------------------------------------------------------
WIDE = "+ added 0  ~ modified 1  * metadata 1  = rewritten 9  - removed 6  × hidden 0  │ 17 shown"


@pytest.mark.parametrize(
    ("size", "shown", "struck"),
    [
        (SMALL, "+0 ~1 *1 =9 -6 ×0 │ 17 shown", ["+0", "×0"]),
        (BIG, "+0 ~1 *1 =9 -6 ×0 │ 17 shown", ["+0", "×0"]),
        ((200, 50), WIDE, ["+ added 0", "× hidden 0"]),
    ],
)
def test_the_marks_line_keeps_the_kind_toggles_at_any_width(size, shown, struck):
    async def test(app, pilot):
        s = main_screen(app)
        await press(pilot, "down", "down", "tab", "1", "6")  # layer 2; added, hidden hidden
        legend = s.query_one("#legend")
        segments = drawn(app, legend)[0]
        line = line_text(segments)
        assert line.rstrip() == f"marks: {shown}"  # whole: the toggles' state at the end
        assert [seg.text for seg in segments if seg.style and seg.style.strike] == struck

    drive(test, size=size)


# -- sideways, and the status line ---------------------------------------------------------------
def test_rows_scroll_sideways_and_the_status_line_tells_the_row_in_full():
    async def test(app, pilot):
        s = main_screen(app)
        tree = s.file_tree
        await press(pilot, "tab")
        assert tree.has_focus
        row = next(
            i
            for i in range(tree.rows)
            if tree.outline.view.paths[tree.outline.node_at(i)] == "usr/share/doc/demo/LICENSE"
        )
        tree.move_cursor(row)
        await settle(pilot)
        before = "\n".join(pane_text(app, tree))
        assert "hidden by layer 2 (overwritten)" not in before  # cut at 80 columns
        status = line_text(drawn(app, s.query_one("#entry"))[0])
        assert status.startswith("/usr/share/doc/demo/LICENSE  file 18 B")
        assert "hidden by layer 2 (overwritten)" in status
        await press(pilot, "ctrl+pagedown")
        assert tree.x_offset > 0
        after = "\n".join(pane_text(app, tree))
        assert "hidden by layer 2 (overwritten)" in after
        await press(pilot, "ctrl+pageup")
        assert tree.x_offset == 0 and "\n".join(pane_text(app, tree)) == before
        # the same, where the terminal keeps ctrl+PgDn
        await press(pilot, "greater_than_sign", "less_than_sign")
        assert tree.x_offset == 0
        await press(pilot, "shift+tab")  # the layers: the status line tells the layer
        status = line_text(drawn(app, s.query_one("#entry"))[0])
        assert status.startswith("layer 0  1.4 kB (1,377 bytes)  +31 added ~0 modified")

    drive(test, size=SMALL)


# -- Tab -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("size", "order"),
    [
        (SMALL, ["tree", "layer-details-pane", "layers"]),
        (BIG, ["tree", "layer-details-pane", "image-details-pane", "layers"]),
    ],
)
def test_tab_goes_from_the_layers_to_the_tree_then_to_the_details_on_screen(size, order):
    async def test(app, pilot):
        s = main_screen(app)
        assert app.focused is s.layer_list
        seen = []
        for _ in order:
            await press(pilot, "tab")
            focused = app.focused
            assert focused is not None
            assert focused.region.intersection(s.region).height > 2  # on screen
            seen.append(focused.id)
        assert seen == order
        await press(pilot, "shift+tab")
        assert app.focused.id == order[-2]

    drive(test, size=size)


# -- text from the image -------------------------------------------------------------------------
def test_the_summary_shows_hostile_paths_as_text(tmp_path):
    from hostile_text import CLICK, hostile_archive

    async def test(app, pilot):
        strip = main_screen(app).query_one(SummaryStrip)
        lines = drawn(app, strip)
        shown = "\n".join(line_text(line) for line in lines)
        assert f"/etc/{CLICK}conf 40 B" in shown  # markup shown as it is
        assert "/etc/evil\\x1b[2J\\x1b]52;c;UFdORUQ=\\x07 42 B" in shown  # escapes, visible
        assert "\x1b" not in shown
        actions = {action for line in lines for action in clicks(line)}
        # none from the image (the Findings figure opens the findings view)
        assert actions == {"jump(0)", "jump(1)", "screen.waste", "screen.findings"}

    drive(test, str(hostile_archive(tmp_path / "hostile.tar")), size=(200, 50))
