"""How fast the app feels, measured on the real app run headless (bench/run.py calls this).

`measure(app)`:
- `layers_shown`: seconds from start until the layers pane lists the layers;
- `all_loaded`: seconds until every layer is read and every image analysed (with
  `upto="loaded"` the measure stops there);
- `views_ready`: seconds until the views of the image on screen are built ahead too;
- `key_press`: the median seconds a key takes to be answered, up to the screen showing the
  result (the tree thread done), with everything loaded and the views of the image built
  ahead: tabbing between the panes, moving in the tree, opening a directory, switching layers
  and modes; `key_press_max` the slowest of them, `key_timings` each.

`measure_cold(app)`, on an app whose layers are not read yet:
- `cold_key_press`, `cold_key_press_max`: the median and slowest answer to keys pressed while
  the layers load (one every `COLD_GAP` seconds: up and down in the layers pane and in the tree,
  tabs between them), each timed until everything it caused is done — the loader's own work
  (its thread, its messages, the views built ahead) aside; `cold_keys` how many,
  `cold_timed_out` how many were given up after KEY_TIMEOUT seconds (`key_timeout`);
- `switch_layer`, `switch_mode`: a layer switch (`]`) and then a mode switch (`m`) pressed the
  moment every layer is read, before any view is built ahead, each timed until the tree shows
  it (`switch_layer` is None for an image of one layer); `switch_timed_out` as above.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from textual import events
from textual.worker import Worker

from layerscope.read.records import DIR
from layerscope.ui import loading

if TYPE_CHECKING:
    from textual.app import App
    from textual.message import Message
    from textual.pilot import Pilot
    from textual.widget import Widget

    from layerscope.ui.app import LayerscopeApp
    from layerscope.ui.screens.main import MainScreen

SIZE = (120, 40)
POLL = 0.005  # seconds between two looks at the screen
POLL_KEY = 0.0005  # seconds between two looks while a key is being answered
TIMEOUT = 900.0  # seconds to wait for everything to load
KEY_TIMEOUT = 30.0  # seconds to wait for a key's answer: one that takes longer is given up
# from a directory's row (the keys start there): open it, move about
TREE_KEYS = ("down", "up", "enter", "down", "pagedown", "up", "home", "end", "home")
MAX_TABS = 5  # tabs from one pane to another, at most
LAYER_KEYS = ("down", "down", "up", "m", "down", "m", "up")
# while the layers load: a key every COLD_GAP seconds, in turn in these panes
COLD_GAP = 0.1
COLD_LAYER_KEYS = ("down", "up")
COLD_TREE_KEYS = ("down", "down", "up", "pagedown", "home")
BACKGROUND = ("load", "views")  # worker groups that are the loader's work, not a key's
CHARACTERS = {"right_square_bracket": "]"}


class Keys:
    """Presses keys into a running app as a terminal would, and times each answer."""

    def __init__(self, app: LayerscopeApp, pilot: Pilot) -> None:
        self.app = app
        self.pilot = pilot
        self.timings: list[float] = []
        self.keys: list[str] = []
        self.timed_out = 0  # keys given up after KEY_TIMEOUT seconds

    async def press(self, key: str, background: bool = False) -> float:
        """Press `key`; the seconds until it is answered. Not Pilot's press: it waits for the
        whole process to go idle, in steps of tens of milliseconds. The clock stops when every
        message the key caused is handled and every worker it started is done — with
        `background`, while the loader's work goes on (see `_busy`)."""
        t = time.perf_counter()
        self.app.post_message(events.Key(key, CHARACTERS.get(key, key if len(key) == 1 else None)))
        if not await self.answered(background):
            self.timed_out += 1
        took = time.perf_counter() - t
        self.timings.append(took)
        self.keys.append(key)
        if not background:
            await _settle(self.pilot)
        return took

    async def focus(self, widget: Widget, background: bool = False) -> bool:
        """Tab to `widget`, as a user does (each tab is a key press timed); whether it was
        reached (while the layers load, the tree takes no focus until it shows files)."""
        for _ in range(MAX_TABS):
            if self.app.focused is widget:
                return True
            await self.press("tab", background)
        if self.app.focused is widget:
            return True
        if not background:
            raise RuntimeError(f"tab never reached {widget!r}")
        return False

    async def answered(self, background: bool = False) -> bool:
        """Until nothing is busy (see `_busy`) on two looks in a row (a handler under way has
        had its turn in between): True; False if that is not so after KEY_TIMEOUT seconds."""
        start = time.perf_counter()
        while True:
            if _busy(self.app, background):
                if time.perf_counter() - start > KEY_TIMEOUT:
                    return False
                await asyncio.sleep(POLL_KEY)
                continue
            await asyncio.sleep(0)
            if not _busy(self.app, background):
                return True

    def summary(self, prefix: str = "") -> dict:
        return {
            f"{prefix}key_press": statistics.median(self.timings) if self.timings else None,
            f"{prefix}key_press_max": max(self.timings, default=None),
            f"{prefix}keys": len(self.timings),
            f"{prefix}timed_out": self.timed_out,
            f"{prefix}key_timings": [
                [key, round(t, 4)] for key, t in zip(self.keys, self.timings, strict=True)
            ],
        }


def _main(app: LayerscopeApp) -> MainScreen | None:
    from layerscope.ui.screens.main import MainScreen

    screen = app.screen
    return screen if isinstance(screen, MainScreen) else None


