"""Regenerate the README's screenshots (SVG) from the real app on the built-in sample.

    python scripts/screenshots.py [OUTPUT_DIR]      (default: screenshots/)

Each shot starts the app headless at 120x40, waits for the layers to be read, presses keys and
saves the screen.
"""

from __future__ import annotations

import asyncio
import sys
from importlib import resources
from pathlib import Path

from textual.widgets import Input

import layerscope
from layerscope.ui.app import LayerscopeApp

SIZE = (120, 40)
SHOTS: dict[str, tuple[str, tuple[str, ...]]] = {
    # file name: (title, keys)
    "main": ("layerscope: the changes of each layer", ("down", "down")),
    "image-view": (
        "layerscope: the image as of a layer, attributes on",
        ("down", "down", "down", "m", "a", "tab", "tab", "tab", "down", "down"),
    ),
    "filter": ("layerscope: filtering the tree", ("down", "down", "m", "slash", *"conf", "enter")),
    "help": ("layerscope: every key", ("question_mark",)),
}


async def shoot(demo: str, out: Path, name: str, title: str, keys: tuple[str, ...]) -> Path:
    archive = layerscope.discover([demo])
    app = LayerscopeApp(archive)
    try:
        async with app.run_test(size=SIZE) as pilot:
            for box in app.screen.query(Input):
                box.cursor_blink = False
            for key in ("", *keys):
                if key:
                    await pilot.press(key)
                for _ in range(2):
                    await app.workers.wait_for_complete()
                    await pilot.pause()
            path = out / f"{name}.svg"
            path.write_text(app.export_screenshot(title=title), encoding="utf-8")
            return path
    finally:
        archive.close()


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    demo = str(resources.files("layerscope") / "data" / "demo.tar.gz")
    for name, (title, keys) in SHOTS.items():
        path = asyncio.run(shoot(demo, out, name, title, keys))
        print(f"{path}  ({title})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
