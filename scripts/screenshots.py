"""Regenerate the README's screenshots (SVG) from the real app: the built-in sample, and the
two-image fixture for the views that need several images.

    python scripts/screenshots.py [OUTPUT_DIR]      (default: screenshots/)

Each shot starts the app headless at 120x40, waits for the layers to be read, puts the file
tree on a path if asked, presses keys and saves the screen.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from textual.widgets import Input

import layerscope
from layerscope.ui.app import LayerscopeApp
from layerscope.ui.bench import wait_for_workers

SIZE = (120, 40)
ROOT = Path(__file__).resolve().parent.parent
DEMO = str(resources.files("layerscope") / "data" / "demo.tar.gz")
MULTI = str(ROOT / "tests" / "fixtures" / "real" / "multi.tar")
# a podman build that commits several mistakes (tests/fixtures/real/make_findings_fixtures.sh)
SHOWCASE = str(ROOT / "tests" / "fixtures" / "real" / "findings" / "showcase.tar")


@dataclass(frozen=True)
class Shot:
    title: str
    keys: tuple[str, ...] = ()
    archive: str = DEMO
    reveal: tuple[str, int] | None = None  # (path, layer): the tree on it before the keys
    dest: str | None = None  # the export (or slim) dialog's destination


SHOTS: dict[str, Shot] = {
    "main": Shot("layerscope: the changes of each layer", ("down", "down")),
    "image-view": Shot(
        "layerscope: the image as of a layer, attributes on",
        ("down", "down", "down", "m", "a", "tab", "down", "down"),
    ),
    "filter": Shot(
        "layerscope: filtering the tree", ("down", "down", "m", "slash", *"conf", "enter")
    ),
    "help": Shot("layerscope: every key", ("question_mark",)),
    "waste": Shot("layerscope: where the dead bytes are (w)", ("w",)),
    "findings": Shot(
        "layerscope: what to change in the build (f)", ("f", "down", "down"), archive=SHOWCASE
    ),
    "history": Shot("layerscope: the history of a path (H)", ("H",), reveal=("etc/motd", 2)),
    "preview": Shot("layerscope: a file as of a layer (p)", ("p",), reveal=("usr/bin/tool", 0)),
    "preview-diff": Shot(
        "layerscope: what a layer changed in a file (p)", ("p",), reveal=("etc/motd", 2)
    ),
    "export": Shot(
        "layerscope: export a directory as of a layer (x)",
        ("x",),
        reveal=("etc/config", 0),
        dest="~/layerscope-export",
    ),
    "slim": Shot(
        "layerscope: slim from a layer, the bytes each choice saves (s in the waste view)",
        ("w", "s"),
        dest="~/Downloads/layerscope-demo-1-slim.tar",
    ),
    "sharing": Shot("layerscope: images and what they share (I)", ("I",), archive=MULTI),
    "compare": Shot("layerscope: two images compared (C)", ("C",), archive=MULTI),
}


def preserve_spaces(svg: str) -> str:
    """Rich's SVG writes every space as a no-break space but does not say to keep them: librsvg
    (and so any PNG made from the SVG) drops the spaces that start a run of text, gluing
    "extra.conf" to "removed (whiteout)" and pulling right-aligned sizes left. Browsers keep
    them; `xml:space="preserve"` makes every renderer keep them."""
    return svg.replace("<svg ", '<svg xml:space="preserve" ', 1)


async def shoot(out: Path, name: str, shot: Shot) -> Path:
    archive = layerscope.discover([shot.archive])
    app = LayerscopeApp(archive)
    try:
        async with app.run_test(size=SIZE) as pilot:

            async def settle() -> None:
                for _ in range(2):
                    await wait_for_workers(app)  # a worker a newer one replaced is done too
                    await pilot.pause()

            await settle()
            if shot.reveal is not None:
                app.screen.reveal(*shot.reveal)
                await settle()
            for key in shot.keys:
                await pilot.press(key)
                await settle()
            for box in app.screen.query(Input):
                box.cursor_blink = False
                if shot.dest is not None and box.id in ("export-dest", "slim-dest"):
                    box.value = shot.dest
                box.action_end()
            await pilot.pause()
            path = out / f"{name}.svg"
            path.write_text(preserve_spaces(app.export_screenshot(title=shot.title)), "utf-8")
            return path
    finally:
        archive.close()


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    for name, shot in SHOTS.items():
        path = asyncio.run(shoot(out, name, shot))
        print(f"{path}  ({shot.title})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
