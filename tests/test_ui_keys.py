"""Keys as a new user tries them: ctrl+c quits, the key line says q quits, a keymap file remaps
keys, I and C explain themselves with one image, "go to path" finds a path in any layer, and n/N
go through the matches of a filter across the layers."""

from __future__ import annotations

from pilots import (
    MULTI,
    drawn,
    drive,
    line_text,
    main_screen,
    palette_matches,
    press,
    settle,
)
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input

from layerscope.ui.app import LayerscopeApp
from layerscope.ui.screens.help import HelpScreen
from layerscope.ui.screens.main import MainScreen
from layerscope.ui.screens.waste import WasteScreen

SMALL = (80, 24)


def said(app) -> list[str]:
    """The notifications so far, as plain text."""
    return [str(n.message) for n in app._notifications]


# -- quitting ------------------------------------------------------------------------------------
def test_ctrl_c_quits_wherever_the_focus_is():
    for keys in (("ctrl+c",), ("slash", *"co", "ctrl+c")):  # the filter box too

        async def test(app, pilot, keys=keys):
            await press(pilot, *keys)
            await pilot.pause()
            assert app._exit  # the app is on its way out
            assert app.return_code == 0

        drive(test, size=SMALL)


def test_the_first_screen_says_q_quits_at_80_columns():
    async def test(app, pilot):
        keys = line_text(drawn(app)[-1])
        assert " q Quit " in keys and " ? Help " in keys

    drive(test, size=SMALL)


# -- the keymap file -----------------------------------------------------------------------------
def test_a_keymap_file_remaps_keys_and_says_what_it_cannot_apply(tmp_path, monkeypatch):
    (tmp_path / "layerscope").mkdir()
    lines = ['"main.waste" = "W"', '"main.next_match" = "ctrl+n"', '"no.such" = "x"']
    lines.append('"main.filter" = 7')
    (tmp_path / "layerscope" / "keymap.toml").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))

    async def test(app, pilot):
        warnings = [n for n in app._notifications if n.title == "Keymap"]
        assert len(warnings) == 2
        assert "no key binding has the id 'no.such'" in str(warnings[0].message)
        assert "main.filter = 7 is not a list of keys" in str(warnings[1].message)
        assert " W Waste " in line_text(drawn(app)[-1])  # the key line shows the new key
        await press(pilot, "w")  # the old key does nothing now
        assert isinstance(app.screen, MainScreen)
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        entries = app.screen.entries()
        assert ("Main screen", "W", "Waste", "main.waste") in entries
        assert ("Main screen", "ctrl+n", "Next match", "main.next_match") in [
            (g, k.replace("^n", "ctrl+n"), d, i) for g, k, d, i in entries
        ]
        await press(pilot, "escape", "W")
        assert isinstance(app.screen, WasteScreen)

    drive(test, size=SMALL, notifications=True)


