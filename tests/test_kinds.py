"""The one table of kinds and hiding reasons: values the cache and the columns depend on, the
report's spellings, and the app's stylesheet, which must colour every kind as the table says."""

from __future__ import annotations

import re
from dataclasses import fields
from importlib import resources

from layerscope.model.figures import Changes
from layerscope.model.kinds import CHANGES, NO_STATUS, REMOVING, STATUSES, How, Kind

TCSS = (resources.files("layerscope") / "ui" / "app.tcss").read_text(encoding="utf-8")


def css_colour(widget: str, component: str) -> str | None:
    found = re.search(rf"{widget} > \.{component} {{ color: \$([\w-]+);", TCSS)
    return found.group(1) if found else None


def test_kinds_keep_their_values_and_spellings():
    labels = ["added", "modified", "metadata", "rewritten", "removed", "hidden", "unchanged"]
    assert [(k.value, k.label) for k in Kind] == list(enumerate([*labels, "pending"]))
    assert [k.label for k in STATUSES] == labels[:4]
    assert [k.label for k in CHANGES] == labels[:5]
    assert NO_STATUS not in set(Kind)
    assert all(Kind.from_label(k.label) is k for k in Kind)


def test_every_kind_has_a_mark_a_colour_and_help():
    marks = [k.mark for k in Kind]
    assert marks == ["+", "~", "*", "=", "-", "×", " ", "·"]
    assert all(len(m) == 1 for m in marks) and len(set(marks)) == len(marks)
    assert all(k.colour and k.help for k in Kind)


def test_the_stylesheet_colours_each_kind_as_the_table_says():
    for kind in Kind:
        assert css_colour("FileTree", f"file-tree--{kind.label}") == kind.colour, kind
    for kind in CHANGES:  # the layer list counts the changes, in the same colours
        assert css_colour("LayerList", f"layer-list--{kind.label}") == kind.colour, kind


def test_hows_keep_their_values_and_the_report_spellings():
    labels = ["overwritten", "whiteout", "parent-whiteout", "opaque", "type-change"]
    assert [(h.value, h.label) for h in How] == list(enumerate([*labels, "parent-replaced"], 1))
    assert all(How.from_label(h.label) is h for h in How)
    assert all(h.reason for h in How)
    assert [h.label for h in REMOVING] == ["whiteout", "parent-whiteout", "opaque"]


def test_a_layers_changes_are_the_change_kinds():
    assert [f.name for f in fields(Changes)] == [k.label for k in CHANGES]
    assert list(Changes(1, 2, 3, 4, 5).as_dict().items()) == [
        ("added", 1),
        ("modified", 2),
        ("metadata", 3),
        ("rewritten", 4),
        ("removed", 5),
    ]
