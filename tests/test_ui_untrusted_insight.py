"""The insight views (waste, path history, images and sharing, compare, preview) on an image whose
every string attacks the screen: Textual markup that would become a clickable action (`[@click=
app.quit]`, `[b]x[/b]`), an OSC 52 clipboard write, a clear-screen sequence, a carriage return
and a right-to-left override, in the tags, the platform, history commands, file names, a symlink
target, file contents and an error message.

Each view is opened in the real app (`run_test`) and what the screen renders is read back from
its compositor, segment by segment: the markup shows as the literal text it is, no segment holds
an ESC, BEL, CR or bidi override, and no segment's style carries the archive's `@click` action.
"""

from __future__ import annotations

from pathlib import Path

import pilots
import pytest
from builder import File, Img, Layer, Symlink, docker_archive
from hostile_text import CLEAR, CLICK, OSC52
from pilots import Test, drawn, go_to, line_text, press
from textual.widgets import Select, Static
from textual.widgets._toast import Toast

from layerscope.errors import LayerscopeError
from layerscope.ui.app import LayerscopeApp
from layerscope.ui.screens.compare import CompareScreen
from layerscope.ui.screens.history import HistoryScreen
from layerscope.ui.screens.preview import PreviewScreen
from layerscope.ui.screens.sharing import SharingScreen
from layerscope.ui.screens.waste import WasteScreen

BOLD = "[b]x[/b]"
HOSTILE = f"{CLICK}{BOLD}{OSC52}{CLEAR}\r\u202e"
# how HOSTILE reads on screen: every character there, the controls as escapes
SHOWN = f"{CLICK}{BOLD}\\x1b]52;c;UFdORUQ=\\x07\\x1b[2J\\r\\u202e"
# in a history command, where a run of whitespace (the \r) reads as one space
COMMAND = f"{CLICK}{BOLD}\\x1b]52;c;UFdORUQ=\\x07\\x1b[2J \\u202e"
RAW = ("\x1b", "\r", "\x07", "\u202e")
SIZE = (280, 50)


def hostile_archive(path: Path) -> Path:
    """Two images sharing a base layer; every name, tag, command and content carries HOSTILE.
    Image 0 hides bytes (an overwritten file), stores a content twice, modifies a text file and
    has a symlink; both images store one content again in layers of their own."""
    base = Layer(
        File(f"etc/{HOSTILE}", b"old bytes"),
        File(f"dup/{HOSTILE}1", b"same bytes twice\n"),
        File(f"dup/{HOSTILE}2", b"same bytes twice\n"),
        Symlink(f"link{HOSTILE}", f"/target{HOSTILE}"),
        File("etc/motd", f"hello\n{HOSTILE}\nbye\n".encode()),
        created_by=f"/bin/sh -c {HOSTILE}",
    )
    top = Layer(
        File(f"etc/{HOSTILE}", b"newer bytes!"),
        File("etc/motd", f"hello\n{HOSTILE}\tand a tab\nchanged\n".encode()),
        File(f"srv/{HOSTILE}", b"rebuilt the same\n"),
        created_by=f"RUN {HOSTILE}",
    )
    other = Layer(File(f"opt/{HOSTILE}", b"rebuilt the same\n"), created_by=f"RUN {HOSTILE}")
    return docker_archive(
        path,
        [
            Img([base, top], tag=f"{HOSTILE}:a", os=f"linux{HOSTILE}"),
            Img([base, other], tag=f"{HOSTILE}:b"),
        ],
    )


def drive(tmp_path: Path, test: Test) -> None:
    """Open the hostile archive in the app (image 0 on screen) and run `test` on it."""
    archive = hostile_archive(tmp_path / "hostile.tar")
    pilots.drive(test, str(archive), size=SIZE, notifications=True)


def screen_lines(app: LayerscopeApp) -> list[str]:
    """The screen as it is drawn, one string a line, after checking every segment of it: none
    holds a character a terminal would act on, none has the archive's click action."""
    lines = drawn(app)
    for line in lines:
        for segment in line:
            assert not any(c in segment.text for c in RAW), repr(segment.text)
            meta = segment.style.meta if segment.style else {}
            assert "app.quit" not in str(meta.get("@click", "")), repr(segment.text)
    return [line_text(line) for line in lines]


def line_with(lines: list[str], needle: str) -> str:
    """The first line that holds `needle`."""
    found = [line for line in lines if needle in line]
    assert found, f"{needle!r} is not on the screen:\n" + "\n".join(lines)
    return found[0]


