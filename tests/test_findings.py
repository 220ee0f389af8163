"""insight/findings.py and insight/secrets.py: one archive per kind of finding, built by the
test builder, each checked for the exact finding, its bytes, layers, paths and fix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from layerscope.insight import secrets as secrets_mod
from layerscope.insight.content import read_entries, read_entry
from layerscope.insight.findings import Finding, Findings, findings, instruction
from tests.builder import Dir, File, Img, Layer, Whiteout, docker_archive, oci_archive, open_image

# a real-looking (generated for these tests, never used anywhere) PEM private key body
KEY = (
    b"-----BEGIN OPENSSH PRIVATE KEY-----\n"
    + b"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n" * 5
    + b"-----END OPENSSH PRIVATE KEY-----\n"
)
RUN = "/bin/sh -c "


def _open(tmp_path: Path, *layers: Layer, compression: str | None = None):
    path = tmp_path / "a.tar"
    if compression:
        oci_archive(path, [Img(list(layers))], compression=compression)
    else:
        docker_archive(path, [Img(list(layers))])
    return open_image(path)


def _kinds(f: Findings) -> list[str]:
    return [x.kind for x in f.items]


def _one(f: Findings, kind: str) -> Finding:
    got = [x for x in f.items if x.kind == kind]
    assert len(got) == 1, [(x.kind, x.title) for x in f.items]
    return got[0]


def test_deleted_later_in_a_later_run(tmp_path: Path) -> None:
    img = _open(
        tmp_path,
        Layer(Dir("tmp"), File("tmp/src.tgz", b"x" * 5000), File("tmp/b", b"y" * 300),
              created_by=RUN + "curl -o /tmp/src.tgz https://example.org/src.tgz"),
        Layer(Whiteout("tmp/src.tgz"), Whiteout("tmp/b"), created_by=RUN + "rm /tmp/src.tgz /tmp/b"),
    )  # fmt: skip
    f = findings(img)
    d = _one(f, "deleted-later")
    assert d.bytes == 5300 == img.reclaimable_bytes
    assert [p.path for p in d.paths] == ["tmp/src.tgz", "tmp/b"]
    assert [(ly.index, ly.role) for ly in d.layers] == [(0, "stored"), (1, "hid")]
    assert d.fix.endswith(
        "RUN curl -o /tmp/src.tgz https://example.org/src.tgz \\\n    && rm /tmp/src.tgz /tmp/b"
    )
    assert f.fixable_bytes == 5300
    assert d.overlaps == {}


def test_deleted_after_a_copy_suggests_a_stage(tmp_path: Path) -> None:
    img = _open(
        tmp_path,
        Layer(File("app.zip", b"z" * 700), created_by="/bin/sh -c #(nop) COPY file:ab in / "),
        Layer(File("app.zip", b"other"), created_by=RUN + "echo other > /app.zip"),
    )
    d = _one(findings(img), "deleted-later")
    assert d.bytes == 700 and d.detail["how"] == "overwritten"
    assert d.title == "1 file of layer 0 overwritten in layer 1"
    assert "FROM BASE AS build\nCOPY <source> /\nRUN echo other > /app.zip" in d.fix


def test_metadata_copy_up(tmp_path: Path) -> None:
    img = _open(
        tmp_path,
        Layer(Dir("app"), File("app/run.sh", b"#!/bin/sh\n" * 40), File("app/lib.py", b"p" * 900),
              created_by="COPY app /app # buildkit"),
        Layer(File("app/run.sh", b"#!/bin/sh\n" * 40, mode=0o755, uid=1000, gid=1000),
              File("app/lib.py", b"p" * 900, mode=0o755, uid=1000, gid=1000),
              created_by="RUN /bin/sh -c chmod -R 755 /app && chown -R 1000:1000 /app # buildkit"),
    )  # fmt: skip
    f = findings(img)
    m = _one(f, "metadata-copy")
    assert m.bytes == 1300 == img.reclaimable_bytes
    assert "COPY --chmod=755 --chown=1000:1000 app /app" in m.fix
    assert "deleted-later" not in _kinds(f)


def test_identical_rewrite(tmp_path: Path) -> None:
    img = _open(
        tmp_path,
        Layer(File("etc/big.conf", b"c" * 1234, mtime=1), created_by=RUN + "make-conf"),
        Layer(File("etc/big.conf", b"c" * 1234, mtime=2), created_by=RUN + "touch /etc/big.conf"),
    )
    r = _one(findings(img), "identical-rewrite")
    assert r.bytes == 1234
    assert r.paths[0].layer == 0 and r.paths[0].hidden_by == 1
    assert "touch /etc/big.conf" in r.fix


def test_package_cache_visible_and_cleaned_later(tmp_path: Path) -> None:
    lists = [
        File(f"var/lib/apt/lists/deb.debian.org_{i}_Packages", b"P" * (100 + i)) for i in range(3)
    ]
    img = _open(
        tmp_path,
        Layer(*lists, File("var/lib/apt/lists/lock"), File("var/cache/apt/archives/x.deb", b"d" * 2000),
              File("root/.cache/pip/http/ab", b"w" * 50), created_by=RUN + "apt-get update && apt-get install -y x"),
        Layer(Whiteout("var/cache/apt/archives/x.deb"), created_by=RUN + "apt-get clean"),
    )  # fmt: skip
    f = findings(img)
    caches = [x for x in f.items if x.kind == "package-cache"]
    by = {(x.detail["manager"], x.detail["hidden"]): x for x in caches}
    assert set(by) == {("apt", True), ("apt", False), ("pip", False)}
    assert by[("apt", True)].bytes == 2000
    assert by[("apt", False)].bytes == 100 + 101 + 102  # the lock file is not a cache
    assert (
        next(p.path for p in by[("apt", False)].paths)
        == "var/lib/apt/lists/deb.debian.org_2_Packages"
    )
    assert "rm -rf /var/lib/apt/lists/*" in by[("apt", False)].fix
    assert by[("pip", False)].bytes == 50 and "--no-cache-dir" in by[("pip", False)].fix
    assert "deleted-later" not in _kinds(f)  # the deleted .deb is a package cache
    assert f.fixable_bytes == 2000 + 303 + 50


def test_duplicates_and_overlap(tmp_path: Path) -> None:
    blob = b"same" * 250
    img = _open(
        tmp_path,
        Layer(File("a/one", blob), created_by=RUN + "one"),
        Layer(File("b/two", blob), File("root/.cache/pip/x", blob), created_by=RUN + "two"),
    )
    f = findings(img)
    d = _one(f, "duplicate")
    assert d.bytes == 2000 == img.duplicate_bytes
    assert sorted(p.path for p in d.paths) == ["b/two", "root/.cache/pip/x"]
    assert all(p.duplicate_of == "a/one" for p in d.paths)
    cache = _one(f, "package-cache")
    assert cache.bytes == 1000
    i, j = f.items.index(d), f.items.index(cache)
    assert d.overlaps == {j: 1000} and cache.overlaps == {i: 1000}
    assert f.fixable_bytes == 2000  # the cache file counted once


def test_build_only_candidates(tmp_path: Path) -> None:
    img = _open(
        tmp_path,
        Layer(File("usr/include/zlib.h", b"h" * 400), File("usr/lib/libz.a", b"a" * 800),
              File("src/.git/objects/ab/cd", b"g" * 60), File("src/main.o", b"o" * 30),
              File("usr/bin/gcc-12", b"E" * 10), File("usr/bin/gccgo-ok-not", b"n"),
              created_by=RUN + "build"),
    )  # fmt: skip
    f = findings(img)
    got = {x.detail["category"]: x.bytes for x in f.items if x.kind == "build-only"}
    assert got == {"headers": 400, "static-lib": 800, "git": 60, "object": 30, "compiler": 10}
    assert not any(x.certain for x in f.items if x.kind == "build-only")
    assert f.fixable_bytes == 0  # candidates are not counted


@pytest.mark.parametrize("compression", [None, "gzip", "zstd"])
def test_hidden_key_is_critical_visible_high(tmp_path: Path, compression: str | None) -> None:
    img = _open(
        tmp_path,
        Layer(Dir("root"), File("root/deploy.txt", KEY), File("srv/notes", b"hello"),
              File("app/.npmrc", b"//registry.npmjs.org/:_authToken=npm_" + b"a1" * 18 + b"\n"),
              created_by="COPY . / # buildkit"),
        Layer(Whiteout("root/deploy.txt"), created_by=RUN + "rm /root/deploy.txt"),
        compression=compression,
    )  # fmt: skip
    f = findings(img)
    secrets = f.secrets
    assert [(s.paths[0].path, s.severity, s.hidden) for s in secrets] == [
        ("root/deploy.txt", "critical", True),
        ("app/.npmrc", "high", False),
    ]
    key = secrets[0]
    assert key.detail["secret"]["type"] == "private-key"
    assert (
        key.detail["secret"]["fingerprint"]
        == "sha256:" + __import__("hashlib").sha256(KEY).hexdigest()[:12]
    )
    assert key.bytes == len(KEY)
    assert secrets[1].detail["secret"]["type"] == "npm-token"
    # the key is deleted later too: the two findings overlap on its bytes
    dl = _one(f, "deleted-later")
    assert dl.overlaps == {f.items.index(key): len(KEY)}
    # never the content: not in any field of the report's form
    text = json.dumps([x.as_dict() for x in f.items])
    assert "b3BlbnNzaC1rZXkt" not in text and "npm_a1" not in text


def test_names_need_their_content(tmp_path: Path) -> None:
    img = _open(
        tmp_path,
        Layer(File("app/.env", b"DEBUG=1\nDB_PASSWORD=hunter2\n"), File("b/.env", b"DEBUG=1\n"),
              File("app/.env.example", b"DB_PASSWORD=changeme\n"),
              File("home/u/.docker/config.json", b'{"auths": {"r.io": {"auth": "dTpw"}}}'),
              File("home/v/.docker/config.json", b'{"credsStore": "pass"}'),
              File("root/.git-credentials", b"https://bob:tok@github.com\n"),
              File("root/.kube/config", b"users:\n- name: a\n  user:\n    token: abc\n"),
              File("root/.aws/credentials", b"[default]\naws_secret_access_key = x\n"),
              File("src/ssl.py", b'HEADER = "-----BEGIN RSA PRIVATE KEY-----"\n'),
              created_by="COPY . /"),
    )  # fmt: skip
    got = sorted((s.paths[0].path, s.detail["secret"]["type"]) for s in findings(img).secrets)
    assert got == [
        ("app/.env", "dotenv"),
        ("home/u/.docker/config.json", "docker-credentials"),
        ("root/.aws/credentials", "aws-credentials"),
        ("root/.git-credentials", "git-credentials"),
        ("root/.kube/config", "kubeconfig"),
    ]


def test_scan_bounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Big files are never read; past the bounds, files are counted as skipped, names first."""
    monkeypatch.setattr(secrets_mod, "MAX_FILES", 2)
    img = _open(
        tmp_path,
        Layer(File("big", KEY + b"x" * secrets_mod.MAX_FILE), File("a", KEY), File("b", KEY),
              File("z/.git-credentials", b"https://a:b@h\n"), created_by="COPY . /"),
    )  # fmt: skip
    s = secrets_mod.scan(img)
    assert (s.files_read, s.files_skipped) == (2, 1)
    assert sorted(x.path for x in s.secrets) == ["a", "z/.git-credentials"]


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_read_entries_matches_read_entry(tmp_path: Path, compression: str | None) -> None:
    files = [File(f"f{i}", bytes([65 + i % 26]) * (i * 977 % 70000)) for i in range(40)]
    img = _open(tmp_path, Layer(*files), compression=compression)
    rows = list(range(0, 40, 3))
    got = dict(read_entries(img, 0, rows))
    assert got == {r: read_entry(img, 0, r) for r in rows}


