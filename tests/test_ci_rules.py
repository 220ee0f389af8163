"""ci_rules: dive's .dive-ci, its size units and comparisons, and our own rules."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import shutil
import subprocess
import tarfile
from dataclasses import fields
from pathlib import Path

import pytest

from layerscope.cli import build_parser
from layerscope.model.dive_compat import DiveEntry, dive_figures
from layerscope.output.ci_rules import (
    DIVE_DEFAULT_RULES,
    RULES,
    ImageFigures,
    Rules,
    dive_ci_overrides,
    evaluate,
    parse_dive_ci,
    parse_rule,
    parse_size,
    read_dive_ci,
    threshold_text,
)


def test_one_table_names_each_rule_everywhere() -> None:
    """RULES gives each rule its `Rules` field, .dive-ci key, flag and verdict name."""
    assert [r.field for r in RULES] == [f.name for f in fields(Rules)]
    keys = [r.key for r in RULES]
    assert keys == [
        "lowestEfficiency",
        "highestWastedBytes",
        "highestUserWastedPercent",
        "highestReclaimableBytes",
        "highestReclaimablePercent",
        "highestFixableBytes",
    ]
    text = "rules:\n" + "".join(f"  {r.key}: 0.5\n" for r in RULES)
    assert all(getattr(parse_dive_ci(text), r.field) is not None for r in RULES)
    assert [r.name for r in evaluate(ImageFigures(1.0, 0, 0.0, 0, 1), Rules()).rules] == keys
    flags = [r.flag for r in RULES]
    assert flags[0] == "--lowest-efficiency"
    args = build_parser().parse_args([x for flag in flags for x in (flag, "1")])
    assert all(getattr(args, r.field) == "1" for r in RULES)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("123", 123),
        ("123B", 123),
        ("100kB", 100_000),
        ("100KB", 100_000),
        ("20MB", 20_000_000),
        ("20mb", 20_000_000),
        ("20M", 20_000_000),
        ("1.5GiB", 1_610_612_736),
        ("20mi", 20 * 2**20),
        ("1KiB", 1024),
        ("0.2 kB", 200),
        ("1,000", 1000),
        ("5.", 5),
        (".5k", 500),
        ("1.1MB", 1_100_000),  # float arithmetic, then truncated, as in Go
        ("0.999kB", 999),
        ("1 TB", 10**12),
        ("2EiB", 2 * 2**60),
        ("2E", 2 * 10**18),  # "E" is exabytes, not an exponent
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text", ["", "-5", "1e3", "5 XB", " 20MB", "1.2.3", "1_000", "MB", "20E", "16EiB"]
)
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(text)


def test_parse_size_too_large() -> None:
    with pytest.raises(ValueError, match="too large"):
        parse_size("16EiB")


def test_parse_rule() -> None:
    assert parse_rule("lowestEfficiency", "disabled") is None
    assert parse_rule("lowestEfficiency", None) is None
    assert parse_rule("lowestefficiency", "0.95") == 0.95
    assert parse_rule("lowest_efficiency", "1e-1") == 0.1
    assert parse_rule("highestUserWastedPercent", "0x1p-1") == 0.5
    assert parse_rule("highestUserWastedPercent", 1.0) == 1.0
    assert parse_rule("highestWastedBytes", "20MB") == 20_000_000
    assert parse_rule("highestWastedBytes", 200.0) == 200
    assert parse_rule("highestReclaimableBytes", "1GiB") == 2**30
    assert parse_rule("highestReclaimablePercent", "0.25") == 0.25


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("lowestEfficiency", "Disabled"),  # only the exact word disables
        ("lowestEfficiency", "off"),
        ("lowestEfficiency", "true"),
        ("lowestEfficiency", "1.1"),
        ("lowestEfficiency", "-0.1"),
        ("lowestEfficiency", "nan"),  # dive accepts it and never fails: refused here
        ("lowestEfficiency", "1_0"),
        ("highestUserWastedPercent", "10"),  # a ratio, not a percentage
        ("highestWastedBytes", "-1"),
        ("highestWastedBytes", "lots"),
        ("highestWastedBytes", -1.0),
        ("highestReclaimablePercent", "2"),
        ("noSuchRule", "1"),
    ],
)
def test_parse_rule_rejects(key: str, value: str | float) -> None:
    with pytest.raises(ValueError):
        parse_rule(key, value)


DIVE_README_EXAMPLE = """\
rules:
  # If the efficiency is measured below X%, mark as failed.
  # Expressed as a ratio between 0-1.
  lowestEfficiency: 0.95

  # If the amount of wasted space is at least X or larger than X, mark as failed.
  # Expressed in B, KB, MB, and GB.
  highestWastedBytes: 20MB

  # If the amount of wasted space makes up for X% or more of the image, mark as failed.
  # Note: the base image layer is NOT included in the total image size.
  # Expressed as a ratio between 0-1; fails if the threshold is met or crossed.
  highestUserWastedPercent: 0.20
