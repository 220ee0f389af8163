"""The findings view: what to change in the build (insight/findings.py), grouped by kind in the
report's order (secrets first), largest first within a kind; a finding opens to its paths, and
the pane below says why, which layers (with their commands), what it overlaps, and the fix.
Enter on a path goes to it in the file tree, at the layer that stored it (a hidden file shows
there as hidden, with the layer that hid it).

Paths, commands, the image's name and a secret's kind come from the archive: shown visibly, as
text (see `screens.insight`); the tree's rows are made visible where they are drawn. A secret's
content is never read into the view: its path, kind and fingerprint only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Header, Static

from layerscope.insight.findings import KIND_TITLES, Finding, FindingPath, Findings, findings
from layerscope.model.analysis import pack
from layerscope.model.image import Image
from layerscope.text import cells, visible
from layerscope.ui.screens.insight import GoTo, OutlineScreen
from layerscope.ui.widgets.keybar import KeyBar
from layerscope.ui.widgets.outline import OutlineView
from layerscope.views import labels
from layerscope.views.outline import OutlineNode, Row

OPEN_ROWS = 60  # kinds and findings open at first while the rows shown stay under this
SIZE_CELLS = 7  # the size column: `99.9 kB`
ALERT = ("critical", "high")  # severities shown in the error colour


@dataclass(frozen=True)
class KindGroup:
    """The findings of one kind."""

    kind: str
    count: int


@dataclass(frozen=True)
class PathOf:
    """One path of a finding."""

    finding: Finding
    path: FindingPath


def findings_tree(found: Findings) -> OutlineNode:
    """Kinds (in the report's order) → findings (largest first) → their paths (largest first).
    A kind's size is the sum of its findings' bytes (overlaps within it counted as they are)."""
    root = OutlineNode("", branch=True)
    for kind, items in found.by_kind().items():
        group = root.add(OutlineNode(KIND_TITLES[kind], KindGroup(kind, len(items)), branch=True))
        for f in sorted(items, key=lambda f: (-f.bytes, f.title)):
            node = group.add(OutlineNode(f.title, f, f.bytes, branch=True))
            for p in f.paths:
                node.add(OutlineNode(p.path, PathOf(f, p), p.size))
        group.size = sum(f.bytes for f in items)
    return root


class FindingsTree(OutlineView):
    """Rows of the findings view: sizes, kinds, findings with their severity, paths."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *OutlineView.COMPONENT_CLASSES,
        "findings-tree--size",
        "findings-tree--kind",
        "findings-tree--alert",
        "findings-tree--severity",
        "findings-tree--title",
        "findings-tree--path",
        "findings-tree--note",
    }

    def segments(self, row: Row) -> list[Segment]:
        node = row.node
        style = self.component_style
        lines = self.connector(row)
        size = Segment(f"{labels.size(node.size):>{SIZE_CELLS}} ", style("findings-tree--size"))
        room = self.width - SIZE_CELLS - 1 - cells(lines.text)
        data = node.data
        if isinstance(data, KindGroup):
            alert = data.kind == "secret"
            title = Segment(
                KIND_TITLES[data.kind],
                style("findings-tree--alert" if alert else "findings-tree--kind"),
            )
            count = labels.plural(data.count, "finding")
            return [size, lines, title, Segment(f"  {count}", style("findings-tree--note"))]
        if isinstance(data, Finding):
            tone = "alert" if data.severity in ALERT else "severity"
            words = data.title if data.certain else f"{data.title} (candidates)"
            return [
                size,
                lines,
                Segment(data.severity, style(f"findings-tree--{tone}")),
                Segment(" " + visible(words), style("findings-tree--title")),
            ]
        p: FindingPath = data.path
        notes = []
        if p.hidden_by is not None:
            notes = [f"layer {p.layer}, hidden by layer {p.hidden_by}", f"{p.layer}→{p.hidden_by}"]
        elif p.duplicate_of is not None:
            notes = [f"copy of /{visible(p.duplicate_of)}", "copy"]
        else:
            notes = [f"layer {p.layer}", f"L{p.layer}"]
        name, note = labels.fit_row(visible("/" + p.path), notes, room)
        out = [size, lines, Segment(name, style("findings-tree--path"))]
        if note:
            out.append(Segment("  " + note, style("findings-tree--note")))
        return out


def finding_text(f: Finding, index: dict[int, Finding]) -> Text:
    """What the pane below the tree says of a finding: why, its layers, overlaps, the fix."""
    text = Text()
    tone = "bold red" if f.severity in ALERT else "bold"
    text.append(f"{f.severity}  ", tone)
    text.append(visible(f.title), "bold")
    text.append(f"  {labels.exact(f.bytes)}")
    if not f.certain:
        text.append("  (candidates: waste only if the running image does not need them)")
    text.append("\n" + visible(f.explanation) + "\n")
    text.append("fix:\n", "bold")
    text.append(visible(f.fix, keep="\n") + "\n", "italic")
    if f.kind == "secret":
        secret = f.detail["secret"]
        text.append("secret: ", "bold")
        text.append(f"{visible(secret['type'])}, fingerprint {secret['fingerprint']}\n")
    for ly in f.layers:
        text.append(f"layer {ly.index} {ly.role}: ", "bold")
        text.append(labels.command(ly.created_by) or "(no history)")
        text.append("\n")
    if f.overlaps:
        text.append("overlaps: ", "bold")
        text.append(
            ", ".join(
                f"{visible(index[i].title)} ({labels.size(b)})" if i in index else str(i)
                for i, b in sorted(f.overlaps.items())
            )
        )
        text.append("\n")
    text.rstrip()
    return text