def test_clean_image_has_no_findings(tmp_path: Path) -> None:
    img = _open(
        tmp_path, Layer(File("bin/app", b"\x7fELF" + b"\0" * 100), File("etc/conf", b"a=1"))
    )
    f = findings(img)
    assert f.items == [] and f.fixable_bytes == 0


def test_instruction() -> None:
    assert instruction("/bin/sh -c #(nop) COPY file:1a in /x ") == "COPY <source> /x"
    assert instruction("COPY app /app # buildkit") == "COPY app /app"
    assert instruction("/bin/sh -c apt-get update") == "RUN apt-get update"
    assert instruction("RUN /bin/sh -c echo \x1b[2J # buildkit") == "RUN echo \\x1b[2J"
    assert instruction("|1 A=b /bin/sh -c make") == "RUN make"
    assert instruction(None) == "(no command in the history)"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "layerscope", *args, "--no-cache"], capture_output=True, text=True
    )


def _leaky(tmp_path: Path, hide: bool = True) -> Path:
    layers = [
        Layer(Dir("root"), File("root/id_ed25519", KEY), created_by="COPY id_ed25519 /root/"),
        Layer(File("etc/app.conf", b"x=1"), created_by=RUN + "setup"),
    ]
    if hide:
        layers.append(Layer(Whiteout("root/id_ed25519"), created_by=RUN + "rm /root/id_ed25519"))
    path = tmp_path / ("hidden.tar" if hide else "visible.tar")
    docker_archive(path, [Img(layers)])
    return path


