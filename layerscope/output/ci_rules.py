"""CI rules: dive 0.13.1's three (read from its ``.dive-ci`` file, same meanings) plus our own two.

dive's rules and how 0.13.1 judges them (``runtime/ci``):

* ``lowestEfficiency`` (a ratio 0-1): fails when ``threshold > efficiency``.
* ``highestWastedBytes`` (a size, go-humanize ``ParseBytes``): fails when ``wasted > threshold``.
* ``highestUserWastedPercent`` (a *ratio* 0-1, 0.1 = 10 %): fails when ``threshold < fraction``;
  the fraction is NaN for a one-layer image without waste, which never fails.

Ours also has ``highestFixableBytes`` (a size): the bytes the findings' fixes would save,
each entry counted once (insight/findings.py). Equal values pass. A rule whose value is the exact string ``disabled`` is skipped; anything that
does not parse (``Disabled``, ``off``, ``true``, a ratio outside 0-1) makes dive report "CI
Misconfigured" and fail: here it raises ``ValueError``. Without a ``.dive-ci`` or with one that
leaves a rule out, dive uses ``lowestEfficiency: 0.9``, ``highestWastedBytes: disabled``,
``highestUserWastedPercent: 0.1`` (``DIVE_DEFAULT_RULES``); its command-line flags override the
file. Keys are case-insensitive (viper). Ours, which dive ignores in the same file:
``highestReclaimableBytes`` (a size) and ``highestReclaimablePercent`` (a ratio 0-1 of the image
size), failing when the image's reclaimable bytes exceed them.

Each rule is one entry of ``RULES``: its ``Rules`` field (and so its command-line flag), its
.dive-ci key, how its threshold is read, the flag's help, and how it judges an image, in what
words. The .dive-ci reader, ``ci.py`` and the command line all read that table.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal, Protocol

from layerscope.model.dive_compat import DiveFigures

__all__ = [
    "DIVE_DEFAULT_RULES",
    "RULES",
    "FiguresLike",
    "ImageFigures",
    "Rule",
    "RuleResult",
    "Rules",
    "Verdict",
    "default_text",
    "dive_ci_overrides",
    "evaluate",
    "is_dive_rule",
    "parse_dive_ci",
    "parse_rule",
    "parse_size",
    "read_dive_ci",
    "read_dive_ci_overrides",
    "size_text",
    "threshold_text",
]

Status = Literal["PASS", "FAIL", "SKIP"]

# go-humanize's bytesSizeTable: SI for "kB"/"MB"/..., IEC for "KiB"/"MiB"/..., the "B" optional.
_UNITS: dict[str, int] = {"": 1, "b": 1}
for _i, _p in enumerate("kmgtpe", start=1):
    _UNITS[_p] = _UNITS[_p + "b"] = 1000**_i
    _UNITS[_p + "i"] = _UNITS[_p + "ib"] = 1024**_i

_GO_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_GO_HEX = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)[pP][+-]?\d+")
_GO_SPECIAL = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)
_YAML_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_MAX_UINT64 = float(2**64)


@dataclass(frozen=True)
class Rules:
    """Thresholds; ``None`` means the rule is disabled (or not set). Ratios are 0-1. One field
    per rule of ``RULES``, in its order."""

    lowest_efficiency: float | None = None
    highest_wasted_bytes: int | None = None
    highest_user_wasted_percent: float | None = None
    highest_reclaimable_bytes: int | None = None
    highest_reclaimable_percent: float | None = None
    highest_fixable_bytes: int | None = None


DIVE_DEFAULT_RULES = Rules(lowest_efficiency=0.9, highest_user_wasted_percent=0.1)


class FiguresLike(Protocol):
    """What the rules read of an image (``ImageFigures``, or anything with these figures)."""

    @property
    def efficiency(self) -> float: ...
    @property
    def wasted_bytes(self) -> int: ...
    @property
    def user_wasted_fraction(self) -> float: ...
    @property
    def reclaimable_bytes(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def fixable_bytes(self) -> int: ...


@dataclass(frozen=True)
class ImageFigures:
    """What the rules look at: dive's three figures, then ours."""

    efficiency: float
    wasted_bytes: int
    user_wasted_fraction: float
    reclaimable_bytes: int
    size: int  # the image size the reclaimable percent is relative to
    fixable_bytes: int = 0  # the findings' non-overlapping total (insight/findings.py)

    @classmethod
    def from_dive(
        cls, dive: DiveFigures, reclaimable_bytes: int, size: int, fixable_bytes: int = 0
    ) -> ImageFigures:
        """dive's figures of an image, with ours."""
        return cls(
            dive.efficiency,
            dive.wasted_bytes,
            dive.user_wasted_fraction,
            reclaimable_bytes,
            size,
            fixable_bytes,
        )


