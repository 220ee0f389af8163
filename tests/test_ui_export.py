"""Export in the app (issue 18): a file the tree shows as removed is written as the layer that
stored it had it (the bytes the preview shows), and the destination proposed is a folder of its
own, never the current directory."""

from __future__ import annotations

import hashlib
import random

from builder import Dir, File, Img, Layer, Whiteout, docker_archive
from pilots import drive, go_to, main_screen, press, settle
from textual.widgets import Input, Static

from layerscope.insight.export import current_umask
from layerscope.ui.dialogs.export import ExportDialog, default_destination

SECRET = random.Random(1818).randbytes(200_000)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_removed_file_is_exported_from_the_changes_view(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "Downloads").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    archive = docker_archive(tmp_path / "a.tar", [Img([
        Layer(Dir("etc"), File("etc/key", SECRET, mode=0o640), Dir("opt"), File("opt/t", b"t")),
        Layer(Whiteout("etc/key"), Whiteout("opt")),
    ])])  # fmt: skip

    async def test(app, pilot):
        await go_to(app, pilot, "etc/key", layer=1, mode="changes")
        assert main_screen(app).file_tree.node.kind == "removed"
        await press(pilot, "x")
        dialog = app.screen
        assert isinstance(dialog, ExportDialog)
        what = str(dialog.query(Static).first().render())
        assert "/etc/key as layer 0 stored it, before layer 1 hid it (deleted) of" in what
        box = dialog.query_one("#export-dest", Input)
        assert box.value == str(home / "Downloads" / "layerscope-export") == default_destination()
        await press(pilot, "enter")  # the default
        await settle(pilot)
        assert app.screen is main_screen(app)
        written = home / "Downloads" / "layerscope-export" / "key"
        assert sha(written.read_bytes()) == sha(SECRET)
        assert written.stat().st_mode & 0o777 == 0o640 & ~current_umask()
        # a removed directory: as of the layer below, with what it held
        await go_to(app, pilot, "opt", layer=1, mode="image")
        await press(pilot, "x")
        box = app.screen.query_one("#export-dest", Input)
        box.value = str(tmp_path / "out")
        await press(pilot, "enter")
        await settle(pilot)
        assert (tmp_path / "out/opt/t").read_bytes() == b"t"

    drive(test, str(archive))
