"""The headline of an image: its size, final size, reclaimable bytes and dive's efficiency as
named, formatted values, and its top wastes. The Image pane and the summary strip both show
these, so the same number has the same name and the same value in both (README: The numbers).

Before the image is analysed (its layers still being read) each figure is `pending`; when a
layer could not be read, `unavailable`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from layerscope.insight.findings import Findings
from layerscope.model.figures import Hidden
from layerscope.model.image import Image
from layerscope.views import labels

SIZE = "Size"
FINAL_SIZE = "Final size"
RECLAIMABLE = "Reclaimable"
DIVE = "dive efficiency"
FINDINGS = "Findings"
SECRETS = "Secrets"
NAMES = (SIZE, FINAL_SIZE, RECLAIMABLE, DIVE)
TOP_WASTES = 3  # how many of the largest wastes the summary names
GOOD_EFFICIENCY = 0.9  # dive's efficiency from which it shows as good
HIGH_RECLAIMABLE = 0.1  # the reclaimable fraction from which it shows as a warning


@dataclass(frozen=True)
class Figure:
    """One headline figure: its name, its value as shown, and how it reads (`good`, `warning`,
    `pending` while the layers are read, `error` when a layer failed, or plain)."""

    name: str
    value: str
    tone: str = ""

    @property
    def known(self) -> bool:
        """Whether the value is there (not pending, not unavailable)."""
        return self.tone not in ("pending", "error")


def headline(image: Image, analysed: bool, failed: bool = False) -> list[Figure]:
    """The image's headline figures, in NAMES order."""
    if not analysed:
        value, tone = ("unavailable", "error") if failed else ("pending", "pending")
        return [Figure(name, value, tone) for name in NAMES]
    frac = image.reclaimable_fraction
    eff = image.dive.efficiency
    return [
        Figure(SIZE, labels.size(image.size)),
        Figure(FINAL_SIZE, labels.size(image.final_size)),
        Figure(
            RECLAIMABLE,
            f"{labels.size(image.reclaimable_bytes)} ({labels.percent(frac)})",
            "warning" if frac >= HIGH_RECLAIMABLE else "good",
        ),
        Figure(
            DIVE,
            labels.percent(eff),
            "good" if not math.isnan(eff) and eff >= GOOD_EFFICIENCY else "warning",
        ),
    ]


def top_wastes(image: Image, count: int = TOP_WASTES) -> list[Hidden]:
    """The largest hidden regular files whose bytes are reclaimable (no visible hardlink keeps
    them), largest first: the entries the reclaimable bytes are made of."""
    out: list[Hidden] = []
    for h in image.hidden:  # largest first
        if len(out) >= count or h.size == 0:
            break
        if h.type == "file" and not h.kept_by_hardlink:
            out.append(h)
    return out


def findings_figures(
    found: Findings | None, analysed: bool, failed: bool = False
) -> tuple[list[Figure], list[Figure]]:
    """(before, after) the headline: the secrets' count, first and in the error colour (`alert`),
    when there is one; and the findings' count with their fixable bytes, last (pending until
    the findings are made)."""
    if found is None:
        value, tone = ("unavailable", "error") if failed else ("pending", "pending")
        return [], [Figure(FINDINGS, value, tone)]
    count = len(found.items)
    secrets, hidden = len(found.secrets), len(found.hidden_secrets)
    value = f"{count} ({labels.size(found.fixable_bytes)} fixable)" if count else "none"
    after = [Figure(FINDINGS, value, "warning" if found.fixable_bytes else "good")]
    if not secrets:
        return [], after
    return [
        Figure(SECRETS, f"{secrets}" + (f" ({hidden} hidden)" if hidden else ""), "alert")
    ], after
