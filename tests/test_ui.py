"""The app, driven with Pilot on the built-in sample and real fixtures: every interaction, and
what the widgets hold afterwards. (No async test plugin: each test runs its own event loop.)"""

from __future__ import annotations

import asyncio
import shutil
import tarfile
import threading
from pathlib import Path

import pytest
from pilots import DEMO, FIXTURES, SIZE, drive, main_screen, press, run_command, settle
from textual.widgets import Input, ProgressBar

import layerscope
from layerscope.ui.app import LayerscopeApp, run
from layerscope.ui.commands import LayerscopeCommands
from layerscope.ui.screens.help import HelpScreen
from layerscope.ui.screens.main import MainScreen
from layerscope.ui.widgets.details import ImageDetails, LayerDetails


def shown(screen: MainScreen) -> list[str]:
    """The paths of the tree's rows, in order."""
    outline = screen.file_tree.outline
    assert outline is not None
    return [outline.view.paths[row.node] for row in outline.rows]


def tree_title(screen: MainScreen) -> str:
    return str(screen.query_one("#tree-pane").border_title)


# -- opening -------------------------------------------------------------------------------------
def test_opens_with_layers_details_and_tree():
    async def test(app, pilot):
        s = main_screen(app)
        layers = s.layer_list
        ids = [opt.id for opt in layers.options]
        assert ids == ["layer-0", "layer-1", "layer-2", "layer-3", None, "layer-4", None]
        assert [opt.disabled for opt in layers.options].count(True) == 2  # ENV, LABEL steps
        assert "ENV DEMO_MODE=1" in str(layers.options[4].prompt)
        assert "+31" in str(layers.options[0].prompt)
        image = s.query_one(ImageDetails).fields
        assert image["Image"] == "localhost/layerscope-demo:1"
        assert image["Final size"] == "1.4 kB in 15 files"
        assert image["Reclaimable"].startswith("148 B (9.6 %)")
        assert image["Env"] == "PATH=/usr/bin:/opt/app/bin\nDEMO_MODE=1"
        layer = s.query_one(LayerDetails).fields
        assert layer["Layer"] == "0 of 5 (0 is the base)"
        assert layer["Changes"].startswith("31 added")
        assert tree_title(s) == "Changes in layer 0"
        assert len(shown(s)) == 31  # small views open fully expanded
        assert not s.query_one("#loading").display
        assert app.focused is layers

    drive(test)


# -- layers --------------------------------------------------------------------------------------
def test_select_a_layer_with_keys_and_brackets():
    async def test(app, pilot):
        s = main_screen(app)
        await press(pilot, "down", "down")
        assert s.layer_index == 2
        assert s.query_one(LayerDetails).fields["Layer"] == "2 of 5 (0 is the base)"
        assert s.query_one(LayerDetails).fields["Author"].startswith("Layerscope Fixtures")
        assert tree_title(s) == "Changes in layer 2"
        assert shown(s)[:3] == ["etc", "etc/motd", "etc/config"]
        await press(pilot, "down", "down")  # the ENV step is skipped
        assert s.layer_index == 4
        await press(pilot, "down")  # no wrapping round
        assert s.layer_index == 4
        await press(pilot, "left_square_bracket")
        assert s.layer_index == 3 and s.layer_list.position == 3
        await press(pilot, "j", "k", "k")
        assert s.layer_index == 2

    drive(test)


def test_click_a_layer():
    async def test(app, pilot):
        s = main_screen(app)
        await pilot.click("#layers", offset=(10, 3))  # the fourth row: layer 3
        await settle(pilot)
        assert s.layer_index == 3
        assert tree_title(s) == "Changes in layer 3"
        assert "opt/app/v2.txt" in shown(s)

    drive(test)


# -- the file tree -------------------------------------------------------------------------------
def test_toggle_modes():
    async def test(app, pilot):
        s = main_screen(app)
        await press(pilot, "down", "m")
        assert s.mode == "image"
        assert tree_title(s) == "Image as of layer 1"
        view = s.file_tree.view
        assert view is not None and (view.mode, view.layer) == ("image", 1)
        assert len(shown(s)) == 38  # every node expanded but the root
        await press(pilot, "down")
        assert tree_title(s) == "Image as of layer 2"
        await press(pilot, "m")
        assert tree_title(s) == "Changes in layer 2"

    drive(test)


