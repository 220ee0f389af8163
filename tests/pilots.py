"""Driving the app with Pilot, for the UI tests: the sample archives and the screen size they
run on, running a test against the app, settling (letting workers finish and their messages
land), pressing keys, putting the tree on a path, and reading what the compositor draws.

Plain functions, not fixtures: they run inside the app's own event loop (`drive` starts one a
test; the suite has no async test plugin), with the Pilot of that run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

from rich.segment import Segment
from textual.pilot import Pilot
from textual.widget import Widget

import layerscope
from layerscope.ui.app import LayerscopeApp
from layerscope.ui.bench import wait_for_workers
from layerscope.ui.screens.main import MainScreen

DEMO = str(resources.files("layerscope") / "data" / "demo.tar.gz")
FIXTURES = Path(__file__).parent / "fixtures" / "real"
MULTI = str(FIXTURES / "multi.tar")
SIZE = (120, 40)

Test = Callable[[LayerscopeApp, Pilot], Awaitable[None]]


# -- running the app -----------------------------------------------------------------------------
async def settle(pilot: Pilot, rounds: int = 3, *, stop_when_idle: bool = True) -> None:
    """Let workers finish and their messages land (a tree built again because directories
    were opened meanwhile needs another round): up to `rounds` rounds, stopping once no worker
    runs (`stop_when_idle=False`: every round, whatever runs)."""
    for _ in range(rounds):
        await wait_for_workers(pilot.app)
        await pilot.pause()
        await _drain(pilot)
        if stop_when_idle and all(worker.is_finished for worker in pilot.app.workers):
            return


async def _drain(pilot: Pilot, most: int = 100) -> None:
    """Pause until no message waits on the app or its screen (a notification posted while
    mounting, say), up to `most` pauses: on a busy machine one pause may not be enough."""
    app = pilot.app
    for _ in range(most):
        if not (app.message_queue_size or app.screen.message_queue_size):
            return
        await pilot.pause()


async def press(pilot: Pilot, *keys: str) -> None:
    await pilot.press(*keys)
    await settle(pilot)


async def run_command(pilot: Pilot, text: str) -> None:
    """Open the command palette, type `text`, wait for its matches and run the first."""
    await press(pilot, "ctrl+p", *text)
    await palette_matches(pilot)
    await press(pilot, "enter")


async def palette_matches(pilot: Pilot, most: int = 300) -> None:
    """Wait for the command palette on screen to list matches (it searches as it likes: on a
    busy machine, later than the keys land), up to `most` pauses of 10 ms."""
    from textual.command import CommandList, CommandPalette

    for _ in range(most):
        screen = pilot.app.screen
        if isinstance(screen, CommandPalette) and screen.query_one(CommandList).option_count:
            return
        await pilot.pause(0.01)


def drive(
    test: Test,
    path: str = DEMO,
    image: int = 0,
    archive: layerscope.Archive | None = None,
    *,
    size: tuple[int, int] = SIZE,
    notifications: bool = False,
) -> None:
    """Run `test` against the app on image `image` of the archive at `path` (or of `archive`,
    already open), once the app has settled; the archive is closed afterwards."""

    async def main() -> None:
        arch = archive or layerscope.discover([path])
        app = LayerscopeApp(arch, arch.images[image])
        try:
            async with app.run_test(size=size, notifications=notifications) as pilot:
                await settle(pilot)
                await test(app, pilot)
        finally:
            arch.close()

    asyncio.run(main())


def main_screen(app: LayerscopeApp) -> MainScreen:
    screen = app.screen
    assert isinstance(screen, MainScreen)
    return screen


async def go_to(app, pilot, path: str, layer: int = 0, mode: str = "changes") -> None:
    """Put the main screen's tree on a path."""
    s = main_screen(app)
    s.reveal(path, layer, mode=mode)
    await settle(pilot)
    assert s.file_tree.node is not None and s.file_tree.node.path == path


# -- what the compositor draws -------------------------------------------------------------------
def drawn(app: LayerscopeApp, widget: Widget | None = None) -> list[list[Segment]]:
    """The lines of the screen as the compositor sends them to the terminal: all of them, or
    the part `widget` covers."""
    strips = app.screen._compositor.render_strips()
    if widget is None:
        return [list(strip) for strip in strips]
    r = widget.region
    assert r.area, f"{widget} is not on screen"
    return [list(strip.crop(r.x, r.right)) for strip in strips[r.y : r.bottom]]


def line_text(segments: list[Segment]) -> str:
    """The text of a drawn line."""
    return "".join(seg.text for seg in segments)


def clicks(segments: list[Segment]) -> list[str]:
    """The click actions the segments carry (Textual keeps them in the style's meta)."""
    found = []
    for seg in segments:
        meta = seg.style.meta if seg.style is not None else {}
        if "@click" in meta:
            found.append(str(meta["@click"]))
    return found
