"""Component styles for text drawn inside a widget that highlights rows underneath it."""

from __future__ import annotations

from rich.style import Style
from textual.widget import Widget


def component_style(widget: Widget, name: str) -> Style:
    """A component class's style with its colours resolved (alpha blended over the widget's
    background), but a background only where the class sets one, so that a highlight drawn under
    the text shows through."""
    full = widget.get_component_rich_style(name)
    partial = widget.get_component_rich_style(name, partial=True)
    return Style(
        color=full.color if partial.color is not None else None,
        bgcolor=full.bgcolor if partial.bgcolor is not None else None,
        bold=partial.bold,
        dim=partial.dim,
        italic=partial.italic,
        underline=partial.underline,
        strike=partial.strike,
        reverse=partial.reverse,
    )


class ComponentStyles:
    """Mixin for a widget (put it first, before the widget class: Textual takes CSS names from
    the first widget base): component styles resolved once, until the CSS or theme changes,
    as drawing a row asks for a dozen of them."""

    _resolved_styles: dict[str, Style] | None = None

    def component_style(self, name: str) -> Style:
        if self._resolved_styles is None:
            self._resolved_styles = {}
        style = self._resolved_styles.get(name)
        if style is None:
            assert isinstance(self, Widget)
            style = self._resolved_styles[name] = component_style(self, name)
        return style

    def notify_style_update(self) -> None:
        self._resolved_styles = None
        super().notify_style_update()  # type: ignore[misc]
