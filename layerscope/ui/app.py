"""The layerscope app, and `run`, the entry point the command line calls."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from ..archive import Archive, discover
from ..errors import LayerscopeError
from ..image import Image
from ..limits import DEFAULT_LIMITS, Limits
from ..parallel import start_server
from .commands import LayerscopeCommands
from .screens.help import HelpScreen
from .screens.main import MainScreen

SWITCH_INTERVAL = 0.0005  # seconds a thread runs before another may take the interpreter


class LayerscopeApp(App[int]):
    """Browse the images of an archive: layers, their files, what hides what.

    `archive` is an open Archive, or the names of archives to open (the app then owns and
    closes it). `compare` opens the app straight in the compare view of two of its images."""

    CSS_PATH = "app.tcss"
    TITLE = "layerscope"
    COMMANDS = App.COMMANDS | {LayerscopeCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", id="app.help"),
    ]

    def __init__(
        self,
        archive: Archive | Sequence[str],
        image: Image | None = None,
        *,
        compare: tuple[Image, Image] | None = None,
    ) -> None:
        super().__init__()
        self.owns_archive = not isinstance(archive, Archive)
        self.archive = discover(list(archive)) if not isinstance(archive, Archive) else archive
        if self.archive.needs_workers():
            start_server()  # now: it cannot start once the app has taken standard error
        self.first_image = image
        self.compare = compare
        self._switch_interval = sys.getswitchinterval()

    def on_mount(self) -> None:
        # Reading layers and building trees run in threads: hand the interpreter back to the
        # UI thread more often than every 5 ms, so keys are answered while they run.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        main = MainScreen(self.archive, self.first_image)
        self.push_screen(main)
        if self.compare is not None:
            from .screens.compare import CompareScreen

            a, b = self.compare
            self.push_screen(CompareScreen(main, self.archive.images, a, b))

    def on_unmount(self) -> None:
        sys.setswitchinterval(self._switch_interval)
        if self.owns_archive:
            self.archive.close()

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        main = self.screen if isinstance(self.screen, MainScreen) else None
        groups = [("Everywhere", self), ("This view", self.screen)]
        if main is not None:
            groups = [
                ("Everywhere", self),
                ("Main screen", main),
                ("Layers pane", main.layer_list),
                ("File tree", main.file_tree),
            ]
        else:
            from .widgets.outline import OutlineView

            for tree in self.screen.query(OutlineView):
                groups.append(("Tree", tree))
                break
        self.push_screen(HelpScreen(groups))


def compare_pair(images: Sequence[Image], selectors: Sequence[str] | None) -> tuple[Image, Image]:
    """The two images `--compare` opens: the two `--image` given, else the first two."""
    from ..archive import select_image

    sel = list(selectors or [])
    if len(sel) == 2:
        return select_image(images, sel[0]), select_image(images, sel[1])
    if not sel and len(images) >= 2:
        return images[0], images[1]
    raise LayerscopeError("--compare needs two images: two archives, or --image twice")


def run(
    names: list[str],
    *,
    platform: str | None,
    verify: bool,
    engine: str | None,
    image: str | None,
    compare: Sequence[str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    cache: bool = True,
) -> int:
    """Open archives and show them; returns the exit status. Reading manifests and configs
    happens before the UI opens (errors go to the caller); layers are read inside the app.
    `compare` (the `--image` selectors, possibly empty) opens the compare view first."""
    from ..archive import select_image

    archive = discover(
        names, platform=platform, verify=verify, engine=engine, limits=limits, cache=cache
    )
    try:
        pair = compare_pair(archive.images, compare) if compare is not None else None
        first = pair[0] if pair else select_image(archive.images, image)
        app = LayerscopeApp(archive, first, compare=pair)
        app.run()
        return app.return_code or 0
    finally:
        archive.close()
