"""Snapshots of the main screens on the built-in sample, 120x40 (pytest-textual-snapshot).

After a deliberate change: `pytest tests/test_ui_snapshots.py --snapshot-update`, then look at
the report or the SVGs in tests/__snapshots__/ before committing them."""

from __future__ import annotations

from importlib import resources

from textual.pilot import Pilot
from textual.widgets import Input

import layerscope
from layerscope.ui.app import LayerscopeApp

DEMO = str(resources.files("layerscope") / "data" / "demo.tar.gz")
SIZE = (120, 40)


def demo_app() -> LayerscopeApp:
    return LayerscopeApp(layerscope.discover([DEMO]))


def steps(*keys: str):
    """A `run_before` that waits for the layers to load, presses keys (letting the tree thread
    finish after each), and stops the text cursor blinking."""

    async def run_before(pilot: Pilot) -> None:
        for input_box in pilot.app.screen.query(Input):
            input_box.cursor_blink = False
        for key in ("", *keys):
            if key:
                await pilot.press(key)
            for _ in range(2):
                await pilot.app.workers.wait_for_complete()
                await pilot.pause()

    return run_before


def test_main_screen(snap_compare):
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=steps())


def test_image_view_of_layer_3_with_attributes(snap_compare):
    keys = ("down", "down", "down", "m", "a", "tab", "tab", "tab", "down", "down")
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=steps(*keys))


def test_filter_in_use(snap_compare):
    keys = ("down", "down", "m", "slash", *"conf")
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=steps(*keys))


def test_help(snap_compare):
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=steps("question_mark"))


def test_narrow_terminal(snap_compare):
    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=steps("down", "down"))