def test_report_findings_and_ci_on_a_hidden_key(tmp_path: Path) -> None:
    archive = _leaky(tmp_path)
    out = _cli(str(archive), "--json", "-", "--no-files")
    assert out.returncode == 0, out.stderr
    img = json.loads(out.stdout)["images"][0]
    secret = next(f for f in img["findings"] if f["kind"] == "secret")
    assert secret["hidden"] is True and secret["severity"] == "critical"
    assert secret["bytes"] == len(KEY) and secret["paths"][0]["path"] == "root/id_ed25519"
    assert [ly["role"] for ly in secret["layers"]] == ["stored", "hid"]
    assert set(secret) >= {"kind", "severity", "bytes", "layers", "paths", "fix", "hidden"}
    assert img["findings_summary"]["hidden_secrets"] == 1
    assert img["findings_summary"]["fixable_bytes"] == len(KEY) == img["reclaimable_bytes"]
    fingerprint = secret["secret"]["fingerprint"]
    # --ci fails on it by default, names it by path, kind and fingerprint only
    ci = _cli(str(archive), "--ci", "--lowest-efficiency", "disabled",
              "--highest-user-wasted-percent", "disabled")  # fmt: skip
    assert ci.returncode == 1, ci.stdout + ci.stderr
    assert "FAIL  secrets: 1 hidden by a later layer but still shipped" in ci.stdout
    assert (
        f"critical: root/id_ed25519 (private-key, {fingerprint}) in layer 0, hidden by layer 2"
        in ci.stdout
    )
    for text in (out.stdout, ci.stdout, ci.stderr):
        assert "b3BlbnNzaC1rZXkt" not in text
    ok = _cli(str(archive), "--ci", "--allow-secrets", "--lowest-efficiency", "disabled",
              "--highest-user-wasted-percent", "disabled")  # fmt: skip
    assert ok.returncode == 0 and "WARN  secrets:" in ok.stdout
    fixable = _cli(str(archive), "--ci", "--allow-secrets", "--lowest-efficiency", "disabled",
                   "--highest-user-wasted-percent", "disabled", "--highest-fixable-bytes", "100")  # fmt: skip
    assert fixable.returncode == 1
    assert f"FAIL  highestFixableBytes: {len(KEY)} B a build fix would save" in fixable.stdout


