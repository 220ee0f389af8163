"""Showing text that came from an image: always as text, never as markup, always visible.

Textual parses a plain `str` as markup in many places (notifications, `Static`, `Label`, border
titles, `DataTable` cells and columns): `[@click=app.quit]` in a tag or a history command would
become a clickable action there. And Rich passes ESC, OSC and other control characters to the
terminal. So a string from an archive reaches a widget only through these functions, which
build a `rich.text.Text` (never parsed) from `layerscope.text.visible(...)` (control, bidi and
undecodable characters shown as escapes).
"""

from __future__ import annotations

from typing import Any

from rich.style import StyleType
from rich.text import Text
from textual.app import App
from textual.notifications import SeverityLevel
from textual.widget import Widget

from layerscope.text import visible


def text(value: str, style: StyleType = "", **options: object) -> Text:
    """`value` as a Text that shows every character visibly and parses no markup."""
    return Text(visible(value), style=style, **options)  # type: ignore[arg-type]


def notify(
    node: Widget | App[Any],
    message: str,
    *,
    title: str = "",
    severity: SeverityLevel = "information",
    timeout: float | None = None,
) -> None:
    """A notification whose message and title may hold archive text: shown visibly, as text."""
    node.notify(
        visible(message), title=visible(title), severity=severity, timeout=timeout, markup=False
    )
