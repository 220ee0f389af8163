"""The main screen, its dialogs and the command palette on an image whose every string attacks
the screen (tests/hostile_text.py): what the app draws, segment by segment, must show the
archive's markup as literal text, carry no control, escape or bidi character, and hold no click
action the image wrote. (The pty run of the whole app is tests/test_untrusted_terminal.py.)"""

from __future__ import annotations

from pathlib import Path

import pilots
from builder import Img, Layer, docker_archive
from hostile_text import CLICK, OSC52, hostile_archive, hostile_image
from pilots import Test, clicks, drawn, line_text, main_screen, settle
from textual.command import CommandList
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Header, Input
from textual.widgets._toast import Toast

from layerscope.ui.app import LayerscopeApp
from layerscope.ui.dialogs.confirm import ConfirmDialog
from layerscope.ui.dialogs.export import ExportDialog
from layerscope.ui.screens.main import MainScreen
from layerscope.ui.widgets.details import ImageDetails, LayerDetails

SIZE = (200, 70)
# what must never be drawn as it is: ESC (CSI, OSC), BEL (ends an OSC), a carriage return, a
# right-to-left override, and a byte that was not UTF-8 (kept as a lone surrogate)
FORBIDDEN = ("\x1b", "\x07", "\r", "\u202e", "\udcff")
ESCAPED_OSC52 = "\\x1b]52;c;UFdORUQ=\\x07"  # how the clipboard attack reads once made visible


def drive(path: Path, test: Test) -> None:
    """Run `test` against the app on the archive at `path` (a large screen, toasts shown)."""
    pilots.drive(test, str(path), size=SIZE, notifications=True)


def problems(app: LayerscopeApp, widget: Widget | None, *expected: str) -> list[str]:
    """What is wrong with what `widget` (or the whole screen) draws: a raw control character,
    an action the image wrote, or one of `expected` not drawn as it is."""
    lines = drawn(app, widget)
    text = "\n".join(line_text(line) for line in lines)
    where = widget.id or type(widget).__name__ if widget is not None else "screen"
    found = [f"{where}: {char!r} drawn raw" for char in FORBIDDEN if char in text]
    found += [
        f"{where}: an action from the image: {action}"
        for action in clicks([seg for line in lines for seg in line])
        if not action.startswith("app.simulate_key")  # the key line's own keys
    ]
    found += [f"{where}: {what!r} not drawn" for what in expected if what not in text]
    return found


def check(app: LayerscopeApp, widget: Widget | None, *expected: str) -> None:
    """Assert that `widget` (None: the whole screen) shows the archive's text as text."""
    found = problems(app, widget, *expected)
    assert not found, "\n".join(found)


async def cursor_to(pilot: Pilot, screen: MainScreen, fragment: str) -> None:
    """Put the file tree's cursor on the first row whose path holds `fragment`."""
    outline = screen.file_tree.outline
    assert outline is not None
    paths = [outline.view.paths[row.node] for row in outline.rows]
    index = next(i for i, path in enumerate(paths) if fragment in path)
    screen.file_tree.focus()
    screen.file_tree.show_cursor(index)
    await settle(pilot)


def test_tree_layers_details_and_header_show_archive_text_as_text(tmp_path):
    """Names, link targets, history commands, tags, env, labels, cmd and user in every pane."""

    async def test(app: LayerscopeApp, pilot: Pilot) -> None:
        s = main_screen(app)
        await pilot.press("e", "a")  # every directory open, the attributes column shown
        await settle(pilot)
        tag = f"evil/{CLICK}:1"
        found = [
            *problems(app, s.query_one(Header), tag),
            *problems(
                app,
                s.layer_list,
                "RUN [@click=app.quit]\\x1b]0;PWNED-TITLE\\x07 [b]bo",  # (cut at the pane)
                f"RUN {ESCAPED_OSC52}{CLICK}",
            ),
            *problems(app, s.query_one("#layer-details"), "[@click=app.quit]\\x1b]0;PWNED-TITLE"),
            *problems(app, s.query_one("#image-details"), tag, f"X={ESCAPED_OSC52}{CLICK}"),
            *problems(
                app,
                s.file_tree,
                f"{CLICK}conf",
                "evil\\x1b[2J" + ESCAPED_OSC52,
                "cr\\rname",
                "bidi\\u202egpj.exe",
                "notutf8-\\xff",
                "link → /tmp/\\x1b]0;PWNED-TITLE\\x07",
            ),
        ]
        assert not found, "\n".join(found)
        image = s.query_one(ImageDetails).fields
        assert image["Env"].split("\n") == [f"X={ESCAPED_OSC52}{CLICK}", f"TAG={tag}"]
        assert image["Labels"] == f"l{CLICK}=v\\x1b]0;PWNED-TITLE\\x07"
        assert image["User"] == "\\x1b]0;PWNED-TITLE\\x07"
        assert image["Cmd"] == f"'{CLICK}' '\\x1b[2J'"
        assert image["Workdir"] == f"/{CLICK}"
        await pilot.press("right_square_bracket")  # layer 1: /bin/sh -c <OSC52><markup>
        await settle(pilot)
        assert s.query_one(LayerDetails).fields["Command"] == f"/bin/sh -c {ESCAPED_OSC52}{CLICK}"
        check(app, s.query_one("#layer-details"), f"/bin/sh -c {ESCAPED_OSC52}{CLICK}")
        await pilot.press("m")  # the image as of layer 1: a whiteout, a hidden file
        await settle(pilot)
        check(app, s.file_tree, "evil\\x1b[2J" + ESCAPED_OSC52, f"{CLICK}conf  removed (whiteout)")
        await pilot.press("i")  # the second image: its tag carries an OSC 52 too
        await settle(pilot)
        check(app, s.query_one(Header), f"other/{CLICK}{ESCAPED_OSC52}:2")

    drive(hostile_archive(tmp_path / "hostile.tar"), test)