def test_filter_by_substring_then_clear():
    async def test(app, pilot):
        s = main_screen(app)
        await press(pilot, "down", "down", "slash")
        box = s.query_one("#filter", Input)
        assert box.has_focus and box.display
        await press(pilot, *"conf")
        assert box.value == "conf"
        assert shown(s) == ["etc", "etc/config", "etc/config/app.conf", "etc/config/extra.conf"]
        assert s.file_tree.filter.spans("app.conf") == [(4, 8)]
        assert "filter: conf" in str(s.query_one("#tree-pane").border_subtitle)
        await press(pilot, "enter")
        assert s.file_tree.has_focus
        await press(pilot, "escape")
        assert box.value == "" and not s.filter.active
        assert len(shown(s)) == 17

    drive(test)


def test_filter_by_glob():
    async def test(app, pilot):
        s = main_screen(app)
        await press(pilot, "slash", *"*.cache", "enter")
        files = [p for p in shown(s) if p.endswith(".cache")]
        assert files == [
            "var/cache/demo/a.cache",
            "var/cache/demo/b.cache",
            "var/cache/demo/sub/c.cache",
        ]
        assert "usr" not in shown(s)

    drive(test)


def test_sort_by_name_and_size():
    async def test(app, pilot):
        s = main_screen(app)
        await press(pilot, "c")  # top level only
        assert shown(s) == ["usr", "etc", "opt", "var", "home", "tmp"]
        await press(pilot, "s")
        assert s.sort == "name"
        assert shown(s) == ["etc", "home", "opt", "tmp", "usr", "var"]
        assert "sort: name" in str(s.query_one("#tree-pane").border_subtitle)
        await press(pilot, "s")
        assert shown(s)[0] == "usr"

    drive(test)


def test_hide_and_show_kinds():
    async def test(app, pilot):
        s = main_screen(app)
        await press(pilot, "6")  # hide "hidden"
        assert s.filter.hide == {"hidden"}
        paths = shown(s)
        assert "etc/motd" not in paths and "usr/bin/tool" not in paths
        assert "usr/share/doc/demo/README" in paths
        legend = s.query_one("#legend").render()
        assert "hidden 13" in str(legend)
        await press(pilot, "1")  # hide "added" too: nothing left
        assert shown(s) == []
        await press(pilot, "1", "6")
        assert len(shown(s)) == 31

    drive(test)


def test_expand_and_collapse_all_and_one():
    async def test(app, pilot):
        s = main_screen(app)
        tree = s.file_tree
        await press(pilot, "c")
        assert len(shown(s)) == 6
        await press(pilot, "e")
        assert len(shown(s)) == 31
        await press(pilot, "c", "tab")  # Tab goes from the layers to the tree first
        assert tree.has_focus
        assert tree.node is not None and tree.node.path == "usr"
        await press(pilot, "enter")
        assert shown(s)[:3] == ["usr", "usr/share", "usr/bin"]
        await press(pilot, "l", "l")  # step in, open usr/share
        assert tree.node.path == "usr/share"
        assert shown(s)[2] == "usr/share/doc"
        await press(pilot, "h", "h")  # close usr/share, go up to usr
        assert tree.node.path == "usr"
        await press(pilot, "space")
        assert len(shown(s)) == 6
        # opened directories stay open across layers
        await press(pilot, "enter", "shift+tab", "down")
        assert s.layer_index == 1 and shown(s)[:2] == ["usr", "usr/bin"]

    drive(test)


def test_click_a_directory_opens_and_closes_it():
    async def test(app, pilot):
        s = main_screen(app)
        await press(pilot, "c")
        await pilot.click("#tree", offset=(20, 1))  # the second row: etc
        await settle(pilot)
        assert s.file_tree.node.path == "etc"
        assert shown(s)[1:4] == ["etc", "etc/motd", "etc/config"]
        await pilot.click("#tree", offset=(20, 1))
        await settle(pilot)
        assert len(shown(s)) == 6

    drive(test)


def test_attributes_and_entry_line():
    async def test(app, pilot):
        s = main_screen(app)
        tree = s.file_tree
        assert "drwxr-xr-x" not in tree.render_line(0).text
        await press(pilot, "a")
        assert tree.show_attributes
        assert "drwxr-xr-x" in tree.render_line(0).text
        assert "0:0" in tree.render_line(0).text
        # the status line tells the row under the cursor of the pane with the focus
        entry = str(s.query_one("#entry").render())
        assert entry.startswith("layer 0  1.4 kB (1,377 bytes)  +31 added ~0 modified")
        await press(pilot, "tab")
        entry = str(s.query_one("#entry").render())
        assert entry.startswith("/usr  dir 1.3 kB")
        assert "added in layer 0" in entry

    drive(test)