@dataclass(frozen=True)
class RuleResult:
    """One rule's verdict on one image."""

    name: str  # the .dive-ci key, e.g. "lowestEfficiency"
    status: Status
    value: float | int  # the image's figure (a ratio for the percent rules; may be NaN or inf)
    threshold: float | int | None  # None when skipped
    message: str


@dataclass(frozen=True)
class Verdict:
    """Every rule's verdict on one image."""

    rules: tuple[RuleResult, ...]
    passed: bool  # no rule failed

    def as_dict(self) -> dict[str, object]:
        """JSON-ready (non-finite numbers become ``None``)."""

        def num(x: float | int | None) -> float | int | None:
            return None if isinstance(x, float) and not math.isfinite(x) else x

        return {
            "passed": self.passed,
            "rules": [
                {
                    "name": r.name,
                    "status": r.status,
                    "value": num(r.value),
                    "threshold": num(r.threshold),
                    "message": r.message,
                }
                for r in self.rules
            ],
        }


@dataclass(frozen=True)
class Rule:
    """One CI rule: its names, how its threshold is read, what it judges and in what words."""

    field: str  # the `Rules` field; the CLI flag is `--` and the field, `-` for `_`
    key: str  # the .dive-ci key (dive's, or ours): the rule's name in verdicts and reports
    parse: Callable[[str, str | float], float | int]  # (key, text or number) -> threshold
    metavar: str  # the CLI flag's value
    help: str  # the CLI flag's help
    figure: Callable[[FiguresLike], float]  # what the rule judges of an image
    fails: Callable[[float, float], bool]  # (threshold, value) -> whether the image fails
    failed: Callable[[float, float], str]  # (value, threshold) -> why it failed
    passed: Callable[[float, float], str]  # (value, threshold) -> why it passed

    @property
    def flag(self) -> str:
        """The command-line flag that sets the threshold."""
        return "--" + self.field.replace("_", "-")


def parse_size(text: str) -> int:
    """A size as go-humanize's ``ParseBytes`` (dive's ``highestWastedBytes``) reads it.

    ``123`` and ``123B`` are bytes; ``kB``/``MB``/``GB``/... are powers of 1000 and ``KiB``/
    ``MiB``/``GiB``/... powers of 1024, case-insensitive, the ``B`` optional (``20M``, ``1.5Gi``),
    a space allowed before the unit, commas ignored in the number (``1,000``).
    """
    end = 0
    while end < len(text) and text[end] in "0123456789.,":
        end += 1
    number = text[:end].replace(",", "")
    if not re.fullmatch(r"\d+\.?\d*|\.\d+", number):
        raise ValueError(f"invalid size {text!r}: expected a number, then an optional unit")
    unit = text[end:].strip().lower()
    if unit not in _UNITS:
        raise ValueError(f"invalid size {text!r}: unknown unit {unit!r} (use B, kB, MB, KiB, MiB…)")
    value = float(number) * float(_UNITS[unit])
    if value >= _MAX_UINT64:
        raise ValueError(f"invalid size {text!r}: too large")
    return int(value)


def _go_float(text: str) -> float:
    """Go's ``strconv.ParseFloat`` (decimal, hex with exponent, inf/nan)."""
    if _GO_DECIMAL.fullmatch(text) or _GO_SPECIAL.fullmatch(text):
        value = float(text)
        if math.isinf(value) and not _GO_SPECIAL.fullmatch(text):
            raise ValueError(f"{text!r} is out of range")
        return value
    if _GO_HEX.fullmatch(text):
        return float.fromhex(text)
    raise ValueError(f"{text!r} is not a number")


def parse_rule(key: str, value: str | float | None) -> float | int | None:
    """The threshold for a rule (its .dive-ci key or our field name) given as text or a number.

    ``None`` (or the text ``disabled``) disables the rule. Raises ``ValueError`` where dive would
    say "misconfigured", and for NaN (which dive accepts, making the rule never fail).
    """
    rule = _BY_KEY.get(key.lower()) or _BY_FIELD.get(key)
    if rule is None:
        raise ValueError(f"unknown rule {key!r}; known: {_KNOWN}")
    if value is None or value == "disabled":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{rule.key}: invalid value {value!r}")
    return rule.parse(rule.key, value)