def test_the_entry_line_shows_the_path_and_target_visibly(tmp_path):
    """The line under the tree: the full path and link target of the entry at the cursor."""

    async def test(app: LayerscopeApp, pilot: Pilot) -> None:
        s = main_screen(app)
        found = []
        for fragment, shown in (
            ("evil", "/etc/evil\\x1b[2J" + ESCAPED_OSC52),
            ("link", "/etc/link → /tmp/\\x1b]0;PWNED-TITLE\\x07"),
            ("cr\r", "/etc/cr\\rname"),
            ("bidi", "/etc/bidi\\u202egpj.exe"),
            ("click", f"/etc/{CLICK}conf"),
        ):
            await cursor_to(pilot, s, fragment)
            found += problems(app, s.query_one("#entry"), shown)
        assert not found, "\n".join(found)

    drive(hostile_archive(tmp_path / "hostile.tar"), test)


def toasts(app: LayerscopeApp) -> list[Widget]:
    return list(app.screen.query(Toast))


def test_notifications_and_tree_messages_carry_no_markup_or_escapes(tmp_path):
    """A layer that fails in an image with a hostile tag (a toast's title, the tree's message),
    and a path from the image that is not in the view (a toast's message)."""
    broken = Layer(tar=b"\xff" * 1024)  # not a tar: reading it fails
    img = hostile_image()
    archive = docker_archive(
        tmp_path / "broken.tar",
        [Img([img.layers[0], broken], img.tag, config_extra=img.config_extra)],
    )

    async def test(app: LayerscopeApp, pilot: Pilot) -> None:
        s = main_screen(app)
        failed = next(t for t in toasts(app) if "could not be read" in t.render().plain)
        check(app, failed, f"of evil/{CLICK}:1 could not be read")
        await pilot.press("right_square_bracket")  # the failed layer: the tree says why
        await settle(pilot)
        assert "could not be read" in s.file_tree.message_text
        check(app, s.file_tree, "Layer 1 could not be read")
        for path, shown in (  # in layer 0, not in the failed layer's view: it shows layer 0
            (f"etc/evil\x1b[2J{OSC52}", f"/etc/evil\\x1b[2J{ESCAPED_OSC52}"),
            (f"etc/{CLICK}conf", f"/etc/{CLICK}conf"),
        ):
            s.select_layer(1)
            await settle(pilot)
            s.go_to_path(path)
            await settle(pilot)
            toast = [t for t in toasts(app) if "not in layer 1's" in t.render().plain][-1]
            check(app, toast, shown)  # (the line wraps after it)
            assert s.layer_index == 0 and s.file_tree.cursor_path == path

    drive(archive, test)


def test_command_palette_shows_paths_and_image_names_as_text(tmp_path):
    """Hits for paths of the view and for the images, in the real palette."""

    async def test(app: LayerscopeApp, pilot: Pilot) -> None:
        await pilot.press("ctrl+p")
        query = app.screen.query_one(Input)
        for typed, shown in (
            ("click", (f"Go to /etc/{CLICK}conf", f"Show image 2: other/{CLICK}{ESCAPED_OSC52}")),
            ("evil", (f"Go to /etc/evil\\x1b[2J{ESCAPED_OSC52}",)),
        ):
            query.value = typed
            await settle(pilot)
            await pilot.pause(0.3)  # the palette shows its hits in batches
            check(app, app.screen.query_one(CommandList), *shown)

    drive(hostile_archive(tmp_path / "hostile.tar"), test)


def test_export_dialogs_show_names_as_text(tmp_path):
    """The export dialog names the entry and the image; the overwrite question names the files
    that exist already."""
    name = f"evil\x1b[2J{OSC52}"
    dest = tmp_path / "out"
    (dest / "etc").mkdir(parents=True)
    (dest / "etc" / name).write_bytes(b"mine")

    async def test(app: LayerscopeApp, pilot: Pilot) -> None:
        s = main_screen(app)
        await cursor_to(pilot, s, "evil")
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ExportDialog)
        dialog = app.screen.query_one("#export-dialog")
        check(app, dialog, f"/etc/evil\\x1b[2J{ESCAPED_OSC52} as of layer 0", f"evil/{CLICK}:1.")
        app.screen.query_one("#export-dest", Input).value = str(dest / "etc")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmDialog)
        check(app, app.screen.query_one(".dialog"), f"evil\\x1b[2J{ESCAPED_OSC52}.")
        await pilot.press("n")  # keep it
        await settle(pilot)
        assert (dest / "etc" / name).read_bytes() == b"mine"
        done = next(t for t in toasts(app) if "existing file" in t.render().plain)
        check(app, done, "kept 1 existing file")

    drive(hostile_archive(tmp_path / "hostile.tar"), test)
