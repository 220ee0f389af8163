"""CI mode: judge each image against the rules and print a short verdict (exit 0 pass, 1 fail)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TextIO

from layerscope.errors import LayerscopeError
from layerscope.model.image import Image
from layerscope.output.ci_rules import (
    DIVE_DEFAULT_RULES,
    RULES,
    ImageFigures,
    Rules,
    evaluate,
    parse_rule,
    read_dive_ci,
)
from layerscope.text import visible


def rules_from(args: argparse.Namespace) -> Rules:
    """dive's defaults, then the .dive-ci file (--ci-config, else ./.dive-ci), then the flags."""
    path = args.ci_config or (".dive-ci" if os.path.isfile(".dive-ci") else None)
    try:
        rules = read_dive_ci(path) if path else DIVE_DEFAULT_RULES
    except OSError as e:
        raise LayerscopeError(f"cannot read the CI rules: {e.strerror}", source=path) from None
    except ValueError as e:
        raise LayerscopeError(f"CI rules misconfigured: {e}", source=path) from None
    changes: dict[str, Any] = {}
    for rule in RULES:
        value = getattr(args, rule.field, None)
        if value is not None:
            try:
                changes[rule.field] = parse_rule(rule.field, value)
            except ValueError as e:
                raise LayerscopeError(f"{rule.flag} {value}: {e}") from None
    return replace(rules, **changes) if changes else rules


def run_ci(args: argparse.Namespace, images: Sequence[Image], out: TextIO) -> int:
    """Judge each image, write the verdicts to `out`; the exit status (0 pass, 1 a rule failed)."""
    rules = rules_from(args)
    failed = 0
    for img in images:
        figures = ImageFigures.from_dive(img.dive, img.reclaimable_bytes, img.size)
        verdict = evaluate(figures, rules)
        out.write(f"{visible(img.name)} ({visible(img.platform)}, {len(img.layers)} layers)\n")
        for r in verdict.rules:
            out.write(f"  {r.status:4}  {r.name}: {visible(r.message)}\n")
        if not verdict.passed:
            failed += 1
    n = len(images)
    if failed:
        out.write(f"FAIL: {failed} of {n} image{'s' if n > 1 else ''} failed a rule\n")
        return 1
    out.write(f"PASS: {n} image{'s' if n > 1 else ''}, every rule passed\n")
    return 0
