"""The layerscope app, and `run`, the entry point the command line calls."""

from __future__ import annotations

import sys
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from ..archive import Archive, discover
from ..image import Image
from .commands import LayerscopeCommands
from .screens.help import HelpScreen
from .screens.main import MainScreen

SWITCH_INTERVAL = 0.0005  # seconds a thread runs before another may take the interpreter


class LayerscopeApp(App[int]):
    """Browse the images of an archive: layers, their files, what hides what."""

    CSS_PATH = "app.tcss"
    TITLE = "layerscope"
    COMMANDS = App.COMMANDS | {LayerscopeCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", id="app.help"),
    ]

    def __init__(self, archive: Archive, image: Image | None = None) -> None:
        super().__init__()
        self.archive = archive
        self.first_image = image
        self._switch_interval = sys.getswitchinterval()

    def on_mount(self) -> None:
        # Reading layers and building trees run in threads: hand the interpreter back to the
        # UI thread more often than every 5 ms, so keys are answered while they run.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.push_screen(MainScreen(self.archive, self.first_image))

    def on_unmount(self) -> None:
        sys.setswitchinterval(self._switch_interval)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        main = self.screen if isinstance(self.screen, MainScreen) else None
        groups = [("Everywhere", self), ("Everywhere", self.screen)]
        if main is not None:
            groups = [
                ("Everywhere", self),
                ("Main screen", main),
                ("Layers pane", main.layer_list),
                ("File tree", main.file_tree),
            ]
        self.push_screen(HelpScreen(groups))


def run(
    names: list[str],
    *,
    platform: str | None,
    verify: bool,
    engine: str | None,
    image: str | None,
) -> int:
    """Open archives and show them; returns the exit status. Reading manifests and configs
    happens before the UI opens (errors go to the caller); layers are read inside the app."""
    from ..cli import select_image

    archive = discover(names, platform=platform, verify=verify, engine=engine)
    try:
        first = select_image(archive.images, image)
        app = LayerscopeApp(archive, first)
        app.run()
        return app.return_code or 0
    finally:
        archive.close()