# -- waste -----------------------------------------------------------------------------------------
def test_waste_view_shows_names_commands_and_the_tag_as_text(tmp_path):
    async def test(app, pilot):
        await press(pilot, "w")
        assert isinstance(app.screen, WasteScreen)
        lines = screen_lines(app)
        assert f"{SHOWN}:a  ·  waste" in lines[0]  # the header's sub-title
        # the layer table's command column, and the tree's groups and entries
        assert f"RUN {CLICK}{BOLD}" in line_with(lines, "│  1        ·   69 B  RUN")
        assert f"RUN {COMMAND}" in line_with(lines, "layer 0 holds")
        assert f"/etc/{SHOWN}  overwritten" in "\n".join(lines)
        assert f"/dup/{SHOWN}1  1 extra copy" in "\n".join(lines)
        assert f"/dup/{SHOWN}2  extra copy" in "\n".join(lines)
        # the entry line under the tree: a hidden entry, then a duplicate
        tree = app.screen.outline_view
        await press(pilot, *["down"] * next(
            i for i, row in enumerate(tree.outline.rows)
            if getattr(row.node.data, "path", "") == f"etc/{HOSTILE}"
        ))  # fmt: skip
        assert tree.node.data.path == f"etc/{HOSTILE}"
        entry = line_with(screen_lines(app), "hidden by layer 1 (overwritten)")
        assert f"/etc/{SHOWN} 9 bytes, stored by layer 0" in entry
        await press(pilot, "end")
        assert tree.node.data.path == f"dup/{HOSTILE}2"
        assert f"/dup/{SHOWN}2 17 bytes" in line_with(screen_lines(app), "an extra copy of")
        entry = str(app.screen.query_one("#waste-entry", Static).render())  # the line goes on
        assert f", an extra copy of /dup/{SHOWN}1  (enter:" in entry

    drive(tmp_path, test)


def test_waste_and_compare_cut_hostile_names_only_after_making_them_visible(tmp_path):
    """At 80 columns the names are cut in the middle: the cut is of the visible text, so no
    half escape sequence reaches the terminal, and the markup stays text."""

    async def test(app, pilot):
        await pilot.resize_terminal(80, 24)
        await press(pilot, "w", "e")
        lines = screen_lines(app)  # no raw control character, no click action
        assert any(
            f"/dup/{CLICK[:4]}" in line and "…" in line and "1  +1 " in line for line in lines
        )
        assert any("/etc/[@…" in line and "  ovw " in line for line in lines)
        await press(pilot, "escape", "C")
        lines = screen_lines(app)
        assert any("1: " in line for line in lines) and any("2: " in line for line in lines)

    drive(tmp_path, test)


# -- path history ----------------------------------------------------------------------------------
def test_history_view_shows_the_path_and_commands_as_text(tmp_path):
    async def test(app, pilot):
        await go_to(app, pilot, f"etc/{HOSTILE}")
        await press(pilot, "H")
        assert isinstance(app.screen, HistoryScreen)
        lines = screen_lines(app)
        assert f"history of /etc/{SHOWN}" in lines[0]
        assert f"Every layer that touched /etc/{SHOWN}" in line_with(lines, "Every layer")
        assert f"/etc/{SHOWN}  touched by 2 layers" in line_with(lines, "touched by")
        assert f"RUN {COMMAND}" in line_with(lines, "modified  file")  # layer 1's command
        assert f"RUN {COMMAND}" in line_with(lines, "added     file")  # layer 0's: /bin/sh -c

    drive(tmp_path, test)


# -- images and sharing ----------------------------------------------------------------------------
def test_sharing_view_shows_tags_platforms_commands_and_paths_as_text(tmp_path):
    async def test(app, pilot):
        await press(pilot, "I")
        assert isinstance(app.screen, SharingScreen)
        lines = screen_lines(app)
        image = line_with(lines, f"{SHOWN}:a")
        assert f"linux{SHOWN}/amd64" in image  # the platform
        assert f"{SHOWN}:b" in line_with(lines, "linux/amd64")
        assert f"RUN {COMMAND}" in line_with(lines, "● #1     ·")  # a layer's command
        assert f"/srv/{SHOWN}" in line_with(lines, f"/opt/{SHOWN}")  # a content stored again

    drive(tmp_path, test)


