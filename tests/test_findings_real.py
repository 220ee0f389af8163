"""Findings on real images: podman built each from a Dockerfile that commits one mistake
(tests/fixtures/real/findings/NAME/Dockerfile -> NAME.tar, make_findings_fixtures.sh), and the
same build fixed (Dockerfile.fixed -> NAME-fixed.tar). The expected bytes are read from the
archives' layer tars with Python's tarfile, not from layerscope."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import layerscope
from layerscope.insight.findings import Finding, findings

HERE = Path(__file__).parent / "fixtures" / "real" / "findings"
CASES = ("apt-nocleanup", "cleanup-later", "chmod-r", "key-removed", "touch-rewrite", "showcase")
APT = re.compile(r"var/lib/apt/lists/(?!lock$)[^/]+|var/cache/apt/archives/[^/]+\.deb")


def layer_files(name: str) -> list[dict[str, int]]:
    """Per layer (bottom first): regular file path -> size, read with tarfile."""
    with tarfile.open(HERE / f"{name}.tar") as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        out = []
        for member in manifest[0]["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(member)) as layer:
                out.append({m.name.lstrip("./"): m.size for m in layer if m.isreg()})
        return out


def image(name: str):
    return layerscope.open(str(HERE / f"{name}.tar")).images[0]


def only(name: str) -> list[Finding]:
    return findings(image(name)).items


def test_apt_without_cleanup() -> None:
    files = layer_files("apt-nocleanup")[0]
    apt = {p: s for p, s in files.items() if APT.fullmatch(p)}
    assert len(apt) == 4
    [f] = only("apt-nocleanup")
    assert (f.kind, f.detail["manager"], f.detail["hidden"]) == ("package-cache", "apt", False)
    assert f.bytes == sum(apt.values())
    assert {p.path: p.size for p in f.paths} == apt
    assert [p.size for p in f.paths] == sorted(apt.values(), reverse=True)
    assert "rm -rf /var/lib/apt/lists/*" in f.fix


def test_cleanup_in_a_later_run() -> None:
    layers = layer_files("cleanup-later")
    apt = {p: s for p, s in layers[0].items() if APT.fullmatch(p)}
    cache, deleted = only("cleanup-later")[1], only("cleanup-later")[0]
    assert (deleted.kind, cache.kind) == ("deleted-later", "package-cache")
    assert cache.bytes == sum(apt.values()) and cache.detail["hidden"] is True
    assert [(ly.index, ly.role) for ly in cache.layers] == [(0, "stored"), (2, "hid")]
    assert deleted.bytes == layers[1]["tmp/src.tar.gz"]
    assert [p.path for p in deleted.paths] == ["tmp/src.tar.gz"]
    # both RUN steps named in the fix, as one RUN
    lines = deleted.fix.splitlines()
    assert lines[1] == (
        "RUN --mount=type=bind,from=tools,source=/busybox,target=/bin/sh mkdir -p /tmp && "
        "seq 1 3000 > /tmp/src.tar.gz && mkdir -p /opt/src && seq 1 10 > /opt/src/built \\"
    )
    assert (
        lines[2]
        == "    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /tmp/src.tar.gz"
    )
    img = image("cleanup-later")
    assert findings(img).fixable_bytes == img.reclaimable_bytes == cache.bytes + deleted.bytes


def test_chmod_step_copies_up() -> None:
    layers = layer_files("chmod-r")
    [f] = only("chmod-r")
    assert f.kind == "metadata-copy"
    assert f.bytes == sum(layers[0].values()) == sum(layers[1].values())
    assert f.fix.splitlines()[1] == "COPY --chmod=755 --chown=0:0 <source> /app"


def test_key_added_then_removed() -> None:
    layers = layer_files("key-removed")
    secret, deleted = only("key-removed")
    assert (secret.kind, secret.severity, secret.hidden) == ("secret", "critical", True)
    assert secret.paths[0].path == "root/.ssh/id_ed25519"
    assert secret.bytes == layers[0]["root/.ssh/id_ed25519"]
    assert secret.detail["secret"]["type"] == "private-key"
    assert deleted.kind == "deleted-later" and deleted.overlaps == {0: secret.bytes}
    assert findings(image("key-removed")).fixable_bytes == secret.bytes


def test_touch_rewrites() -> None:
    layers = layer_files("touch-rewrite")
    [f] = only("touch-rewrite")
    assert f.kind == "identical-rewrite" and f.bytes == sum(layers[1].values())
    stored = {p for p, size in layers[1].items() if size}  # (podman's empty etc/hosts aside)
    assert {p.path for p in f.paths} == stored == set(layers[0])


def test_several_mistakes_in_one_build() -> None:
    """The README's screenshot: every kind but identical-rewrite, the overlap stated once."""
    layers = layer_files("showcase")
    apt = sum(s for p, s in layers[0].items() if APT.fullmatch(p))
    key = layers[3]["root/.ssh/id_ed25519"]
    expected = {
        ("secret", key),
        ("deleted-later", layers[4]["tmp/src.tar.gz"]),
        ("deleted-later", key),
        ("metadata-copy", sum(layers[1].values())),
        ("package-cache", apt),
        ("duplicate", layers[5]["usr/bin/tool"]),
        ("build-only", layers[5]["usr/include/tool.h"]),
    }
    found = findings(image("showcase"))
    assert {(f.kind, f.bytes) for f in found.items} == expected
    assert len(found.items) == len(expected)
    # every certain finding's bytes once: the key counted by the secret and by deleted-later
    certain = sum(b for k, b in expected if k != "build-only") - key
    assert found.fixable_bytes == certain


@pytest.mark.parametrize("name", CASES)
def test_the_fixed_build_is_clean(name: str) -> None:
    assert only(name) != []
    assert only(f"{name}-fixed") == []


@pytest.mark.parametrize(("name", "status"), [("key-removed", 1), ("key-removed-fixed", 0)])
def test_ci_fails_on_the_hidden_key(name: str, status: int) -> None:
    rules = ("--lowest-efficiency", "disabled", "--highest-user-wasted-percent", "disabled")
    out = subprocess.run(
        [sys.executable, "-m", "layerscope", str(HERE / f"{name}.tar"), "--ci", "--no-cache", *rules],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == status, out.stdout + out.stderr
    assert ("FAIL  secrets" in out.stdout) == bool(status)
    assert "OPENSSH" not in out.stdout


ALL_REAL = sorted(
    p
    for p in [*HERE.parent.glob("*.tar"), *HERE.parent.glob("*.tar.*"), *HERE.glob("*.tar")]
    if not p.name.endswith(".json") and not p.name.endswith(".txt")
)
HIDDEN_KINDS = ("deleted-later", "metadata-copy", "identical-rewrite")


@pytest.mark.parametrize("path", ALL_REAL, ids=lambda p: p.name)
def test_findings_add_up_to_the_models_figures(path: Path) -> None:
    """Every real fixture: the hidden kinds (and hidden package caches) are the reclaimable
    bytes, each hidden file once; the duplicates are the duplicate bytes."""
    archive = layerscope.open(str(path))
    try:
        for img in archive.images:
            found = findings(img).items
            hidden = [
                f for f in found
                if f.kind in HIDDEN_KINDS or (f.kind == "package-cache" and f.detail["hidden"])
            ]  # fmt: skip
            refs = [(p.layer, p.row) for f in hidden for p in f.paths]
            assert len(refs) == len(set(refs))
            assert sum(f.bytes for f in hidden) == img.reclaimable_bytes
            dups = sum(f.bytes for f in found if f.kind == "duplicate")
            assert dups == img.duplicate_bytes
    finally:
        archive.close()
