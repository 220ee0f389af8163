"""The status line at the bottom of the main screen: the row under the cursor in full, as
plain text — the file tree's entry (its path, link, type, size, mode, owner, and which layer
added, changed, hid or removed it), or the layer the Layers pane highlights (its exact change
counts and whole command), whatever the panes had to cut.

Paths, link targets and commands come from the image: they are made visible and built into a
`rich.text.Text`, never parsed as markup. A line too long for the screen keeps its end (where
it says what happened to the entry): the path is shortened in the middle, its file name kept.
"""

from __future__ import annotations

from rich.text import Text

from layerscope.model.image import Layer
from layerscope.model.kinds import CHANGES
from layerscope.text import cells, visible
from layerscope.ui import untrusted
from layerscope.ui.loading import FAILED, READING, LayerLoad
from layerscope.views import labels
from layerscope.views.treeview import Node


def entry_status(node: Node | None, width: int) -> Text:
    """The file tree's entry at the cursor in at most `width` cells if it can be: its path,
    link, type, size, mode and owner, and what happened to it; where that is too long, the mode
    and owner go first, then who added it when a later layer hid it, then the path is
    shortened in the middle (its file name kept)."""
    if node is None:
        return Text()
    path = "/" + visible(node.path)
    link = (" → " if node.type == "symlink" else " ⇒ /") + visible(node.link) if node.link else ""
    what = f"{node.type} {labels.size(node.size)}"
    owner = f"{node.mode_text} {node.uid}:{node.gid}" if node.mode is not None else ""
    origin, fate = _story(node)
    for keep_owner, keep_origin in ((True, True), (False, True), (False, False)):
        parts = [what, owner if keep_owner else "", _join(origin if keep_origin else "", fate)]
        tail = "".join(f"  {part}" for part in parts if part)
        if cells(path + link + tail) <= width:
            break
    room = max(width - cells(link + tail), cells(visible(node.name)) + 3)
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(labels.path_cut(path, room), "bold")
    text.append(link + tail)
    if node.through_symlink:
        text.append(
            "  ⚠ under a lower layer's symlink: overlay storage puts it here, "
            "an engine that follows the symlink elsewhere (--apply)",
            "bold",
        )
    return text


def _story(node: Node) -> tuple[str, str]:
    """Where the entry comes from (`added in layer 0`), and what became of it (`hidden by
    layer 2 (overwritten)`, `removed by layer 3 (whiteout)`)."""
    how = f" ({visible(node.how)})" if node.how else ""
    if node.kind == "removed":
        return "", f"removed by layer {node.hidden_by}{how}"
    origin = ""
    if node.layer is not None:
        verb = "from" if node.status == "unchanged" else f"{node.status} in"
        origin = f"{verb} layer {node.layer}"
    fate = f"hidden by layer {node.hidden_by}{how}" if node.kind == "hidden" else ""
    return origin, fate


def _join(origin: str, fate: str) -> str:
    return ", ".join(part for part in (origin, fate) if part)


def layer_status(layer: Layer, load: LayerLoad | None, analysed: bool) -> Text:
    """A layer as its row in the Layers pane says it, in full: size, exact counts, command."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"layer {layer.position}", "bold")
    if layer.loaded:
        text.append(f"  {labels.size(layer.size)} ({labels.exact(layer.size)})")
    elif load is not None and load.state == FAILED:
        text.append("  could not be read")
    elif load is not None and load.state == READING:
        text.append(f"  reading, {labels.percent(load.fraction)}")
    else:
        text.append(f"  {labels.size(layer.stored_size)} stored, waiting to be read")
    if analysed:
        ch = layer.changes
        counts = [f"{kind.mark}{getattr(ch, kind.label):,} {kind.label}" for kind in CHANGES]
        text.append("  " + " ".join(counts))
    text.append("  ")
    text.append_text(untrusted.text(labels.command(layer.created_by) or "(no history)"))
    return text
