"""Keys the user remapped: a keymap file in the config directory, applied through Textual's
keymap (`App.set_keymap`), which gives a binding with an id (every binding of the app has one)
the keys the file names for it.

    # ~/.config/layerscope/keymap.toml  ($XDG_CONFIG_HOME/layerscope/keymap.toml)
    "main.waste" = "W"
    "app.quit" = "q,ctrl+d"

A bad file, an unknown id or a value that is not a key list is one line of warning (the app
shows it), never a failure: the rest of the file still applies. The ids are listed by the help
screen (`?`), beside each key.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from collections.abc import Collection, Mapping
from pathlib import Path

from textual.binding import Binding
from textual.dom import DOMNode

KEYMAP_FILE = "keymap.toml"
PACKAGES = ("layerscope.ui.screens", "layerscope.ui.widgets", "layerscope.ui.dialogs")


def keymap_path(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the keymap file is: `$XDG_CONFIG_HOME/layerscope/keymap.toml`, else
    `~/.config/layerscope/keymap.toml` (an XDG_CONFIG_HOME that is not absolute is ignored,
    as the XDG spec says)."""
    base = environ.get("XDG_CONFIG_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"
    return root / "layerscope" / KEYMAP_FILE


def load_keymap(path: Path, known: Collection[str]) -> tuple[dict[str, str], list[str]]:
    """The keymap in the file at `path` (empty if there is none), and one warning line for
    each thing in it that cannot apply: an unreadable or invalid file, an id no binding has
    (`known` holds those there are), a value that is not a list of keys."""
    try:
        data = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, []
    except (OSError, UnicodeDecodeError) as e:
        return {}, [f"{path}: cannot be read ({e}): keys not remapped"]
    # tomllib from Python 3.11; on 3.10 its backport tomli (a dependency there, pyproject)
    tomllib = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    try:
        table = tomllib.loads(data)
    except ValueError as e:  # tomllib.TOMLDecodeError
        return {}, [f"{path}: not valid TOML ({e}): keys not remapped"]
    keymap: dict[str, str] = {}
    warnings: list[str] = []
    for binding_id, keys in _flatten(table):
        if binding_id not in known:
            warnings.append(
                f"{path}: no key binding has the id {binding_id!r} (ignored; ? lists the ids)"
            )
        elif not _is_key_list(keys):
            warnings.append(
                f"{path}: {binding_id} = {keys!r} is not a list of keys like"
                ' "w" or "ctrl+w,f2" (ignored)'
            )
        else:
            assert isinstance(keys, str)
            keymap[binding_id] = ",".join(key.strip() for key in keys.split(","))
    return keymap, warnings


def _flatten(table: dict[str, object], prefix: str = "") -> list[tuple[str, object]]:
    """(id, value) of a TOML table: `main.waste = "W"` (a dotted key) and `[main] waste = "W"`
    are tables in TOML, read back as the id `main.waste`; `"main.waste" = "W"` is that id."""
    out: list[tuple[str, object]] = []
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out += _flatten(value, name)
        else:
            out.append((name, value))
    return out


def _is_key_list(keys: object) -> bool:
    """Whether `keys` is a comma-separated list of key names, each without blanks."""
    if not isinstance(keys, str):
        return False
    parts = [key.strip() for key in keys.split(",")]
    return all(part and not any(c.isspace() for c in part) for part in parts)


def binding_ids(*extra: type[DOMNode]) -> set[str]:
    """The id of every key binding of the app: of its screens, widgets and dialogs (imported
    here, as the main screen imports the views only when one opens) and of `extra` classes."""
    classes: list[type[DOMNode]] = list(extra)
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.iter_modules(package.__path__, name + "."):
            module = importlib.import_module(info.name)
            classes += [
                value
                for value in vars(module).values()
                if isinstance(value, type)
                and issubclass(value, DOMNode)
                and value.__module__ == module.__name__
            ]
    ids: set[str] = set()
    for cls in classes:
        for klass in cls.__mro__:
            for binding in vars(klass).get("BINDINGS", ()):
                if isinstance(binding, Binding) and binding.id:
                    ids.add(binding.id)
    return ids