def _size_threshold(name: str, value: str | float) -> int:
    """A size threshold: text as go-humanize reads it, or a YAML number."""
    if isinstance(value, (int, float)):
        return _number_as_size(name, float(value))
    try:
        return parse_size(value)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None


def _ratio_threshold(name: str, value: str | float) -> float:
    """A ratio threshold, 0-1: text as Go's ParseFloat reads it, or a YAML number."""
    try:
        ratio = float(value) if isinstance(value, (int, float)) else _go_float(value)
    except ValueError as err:
        raise ValueError(f"{name}: invalid value: {err}") from None
    if math.isnan(ratio) or not 0 <= ratio <= 1:
        raise ValueError(
            f"{name}: {value!r} is outside the allowed range 0-1 (a ratio: 0.1 = 10 %)"
        )
    return ratio


def _number_as_size(name: str, value: float) -> int:
    # dive turns a YAML number into text (Go's shortest decimal form) and parses that as a size
    if not 0 <= value < _MAX_UINT64:
        raise ValueError(f"{name}: invalid size {value!r}")
    return int(value)


def _reclaimable_fraction(figures: FiguresLike) -> float:
    return figures.reclaimable_bytes / figures.size if figures.size else 0.0


# Every rule, in the order they are reported: dive's three, then ours.
RULES = (
    Rule(
        field="lowest_efficiency",
        key="lowestEfficiency",
        parse=_ratio_threshold,
        metavar="X",
        help="fail below this dive efficiency (0-1)",
        figure=lambda f: f.efficiency,
        fails=lambda t, v: t > v,
        failed=lambda v, t: f"efficiency {_pct(v)} is below the lowest allowed {_pct(t)}",
        passed=lambda v, t: f"efficiency {_pct(v)} is at least {_pct(t)}",
    ),
    Rule(
        field="highest_wasted_bytes",
        key="highestWastedBytes",
        parse=_size_threshold,
        metavar="SIZE",
        help="fail above these dive wasted bytes",
        figure=lambda f: f.wasted_bytes,
        fails=lambda t, v: v > t,
        failed=lambda v, t: f"{_bytes(v)} wasted, more than the {_bytes(t)} allowed",
        passed=lambda v, t: f"{_bytes(v)} wasted, at most {_bytes(t)}",
    ),
    Rule(
        field="highest_user_wasted_percent",
        key="highestUserWastedPercent",
        parse=_ratio_threshold,
        metavar="X",
        help="fail above this dive user wasted fraction (0-1)",
        figure=lambda f: f.user_wasted_fraction,
        fails=lambda t, v: t < v,
        failed=lambda v, t: f"waste is {_pct(v)} of the bytes above the base layer, over {_pct(t)}",
        passed=lambda v, t: (
            f"waste is {_pct(v)} of the bytes above the base layer, at most {_pct(t)}"
        ),
    ),
    Rule(
        field="highest_reclaimable_bytes",
        key="highestReclaimableBytes",
        parse=_size_threshold,
        metavar="SIZE",
        help="fail above these reclaimable bytes",
        figure=lambda f: f.reclaimable_bytes,
        fails=lambda t, v: v > t,
        failed=lambda v, t: f"{_bytes(v)} reclaimable, more than the {_bytes(t)} allowed",
        passed=lambda v, t: f"{_bytes(v)} reclaimable, at most {_bytes(t)}",
    ),
    Rule(
        field="highest_reclaimable_percent",
        key="highestReclaimablePercent",
        parse=_ratio_threshold,
        metavar="X",
        help="fail above this fraction of reclaimable bytes (0-1)",
        figure=_reclaimable_fraction,
        fails=lambda t, v: v > t,
        failed=lambda v, t: f"{_pct(v)} of the image is reclaimable, more than {_pct(t)}",
        passed=lambda v, t: f"{_pct(v)} of the image is reclaimable, at most {_pct(t)}",
    ),
    Rule(
        field="highest_fixable_bytes",
        key="highestFixableBytes",
        parse=_size_threshold,
        metavar="SIZE",
        help="fail above these fixable bytes (the findings' non-overlapping total)",
        figure=lambda f: f.fixable_bytes,
        fails=lambda t, v: v > t,
        failed=lambda v, t: (
            f"{_bytes(v)} a build fix would save, more than the {_bytes(t)} allowed"
        ),
        passed=lambda v, t: f"{_bytes(v)} a build fix would save, at most {_bytes(t)}",
    ),
)
_DIVE_FIELDS = ("lowest_efficiency", "highest_wasted_bytes", "highest_user_wasted_percent")
_BY_KEY = {rule.key.lower(): rule for rule in RULES}  # keys are case-insensitive (viper)
_BY_FIELD = {rule.field: rule for rule in RULES}
_KNOWN = ", ".join(rule.key for rule in RULES)


