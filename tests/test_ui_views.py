"""The insight views (waste, path history, images and sharing, compare, preview, export, web
mode, bench), driven with Pilot on the built-in sample and the two-image fixture: what each
shows, and every jump between a view and the file tree."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from pilots import DEMO, MULTI, SIZE, drive, go_to, main_screen, press, run_command, settle
from textual.widgets import DataTable, Input, Static

import layerscope
from layerscope.insight.compare import compare
from layerscope.insight.waste import waste
from layerscope.ui import serve as web
from layerscope.ui.app import LayerscopeApp, compare_pair
from layerscope.ui.bench import measure
from layerscope.ui.commands import LayerscopeCommands
from layerscope.ui.dialogs.confirm import ConfirmDialog
from layerscope.ui.dialogs.export import ExportDialog, default_destination
from layerscope.ui.screens.compare import CompareScreen, difference_tree, signed
from layerscope.ui.screens.help import HelpScreen
from layerscope.ui.screens.history import HistoryScreen
from layerscope.ui.screens.main import MainScreen
from layerscope.ui.screens.preview import PreviewScreen, decode, hex_dump, lexer_for
from layerscope.ui.screens.sharing import SharingScreen
from layerscope.ui.screens.waste import WasteScreen, waste_tree
from layerscope.views.outline import NodeOutline, OutlineNode, open_while_small


def table_rows(table: DataTable) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


# -- waste -----------------------------------------------------------------------------------------
def test_waste_view_groups_reclaimable_bytes_by_layer_and_duplicates_apart():
    async def test(app, pilot):
        await press(pilot, "w")
        screen = app.screen
        assert isinstance(screen, WasteScreen)
        lines = screen.outline_view.lines()
        assert "reclaimable bytes" in lines[0] and "148 B" in lines[0]
        assert "layer 0 holds" in lines[1] and "148 B" in lines[1]
        assert "hidden by layer 2" in lines[2] and "7 entries" in lines[2]
        assert "/etc/motd" in lines[3] and "overwritten" in lines[3]
        assert "/var/cache/demo/" in lines[4] and "whiteout · 3 entries" in lines[4]
        assert "duplicate bytes" in lines[-1] and "0 B" in lines[-1]
        reasons = " ".join(lines)
        for reason in ("overwritten (rewritten)", "overwritten (metadata)", "whiteout",
                       "parent-whiteout", "opaque"):  # fmt: skip
            assert reason in reasons
        summary = str(screen.query_one("#waste-summary", Static).render())
        assert summary.startswith("reclaimable bytes 148 B (9.6 % of the size) in 10 hidden")
        assert "duplicate bytes 0 B in 0 extra copies" in summary
        assert "layer 2 hides the most (100 B)" in summary
        per_layer = table_rows(screen.query_one("#waste-layers", DataTable))
        assert [row[:3] for row in per_layer] == [
            ["0", "148 B", "·"],
            ["1", "·", "20 B"],
            ["2", "·", "100 B"],
            ["3", "·", "28 B"],
            ["4", "·", "·"],
            ["all", "148 B", "148 B"],
        ]
        await press(pilot, "escape")
        s = main_screen(app)
        await press(pilot, "I", "C")  # with one image, the views of several images stay shut
        assert app.screen is s

    drive(test)


def row_of(screen: WasteScreen, path: str) -> int:
    """The row of the waste tree showing the entry at `path`."""
    rows = screen.outline_view.outline.rows
    return next(i for i, row in enumerate(rows) if getattr(row.node.data, "path", "") == path)


def test_enter_in_the_waste_view_goes_to_the_entry_at_the_layer_that_stored_it():
    async def test(app, pilot):
        s = main_screen(app)
        await press(pilot, "down", "down", "down", "m", "slash", *"zzz", "enter")
        assert s.mode == "image" and s.filter.active
        await press(pilot, "w")
        await press(pilot, *["down"] * row_of(app.screen, "etc/config/app.conf"))
        assert app.screen.outline_view.node.data.path == "etc/config/app.conf"
        await press(pilot, "enter")
        assert app.screen is s
        assert (s.layer_index, s.mode, s.layer_list.position) == (0, "changes", 0)
        assert not s.filter.active  # the filter that hid it was cleared
        assert s.file_tree.has_focus
        assert s.file_tree.node.path == "etc/config/app.conf"
        assert s.file_tree.node.hidden_by == 2

    drive(test)


def test_waste_view_by_mouse_and_layer_table():
    async def test(app, pilot):
        await press(pilot, "w")
        screen = app.screen
        table = screen.query_one("#waste-layers", DataTable)
        table.focus()
        await press(pilot, "down", "down", "enter")  # layer 2: it hides bytes
        assert screen.outline_view.has_focus and screen.outline_view.node.data == (0, 2)
        await press(pilot, "c")
        assert len(screen.outline_view.lines()) == 2  # the two groups
        await press(pilot, "e")
        assert len(screen.outline_view.lines()) == 18
        table.focus()
        await press(pilot, *["down"] * 6, "enter")  # the total row: the reclaimable bytes
        assert screen.outline_view.node is screen.root.children[0]
        await press(pilot, "z")  # hidden entries of no bytes too: directories, links
        assert len(screen.found.items) > 10
        assert any(i.size == 0 for i in screen.found.items)
        await press(pilot, "z")
        assert len(screen.found.items) == 10
        # a click on an entry selects it, a second click goes to it
        y = row_of(screen, "usr/share/doc/demo/LICENSE")
        await pilot.click("#waste-tree", offset=(30, y))
        await settle(pilot)
        assert screen.outline_view.node.data.path == "usr/share/doc/demo/LICENSE"
        await pilot.click("#waste-tree", offset=(30, y))
        await settle(pilot)
        s = main_screen(app)
        assert s.layer_index == 0 and s.file_tree.node.path == "usr/share/doc/demo/LICENSE"

    drive(test)


def test_waste_tree_model():
    archive = layerscope.open(DEMO)
    try:
        image = archive.images[0]
        root = waste_tree(image, waste(image))
        reclaimable, duplicates = root.children
        assert [n.data.layer for n in reclaimable.children] == [0]
        assert [n.data for n in reclaimable.children[0].children] == [(0, 2), (0, 3), (0, 1)]
        assert [n.size for n in reclaimable.children[0].children] == [100, 28, 20]
        assert reclaimable.size == reclaimable.children[0].size == 148 == image.reclaimable_bytes
        assert duplicates.size == 0 == image.duplicate_bytes and duplicates.children == []
        opened = open_while_small(root, 300)
        assert len(opened) == 8  # everything fits: 2 groups, 1 layer, 3 layers hiding, 2 dirs
        assert open_while_small(root, 5) == {reclaimable, duplicates}
    finally:
        archive.close()


def test_a_failing_view_worker_is_shown(monkeypatch):
    import layerscope.ui.screens.waste as waste_module

    def broken(image, **options):
        raise ValueError("no waste today")

    monkeypatch.setattr(waste_module, "waste", broken)

    async def test(app, pilot):
        await press(pilot, "w")
        assert "Finding dead bytes failed" in [n.title for n in app._notifications]
        assert "no waste today" in app.screen.outline_view.message_text

    drive(test)


# -- path history ------------------------------------------------------------------------------
def test_path_history_lists_every_layer_that_touched_a_path_and_jumps_to_each():
    async def test(app, pilot):
        await go_to(app, pilot, "etc/motd")
        await press(pilot, "H")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        rows = table_rows(screen.query_one("#history-table", DataTable))
        assert [r[:6] for r in rows] == [
            ["0", "added", "file", "30 B", "-rw-r--r--", "0:0"],
            ["2", "modified", "file", "40 B", "-rw-r--r--", "0:0"],
        ]
        assert rows[0][6] == "sha256:fb83f93378ff"
        assert rows[1][7].startswith("layerscope L3")
        summary = str(screen.query_one("#history-summary", Static).render())
        assert "added in 0, modified in 2" in summary and "visible in the final image" in summary
        entry = str(screen.query_one("#history-entry", Static).render())
        assert "sha256:fb83f93378ff2ffff2c29244a03c2a42b81274c0ca4e809712224f751fdc8dd7" in entry
        await press(pilot, "down", "enter")
        s = main_screen(app)
        assert app.screen is s and s.layer_index == 2 and s.file_tree.node.path == "etc/motd"
        # a file deleted with its directory
        await go_to(app, pilot, "var/cache/demo/sub/c.cache")
        await press(pilot, "H")
        rows = table_rows(app.screen.query_one("#history-table", DataTable))
        assert [r[:2] for r in rows] == [["0", "added"], ["2", "removed"]]
        assert rows[1][7] == "parent-whiteout"  # as the report and the file tree spell it

    drive(test)


# -- images and sharing --------------------------------------------------------------------------
def test_sharing_view_tables_and_jumps():
    async def test(app, pilot):
        await press(pilot, "I")
        screen = app.screen
        assert isinstance(screen, SharingScreen)
        images = table_rows(screen.query_one("#sharing-images", DataTable))
        assert images == [  # numbered from 1
            ["1", "localhost/layerscope-demo:1", "5", "1.5 kB", "135 B", "1.4 kB", "linux/amd64"],
            ["2", "localhost/layerscope-other:1", "3", "1.4 kB", "40 B", "1.4 kB", "linux/amd64"],
        ]
        layers = table_rows(screen.query_one("#sharing-layers", DataTable))
        assert [r[2:4] for r in layers] == [
            ["● #0", "● #0"],
            ["● #1", "● #1"],
            ["● #2", "·"],
            ["● #3", "·"],
            ["● #4", "·"],
            ["·", "● #2"],
        ]
        columns = [
            str(c.label) for c in screen.query_one("#sharing-layers", DataTable).columns.values()
        ]
        assert columns[2:4] == ["image 1", "image 2"]
        summary = str(screen.query_one("#sharing-summary", Static).render())
        # the README's names, and what "distinct bytes" counts: file content, not stored blobs
        assert summary.startswith("distinct bytes 1.6 kB (file content of 6 distinct layers)")
        assert "unshared bytes 3.0 kB" in summary and "sharing saves 1.4 kB" in summary
        assert "file-shared bytes 0 B (0 contents)" in summary
        assert "stored" not in summary
        # enter on the last layer: image 1's own layer
        layers_table = screen.query_one("#sharing-layers", DataTable)
        layers_table.focus()
        await press(pilot, *["down"] * 5, "enter")
        s = main_screen(app)
        assert app.screen is s
        assert s.image.name == "localhost/layerscope-other:1" and s.layer_index == 2
        await press(pilot, "I")
        await press(pilot, "enter")  # the images table: image 1 (number 0 inside)
        assert app.screen is s and s.image.number == 0

    drive(test, MULTI)


# -- compare ---------------------------------------------------------------------------------------
def test_compare_view_tree_summary_swap_and_jump():
    async def test(app, pilot):
        await press(pilot, "C")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        summary = str(screen.query_one("#compare-summary", Static).render())
        assert summary.startswith("+12 added (74 B)  -8 removed (1.2 kB)  ~2 changed (-12 B)")
        lines = screen.outline_view.lines()
        assert lines[0].split() == ["-1.2", "kB", "├─▾", "usr", "-1.2", "kB"]
        readme = next(line for line in lines if "README" in line)
        assert readme.lstrip().startswith("-") and "removed file 1.2 kB" in readme
        motd = next(line for line in lines if "motd" in line)
        assert motd.lstrip().startswith("~") and "content: 40 B → 28 B" in motd
        # enter on a removed file: shown in image A, as of its last layer
        index = next(i for i, line in enumerate(lines) if "README" in line)
        for _ in range(index):
            await pilot.press("down")
        await press(pilot, "enter")
        s = main_screen(app)
        assert app.screen is s
        assert (s.image.number, s.layer_index, s.mode) == (0, 4, "image")
        assert s.file_tree.node.path == "usr/share/doc/demo/README"
        await press(pilot, "C", "s")  # swap: README is added now
        screen = app.screen
        assert (screen.a.number, screen.b.number) == (1, 0)
        readme = next(line for line in screen.outline_view.lines() if "README" in line)
        assert readme.lstrip().startswith("+")
        # the selects pick the images
        screen.query_one("#compare-a").value = 0
        await settle(pilot)
        assert screen.outline_view.message_text == "Pick two different images."
        screen.query_one("#compare-b").value = 1
        await settle(pilot)
        assert (screen.a.number, screen.b.number) == (0, 1)
        assert screen.comparison is not None and len(screen.comparison.added) == 12

    drive(test, MULTI)


def test_the_app_opens_straight_in_the_compare_view_while_layers_load():
    async def main():
        archive = layerscope.discover([MULTI])
        a, b = compare_pair(archive.images, [])
        app = LayerscopeApp(archive, a, compare=(a, b))
        try:
            async with app.run_test(size=SIZE) as pilot:
                assert isinstance(app.screen, CompareScreen)
                await settle(pilot)
                await settle(pilot)
                assert app.screen.comparison is not None
                assert len(app.screen.comparison.removed) == 8
        finally:
            archive.close()

    asyncio.run(main())


def test_compare_pair_and_the_command_line(monkeypatch):
    archive = layerscope.discover([MULTI])
    try:
        images = archive.images
        assert compare_pair(images, []) == (images[0], images[1])
        assert compare_pair(images, ["2", "1"]) == (images[1], images[0])  # numbered from 1
        with pytest.raises(layerscope.LayerscopeError, match="two images"):
            compare_pair(images[:1], [])
    finally:
        archive.close()
    seen = {}

    def fake_run(names, **kwargs):
        seen.update(kwargs, names=names)
        return 0

    monkeypatch.setattr("layerscope.ui.app.run", fake_run)
    from layerscope.cli import main

    assert main([MULTI, "--compare"]) == 0  # no --json: the app, in the compare view
    assert seen["compare"] == [] and seen["names"] == [MULTI]
    assert main([MULTI, "--image", "2", "--image", "1", "--compare"]) == 0
    assert seen["compare"] == ["2", "1"]


def test_difference_tree_model():
    archive = layerscope.open(MULTI)
    try:
        root = difference_tree(compare(*archive.images))
        top = [n.name for n in root.children]
        assert top[0] == "usr"  # the most bytes changed below it
        opt = next(n for n in root.children if n.name == "opt")
        app_dir = opt.children[0]
        assert (app_dir.data.added, app_dir.data.removed) == (28, 33)
        data = next(n for n in app_dir.children if n.name == "data")
        assert data.data.change.kind == "added" and [c.name for c in data.children] == ["old.bin"]
        leaves = [n for n in root.walk() if not n.is_branch]
        assert all(n.data.change is not None for n in leaves)
        assert signed(0) == "0 B" and signed(-1200) == "-1.2 kB" and signed(5) == "+5 B"
    finally:
        archive.close()


# -- preview ---------------------------------------------------------------------------------------
def test_preview_text_binary_and_large(monkeypatch):
    import layerscope.ui.screens.preview as preview

    monkeypatch.setattr(preview, "TEXT_LIMIT", 100)

    async def test(app, pilot):
        await go_to(app, pilot, "etc/config/app.conf")
        await press(pilot, "p")
        screen = app.screen
        assert isinstance(screen, PreviewScreen)
        content = screen.ready.content
        assert content.lexer.name == "INI" and "name=demo" in content.code
        assert screen.ready.diff is None
        assert not screen.check_action("toggle_diff", ())
        info = str(screen.query_one("#preview-info", Static).render())
        assert info.startswith("/etc/config/app.conf  file 18 bytes  -rw-r--r-- 0:0")
        assert "hidden by layer 2 (overwritten)" in info
        await press(pilot, "escape")
        # enter on a file opens it too
        main_screen(app).file_tree.focus()
        await press(pilot, "enter")
        assert isinstance(app.screen, PreviewScreen)
        await press(pilot, "escape")
        await go_to(app, pilot, "opt/app/data/old.bin")
        await press(pilot, "p")
        assert app.screen.ready.note == "binary, as hex"
        assert str(app.screen.ready.content).startswith("00000000  00 01 02 03 ff fe 20 62")
        await press(pilot, "escape")
        await go_to(app, pilot, "usr/share/doc/demo/README")
        await press(pilot, "p")
        assert app.screen.ready.note == "text; the first 100 B of 1.2 kB"
        subtitle = str(app.screen.query_one("#preview-pane").border_subtitle)
        assert "the first 100 B of 1.2 kB" in subtitle
        await press(pilot, "escape")
        await go_to(app, pilot, "usr/bin")  # a directory: nothing to preview
        await press(pilot, "p")
        assert isinstance(app.screen, MainScreen)
        assert any("preview shows files" in n.message for n in app._notifications)

    drive(test)


def test_preview_of_a_modified_file_shows_the_diff_against_the_version_below():
    async def test(app, pilot):
        await go_to(app, pilot, "etc/motd", layer=2)
        await press(pilot, "p")
        screen = app.screen
        assert screen.showing_diff
        diff = screen.ready.diff.code
        assert "--- layer 0/etc/motd" in diff and "+++ layer 2/etc/motd" in diff
        assert "-Welcome to layerscope demo v1" in diff
        assert "+Welcome to layerscope demo v2 (changed)" in diff
        assert screen.query_one("#preview-pane").border_title == "Diff: layer 0 → layer 2"
        await press(pilot, "d")
        assert not screen.showing_diff
        assert screen.query_one("#preview-pane").border_title == "Content as of layer 2"

    drive(test)


def test_preview_helpers():
    assert lexer_for("x.py", "") == "python"
    assert lexer_for("etc/app.conf", "") == "ini"
    assert lexer_for("usr/bin/tool", "#!/bin/sh\necho\n") in ("bash", "sh")
    assert lexer_for("etc/motd", "Welcome") == "text"
    assert decode(b"abc", False) == "abc"
    assert decode(b"a\0b", False) is None
    assert decode("é".encode()[:1], True) == ""  # a character cut by the limit
    assert decode(b"\xff\xfe", False) is None
    dump = hex_dump(bytes(range(20))).plain.splitlines()
    assert (
        dump[0] == "00000000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f  |................|"
    )
    assert dump[1].startswith("00000010  10 11 12 13") and dump[1].endswith("|....|")


# -- export ----------------------------------------------------------------------------------------
def test_export_a_directory_then_ask_before_overwriting(tmp_path):
    async def test(app, pilot):
        await go_to(app, pilot, "etc/config", layer=0)
        await press(pilot, "x")
        dialog = app.screen
        assert isinstance(dialog, ExportDialog)
        box = dialog.query_one("#export-dest", Input)
        assert box.value == default_destination()
        box.value = str(tmp_path / "out")
        await press(pilot, "enter")
        assert app.screen is main_screen(app)
        assert (tmp_path / "out/config/app.conf").read_bytes() == b"name=demo\nlevel=1\n"
        assert (tmp_path / "out/config/extra.conf").read_bytes() == b"extra=yes\n"
        assert any("Wrote 3 entries" in n.message for n in app._notifications)
        # again: both files exist; keep them
        (tmp_path / "out/config/app.conf").write_bytes(b"mine")
        await press(pilot, "x")
        app.screen.query_one("#export-dest", Input).value = str(tmp_path / "out")
        await press(pilot, "enter")
        assert isinstance(app.screen, ConfirmDialog)
        assert "2 files already exist" in str(app.screen.question)
        await press(pilot, "n")
        assert (tmp_path / "out/config/app.conf").read_bytes() == b"mine"
        # and again: overwrite them
        await press(pilot, "x")
        app.screen.query_one("#export-dest", Input).value = str(tmp_path / "out")
        await press(pilot, "enter")
        await pilot.click("#confirm-yes")
        await settle(pilot)
        assert app.screen is main_screen(app)
        assert (tmp_path / "out/config/app.conf").read_bytes() == b"name=demo\nlevel=1\n"

    drive(test)


def test_export_errors_stay_in_the_dialog(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")

    async def test(app, pilot):
        await go_to(app, pilot, "etc/motd")
        await press(pilot, "x")
        app.screen.query_one("#export-dest", Input).value = str(blocker)
        await press(pilot, "enter")
        assert isinstance(app.screen, ExportDialog)
        assert "Not exported" in str(app.screen.query_one("#export-status", Static).render())
        await press(pilot, "escape")
        assert app.screen is main_screen(app)

    drive(test)


# -- keys, palette, help, mouse --------------------------------------------------------------------
def test_every_view_binding_has_an_id_and_a_description():
    for cls in (WasteScreen, HistoryScreen, SharingScreen, CompareScreen, PreviewScreen,
                ExportDialog, ConfirmDialog):  # fmt: skip
        for binding in cls.BINDINGS:
            assert binding.id and binding.description, (cls, binding)


def test_palette_help_and_footer_reach_every_view():
    async def test(app, pilot):
        provider = LayerscopeCommands(main_screen(app))
        names = [hit.text async for hit in provider.discover()]
        for name in ("Waste: where the dead bytes are, by layer", "Images and sharing",
                     "Compare two images", "Preview the file at the cursor",
                     "Path history of the entry at the cursor", "Export the entry at the cursor…"):  # fmt: skip
            assert name in names
        await run_command(pilot, "waste: where")
        assert isinstance(app.screen, WasteScreen)
        # help in a view lists its keys
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = app.screen.rows()
        assert ("This view", "esc w", "Back") in rows
        assert any(g == "Tree" and d == "Open/go to" for g, _k, d in rows)
        await press(pilot, "escape", "escape")
        # the keys at the bottom open the views by mouse
        from layerscope.ui.widgets.keybar import KeyBar, render_keys

        bar = app.screen.query_one(KeyBar)
        assert ("C", "C", "Compare", True) in bar.shown
        await pilot.click(bar, offset=(render_keys(bar.shown).plain.index(" C ") + 1, 0))
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)

    drive(test, MULTI)


def test_views_wait_for_the_layers(monkeypatch):
    archive = layerscope.discover([DEMO])

    def never(layer, progress=None, cancelled=None):
        while not (cancelled and cancelled()):
            time.sleep(0.01)
        raise layerscope.errors.Cancelled()

    monkeypatch.setattr(archive, "load_layer", never)

    async def main():
        app = LayerscopeApp(archive)
        try:
            async with app.run_test(size=SIZE) as pilot:
                await pilot.press("w")
                await pilot.pause()
                assert isinstance(app.screen, MainScreen)
                assert any("still reading" in n.message for n in app._notifications)
        finally:
            archive.close()

    asyncio.run(main())


# -- helpers ---------------------------------------------------------------------------------------
def test_outline_model_opens_closes_and_reveals():
    root = OutlineNode("", branch=True)
    a = root.add(OutlineNode("a", branch=True))
    b = a.add(OutlineNode("b", branch=True))
    c = b.add(OutlineNode("c"))
    root.add(OutlineNode("d"))
    outline = NodeOutline(root)
    assert [r.node.name for r in outline.rows] == ["a", "d"]
    assert outline.expand(0) == 1 and [r.node.name for r in outline.rows] == ["a", "b", "d"]
    assert outline.reveal(c) == 2 and outline.rows[2].guide == "│       "
    assert outline.parent_index(2) == 1
    assert outline.collapse(0) == 2 and len(outline) == 2
    assert c.ancestors() == [a, b] and list(root.walk()) == [a, b, c, root.children[1]]


def test_serve_options_are_left_out_of_each_session():
    given = ["a.tar", "--serve", "--port", "9000", "--image", "1", "--port=1"]
    assert web.without_serve_options(given) == ["a.tar", "--image", "1"]
    command = web.app_command(["a b.tar"])
    assert command.startswith(f"LAYERSCOPE_SERVED_BY={os.getpid()} exec ")
    assert command.endswith("-m layerscope 'a b.tar'")


def test_bench_measures_the_demo():
    result = asyncio.run(measure(LayerscopeApp([DEMO])))
    assert 0 < result["layers_shown"] <= result["all_loaded"] < 60
    assert result["all_loaded"] <= result["views_ready"] < 60
    assert 0 < result["key_press"] <= result["key_press_max"] < 5
    tabs = [key for key, _t in result["key_timings"] if key == "tab"]
    assert len(tabs) >= 2 and result["keys"] == 16 + len(tabs)


# -- web mode --------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_gives_the_textual_serve_page():
    pytest.importorskip("textual_serve")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "layerscope", "--demo", "--serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not url.startswith("http"):
            url = proc.stdout.readline().strip()
        assert url.startswith(f"http://127.0.0.1:{port}/"), url
        with urllib.request.urlopen(url, timeout=10) as r:
            page = r.read().decode()
        assert 'class="textual-terminal"' in page and "textual.js" in page
        assert f"ws://127.0.0.1:{port}/" in page and "/ws" in page
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_serve_without_textual_serve_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)
    with pytest.raises(layerscope.LayerscopeError, match=r"pip install 'layerscope\[web\]'"):
        web.serve(["a.tar"], port=_free_port())
