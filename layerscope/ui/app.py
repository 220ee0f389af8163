"""The layerscope app, and `run`, the entry point the command line calls.

Ended by SIGTERM or SIGHUP (see lifecycle.py), the app exits as `q` does, so Textual restores
the terminal (main screen, no mouse tracking, the terminal's own modes); the exit status is then
128 + the signal. After SIGHUP, a terminal that is gone is no longer written to."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from layerscope import lifecycle
from layerscope.limits import DEFAULT_LIMITS, Limits
from layerscope.model.archive import Archive, discover
from layerscope.model.image import Image
from layerscope.read.parallel import start_server
from layerscope.read.registryoptions import RegistryOptions
from layerscope.ui import keymap, untrusted
from layerscope.ui.commands import LayerscopeCommands
from layerscope.ui.screens.help import HelpScreen
from layerscope.ui.screens.main import MainScreen

SWITCH_INTERVAL = 0.0005  # seconds a thread runs before another may take the interpreter
# What Textual's exit writes to leave the terminal as it found it: mouse tracking off, bracketed
# paste off, line wrap on, Kitty keyboard mode popped, main screen, cursor shown, focus events off
RESTORE = (
    "\x1b[?1000l\x1b[?1003l\x1b[?1015l\x1b[?1006l\x1b[?2004l\x1b[?7h\x1b[<u"
    "\x1b[?1049l\x1b[?25h\x1b[?1004l"
)


class LayerscopeApp(App[int]):
    """Browse the images of an archive: layers, their files, what hides what.

    `archive` is an open Archive, or the names of archives to open (the app then owns and
    closes it). `compare` opens the app straight in the compare view of two of its images."""

    CSS_PATH = "app.tcss"
    TITLE = "layerscope"
    COMMANDS = App.COMMANDS | {LayerscopeCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        # as dive and most terminal tools do (Textual would only say how to quit); wherever the
        # focus is, the filter box included
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="app.quit_ctrl_c"),
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
        self._signal_loop: asyncio.AbstractEventLoop | None = None

    def on_load(self) -> None:
        # from now on a signal can ask for a normal exit (before, it is only recorded)
        self._signal_loop = asyncio.get_running_loop()
        signum = lifecycle.received()
        if signum is not None:
            self.exit(None, lifecycle.exit_status(signum))

    def end_by_signal(self, signum: int) -> None:
        """SIGTERM or SIGHUP came (lifecycle.py calls this in the main thread, between two
        bytecodes of the event loop): exit as `q` does, once the loop takes it up."""
        if signum == getattr(signal, "SIGHUP", None):
            _leave_a_hung_up_terminal()
        loop = self._signal_loop
        if loop is not None:
            loop.call_soon_threadsafe(self.exit, None, lifecycle.exit_status(signum))

    def on_mount(self) -> None:
        # Reading layers and building trees run in threads: hand the interpreter back to the
        # UI thread more often than every 5 ms, so keys are answered while they run.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        self._apply_keymap()
        main = MainScreen(self.archive, self.first_image)
        self.push_screen(main)
        if self.compare is not None:
            main.open_compare(*self.compare)

    def _apply_keymap(self) -> None:
        """Remap the keys the user's keymap file names (ui/keymap.py); say what in it cannot
        apply, a line each."""
        path = keymap.keymap_path()
        if not path.exists():
            return
        remap, warnings = keymap.load_keymap(path, keymap.binding_ids(type(self)))
        if remap:
            self.set_keymap(remap)
        for warning in warnings:
            untrusted.notify(self, warning, title="Keymap", severity="warning", timeout=12)

    def on_unmount(self) -> None:
        self._signal_loop = None  # the terminal is restored: a signal now ends run()
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
            from layerscope.ui.widgets.outline import OutlineView

            for tree in self.screen.query(OutlineView):
                groups.append(("Tree", tree))
                break
        self.push_screen(HelpScreen(groups))


def compare_pair(images: Sequence[Image], selectors: Sequence[str] | None) -> tuple[Image, Image]:
    """The two images `--compare` opens: the two `--image` given, else the first two."""
    from layerscope.model.selection import compare_pair as pair

    return pair(images, selectors or [], first_two=True)


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
    apply: str = "overlay",
    registry: RegistryOptions | None = None,
) -> int:
    """Open archives and show them; returns the exit status. Reading manifests and configs
    happens before the UI opens (errors go to the caller); layers are read inside the app.
    `compare` (the `--image` selectors, possibly empty) opens the compare view first."""
    from layerscope.model.selection import select_image

    archive = discover(
        names,
        platform=platform,
        verify=verify,
        engine=engine,
        limits=limits,
        cache=cache,
        apply=apply,
        registry=registry,
    )
    try:
        pair = compare_pair(archive.images, compare) if compare is not None else None
        first = pair[0] if pair else select_image(archive.images, image)
        app = LayerscopeApp(archive, first, compare=pair)
        lifecycle.install()  # the command line did it already; a caller of run() may not have
        with lifecycle.diverted(app.end_by_signal, _terminal_restorer()):
            app.run()
        signum = lifecycle.received()
        if signum is not None:
            return lifecycle.exit_status(signum)
        return app.return_code or 0
    finally:
        archive.close()


def _leave_a_hung_up_terminal() -> None:
    """After SIGHUP the terminal may be gone (closed window, lost SSH session): then every write
    to it fails, and Textual's exit could wait forever on its output thread. Its output (standard
    error) then goes to /dev/null. A terminal still there is left as it is, to be restored."""
    import termios  # POSIX only, as SIGHUP is

    try:
        fd = sys.__stderr__.fileno()  # type: ignore[union-attr]
        termios.tcgetattr(fd)
    except termios.error as e:
        if e.args and e.args[0] == errno.EIO:  # hung up (ENOTTY: not a terminal, left alone)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)
    except (OSError, ValueError, AttributeError):
        pass


def _terminal_restorer() -> Callable[[], None]:
    """What restores the terminal if the app cannot end in time after a signal (lifecycle.py's
    GRACE): its modes as they are now, and RESTORE written to it."""
    try:
        import termios
    except ImportError:  # not POSIX
        return lambda: None
    out, tty = 2, 0
    modes = None
    with contextlib.suppress(termios.error, OSError, ValueError, AttributeError):
        out = sys.__stderr__.fileno()  # type: ignore[union-attr]
        tty = sys.__stdin__.fileno()  # type: ignore[union-attr]
        modes = termios.tcgetattr(tty)

    def restore() -> None:
        with contextlib.suppress(termios.error, OSError, ValueError, AttributeError):
            if modes is not None:
                termios.tcsetattr(tty, termios.TCSANOW, modes)
            os.write(out, RESTORE.encode())

    return restore
