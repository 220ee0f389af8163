"""Snapshots of the main screens and of every insight view, on the built-in sample and on the
two-image fixture, 120x40 (pytest-textual-snapshot); the main screen, waste, sharing and compare
also at 80x24, where the summary strip must still show the headline figures.

After a deliberate change: `pytest tests/test_ui_snapshots.py --snapshot-update`, then look at
the report or the SVGs in tests/__snapshots__/ before committing them."""

from __future__ import annotations

from pilots import DEMO, MULTI, SIZE, settle
from textual.pilot import Pilot
from textual.widgets import Input

import layerscope
from layerscope.ui.app import LayerscopeApp


def demo_app() -> LayerscopeApp:
    return LayerscopeApp(layerscope.discover([DEMO]))


def multi_app() -> LayerscopeApp:
    return LayerscopeApp(layerscope.discover([MULTI]))


def steps(*keys: str, reveal: tuple[str, int] | None = None, dest: str | None = None):
    """A `run_before` that waits for the layers to load, puts the tree on a path (`reveal`:
    path, layer), presses keys (letting the workers finish after each), sets the export
    dialog's destination, and stops the text cursors blinking."""

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot, 2, stop_when_idle=False)
        if reveal is not None:
            pilot.app.screen.reveal(*reveal)
            await settle(pilot, 2, stop_when_idle=False)
        for key in keys:
            await pilot.press(key)
            await settle(pilot, 2, stop_when_idle=False)
        for input_box in pilot.app.screen.query(Input):
            input_box.cursor_blink = False
            if dest is not None and input_box.id == "export-dest":
                input_box.value = dest
                input_box.action_end()
        await pilot.pause()

    return run_before


def test_main_screen(snap_compare):
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=steps())


def test_image_view_of_layer_3_with_attributes(snap_compare):
    keys = ("down", "down", "down", "m", "a", "tab", "down", "down")
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=steps(*keys))


def test_filter_in_use(snap_compare):
    keys = ("down", "down", "m", "slash", *"conf")
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=steps(*keys))


def test_help(snap_compare):
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=steps("question_mark"))


NARROW = (80, 24)


def test_narrow_terminal(snap_compare):
    assert snap_compare(demo_app(), terminal_size=NARROW, run_before=steps("down", "down"))


# -- the insight views -------------------------------------------------------------------------
def test_waste_view(snap_compare):
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=steps("w"))


def test_waste_view_narrow(snap_compare):
    assert snap_compare(demo_app(), terminal_size=NARROW, run_before=steps("w"))


def test_path_history(snap_compare):
    steps_ = steps("H", reveal=("etc/motd", 2))
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=steps_)


def test_preview_diff(snap_compare):
    steps_ = steps("p", reveal=("etc/motd", 2))
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=steps_)


def test_preview_highlighted_script(snap_compare):
    steps_ = steps("p", reveal=("opt/app/bin/run", 3))
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=steps_)


def test_export_dialog(snap_compare):
    steps_ = steps("x", reveal=("etc/config", 0), dest="/tmp/layerscope-export")
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=steps_)


def test_images_and_sharing(snap_compare):
    assert snap_compare(multi_app(), terminal_size=SIZE, run_before=steps("I"))


def test_compare_view(snap_compare):
    assert snap_compare(multi_app(), terminal_size=SIZE, run_before=steps("C"))


def test_images_and_sharing_narrow(snap_compare):
    assert snap_compare(multi_app(), terminal_size=NARROW, run_before=steps("I"))


def test_compare_view_narrow(snap_compare):
    assert snap_compare(multi_app(), terminal_size=NARROW, run_before=steps("C"))
