"""The figures an image keeps once computed (docs/report.md defines them), and their plain
form for the figure cache (figurecache.py stores it; image.py gives and takes it).

The plain form holds marshal's types only, every field under its name (a list of dataclasses as
one list per field): fields are found by name when read back, whatever their order, and a
figure that has gained or lost a field since is refused (ValueError), never read into another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from layerscope.model.dive_compat import DiveFigures, InefficientPath
from layerscope.model.kinds import CHANGES

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


@dataclass(frozen=True, slots=True)
class Changes:
    """A layer's change counts: its entries by status, and the paths it removed."""

    added: int = 0
    modified: int = 0
    metadata: int = 0
    rewritten: int = 0
    removed: int = 0

    def as_dict(self) -> dict[str, int]:
        """The report's `changes` object (its keys are the kinds' labels)."""
        return {kind.label: getattr(self, kind.label) for kind in CHANGES}


@dataclass(frozen=True, slots=True)
class Hidden:
    """An entry the final filesystem does not show, and why."""

    path: str
    type: str  # a records.EntryType label
    size: int
    layer: int  # the layer that stored it
    hidden_by: int  # the layer that hid it
    how: str  # a kinds.How label
    kept_by_hardlink: bool = False  # its content is still reachable through a visible hardlink

    def as_dict(self) -> dict[str, Any]:
        """The report's `hidden[]` entry (`kept_by_hardlink` only when true)."""
        d: dict[str, Any] = {
            "path": self.path,
            "type": self.type,
            "size": self.size,
            "layer": self.layer,
            "hidden_by": self.hidden_by,
            "how": self.how,
        }
        if self.kept_by_hardlink:
            d["kept_by_hardlink"] = True
        return d


Duplicate = tuple[str, int, list[str]]  # (content digest, size of one copy, paths)


class Figures(NamedTuple):
    """Every figure of an image that the figure cache keeps."""

    layer_sizes: list[int]
    layer_changes: list[Changes]
    final_size: int
    final_files: int
    duplicates: list[Duplicate]
    hidden: list[Hidden]
    dive: DiveFigures
    through_symlink: list[int]  # refs placed differently by overlay storage and by following

    def to_plain(self) -> dict[str, Any]:
        """The figures as named plain values (`from_plain` makes them again)."""
        dive = {f.name: getattr(self.dive, f.name) for f in fields(DiveFigures)}
        dive["inefficient"] = _columns(self.dive.inefficient, InefficientPath)
        return {
            "layer_sizes": self.layer_sizes,
            "layer_changes": _columns(self.layer_changes, Changes),
            "final_size": self.final_size,
            "final_files": self.final_files,
            "duplicates": self.duplicates,
            "hidden": _columns(self.hidden, Hidden),
            "dive": dive,
            "through_symlink": self.through_symlink,
        }

    @classmethod
    def from_plain(cls, plain: dict[str, Any], layers: int) -> Figures:
        """The figures `to_plain` gave, of an image of `layers` layers; ValueError (or another
        error) if the plain form is of another shape or another image's."""
        _check(plain, cls._fields, "figures")
        sizes, changes = plain["layer_sizes"], _rows(plain["layer_changes"], Changes)
        if len(sizes) != layers or len(changes) != layers:
            raise ValueError("another image")
        dive = dict(plain["dive"])
        _check(dive, [f.name for f in fields(DiveFigures)], "dive")
        dive["inefficient"] = tuple(_rows(dive["inefficient"], InefficientPath))
        return cls(
            layer_sizes=list(sizes),
            layer_changes=changes,
            final_size=plain["final_size"],
            final_files=plain["final_files"],
            duplicates=[(d, size, list(paths)) for d, size, paths in plain["duplicates"]],
            hidden=_rows(plain["hidden"], Hidden),
            dive=DiveFigures(**dive),
            through_symlink=list(plain["through_symlink"]),
        )


def _check(plain: object, names: Sequence[str], what: str) -> None:
    """Refuse a plain form that is not a dict of exactly these names."""
    if not isinstance(plain, dict) or set(plain) != set(names):
        raise ValueError(f"{what}: other fields")


def _columns(items: Sequence[Any], cls: type) -> dict[str, list[Any]]:
    """Dataclass instances as one list per field, under the field's name."""
    names = [f.name for f in fields(cls)]
    if not items:
        return {name: [] for name in names}
    rows = (
        map(attrgetter(*names), items)
        if len(names) > 1
        else ((getattr(x, names[0]),) for x in items)
    )
    return dict(zip(names, map(list, zip(*rows, strict=True)), strict=True))


def _rows(columns: dict[str, list[Any]], cls: type[T]) -> list[T]:
    """The instances `_columns` gave: each column found by its field's name, the values passed
    in the order of the fields as they are now."""
    names = [f.name for f in fields(cls)]
    _check(columns, names, cls.__name__)
    return [cls(*values) for values in zip(*(columns[n] for n in names), strict=True)]