def test_ci_visible_key_warns_unless_fail_on_secrets(tmp_path: Path) -> None:
    archive = _leaky(tmp_path, hide=False)
    rules = ("--lowest-efficiency", "disabled", "--highest-user-wasted-percent", "disabled")
    warn = _cli(str(archive), "--ci", *rules)
    assert warn.returncode == 0 and "WARN  secrets: 1 visible" in warn.stdout
    fail = _cli(str(archive), "--ci", "--fail-on-secrets", *rules)
    assert fail.returncode == 1 and "FAIL  secrets: 1 visible" in fail.stdout
    assert "high: root/id_ed25519 (private-key, sha256:" in fail.stdout


def test_past_the_deep_bound_only_keys_are_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = b"token = ghp_" + b"A1b2C3d4E5" * 3 + b"abcdef\n"
    layers = (Layer(File("a/key.txt", KEY), File("b/notes", token), created_by="COPY . /"),)
    img = _open(tmp_path, *layers)
    assert sorted(s.kind for s in secrets_mod.scan(img).secrets) == ["github-token", "private-key"]
    monkeypatch.setattr(secrets_mod, "MAX_DEEP", 0)
    s = secrets_mod.scan(img)
    assert [x.kind for x in s.secrets] == ["private-key"] and s.files_deep == 0