def parse_dive_ci(text: str) -> Rules:
    """Rules from the text of a ``.dive-ci`` file, defaults as dive's for the rules it leaves out.

    Reads exactly the shape dive documents: a ``rules:`` mapping of ``key: value`` lines (plain or
    quoted scalars, ``#`` comments). Any other YAML raises ``ValueError``.
    """
    overrides = dive_ci_overrides(text)
    rules = DIVE_DEFAULT_RULES
    return Rules(**{f.name: overrides.get(f.name, getattr(rules, f.name)) for f in fields(Rules)})


def dive_ci_overrides(text: str) -> dict[str, float | int | None]:
    """The thresholds a ``.dive-ci`` text sets, by ``Rules`` field (None: ``disabled``); a rule
    it leaves out, or gives an empty value, is not there (dive's default applies)."""
    values: dict[str, str | float | None] = {}
    in_rules = False
    indent: int | None = None
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.rstrip()
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#") or (number == 1 and stripped == "---"):
            continue
        where = f".dive-ci line {number}"
        if stripped.startswith("\t"):
            raise ValueError(f"{where}: tabs are not allowed in YAML indentation")
        depth = len(line) - len(stripped)
        if depth and indent is not None and depth != indent:
            raise ValueError(f"{where}: nested or misaligned YAML is not supported")
        key, rest = _split_key(stripped, where)
        if depth == 0:
            if key.lower() != "rules":
                raise ValueError(f"{where}: unknown top-level key {key!r}; expected 'rules:'")
            if _scalar(rest, where) is not None:
                raise ValueError(
                    f"{where}: 'rules:' must be followed by indented 'key: value' lines"
                )
            if in_rules or values:
                raise ValueError(f"{where}: 'rules' is defined twice")
            in_rules = True
            continue
        if not in_rules:
            raise ValueError(f"{where}: unexpected indentation")
        indent = depth
        rule = _BY_KEY.get(key.lower())
        if rule is None:
            raise ValueError(f"{where}: unknown rule {key!r}; known: {_KNOWN}")
        field = rule.field
        if field in values:
            raise ValueError(f"{where}: rule {key!r} is defined twice")
        values[field] = _scalar(rest, where)

    overrides: dict[str, float | int | None] = {}
    for field, value in values.items():
        if value is not None:  # an empty value keeps the default, as in dive
            try:
                overrides[field] = parse_rule(field, value)
            except ValueError as err:
                raise ValueError(f".dive-ci: {err}") from None
    return overrides


def read_dive_ci(path: str | Path) -> Rules:
    """``parse_dive_ci`` of a file."""
    return parse_dive_ci(Path(path).read_text(encoding="utf-8-sig"))


def read_dive_ci_overrides(path: str | Path) -> dict[str, float | int | None]:
    """``dive_ci_overrides`` of a file."""
    return dive_ci_overrides(Path(path).read_text(encoding="utf-8-sig"))


def is_dive_rule(rule: Rule) -> bool:
    """Whether a rule is one of dive's three (the others are layerscope's own)."""
    return rule.field in _DIVE_FIELDS


def threshold_text(rule: Rule, threshold: float | int | None) -> str:
    """A threshold as a rule is written: ``0.9``, ``20MB``, ``50MiB``, ``disabled``."""
    if threshold is None:
        return "disabled"
    if rule.parse is _size_threshold:
        return size_text(int(threshold))
    return repr(float(threshold))


def default_text(rule: Rule) -> str:
    """What a rule is without a flag or a .dive-ci setting: dive's default for dive's rules
    (the words a flag's help ends with), off for layerscope's."""
    if not is_dive_rule(rule):
        return "default: off"
    return f"default: {threshold_text(rule, getattr(DIVE_DEFAULT_RULES, rule.field))}, as in dive"