class FindingsScreen(OutlineScreen[GoTo | None, Findings]):
    """What to change in the build of the image on screen (dismissed with the path to go to,
    or None)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "back", "Back", show=False, id="findings.back"),
        Binding("e", "expand_all", "Expand all", id="findings.expand_all"),
        Binding("c", "collapse_all", "Collapse all", id="findings.collapse_all"),
        Binding("s", "slim", "Slim", id="findings.slim"),
    ]
    TREE = FindingsTree
    PANES: ClassVar[dict[str, str]] = {
        "findings-tree-pane": "Findings, by kind, largest first",
        "findings-fix-pane": "Why, and the fix",
    }
    WORK = "Looking for findings"
    GROUP = "findings"
    FAILED = "The findings could not be made"
    OPEN_ROWS = OPEN_ROWS

    def __init__(self, image: Image) -> None:
        super().__init__()
        self.image = image
        self.found: Findings | None = None

    def action_slim(self) -> None:
        """Write the image slimmed from a layer, as the waste view offers."""
        from layerscope.ui.dialogs.slim import SlimDialog

        self.app.push_screen(SlimDialog(self.image))

    def compose(self) -> ComposeResult:
        yield Header(icon="◧")
        yield Static(id="findings-summary", classes="summary")
        with Vertical(id="findings-tree-pane", classes="pane"):
            yield FindingsTree(id="findings-tree")
        with VerticalScroll(id="findings-fix-pane", classes="pane"):
            yield Static(id="findings-fix")
        yield Static(id="findings-entry", classes="entry-line")
        yield KeyBar()

    def start(self) -> None:
        self.sub_title = f"{visible(self.image.name)}  ·  findings"
        super().start()

    def work_out(self) -> tuple[Findings, OutlineNode]:
        found = findings(self.image)
        return found, findings_tree(found)

    def show_found(self, found: Findings, root: OutlineNode) -> None:
        self.found = found
        self.query_one("#findings-summary", Static).update(summary_text(found))
        nothing = "Nothing to fix: no hidden, copied, cached or duplicated bytes, no secret."
        self.show_tree(root, None if found.items else nothing)

    @on(OutlineView.Highlighted, "#findings-tree")
    def _highlighted(self, event: OutlineView.Highlighted) -> None:
        node = event.node
        entry = Text(no_wrap=True, overflow="ellipsis")
        fix = Text()
        data = node.data if node is not None else None
        finding = data.finding if isinstance(data, PathOf) else data
        if isinstance(finding, Finding) and self.found is not None:
            fix = finding_text(finding, dict(enumerate(self.found.items)))
        if isinstance(data, KindGroup) and node is not None:
            entry.append(f"{KIND_TITLES[data.kind]}: ", "bold")
            entry.append(f"{labels.plural(data.count, 'finding')}, {labels.exact(node.size)}")
        elif isinstance(data, Finding):
            entry.append(f"{labels.exact(data.bytes)} ", "bold")
            entry.append(f"in {labels.plural(len(data.paths), 'path')}")
        elif isinstance(data, PathOf):
            p = data.path
            entry.append(visible("/" + p.path), "bold")
            entry.append(f" {labels.exact(p.size)}, stored by layer {p.layer}")
            if p.hidden_by is not None:
                entry.append(f", hidden by layer {p.hidden_by}")
            entry.append("  (enter: show it in the file tree)")
        self.query_one("#findings-entry", Static).update(entry)
        self.query_one("#findings-fix", Static).update(fix)

    @on(OutlineView.Chosen, "#findings-tree")
    def _go_to_path(self, event: OutlineView.Chosen) -> None:
        data = event.node.data
        if isinstance(data, PathOf):
            p = data.path
            path = self.image.analysis.real_path(pack(p.layer, p.row))
            self.dismiss(GoTo(path, p.layer, self.image))


def summary_text(found: Findings) -> Text:
    """The line above the tree: how many findings, the fixable bytes, the secrets (in red)."""
    text = Text()
    text.append(labels.plural(len(found.items), "finding"), "bold")
    text.append("  ·  fixable bytes ")
    text.append(labels.size(found.fixable_bytes), "bold")
    text.append(" (each entry once; build-only candidates aside)")
    secrets, hidden = len(found.secrets), len(found.hidden_secrets)
    text.append("  ·  ")
    if secrets:
        what = labels.plural(secrets, "secret") + (f", {hidden} hidden" if hidden else "")
        text.append(f" {what} ", "bold white on red")
    else:
        text.append("no secrets")
    if found.scan.files_skipped:
        text.append(f"  ({found.scan.files_skipped:,} small files not scanned: over the bound)")
    return text
