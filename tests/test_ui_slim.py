"""Slim in the app: from the waste view (`s`), every layer to slim from with the bytes it saves
(the plan's figures), then the image written where the user says, as `layerscope slim` writes it;
an existing file is replaced only when the user agrees."""

from __future__ import annotations

import pytest
from pilots import drive, press, settle
from slimcheck import assert_same_final
from textual.widgets import DataTable, Input

import layerscope
from layerscope.ui.dialogs.confirm import ConfirmDialog
from layerscope.ui.dialogs.slim import SlimDialog, default_file
from layerscope.ui.screens.waste import WasteScreen
from layerscope.views import labels
from layerscope.write.plan import default_keep, options, plan


@pytest.fixture
def out(tmp_path, monkeypatch):
    """Where the dialog proposes to write the demo slimmed: ~/Downloads of a home of the test's."""
    home = tmp_path / "home"
    (home / "Downloads").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    return home / "Downloads" / "layerscope-demo-1-slim.tar"


def test_slim_from_the_waste_view(out):

    async def test(app, pilot):
        image = app.screen.image
        await press(pilot, "w")
        assert isinstance(app.screen, WasteScreen)
        await press(pilot, "s")
        dialog = app.screen
        assert isinstance(dialog, SlimDialog)
        await settle(pilot)
        table = dialog.query_one("#slim-options", DataTable)
        want = options(image)
        assert table.row_count == len(image.layers) == len(want)
        for o in want:
            row = table.get_row(str(o.keep))
            assert str(row[3]) == labels.exact(o.saved)
            assert str(row[2]) == labels.exact(o.squashed_bytes)
        assert table.cursor_row == default_keep(image) == dialog.keep
        assert dialog.query_one("#slim-dest", Input).value == str(out) == default_file(image)
        await press(pilot, "down", "enter")  # slim from the next layer, then the destination
        assert dialog.keep == default_keep(image) + 1
        await press(pilot, "enter")
        await settle(pilot, rounds=10)
        assert not isinstance(app.screen, SlimDialog)
        p = plan(image, dialog.keep)
        with layerscope.open(str(out)) as arch:
            written = arch.images[0]
            assert len(written.layers) == dialog.keep + 1
            assert image.size - written.size == p.saved
            assert_same_final(image, written)
        # again: the file exists, and is replaced only if the user says so
        before = out.read_bytes()
        await press(pilot, "s")
        await settle(pilot)
        await press(pilot, "enter", "enter")  # the default row, then write
        assert isinstance(app.screen, ConfirmDialog)
        await press(pilot, "escape")  # keep it
        assert out.read_bytes() == before
        assert isinstance(app.screen, SlimDialog)
        await press(pilot, "escape")
        assert isinstance(app.screen, WasteScreen)

    drive(test)


def test_slim_from_the_findings_view(out):
    """The findings view offers the same dialog (`s`); written, the image has the figures the
    dialog announced."""
    from layerscope.ui.screens.findings import FindingsScreen

    async def test(app, pilot):
        image = app.screen.image
        await press(pilot, "f")
        assert isinstance(app.screen, FindingsScreen)
        await press(pilot, "s")
        dialog = app.screen
        assert isinstance(dialog, SlimDialog)
        await settle(pilot)
        await press(pilot, "enter", "enter")  # the default row, then write
        await settle(pilot, rounds=10)
        assert isinstance(app.screen, FindingsScreen)
        with layerscope.open(str(out)) as arch:
            written = arch.images[0]
            assert image.size - written.size == plan(image, dialog.keep).saved
            assert_same_final(image, written)

    drive(test)