def size_text(n: int) -> str:
    """A size as ``parse_size`` reads it back, in the largest unit that divides it exactly:
    ``50MiB``, ``20MB``, ``1500``."""
    for unit in ("EiB", "PiB", "TiB", "GiB", "MiB", "KiB", "EB", "PB", "TB", "GB", "MB", "kB"):
        scale = _UNITS[unit.lower()]
        if n >= scale and n % scale == 0:
            return f"{n // scale}{unit}"
    return str(n)


def _split_key(stripped: str, where: str) -> tuple[str, str]:
    match = re.match(r"([A-Za-z_][\w-]*)\s*:(?:\s+|$)", stripped)
    if not match:
        raise ValueError(f"{where}: expected 'key: value', got {stripped!r}")
    return match.group(1), stripped[match.end() :]


def _scalar(rest: str, where: str) -> str | float | None:
    """A YAML scalar: None for null/empty, a float for a plain number, else its text."""
    rest = rest.strip()
    if rest.startswith(("'", '"')):
        quote = rest[0]
        end = 1
        while True:
            end = rest.find(quote, end)
            if end < 0:
                raise ValueError(f"{where}: unterminated quoted value")
            if quote == "'" and rest[end + 1 : end + 2] == "'":
                end += 2
                continue
            if quote == '"' and _escaped(rest, end):
                end += 1
                continue
            break
        tail = rest[end + 1 :].strip()
        if tail and not tail.startswith("#"):
            raise ValueError(f"{where}: unexpected text after the quoted value: {tail!r}")
        body = rest[: end + 1]
        if quote == "'":
            return body[1:-1].replace("''", "'")
        try:
            decoded = json.loads(body)
        except ValueError:
            raise ValueError(f"{where}: unsupported escape in {body}") from None
        return str(decoded)
    plain = re.split(r"\s#", rest, maxsplit=1)[0].strip()
    if plain.startswith("#"):
        plain = ""
    if plain[:1] in tuple("[]{}&*!|>%@`,"):
        raise ValueError(f"{where}: unsupported YAML value {plain!r}")
    if plain in ("", "~", "null", "Null", "NULL"):
        return None
    return _yaml_number(plain)


def _yaml_number(plain: str) -> str | float:
    """A plain scalar as yaml.v3 resolves it: a number (ints in Go's base-0 syntax, "_" ignored)
    becomes a float, anything else stays text."""
    digits = plain.replace("_", "")
    if re.fullmatch(r"[-+]?0[0-7]+", digits):
        return float(int(digits, 8))
    if re.fullmatch(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+)", digits):
        return float(int(digits, 0))
    if _YAML_FLOAT.fullmatch(digits):
        return float(digits)
    return plain


def _escaped(text: str, index: int) -> bool:
    slashes = 0
    while index - 1 - slashes >= 0 and text[index - 1 - slashes] == "\\":
        slashes += 1
    return slashes % 2 == 1


def evaluate(figures: FiguresLike, rules: Rules) -> Verdict:
    """Judge an image's figures against the rules (dive's comparisons for dive's rules)."""
    results = [_judge(rule, rule.figure(figures), getattr(rules, rule.field)) for rule in RULES]
    return Verdict(tuple(results), all(r.status != "FAIL" for r in results))


def _judge(rule: Rule, value: float, threshold: float | None) -> RuleResult:
    if threshold is None:
        return RuleResult(rule.key, "SKIP", value, None, "disabled")
    if rule.fails(threshold, value):
        return RuleResult(rule.key, "FAIL", value, threshold, rule.failed(value, threshold))
    return RuleResult(rule.key, "PASS", value, threshold, rule.passed(value, threshold))


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.2f} %" if math.isfinite(ratio) else f"{ratio * 100} %"


def _bytes(n: float) -> str:
    """Like go-humanize's ``Bytes`` (SI units), with the exact count when it is rounded."""
    if n < 1000:
        return f"{n:g} B"
    exponent = 1
    while exponent < 6 and n >= 1000 ** (exponent + 1):
        exponent += 1
    value = n / 1000**exponent
    shown = f"{value:.1f}" if value < 10 else f"{value:.0f}"
    return f"{shown} {' kMGTPE'[exponent]}B ({int(n)} bytes)"