def test_a_keymap_file_that_is_not_toml_is_one_warning(tmp_path, monkeypatch):
    (tmp_path / "layerscope").mkdir()
    (tmp_path / "layerscope" / "keymap.toml").write_text("main.waste = = W\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))

    async def test(app, pilot):
        notes = list(app._notifications)
        assert [n.title for n in notes] == ["Keymap"]
        assert "not valid TOML" in str(notes[0].message)
        await press(pilot, "w")  # the keys as they were
        assert isinstance(app.screen, WasteScreen)

    drive(test, size=SMALL, notifications=True)


# -- one image -----------------------------------------------------------------------------------
def test_images_and_compare_say_why_they_need_several_images():
    async def test(app, pilot):
        keys = line_text(drawn(app)[-1])
        assert " I " not in keys and " C " not in keys  # not offered with one image
        for key, what in (("I", "The images view (I)"), ("C", "Compare (C)"), ("i", "Next image")):
            await press(pilot, key)
            assert isinstance(app.screen, MainScreen)
            assert said(app)[-1].startswith(f"{what} needs several images")

    drive(test, size=SMALL, notifications=True)

    async def several(app, pilot):
        assert " I Images " in line_text(drawn(app)[-1])

    drive(several, MULTI)


# -- go to path ----------------------------------------------------------------------------------
def test_go_to_path_finds_a_path_of_any_layer_and_switches_the_view():
    async def test(app, pilot):
        s = main_screen(app)
        await press(pilot, "down", "down", "down")  # layer 3's changes: no etc/motd there
        assert (s.layer_index, s.mode) == (3, "changes")
        assert "var/cache/demo/a.cache" in s.find_paths("a.cache", 10)  # removed in layer 2
        s.go_to_path("etc/motd")
        await settle(pilot)
        assert (s.layer_index, s.mode, s.file_tree.cursor_path) == (3, "image", "etc/motd")
        assert said(app)[-1] == (
            "/etc/motd is not in layer 3's changes: showing the image as of layer 3."
        )
        await press(pilot, "down")  # the image as of layer 4
        s.go_to_path("var/cache/demo/a.cache")  # removed by layer 2
        await settle(pilot)
        assert (s.layer_index, s.mode) == (2, "changes")
        assert s.file_tree.cursor_path == "var/cache/demo/a.cache"
        assert s.file_tree.node.kind == "removed"
        assert said(app)[-1].endswith("showing layer 2's changes.")
        s.go_to_path("no/such/path")
        await settle(pilot)
        assert said(app)[-1] == "/no/such/path is in no view of this image"

    drive(test, notifications=True)


def test_go_to_path_from_the_command_palette():
    async def test(app, pilot):
        s = main_screen(app)
        await press(pilot, "down")  # layer 1
        await press(pilot, "ctrl+p")
        app.screen.query_one(Input).value = "a.cache"
        await settle(pilot)
        await palette_matches(pilot)
        await pilot.pause(0.3)  # the palette shows its hits in batches: all of them
        await press(pilot, "enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert s.file_tree.cursor_path == "var/cache/demo/a.cache"
        assert s.mode == "image" and s.layer_index == 1  # the mode only had to change

    drive(test, notifications=True)


# -- n / N ---------------------------------------------------------------------------------------
def test_n_and_shift_n_go_through_the_matches_across_the_layers():
    async def test(app, pilot):
        s = main_screen(app)
        await press(pilot, "n")
        assert said(app)[-1].startswith("n and N go to the next and previous match")
        await press(pilot, "slash", *"conf", "enter")

        def where() -> tuple[int, str]:
            return s.layer_index, s.file_tree.cursor_path

        expected = [
            (0, "etc/config"),  # a directory's name matches too
            (0, "etc/config/app.conf"),
            (0, "etc/config/extra.conf"),
            (2, "etc/config"),  # layer 1 has no match: on to layer 2
            (2, "etc/config/app.conf"),
            (2, "etc/config/extra.conf"),  # removed there
            (4, "srv/app/conf"),
            (4, "srv/app/conf/app.ini"),  # a path below a matching directory matches
        ]
        seen = []
        for _ in expected:
            await press(pilot, "n")
            seen.append(where())
        assert seen == expected
        assert "Next match: layer 2." in said(app) and said(app)[-1] == "Next match: layer 4."
        await press(pilot, "n")
        assert where() == expected[-1] and said(app)[-1] == "No more matches after this one."
        seen = []
        for _ in expected[:-1]:
            await press(pilot, "N")
            seen.append(where())
        assert seen == expected[-2::-1]
        assert said(app)[-1] == "Previous match: layer 0."
        await press(pilot, "N")
        assert where() == expected[0] and said(app)[-1] == "No more matches before this one."

    drive(test, notifications=True)


def test_two_layer_keys_in_flight_settle_on_the_last_one() -> None:
    """`down` then `up` posted before either is handled: the app ends on layer 0 and stays
    there (the highlight it sets itself used to echo back and the two chased each other)."""

    async def test(app: LayerscopeApp, pilot: Pilot) -> None:
        screen = main_screen(app)
        screen.layer_list.focus()
        await settle(pilot)
        seen: list[int] = []
        original = type(screen).watch_layer_index

        def watch(self: MainScreen) -> None:
            seen.append(self.layer_index)
            original(self)

        type(screen).watch_layer_index = watch  # type: ignore[method-assign]
        try:
            app.post_message(events.Key("down", None))
            app.post_message(events.Key("down", None))
            app.post_message(events.Key("up", None))
            for _ in range(20):
                await pilot.pause(0.02)
            await settle(pilot)
        finally:
            type(screen).watch_layer_index = original  # type: ignore[method-assign]
        assert screen.layer_index == 1 == screen.layer_list.position
        assert len(seen) <= 3, seen

    drive(test)
