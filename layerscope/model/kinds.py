"""What the model calls things, each in one table: the kinds of change an entry shows (with the
mark, colour and help text every view uses) and the ways a layer hides an entry below it.

Both are `IntEnum`s because their values are stored in bytearrays, column by column (the
analysis, the views, the cache): the numbers never change. `label` is each one's spelling in the
JSON report, in CSS class names and in filters.
"""

from __future__ import annotations

from enum import IntEnum


class Kind(IntEnum):
    """What an entry is in a view, for its mark, colour and filter key (1-7, in this order).

    The first four are the statuses the union gives each entry (`Analysis.status`): how it
    compares with what the layers below showed at its path. The report counts those and REMOVED
    per layer (`changes`); the other kinds exist only in views."""

    mark: str  # before the entry's name in the file tree and the help screen
    colour: str  # the theme colour (app.tcss: `.file-tree--<label>`, `.layer-list--<label>`)
    help: str  # what it means, as the help screen says it

    ADDED = 0, "+", "success", "a path no lower layer had"
    MODIFIED = 1, "~", "warning", "other content or type than below"
    METADATA = 2, "*", "secondary-lighten-2", "same content, other mode or owner"
    REWRITTEN = 3, "=", "accent", "same content and metadata, stored again"
    REMOVED = 4, "-", "error", "deleted by this layer (whiteout or opaque directory)"
    HIDDEN = 5, "×", "error-darken-1", "a later layer hides it: its bytes are wasted"
    UNCHANGED = 6, " ", "foreground", "from a lower layer, as it was"
    PENDING = 7, "·", "text-muted", "read, but the image is not analysed yet"

    # (the defaults only let `Kind(value)`, a look-up, type-check)
    def __new__(cls, value: int, mark: str = "", colour: str = "", help_: str = "") -> Kind:
        member = int.__new__(cls, value)
        member._value_ = value
        member.mark, member.colour, member.help = mark, colour, help_
        return member

    @property
    def label(self) -> str:
        """The kind's spelling: `added`, `modified`, ..."""
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Kind:
        """The kind spelt `label` (KeyError for another word)."""
        return cls[label.upper()]


NO_STATUS = 255  # in `Analysis.status`: a whiteout or opaque marker, or a metadata entry
STATUSES = (Kind.ADDED, Kind.MODIFIED, Kind.METADATA, Kind.REWRITTEN)  # what the union decides
CHANGES = (*STATUSES, Kind.REMOVED)  # what a layer's `changes` count, in the report's order


class How(IntEnum):
    """How a layer hid an entry of a layer below (or its own, stored twice): `Analysis.how`, 0
    where the entry is visible; the report's `hidden[].how`."""

    reason: str  # what happened to the entry, in words (waste view, path history)

    OVERWRITTEN = 1, "overwritten"
    WHITEOUT = 2, "deleted"
    PARENT_WHITEOUT = 3, "deleted with its directory"
    OPAQUE = 4, "cleared by an opaque directory"
    TYPE_CHANGE = 5, "replaced by another type"
    PARENT_REPLACED = 6, "its directory was replaced"

    def __new__(cls, value: int, reason: str = "") -> How:  # (the default: as Kind's)
        member = int.__new__(cls, value)
        member._value_ = value
        member.reason = reason
        return member

    @property
    def label(self) -> str:
        """The report's spelling: `overwritten`, `parent-whiteout`, ..."""
        return self.name.lower().replace("_", "-")

    @classmethod
    def from_label(cls, label: str) -> How:
        """The way spelt `label` (KeyError for another word)."""
        return cls[label.upper().replace("-", "_")]


REMOVING = (How.WHITEOUT, How.PARENT_WHITEOUT, How.OPAQUE)  # how a layer removes paths below it