def test_hidden_entries_say_who_hides_them():
    async def test(app, pilot):
        s = main_screen(app)
        tree = s.file_tree
        lines = [tree.render_line(y).text for y in range(tree.rows)]
        motd = next(line for line in lines if " motd" in line)
        assert "hidden by layer 2 (overwritten)" in motd
        assert motd.lstrip().startswith("×")

    drive(test)


# -- keys, help, palette, quit -------------------------------------------------------------------
def test_help_lists_every_binding():
    async def test(app, pilot):
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = app.screen.rows()
        assert ("Main screen", "m", "Changes/Image") in rows
        assert ("Everywhere", "q", "Quit") in [(g, k.split()[-1], d) for g, k, d in rows]
        assert any(g == "File tree" and d == "Open/close" for g, _k, d in rows)
        assert any(g == "Layers pane" and d == "Down" for g, _k, d in rows)
        await press(pilot, "escape")
        assert isinstance(app.screen, MainScreen)

    drive(test)


def test_every_binding_has_an_id_and_a_description():
    async def test(app, pilot):
        s = main_screen(app)
        for node in (app, s, s.layer_list, s.file_tree):
            for binding in type(node).BINDINGS:
                assert binding.id, binding
                assert binding.description, binding

    drive(test)


def test_command_palette_goes_to_a_path():
    async def test(app, pilot):
        s = main_screen(app)
        provider = LayerscopeCommands(s)
        hits = [hit async for hit in provider.search("README")]
        assert [hit.text for hit in hits if hit.text.startswith("Go to /")] == [
            "Go to /usr/share/doc/demo/README"
        ]
        names = [hit.text async for hit in provider.discover()]
        assert "Toggle sort: size / name" in names and "Go to layer 4" in names
        await press(pilot, "c")
        s.go_to_path("usr/share/doc/demo/README")
        await settle(pilot)
        assert s.file_tree.has_focus and s.file_tree.node.path == "usr/share/doc/demo/README"
        # through the palette itself
        await run_command(pilot, "sort")
        assert s.sort == "name"

    drive(test)


def test_quit():
    async def test(app, pilot):
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0
        assert not app.is_running

    drive(test)


def test_q_types_into_the_filter_box():
    async def test(app, pilot):
        s = main_screen(app)
        await press(pilot, "slash", "q")
        assert app.is_running and s.query_one("#filter", Input).value == "q"

    drive(test)


# -- several images, failures, loading -----------------------------------------------------------
def test_switch_images():
    async def test(app, pilot):
        s = main_screen(app)
        assert "image 1 of 2" in s.sub_title
        await press(pilot, "down", "i")
        assert s.image.name == "localhost/layerscope-other:1"
        assert s.layer_index == 0
        assert len([o for o in s.layer_list.options if o.id]) == 3
        assert s.query_one(ImageDetails).fields["Image"].endswith("(2 of 2)")
        assert "Shared with" in s.query_one(LayerDetails).fields
        await press(pilot, "i")
        assert s.image.name == "localhost/layerscope-demo:1"

    drive(test, str(FIXTURES / "multi.tar"))


def test_start_on_the_selected_image():
    async def test(app, pilot):
        assert main_screen(app).image.name == "localhost/layerscope-other:1"

    drive(test, str(FIXTURES / "multi.tar"), image=1)


def _corrupt(tmp_path: Path) -> Path:
    """A copy of docker-archive.tar with one byte of its third layer changed."""
    src = FIXTURES / "docker-archive.tar"
    manifest_layers = layerscope.discover([str(src)]).images[0].layers
    member = manifest_layers[2].spec.location
    out = tmp_path / "corrupt.tar"
    shutil.copy(src, out)
    with open(out, "r+b") as f:
        f.seek(member.offset + 600)  # inside the first file's data
        byte = f.read(1)
        f.seek(member.offset + 600)
        f.write(bytes([byte[0] ^ 0xFF]))
    with tarfile.open(out):  # still a readable outer tar
        pass
    return out