def _layers_shown(app: LayerscopeApp) -> bool:
    return (s := _main(app)) is not None and s.layer_list.option_count > 0


def _all_loaded(app: LayerscopeApp) -> bool:
    return (
        (s := _main(app)) is not None
        and s.loading_done
        and len(s.analysed) == len(app.archive.images)
    )


async def _wait_for(pilot: Pilot, start: float, condition: Callable[[], bool], what: str) -> float:
    """Seconds from `start` until `condition` holds, looked at every POLL seconds."""
    while not condition():
        if time.perf_counter() - start > TIMEOUT:
            raise TimeoutError(f"{what}: not after {TIMEOUT:.0f} s")
        await pilot.pause(POLL)
    return time.perf_counter() - start


async def measure(app: LayerscopeApp, upto: str = "keys") -> dict:
    """Run `app` headless and time it (see the module's docstring); `upto="loaded"` stops once
    everything is loaded."""
    start = time.perf_counter()
    out: dict = {}
    async with app.run_test(size=SIZE) as pilot:
        out["layers_shown"] = await _wait_for(
            pilot, start, lambda: _layers_shown(app), "layers shown"
        )
        out["all_loaded"] = await _wait_for(pilot, start, lambda: _all_loaded(app), "all loaded")
        if upto == "loaded":
            await pilot.press("q")
            return out
        screen = _main(app)
        assert screen is not None
        await _settle(pilot)
        out["views_ready"] = time.perf_counter() - start

        keys = Keys(app, pilot)
        await keys.focus(screen.file_tree)
        screen.file_tree.show_cursor(_first_directory(screen.file_tree))
        await _settle(pilot)
        for key in TREE_KEYS:
            await keys.press(key)
        await keys.focus(screen.layer_list)
        for key in LAYER_KEYS:
            await keys.press(key)
        out.update(keys.summary())
        await pilot.press("q")
    return out


async def measure_cold(app: LayerscopeApp) -> dict:
    """Run `app` headless, pressing keys while its layers load, then switching layer and mode
    the moment they are loaded (see the module's docstring)."""
    start = time.perf_counter()
    out: dict = {"key_timeout": KEY_TIMEOUT}
    async with app.run_test(size=SIZE) as pilot:
        out["layers_shown"] = await _wait_for(
            pilot, start, lambda: _layers_shown(app), "layers shown"
        )
        screen = _main(app)
        assert screen is not None
        keys = Keys(app, pilot)
        panes = ((screen.layer_list, COLD_LAYER_KEYS), (screen.file_tree, COLD_TREE_KEYS))
        while not _all_loaded(app):  # each key is pressed while the layers load
            for widget, pane_keys in panes:
                for key in (None, *pane_keys):  # None: tab to the pane
                    if _all_loaded(app):
                        break
                    if time.perf_counter() - start > TIMEOUT:
                        raise TimeoutError(f"all loaded: not after {TIMEOUT:.0f} s")
                    if key is None:
                        if not await keys.focus(widget, background=True):
                            break  # not reachable yet: the next pane
                    else:
                        await keys.press(key, background=True)
                    await _pause_unless(COLD_GAP, lambda: _all_loaded(app))
        out["all_loaded"] = time.perf_counter() - start
        out.update(keys.summary("cold_"))

        switch = Keys(app, pilot)
        screen.layer_list.focus()  # where the keys go (not the filter box): not timed
        await switch.answered(background=True)
        several = len(screen.image.layers) > 1
        out["switch_layer"] = (
            await switch.press("right_square_bracket", background=True) if several else None
        )
        out["switch_mode"] = await switch.press("m", background=True)
        out["switch_timed_out"] = switch.timed_out
        await pilot.press("q")
    return out


async def _pause_unless(seconds: float, condition: Callable[[], bool]) -> None:
    """Wait `seconds`, or less once `condition` holds."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end and not condition():
        await asyncio.sleep(0.002)


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


def _busy(app: LayerscopeApp, background: bool = False) -> bool:
    """Whether a message waits to be handled anywhere on screen, or a worker works. With
    `background`, the loader's work does not count: its workers (BACKGROUND groups), the
    messages it posts (those of ui/loading.py) and those of its workers' state."""
    if any(_working(w) and not (background and w.group in BACKGROUND) for w in app.workers):
        return True
    pumps: Iterable[Any] = (app, app.screen, *app.screen.walk_children())
    if not background:
        return any(pump.message_queue_size for pump in pumps)
    return any(_keyed(m) for pump in pumps for m in _queued(pump))


def _working(worker: Worker) -> bool:
    """Whether a worker is at work that counts: one cancelled (a newer one replaced it) does
    not, though its thread may not have noticed yet."""
    return not worker.is_finished and not worker.is_cancelled


def _queued(pump: Any) -> list[Message]:
    """The messages waiting in a pump's queue (Textual keeps them in an asyncio.Queue)."""
    waiting = list(getattr(pump._message_queue, "_queue", ()))
    pending = getattr(pump, "_pending_message", None)
    return [m for m in (pending, *waiting) if m is not None]


def _keyed(message: Message) -> bool:
    """Whether a message may come from a key: anything but the loader's."""
    if type(message).__module__ == loading.__name__:
        return False
    if isinstance(message, Worker.StateChanged):
        return message.worker.group not in BACKGROUND
    return True