# -- compare ---------------------------------------------------------------------------------------
def test_compare_view_shows_image_names_and_paths_as_text(tmp_path):
    async def test(app, pilot):
        await press(pilot, "C")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        lines = screen_lines(app)
        assert f"compare 1: {SHOWN}:a → 2: {SHOWN}:b" in lines[0]  # numbered from 1
        assert f"1: {SHOWN}:a" in line_with(lines, f"2: {SHOWN}:b")  # the two pickers
        # the tree: "[/b]" splits the name into a directory and a file
        assert f"└─▾ {CLICK}{BOLD[:-3]}  added dir" in "\n".join(lines)
        assert f"└── {SHOWN[len(CLICK) + len(BOLD) - 2 :]}  added file" in "\n".join(lines)
        # the entry line, and the list a picker opens
        index = next(i for i, row in enumerate(screen.outline_view.lines()) if "added file" in row)
        await press(pilot, *["down"] * index)
        assert f"/opt/{SHOWN}" in line_with(screen_lines(app), "enter: show it in")
        screen.query_one("#compare-b", Select).focus()
        await press(pilot, "enter")
        lines = screen_lines(app)  # the list under B too: both names
        assert sum(f"1: {SHOWN}:a" in line for line in lines[1:]) == 2  # (0: the header's)
        assert sum(f"2: {SHOWN}:b" in line for line in lines[1:]) == 2

    drive(tmp_path, test)


# -- preview ---------------------------------------------------------------------------------------
def test_preview_shows_contents_and_the_diff_as_text(tmp_path):
    async def test(app, pilot):
        await go_to(app, pilot, "etc/motd", layer=1)
        await press(pilot, "p")
        screen = app.screen
        assert isinstance(screen, PreviewScreen) and screen.showing_diff
        lines = screen_lines(app)
        assert f"-{SHOWN}" in line_with(lines, f"-{CLICK}")  # the diff
        # the tab as the spaces to its stop, and the line whole after it
        assert f"+{SHOWN}\tand a tab  ".expandtabs(4) in line_with(lines, f"+{CLICK}")
        await press(pilot, "d")  # the content
        assert not screen.showing_diff
        assert f"{SHOWN}\tand a tab  ".expandtabs(4) in line_with(screen_lines(app), "a tab")

    drive(tmp_path, test)


def test_preview_of_a_hostile_name_and_link_target(tmp_path):
    async def test(app, pilot):
        await go_to(app, pilot, f"link{HOSTILE}")
        await press(pilot, "p")
        assert isinstance(app.screen, PreviewScreen)
        lines = screen_lines(app)
        assert f"/link{SHOWN}" in lines[0]
        assert f"/link{SHOWN}  → /target{SHOWN}  symlink" in line_with(lines, "symlink")
        assert f"A symbolic link to /target{SHOWN}" in line_with(lines, "A symbolic link")
        await press(pilot, "escape")
        await go_to(app, pilot, f"etc/{HOSTILE}", layer=1)
        await press(pilot, "p")
        lines = screen_lines(app)
        assert f"/etc/{SHOWN}  file 12 bytes" in line_with(lines, "file 12 bytes")

    drive(tmp_path, test)


def test_shown_text_and_lines_keep_tabs_and_line_ends():
    from layerscope.ui.screens.preview import shown_line, shown_text

    assert shown_text("a\tb\r\nc\rd\x1b[2J\n") == "a   b\nc\\rd\\x1b[2J\n"
    assert shown_line("+a\tb\r\n") == "+a  b" and shown_line("-x\x07\u202e\n") == "-x\\x07\\u202e"
    assert shown_text(f"plain {CLICK}\n") == f"plain {CLICK}\n"
    assert shown_line(f" {CLICK}\n") == f" {CLICK}"


# -- failures --------------------------------------------------------------------------------------
@pytest.mark.parametrize("view", ["waste", "history"])
def test_a_failure_naming_a_member_is_shown_as_text(tmp_path, monkeypatch, view):
    import layerscope.ui.screens.history as history_module
    import layerscope.ui.screens.waste as waste_module

    def broken(*args, **options):
        raise LayerscopeError(f"layer 1: member etc/{HOSTILE} is truncated")

    monkeypatch.setattr(waste_module, "waste", broken)
    monkeypatch.setattr(history_module, "path_history", broken)

    async def test(app, pilot):
        if view == "history":
            await go_to(app, pilot, "etc/motd")
        await press(pilot, "w" if view == "waste" else "H")
        await pilot.pause()  # the toast is mounted
        lines = screen_lines(app)
        # the view's own line, and the toast (its lines wrap: read as the widget renders it)
        where = "dead bytes could not" if view == "waste" else "history could not"
        assert f"member etc/{SHOWN} is truncated" in line_with(lines, where)
        assert any(" failed" in line for line in lines)  # the toast's title is on screen
        toast = str(app.screen.query_one(Toast).render())
        assert f"LayerscopeError: layer 1: member etc/{SHOWN} is truncated" in toast

    drive(tmp_path, test)