def test_a_failed_layer_is_shown_and_the_rest_stays_usable(tmp_path):
    async def test(app, pilot):
        s = main_screen(app)
        assert any("could not be read" in (n.title or "") for n in app._notifications)
        assert "failed" in str(s.layer_list.options[2].prompt)
        assert "Error" in s.query_one(ImageDetails).fields
        await press(pilot, "down", "down")
        assert s.file_tree.outline is None
        assert "could not be read" in s.file_tree.message_text
        assert s.query_one(LayerDetails).fields["Error"].startswith("layer 2 (")
        await press(pilot, "down")  # layer 3 still shows its files (no analysis: pending)
        assert "opt/app/v2.txt" in shown(s)
        assert s.file_tree.view.count("pending") > 0
        await press(pilot, "m")
        assert "could not be read" in s.file_tree.message_text

    drive(test, str(_corrupt(tmp_path)))


def test_keys_work_while_layers_load(monkeypatch):
    gate = threading.Event()
    archive = layerscope.discover([DEMO])
    load = archive.load_layer

    def slow(layer, progress=None, cancelled=None):
        if progress:
            progress(layer, layer.stored_size // 2)
        while not gate.wait(0.01):
            if cancelled and cancelled():
                raise layerscope.errors.Cancelled()
        return load(layer, progress, cancelled)

    monkeypatch.setattr(archive, "load_layer", slow)

    async def test(app, pilot):
        s = main_screen(app)
        await pilot.pause(0.2)
        assert s.query_one("#loading").display
        assert "not read yet" in s.file_tree.message_text
        assert "%" in str(s.layer_list.options[0].prompt)
        await pilot.press("down", "m", "s")
        await pilot.pause()
        assert (s.layer_index, s.mode, s.sort) == (1, "image", "name")
        assert "Layer 1 is not read yet" in s.file_tree.message_text
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        gate.set()
        await settle(pilot)
        assert not s.query_one("#loading").display
        assert s.query_one("#loading-bar", ProgressBar).percentage == 1.0
        assert tree_title(s) == "Image as of layer 1"
        assert shown(s)[0] == "etc"

    async def main():
        app = LayerscopeApp(archive)
        try:
            async with app.run_test(size=SIZE) as pilot:
                await test(app, pilot)
        finally:
            gate.set()
            archive.close()

    asyncio.run(main())


def test_run_reports_a_bad_selector():
    with pytest.raises(layerscope.LayerscopeError, match="no such image"):
        run([DEMO], platform=None, verify=True, engine=None, image="nope:1")


def test_a_failing_worker_becomes_a_notification(monkeypatch):
    import layerscope.ui.treebuild as treebuild_module

    def broken(*args, **kwargs):
        raise ValueError("no tree today")

    async def test(app, pilot):
        s = main_screen(app)
        # (not build_view: the views of the demo are built ahead, once every layer is read)
        monkeypatch.setattr(treebuild_module, "Listing", broken)
        await press(pilot, "down")
        titles = [n.title for n in app._notifications]
        assert "Building the file tree failed" in titles
        assert "no tree today" in s.file_tree.message_text
        monkeypatch.undo()
        await press(pilot, "down")  # the app goes on
        assert tree_title(s) == "Changes in layer 2" and shown(s)

    drive(test)


def test_run_opens_the_app_and_closes_the_archive(monkeypatch):
    seen = {}

    def fake_run(self, *args, **kwargs):
        seen["image"] = self.first_image.name
        seen["archive"] = self.archive

    close = layerscope.Archive.close

    def closing(self):
        seen["closed"] = self
        close(self)

    monkeypatch.setattr(LayerscopeApp, "run", fake_run)
    monkeypatch.setattr(layerscope.Archive, "close", closing)
    code = run([str(FIXTURES / "multi.tar")], platform=None, verify=True, engine=None, image="2")
    assert code == 0
    assert seen["image"] == "localhost/layerscope-other:1"
    assert seen["closed"] is seen["archive"]


def test_the_views_of_the_image_are_built_ahead(monkeypatch):
    import layerscope.views.viewcache as viewcache_module

    def broken(*args, **kwargs):
        raise AssertionError("built on a key press")

    async def test(app, pilot):
        s = main_screen(app)
        layers = len(s.image.layers)
        assert set(s.views.keys()) >= {
            (s.image.number, layer, mode, True)
            for layer in range(layers)
            for mode in ("changes", "image")
        }
        monkeypatch.setattr(viewcache_module, "build_view", broken)
        await press(pilot, "down", "m", "down")
        assert tree_title(s) == "Image as of layer 2" and shown(s)
        assert not app._notifications

    drive(test)