def test_ci_names_a_hostile_secret_visibly(tmp_path: Path) -> None:
    name = "root/\x1b[2J\r\u202e[@click=app.quit].pem"
    path = tmp_path / "h.tar"
    docker_archive(path, [Img([
        Layer(File(name, KEY), created_by="COPY k /root/"),
        Layer(Whiteout(name), created_by=RUN + "rm \x1b]0;T\x07"),
    ])])  # fmt: skip
    out = _cli(str(path), "--ci")
    assert out.returncode == 1
    assert (
        "critical: root/\\x1b[2J\\r\\u202e[@click=app.quit].pem (private-key, sha256:" in out.stdout
    )
    assert "\x1b" not in out.stdout and "\r" not in out.stdout and "\u202e" not in out.stdout
    assert "b3BlbnNzaC1rZXkt" not in out.stdout


def test_report_names_a_non_utf8_path_with_its_bytes(tmp_path: Path) -> None:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT,
                      errors="surrogateescape") as tf:  # fmt: skip
        info = tarfile.TarInfo("var/cache/apk/\udcff.apk")  # the byte 0xff, not UTF-8
        info.size = 10
        tf.addfile(info, io.BytesIO(b"a" * 10))
    layer = Layer(tar=buf.getvalue(), created_by="RUN apk add x")
    path = docker_archive(tmp_path / "u.tar", [Img([layer])])
    out = _cli(str(path), "--json", "-", "--no-files")
    finding = json.loads(out.stdout)["images"][0]["findings"][0]
    assert finding["kind"] == "package-cache" and finding["manager"] == "apk"
    assert finding["paths"][0]["path"] == "var/cache/apk/\ufffd.apk"
    assert finding["paths"][0]["path_bytes"] == "dmFyL2NhY2hlL2Fway//LmFwaw=="


@pytest.mark.parametrize(
    ("path", "manager", "fix"),
    [
        ("var/lib/apt/lists/partial/x", "apt", "rm -rf /var/lib/apt/lists/*"),
        ("var/cache/apt/pkgcache.bin", "apt", "rm -rf /var/lib/apt/lists/*"),
        ("var/cache/apk/APKINDEX.abc.tar.gz", "apk", "apk add --no-cache"),
        ("var/cache/dnf/repo/packages/x.rpm", "dnf", "dnf clean all"),
        ("var/cache/yum/x86_64/8/base/repomd.xml", "dnf", "dnf clean all"),
        ("home/app/.cache/pip/wheels/ab/x.whl", "pip", "--no-cache-dir"),
        ("root/.npm/_cacache/content-v2/sha512/ab/cd", "npm", "npm cache clean --force"),
        ("usr/local/share/.cache/yarn/v6/npm-x/package.json", "yarn", "yarn cache clean"),
        ("root/.cache/go-build/ab/abcd-d", "go", "--mount=type=cache,target=/root/.cache/go-build"),
        ("go/pkg/mod/cache/download/x/@v/v1.zip", "go", "COPY --from=build"),
        ("usr/local/cargo/registry/cache/x/y.crate", "cargo", "--mount=type=cache"),
        ("root/.cargo/git/db/x/pack", "cargo", "--mount=type=cache"),
    ],
)
def test_each_package_managers_caches(tmp_path: Path, path: str, manager: str, fix: str) -> None:
    img = _open(tmp_path, Layer(File(path, b"c" * 77), File("etc/x", b"ok"), created_by=RUN + "i"))
    f = _one(findings(img), "package-cache")
    assert (f.detail["manager"], f.bytes, f.detail["hidden"]) == (manager, 77, False)
    assert fix in f.fix


@pytest.mark.parametrize(
    "path",
    ["var/lib/apt/lists/lock", "var/cache/apt/archives/lock", "usr/lib/python3/cache.py",
     "opt/app/.cargo/config.toml", "srv/apt/notes"],
)  # fmt: skip
def test_not_caches(tmp_path: Path, path: str) -> None:
    img = _open(tmp_path, Layer(File(path, b"c" * 77), created_by=RUN + "i"))
    assert findings(img).items == []


def test_a_reopen_takes_the_findings_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import layerscope
    from layerscope.insight import findings as findings_mod

    monkeypatch.setenv("LAYERSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    path = str(_leaky(tmp_path))
    with layerscope.open(path, cache=True) as a:
        first = findings(a.images[0])
        made = [f.as_dict() for f in first.items], first.summary()

    def fail(image: object) -> None:
        raise AssertionError("the findings were made again")

    monkeypatch.setattr(findings_mod, "_findings", fail)
    with layerscope.open(path, cache=True) as a:
        again = findings(a.images[0])
        assert ([f.as_dict() for f in again.items], again.summary()) == made
        assert "analysis" not in a.images[0].__dict__
