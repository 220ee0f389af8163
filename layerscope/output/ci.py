"""CI mode: judge each image against the rules and print a short verdict (exit 0 pass, 1 fail)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, TextIO

from layerscope.errors import LayerscopeError
from layerscope.insight.findings import Finding, findings
from layerscope.model.image import Image
from layerscope.output.ci_rules import (
    DIVE_DEFAULT_RULES,
    RULES,
    ImageFigures,
    Rules,
    evaluate,
    is_dive_rule,
    parse_rule,
    read_dive_ci_overrides,
    threshold_text,
)
from layerscope.text import visible

FLAG, FILE = "flag", "file"  # where a rule's threshold came from (else: its default)


@dataclass(frozen=True)
class ChosenRules:
    """The rules a run judges by, and where each threshold came from: `origins` maps a rule's
    field to FLAG or FILE (`path`, the .dive-ci read); a rule not there has its default."""

    rules: Rules
    origins: dict[str, str]
    path: str | None = None


def rules_from(args: argparse.Namespace) -> Rules:
    """dive's defaults, then the .dive-ci file (--ci-config, else ./.dive-ci), then the flags."""
    return choose_rules(args).rules


def choose_rules(args: argparse.Namespace) -> ChosenRules:
    """`rules_from`, saying where each threshold came from."""
    path = args.ci_config or (".dive-ci" if os.path.isfile(".dive-ci") else None)
    try:
        from_file = read_dive_ci_overrides(path) if path else {}
    except OSError as e:
        raise LayerscopeError(f"cannot read the CI rules: {e.strerror}", source=path) from None
    except ValueError as e:
        raise LayerscopeError(f"CI rules misconfigured: {e}", source=path) from None
    changes: dict[str, Any] = dict(from_file)
    origins = dict.fromkeys(from_file, FILE)
    for rule in RULES:
        value = getattr(args, rule.field, None)
        if value is not None:
            try:
                changes[rule.field] = parse_rule(rule.field, value)
            except ValueError as e:
                raise LayerscopeError(f"{rule.flag} {value}: {e}") from None
            origins[rule.field] = FLAG
    return ChosenRules(replace(DIVE_DEFAULT_RULES, **changes), origins, path)


def rules_line(chosen: ChosenRules) -> str:
    """The verdict's first line: every rule that runs, with its threshold, and where it came
    from; then layerscope's rules that are off, with the flags that set them."""
    groups: dict[str, list[str]] = {FLAG: [], FILE: [], "dive": [], "off": []}
    for rule in RULES:
        value = getattr(chosen.rules, rule.field)
        origin = chosen.origins.get(rule.field)
        if origin == FLAG:
            groups[FLAG].append(f"{rule.flag} {threshold_text(rule, value)}")
        elif origin == FILE:
            groups[FILE].append(f"{rule.key} {threshold_text(rule, value)}")
        elif is_dive_rule(rule):
            groups["dive"].append(f"{rule.key} {threshold_text(rule, value)}")
        else:
            groups["off"].append(rule.flag)
    titles = {
        FLAG: "from the command line",
        FILE: f"from {visible(chosen.path or '')}",
        "dive": "dive's defaults",
        "off": "layerscope's rules off",
    }
    parts = [f"{titles[k]} ({', '.join(items)})" for k, items in groups.items() if items]
    return "rules: " + "; ".join(parts)


def through_symlink_line(count: int, strict: bool) -> tuple[str, bool]:
    """The verdict's line on entries that overlay storage and an engine following lower
    symlinks place at different paths (the image runs differently on different engines), and
    whether it fails the image."""
    if not count:
        return "  PASS  throughSymlink: every entry is placed alike by every engine\n", False
    what = "1 entry is" if count == 1 else f"{count:,} entries are"
    status = "FAIL" if strict else "WARN"
    return (
        f"  {status}  throughSymlink: {what} placed differently by overlay storage and by "
        "engines that follow lower layers' symlinks (see the report's through-symlink flags)\n",
        strict,
    )


SECRETS_LISTED = 20  # the secrets a verdict names, at most (then how many more)
HIDDEN_FAIL, ALL_FAIL, WARN = "hidden", "all", "warn"  # how secrets are judged


def secrets_mode(args: argparse.Namespace) -> str:
    """How secrets are judged: hidden ones fail (the default), all fail (--fail-on-secrets), or
    none (--allow-secrets: every secret only warns)."""
    if getattr(args, "allow_secrets", False):
        return WARN
    return ALL_FAIL if getattr(args, "fail_on_secrets", False) else HIDDEN_FAIL


def secrets_lines(found: list[Finding], mode: str) -> tuple[str, bool]:
    """The verdict's lines on secrets, and whether they fail the image. Each secret is named by
    its path, kind and fingerprint, never its content."""
    if not found:
        return "  PASS  secrets: no file looks like a credential\n", False
    hidden = [f for f in found if f.hidden]
    fails = (mode == ALL_FAIL) or (mode == HIDDEN_FAIL and bool(hidden))
    parts = []
    if hidden:
        parts.append(f"{len(hidden)} hidden by a later layer but still shipped")
    if len(found) > len(hidden):
        parts.append(f"{len(found) - len(hidden)} visible")
    lines = [f"  {'FAIL' if fails else 'WARN'}  secrets: {', '.join(parts)}\n"]
    for f in found[:SECRETS_LISTED]:
        p = f.paths[0]
        secret = f.detail["secret"]
        where = f"layer {p.layer}" + (f", hidden by layer {p.hidden_by}" if f.hidden else "")
        lines.append(
            f"          {f.severity}: {visible(p.path)} ({visible(secret['type'])}, "
            f"{secret['fingerprint']}) in {where}\n"
        )
    if len(found) > SECRETS_LISTED:
        lines.append(f"          and {len(found) - SECRETS_LISTED} more (see the report)\n")
    return "".join(lines), fails


def run_ci(args: argparse.Namespace, images: Sequence[Image], out: TextIO) -> int:
    """Judge each image, write the verdicts to `out`; the exit status (0 pass, 1 a rule failed)."""
    chosen = choose_rules(args)
    rules = chosen.rules
    strict = bool(getattr(args, "fail_on_through_symlink", False))
    engines = "fails" if strict else "warns (--fail-on-through-symlink fails)"
    mode = secrets_mode(args)
    judged = {
        HIDDEN_FAIL: "hidden fail (--allow-secrets warns, --fail-on-secrets fails on any)",
        ALL_FAIL: "any fails",
        WARN: "warn",
    }[mode]
    out.write(rules_line(chosen) + f"; throughSymlink {engines}; secrets: {judged}\n")
    failed = 0
    for img in images:
        found = findings(img)
        figures = ImageFigures.from_dive(
            img.dive, img.reclaimable_bytes, img.size, found.fixable_bytes
        )
        verdict = evaluate(figures, rules)
        out.write(f"{visible(img.name)} ({visible(img.platform)}, {len(img.layers)} layers)\n")
        for r in verdict.rules:
            out.write(f"  {r.status:4}  {r.name}: {visible(r.message)}\n")
        line, fails = through_symlink_line(img.through_symlink, strict)
        out.write(line)
        line, leaks = secrets_lines(found.secrets, mode)
        out.write(line)
        if not verdict.passed or fails or leaks:
            failed += 1
    n = len(images)
    if failed:
        out.write(f"FAIL: {failed} of {n} image{'s' if n > 1 else ''} failed a rule\n")
        return 1
    out.write(f"PASS: {n} image{'s' if n > 1 else ''}, every rule passed\n")
    return 0