"""


def test_parse_dive_ci_readme_example() -> None:
    assert parse_dive_ci(DIVE_README_EXAMPLE) == Rules(0.95, 20_000_000, 0.20)


def test_parse_dive_ci_defaults_for_missing_rules() -> None:
    assert Rules(lowest_efficiency=0.9, highest_user_wasted_percent=0.1) == DIVE_DEFAULT_RULES
    assert parse_dive_ci("") == DIVE_DEFAULT_RULES
    assert parse_dive_ci("rules:\n") == DIVE_DEFAULT_RULES
    assert parse_dive_ci("rules:\n  lowestEfficiency: 0.5\n") == Rules(0.5, None, 0.1)
    # an empty value keeps the default (viper reads YAML null as unset)
    assert parse_dive_ci("rules:\n  lowestEfficiency:\n  highestWastedBytes: ~\n") == (
        DIVE_DEFAULT_RULES
    )


def test_parse_dive_ci_forms() -> None:
    text = (
        "---\n"
        "Rules:  # keys are case-insensitive, as in viper\n"
        "    LowestEfficiency: '0.5'\n"
        '    highestwastedbytes: "1.5 GiB"   # quoted\n'
        "    highestUserWastedPercent: disabled\n"
        "    highestReclaimableBytes: 2e2\n"  # a YAML number: 200 bytes, not "2e2"
        "    highestReclaimablePercent: 0.3\n"
    )
    assert parse_dive_ci(text) == Rules(0.5, 1_610_612_736, None, 200, 0.3)
    assert parse_dive_ci("rules:\n  highestWastedBytes: 0x10\n").highest_wasted_bytes == 16
    assert parse_dive_ci("rules:\r\n  highestWastedBytes: 1_000\r\n").highest_wasted_bytes == 1000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lowestEfficiency: 0.5\n", "top-level key"),
        ("rules: {lowestEfficiency: 0.5}\n", "unsupported YAML"),
        ("rules: 1\n", "must be followed"),
        ("rules:\n  lowestEficiency: 0.5\n", "unknown rule"),
        ("rules:\n  lowestEfficiency: 0.5\n  lowestEfficiency: 0.6\n", "defined twice"),
        ("rules:\n  lowestEfficiency: 0.5\n    highestWastedBytes: 1\n", "nested"),
        ("rules:\n  lowestEfficiency:\n    - 0.5\n", "nested"),
        ("rules:\n\tlowestEfficiency: 0.5\n", "tabs"),
        ("rules:\n  lowestEfficiency: '0.5\n", "unterminated"),
        ("rules:\n  lowestEfficiency: [0.5]\n", "unsupported YAML"),
        ("rules:\n  lowestEfficiency: Disabled\n", "lowestEfficiency"),
        ("rules:\n  highestWastedBytes: 20 XB\n", "unknown unit"),
        ("  lowestEfficiency: 0.5\n", "indentation"),
        ("rules:\n  - lowestEfficiency\n", "expected 'key: value'"),
    ],
)
def test_parse_dive_ci_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_dive_ci(text)


def test_read_dive_ci(tmp_path: Path) -> None:
    path = tmp_path / ".dive-ci"
    path.write_text(DIVE_README_EXAMPLE)
    assert read_dive_ci(path) == Rules(0.95, 20_000_000, 0.20)


def figures(**changes: float) -> ImageFigures:
    base = {
        "efficiency": 0.95,
        "wasted_bytes": 1000,
        "user_wasted_fraction": 0.05,
        "reclaimable_bytes": 500,
        "size": 10_000,
        "fixable_bytes": 700,
    }
    return ImageFigures(**{**base, **changes})  # type: ignore[arg-type]


def statuses(verdict_figures: ImageFigures, rules: Rules) -> dict[str, str]:
    return {r.name: r.status for r in evaluate(verdict_figures, rules).rules}


def test_evaluate_equal_values_pass() -> None:
    rules = Rules(0.95, 1000, 0.05, 500, 0.05, 700)
    verdict = evaluate(figures(), rules)
    assert verdict.passed
    assert [r.status for r in verdict.rules] == ["PASS"] * 6
    assert [r.name for r in verdict.rules] == [
        "lowestEfficiency",
        "highestWastedBytes",
        "highestUserWastedPercent",
        "highestReclaimableBytes",
        "highestReclaimablePercent",
        "highestFixableBytes",
    ]


def test_evaluate_failures() -> None:
    rules = Rules(0.96, 999, 0.04, 499, 0.04, 699)
    verdict = evaluate(figures(), rules)
    assert not verdict.passed
    assert [r.status for r in verdict.rules] == ["FAIL"] * 6
    assert verdict.rules[5].message == "700 B a build fix would save, more than the 699 B allowed"
    low = verdict.rules[0]
    assert (low.value, low.threshold) == (0.95, 0.96)
    assert low.message == "efficiency 95.00 % is below the lowest allowed 96.00 %"
    assert verdict.rules[1].message == "1.0 kB (1000 bytes) wasted, more than the 999 B allowed"
    assert "\n" not in "".join(r.message for r in verdict.rules)


def test_evaluate_skips_disabled_rules() -> None:
    verdict = evaluate(figures(efficiency=0.1), Rules())
    assert verdict.passed
    assert {r.status for r in verdict.rules} == {"SKIP"}
    assert verdict.rules[0].threshold is None and verdict.rules[0].message == "disabled"


def test_evaluate_like_dive_on_non_finite_user_fraction() -> None:
    rules = Rules(highest_user_wasted_percent=0.1)
    # one layer, no waste: Go's 0/0 is NaN, and "threshold < NaN" is false
    assert statuses(figures(user_wasted_fraction=math.nan), rules)["highestUserWastedPercent"] == (
        "PASS"
    )
    # one layer with waste: +Inf fails any threshold
    verdict = evaluate(figures(user_wasted_fraction=math.inf), rules)
    assert not verdict.passed
    assert verdict.as_dict()["rules"][2]["value"] is None  # type: ignore[index]


def test_evaluate_reclaimable_of_empty_image() -> None:
    rules = Rules(highest_reclaimable_percent=0.0)
    assert evaluate(figures(reclaimable_bytes=0, size=0), rules).passed


def test_verdict_as_dict_is_json() -> None:
    verdict = evaluate(figures(), DIVE_DEFAULT_RULES)
    data = json.loads(json.dumps(verdict.as_dict(), allow_nan=False))
    assert data["passed"] is True
    assert data["rules"][1] == {
        "name": "highestWastedBytes",
        "status": "SKIP",
        "value": 1000,
        "threshold": None,
        "message": "disabled",
    }


def test_image_figures_from_dive() -> None:
    dive = dive_figures([[DiveEntry("f", "file", 100)], [DiveEntry("f", "file", 30)]])
    image = ImageFigures.from_dive(dive, reclaimable_bytes=100, size=130)
    assert image == ImageFigures(30 / 130, 130, 130 / 30, 100, 130)


# --- against the real dive ------------------------------------------------------------------

DIVE = shutil.which("dive")


def _tar(entries: list[tuple[str, int]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, size in entries:
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, io.BytesIO(bytes(size)))
    return buf.getvalue()


def _archive(path: Path, layers: list[list[tuple[str, int]]]) -> None:
    blobs = [_tar(layer) for layer in layers]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {
            "type": "layers",
            "diff_ids": ["sha256:" + hashlib.sha256(b).hexdigest() for b in blobs],
        },
        "history": [{"created_by": "x"} for _ in blobs],
    }
    files = {f"{i}/layer.tar": b for i, b in enumerate(blobs)}
    files["config.json"] = json.dumps(config).encode()
    manifest = [{"Config": "config.json", "RepoTags": ["x:1"], "Layers": list(files)[:-1]}]
    files["manifest.json"] = json.dumps(manifest).encode()
    path.write_bytes(_tar_files(files))


def _tar_files(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


CI_FILES = [
    "rules:\n  lowestEfficiency: 0.5\n",
    "rules:\n  lowestEfficiency: 0.9\n  highestWastedBytes: 1kB\n  highestUserWastedPercent: 0.5\n",
    "rules:\n  lowestEfficiency: 0.2\n  highestWastedBytes: 999\n  highestUserWastedPercent: 1\n",
    "rules:\n  lowestEfficiency: disabled\n  highestWastedBytes: '0.1 KiB'\n",
    "rules:\n  highestUserWastedPercent: disabled\n  highestWastedBytes: 2e3\n",
    "rules:\n  lowestEfficiency: off\n",
]


@pytest.mark.skipif(DIVE is None, reason="dive is not on PATH")
@pytest.mark.parametrize("ci_file", CI_FILES)
def test_matches_dive_ci(tmp_path: Path, ci_file: str) -> None:
    # waste: "f" 1000 then 200 bytes (1200); efficiency 200 / 1200; user size 200 + 50
    layers = [[("f", 1000), ("g", 10)], [("f", 200), ("h", 50)]]
    _archive(tmp_path / "image.tar", layers)
    (tmp_path / ".dive-ci").write_text(ci_file)
    run = subprocess.run(
        [str(DIVE), "--source", "docker-archive", "image.tar"],
        env={**os.environ, "CI": "true"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = re.sub(r"\x1b\[[0-9;]*m", "", run.stdout)
    dive = dive_figures([[DiveEntry(n, "file", s) for n, s in layer] for layer in layers])
    image = ImageFigures.from_dive(dive, reclaimable_bytes=0, size=1)
    try:
        verdict = evaluate(image, parse_dive_ci(ci_file))
    except ValueError:
        assert "CI Misconfigured" in out and run.returncode == 1
        return
    theirs = {
        name: status for status, name in re.findall(r"^\s+(PASS|FAIL|SKIP): (\w+)", out, re.M)
    }
    ours = {r.name: r.status for r in verdict.rules[:3]}
    assert ours == theirs
    assert run.returncode == (0 if verdict.passed else 1)


def test_what_a_dive_ci_sets_and_how_thresholds_are_written() -> None:
    """The rules line of a verdict needs what the file set (an empty value sets nothing, as in
    dive), and each threshold written back in a form the flags and the file read."""
    text = "rules:\n  lowestEfficiency: 0.95\n  highestWastedBytes: disabled\n  highestUserWastedPercent:\n"
    assert dive_ci_overrides(text) == {"lowest_efficiency": 0.95, "highest_wasted_bytes": None}
    by_field = {r.field: r for r in RULES}
    size, ratio = by_field["highest_reclaimable_bytes"], by_field["lowest_efficiency"]
    for value, written in [(50 * 2**20, "50MiB"), (20_000_000, "20MB"), (1500, "1500"), (0, "0")]:
        assert threshold_text(size, value) == written
        assert parse_size(written) == value
    assert [threshold_text(ratio, v) for v in (0.9, 1, None)] == ["0.9", "1.0", "disabled"]
