"""How fast the app feels, measured on the real app run headless (bench/run.py calls this):

- `layers_shown`: seconds from start until the layers pane lists the layers;
- `all_loaded`: seconds until every layer is read and every image analysed;
- `views_ready`: seconds until the views of the image on screen are built ahead too;
- `key_press`: the median seconds a key takes to be answered, up to the screen showing the
  result (the tree thread done), with everything loaded and the views of the image built
  ahead: tabbing between the panes, moving in the tree, opening a directory, switching layers
  and modes; `key_press_max` the slowest of them, `key_timings` each.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import TYPE_CHECKING

from textual import events

from layerscope.read.records import DIR

if TYPE_CHECKING:
    from textual.app import App

    from layerscope.ui.app import LayerscopeApp

SIZE = (120, 40)
POLL = 0.005  # seconds between two looks at the screen
POLL_KEY = 0.0005  # seconds between two looks while a key is being answered
TIMEOUT = 900.0  # seconds to wait for everything to load
# from a directory's row (the keys start there): open it, move about
TREE_KEYS = ("down", "up", "enter", "down", "pagedown", "up", "home", "end", "home")
MAX_TABS = 5  # tabs from one pane to another, at most
LAYER_KEYS = ("down", "down", "up", "m", "down", "m", "up")


async def measure(app: LayerscopeApp) -> dict:
    """Run `app` headless and time it (see the module's docstring)."""
    from layerscope.ui.screens.main import MainScreen

    start = time.perf_counter()
    out: dict = {}
    async with app.run_test(size=SIZE) as pilot:

        async def wait_for(condition, what: str) -> float:
            while not condition():
                if time.perf_counter() - start > TIMEOUT:
                    raise TimeoutError(f"{what}: not after {TIMEOUT:.0f} s")
                await pilot.pause(POLL)
            return time.perf_counter() - start

        def main() -> MainScreen | None:
            screen = app.screen
            return screen if isinstance(screen, MainScreen) else None

        out["layers_shown"] = await wait_for(
            lambda: (s := main()) is not None and s.layer_list.option_count > 0, "layers shown"
        )
        out["all_loaded"] = await wait_for(
            lambda: (
                (s := main()) is not None
                and s.loading_done
                and len(s.analysed) == len(app.archive.images)
            ),
            "all loaded",
        )
        screen = main()
        assert screen is not None
        await _settle(pilot)
        out["views_ready"] = time.perf_counter() - start

        timings: list[float] = []
        keys: list[str] = []

        async def timed(key: str) -> None:
            # Not Pilot's press: it waits for the whole process to go idle, in steps of tens
            # of milliseconds. The key goes in as a terminal's would, and the clock stops when
            # every message it caused is handled and every worker it started is done.
            t = time.perf_counter()
            app.post_message(events.Key(key, key if len(key) == 1 else None))
            while _busy(app):
                await asyncio.sleep(POLL_KEY)
            timings.append(time.perf_counter() - t)
            keys.append(key)
            await _settle(pilot)

        async def focus(widget) -> None:
            """Tab to `widget`, as a user does (each tab is a key press timed)."""
            for _ in range(MAX_TABS):
                if app.focused is widget:
                    return
                await timed("tab")
            raise RuntimeError(f"tab never reached {widget!r}")

        await focus(screen.file_tree)
        screen.file_tree.show_cursor(_first_directory(screen.file_tree))
        await _settle(pilot)
        for key in TREE_KEYS:
            await timed(key)
        await focus(screen.layer_list)
        for key in LAYER_KEYS:
            await timed(key)
        out["key_press"] = statistics.median(timings)
        out["key_press_max"] = max(timings)
        out["keys"] = len(timings)
        out["key_timings"] = [[key, round(t, 4)] for key, t in zip(keys, timings, strict=True)]
        await pilot.press("q")
    return out


def _first_directory(tree) -> int:
    """The row of the first directory the tree shows (enter opens it), else 0."""
    outline = tree.outline
    for row in range(len(outline)):
        if outline.view.types[outline.node_at(row)] == DIR:
            return row
    return 0


async def _settle(pilot) -> None:
    """Until the workers are done and their messages handled."""
    for _ in range(3):
        await wait_for_workers(pilot.app)
        await pilot.pause()
        if all(worker.is_finished for worker in pilot.app.workers):
            return


async def wait_for_workers(app: App) -> None:
    """Until every worker running now is done; one cancelled (a newer one replaced it) is done
    too, with no exception for it."""
    await asyncio.gather(*(worker.wait() for worker in list(app.workers)), return_exceptions=True)


def _busy(app: LayerscopeApp) -> bool:
    """Whether a message waits to be handled anywhere on screen, or a worker runs."""
    if any(not worker.is_finished for worker in app.workers):
        return True
    if app.message_queue_size or app.screen.message_queue_size:
        return True
    return any(node.message_queue_size for node in app.screen.walk_children())
