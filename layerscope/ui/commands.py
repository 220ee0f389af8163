"""The command palette (ctrl+p): every action of the app, each image and layer, and "go to path"
(any path of any layer of the image on screen: ui/screens/finder.py).

Image names and paths come from the image: a hit is shown as `Content` built from their visible
form (`layerscope.text.visible`), never from a `str` the palette would parse as markup (Textual's
`Matcher.highlight` and a `str` prompt both parse it: `[@click=...]` in a path would become an
action).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Matcher, Provider
from textual.content import Content

from layerscope.text import visible
from layerscope.ui.screens.main import MainScreen
from layerscope.views.listing import FILTER_KINDS

MAX_PATH_HITS = 40


class LayerscopeCommands(Provider):
    """Commands of the main screen, found by fuzzy search; paths by substring."""

    def _main(self) -> MainScreen | None:
        screen = self.screen
        return screen if isinstance(screen, MainScreen) else None

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        main = self._main()
        if main is None:
            return []
        run = main.run_action
        commands: list[tuple[str, str, Callable[[], object]]] = [
            ("Toggle mode: layer changes / image as of layer", "m", partial(run, "toggle_mode")),
            ("Filter the file tree", "/", partial(run, "filter")),
            ("Clear the filter", "esc", partial(run, "clear_filter")),
            ("Next match of the filter, across the layers", "n", partial(run, "next_match(1)")),
            ("Previous match of the filter", "N", partial(run, "next_match(-1)")),
            ("Go to the next top waste", "b", partial(run, "top_waste")),
            ("Toggle sort: size / name", "s", partial(run, "toggle_sort")),
            ("Toggle attributes (mode, owner)", "a", partial(run, "toggle_attributes")),
            ("Expand all directories", "e", partial(run, "expand_all")),
            ("Collapse all directories", "c", partial(run, "collapse_all")),
            ("Previous layer", "[", partial(run, "step_layer(-1)")),
            ("Next layer", "]", partial(run, "step_layer(1)")),
            ("Waste: where the dead bytes are, by layer", "w", partial(run, "waste")),
            ("Findings: what to change in the build, secrets", "f", partial(run, "findings")),
            ("Preview the file at the cursor", "p / enter", partial(run, "preview")),
            ("Path history of the entry at the cursor", "H", partial(run, "history")),
            ("Export the entry at the cursor…", "x", partial(run, "export")),
            ("Show every key binding", "?", partial(self.app.run_action, "help")),
            ("Quit", "q", partial(self.app.run_action, "quit")),
        ]
        for n, kind in enumerate(FILTER_KINDS, 1):
            commands.append(
                (f"Hide/show {kind} entries", str(n), partial(run, f"toggle_kind('{kind}')"))
            )
        for layer in main.image.layers:
            commands.append(
                (
                    f"Go to layer {layer.position}",
                    "layer",
                    partial(main.select_layer, layer.position),
                )
            )
        if len(main.archive.images) > 1:
            commands.append(("Next image", "i", partial(run, "next_image")))
            commands.append(("Images and sharing", "I", partial(run, "sharing")))
            commands.append(("Compare two images", "C", partial(run, "compare")))
            for img in main.archive.images:
                commands.append(
                    (
                        visible(f"Show image {img.number + 1}: {img.name}"),
                        "image",
                        partial(main.switch_image, img),
                    )
                )
        return commands

    async def discover(self) -> Hits:
        yield DiscoveryHit(
            "Go to path… (type part of a path here)",
            partial(self.app.run_action, "command_palette"),
            help="any path of any layer: the view switches to one that shows it",
        )
        for name, key, callback in self._commands():
            yield DiscoveryHit(Content(name), callback, text=name, help=f"key: {key}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, key, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, highlight(matcher, name), callback, text=name, help=f"key: {key}")
        main = self._main()
        if main is None:
            return
        # in a thread: the first search of an image reads every layer's paths (0.5 s for 500,000)
        for path in await asyncio.to_thread(main.find_paths, query, MAX_PATH_HITS):
            name = visible(f"Go to /{path}")
            yield Hit(
                0.5 + 0.5 * len(query.strip("/ ")) / max(len(path), 1),
                highlight(matcher, name),
                partial(main.go_to_path, path),
                text=name,
                help="go to path",
            )


def highlight(matcher: Matcher, name: str) -> Content:
    """`name` (visible text, possibly from the image) as plain Content, the characters the query
    matched highlighted: what `Matcher.highlight` does, but without parsing `name` as markup."""
    content = Content(name)
    score, offsets = matcher.fuzzy_search.match(matcher.query, name)
    if not score:
        return content
    for offset in offsets:
        if not name[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content
