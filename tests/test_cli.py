"""The command line: the JSON report of docs/report.md (keys, types, where it is written), standard
input, image names, and bad input (issue 2 item 7): one line `layerscope: <input>: ...` on
stderr, exit status 2, no traceback unless --debug. `--image` (numbered from 1) in every mode,
a missing path that is no engine's business, and --compare messages that say what to do
(issue 18)."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from builder import (
    Device,
    Dir,
    File,
    Hardlink,
    Img,
    Layer,
    Opaque,
    Raw,
    Symlink,
    TarWriter,
    Whiteout,
    compress,
    docker_archive,
    docker_dir,
    oci_archive,
    oci_dir,
    oci_layout,
    sha,
)

from layerscope.cli import main

pytestmark = pytest.mark.usefixtures("spool_dir")  # no spooled copy is left behind

REPO = Path(__file__).resolve().parent.parent
REAL = Path(__file__).parent / "fixtures" / "real"
DIGEST = re.compile(r"sha256:[a-f0-9]{64}")


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path_factory, monkeypatch):
    """A cache of layer indexes of each test's own (subprocesses inherit it), never the user's."""
    monkeypatch.setenv("LAYERSCOPE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


def run(*argv: str, capsys) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def cli(*args: str, stdin: bytes | None = None, env: dict | None = None, cwd=None):
    """layerscope in a subprocess, as a user runs it."""
    full = dict(os.environ, PYTHONPATH=str(REPO))
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "layerscope", *args], input=stdin,
                          capture_output=True, env=full, cwd=cwd, timeout=60)  # fmt: skip


def strict_json(text: str):
    def no_constants(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=no_constants)


# -- the JSON report ---------------------------------------------------------------------------

NoneType = type(None)
IMAGE_KEYS = {
    "source": str, "ref": (str, NoneType), "refs": list, "config_digest": str, "platform": str,
    "layers": list, "history": list, "size": int, "final_size": int, "final_files": int,
    "reclaimable_bytes": int, "hidden": list, "duplicate_bytes": int, "dive": dict,
}  # fmt: skip
LAYER_KEYS = {
    "index": int, "diff_id": str, "digest": str, "compression": str, "stored_size": int,
    "size": int, "created_by": (str, NoneType), "files": list, "changes": dict,
}  # fmt: skip
FILE_KEYS = {
    "path": str, "type": str, "size": int, "mode": str, "uid": int, "gid": int,
    "link": (str, NoneType), "digest": (str, NoneType),
}  # fmt: skip
HISTORY_KEYS = {
    "created_by": (str, NoneType), "created": (str, NoneType), "author": (str, NoneType),
    "comment": (str, NoneType), "empty_layer": bool, "layer": (int, NoneType),
}  # fmt: skip
TYPES = {"file", "dir", "symlink", "hardlink", "char", "block", "fifo", "whiteout", "opaque"}


def check_keys(d: dict, spec: dict, what: str) -> None:
    missing = set(spec) - set(d)
    assert not missing, f"{what}: missing {missing}"
    for key, t in spec.items():
        types = t if isinstance(t, tuple) else (t,)
        assert isinstance(d[key], types), f"{what}.{key}: {d[key]!r}"
        if int in types and bool not in types:
            assert not isinstance(d[key], bool), f"{what}.{key} is a bool"


def check_report(report: dict, *, files: bool = True) -> None:
    """Every key and type docs/report.md promises for what issue 2 reads."""
    assert isinstance(report["layerscope"], str)
    assert isinstance(report["images"], list) and report["images"]
    assert isinstance(report["sharing"], dict)
    for img in report["images"]:
        check_keys(img, IMAGE_KEYS, "image")
        assert DIGEST.fullmatch(img["config_digest"])
        assert all(isinstance(r, str) for r in img["refs"])
        assert img["ref"] == (img["refs"][0] if img["refs"] else None)
        assert re.fullmatch(r"[^/]+/[^/]+(/[^/]+)?", img["platform"])
        assert img["size"] == sum(ly["size"] for ly in img["layers"])
        for n, h in enumerate(img["history"]):
            check_keys(h, HISTORY_KEYS, f"history[{n}]")
        for n, layer in enumerate(img["layers"]):
            spec = dict(LAYER_KEYS)
            if not files:
                del spec["files"]
                assert "files" not in layer
            check_keys(layer, spec, f"layer[{n}]")
            assert layer["index"] == n
            assert DIGEST.fullmatch(layer["diff_id"]) and DIGEST.fullmatch(layer["digest"])
            assert layer["compression"] in ("none", "gzip", "zstd", "bzip2", "xz")
            assert set(layer["changes"]) >= {"added", "modified", "metadata", "rewritten",
                                             "removed"}  # fmt: skip
            for f in layer.get("files", []):
                check_keys(f, FILE_KEYS, "file")
                assert f["type"] in TYPES
                assert re.fullmatch(r"[0-7]{4}", f["mode"])
                assert not f["path"].startswith(("/", "./")) and not f["path"].endswith("/")
                assert (f["digest"] is not None) == (f["type"] == "file" and
                                                     "metadata" not in f.get("flags", []))  # fmt: skip
                if f["digest"] is not None:
                    assert DIGEST.fullmatch(f["digest"])
                if f["type"] not in ("symlink", "hardlink"):
                    assert f["link"] is None
            if files:
                regular = [f["size"] for f in layer["files"]
                           if f["type"] == "file" and "metadata" not in f.get("flags", [])]  # fmt: skip
                assert layer["size"] == sum(regular)
        dive = img["dive"]
        assert set(dive) >= {"efficiency", "wasted_bytes", "user_wasted_fraction"}


def _raw(name: str, type_=tarfile.REGTYPE, data=b"") -> Raw:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mtime = type_, 0
    return Raw(ti, data)


EVERYTHING = Img(
    [
        Layer(
            Dir("etc"),
            File("etc/motd", b"hello\n", mode=0o644, uid=1, gid=2),
            File("bin/su", b"#!su", mode=0o4755),
            Dir("tmp", mode=0o1777),
            Symlink("etc/motd.link", "/etc/motd"),
            Hardlink("etc/motd.hard", "etc/motd"),
            Device("dev/null", "char", 1, 3),
            Device("dev/sda", "block", 8, 0),
            Device("run/fifo", "fifo"),
            _raw("caf\udce9.txt", data=b"latin-1 name"),
            _raw("./dot/./name//x", data=b"x"),
            created_by="RUN everything",
        ),
        Layer(
            Whiteout("etc/motd"),
            Opaque("tmp"),
            File("etc/motd", b"new"),
            _raw("stargz.index.json", data=b"{}"),
            compression="gzip",
        ),
    ],
    tag="every:thing",
    history=[
        {"created_by": "FROM scratch", "empty_layer": True},
        {"created_by": "RUN everything", "author": "me", "created": "2024-01-01T00:00:00Z"},
        {"created_by": "RUN second", "comment": "c"},
    ],
)


def test_json_report_to_a_file(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    archive = docker_archive(tmp_path / "in" / "a.tar", [EVERYTHING])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "report.json"
    before = sorted(os.listdir(tmp_path / "in"))
    code, stdout, stderr = run(str(archive), "--json", str(out), capsys=capsys)
    assert (code, stdout, stderr) == (0, "", "")
    assert os.listdir(out_dir) == ["report.json"]  # exactly FILE, nothing else
    assert sorted(os.listdir(tmp_path / "in")) == before
    text = out.read_text()
    report = strict_json(text)
    check_report(report)
    (img,) = report["images"]
    assert img["source"] == str(archive)
    assert (img["ref"], img["refs"], img["platform"]) == ("every:thing", ["every:thing"],
                                                          "linux/amd64")  # fmt: skip
    l0, l1 = img["layers"]
    assert [(f["path"], f["type"]) for f in l0["files"]] == [
        ("etc", "dir"), ("etc/motd", "file"), ("bin/su", "file"), ("tmp", "dir"),
        ("etc/motd.link", "symlink"), ("etc/motd.hard", "hardlink"), ("dev/null", "char"),
        ("dev/sda", "block"), ("run/fifo", "fifo"), ("caf\ufffd.txt", "file"),
        ("dot/name/x", "file"),
    ]  # fmt: skip
    motd = l0["files"][1]
    assert motd == {"path": "etc/motd", "type": "file", "size": 6, "mode": "0644", "uid": 1,
                    "gid": 2, "link": None, "digest": sha(b"hello\n")}  # fmt: skip
    assert l0["files"][2]["mode"] == "4755" and l0["files"][3]["mode"] == "1777"
    assert l0["files"][4]["link"] == "/etc/motd" and l0["files"][5]["link"] == "etc/motd"
    assert "\\udc" not in text  # a byte that is not UTF-8: U+FFFD, and the name's bytes
    assert l0["files"][9]["path_bytes"] == "Y2Fm6S50eHQ="  # base64 of b"caf\xe9.txt"
    assert [(f["path"], f["type"]) for f in l1["files"]] == [
        ("etc/motd", "whiteout"), ("tmp", "opaque"), ("etc/motd", "file"),
        ("stargz.index.json", "file"),
    ]  # fmt: skip
    assert l1["files"][3]["flags"] == ["metadata"] and l1["files"][3]["digest"] is None
    assert (l0["compression"], l1["compression"]) == ("none", "gzip")
    assert l0["digest"] == l0["diff_id"] != l1["digest"]
    assert l1["diff_id"] == sha(EVERYTHING.layers[1].tar_bytes)
    assert l1["digest"] == sha(EVERYTHING.layers[1].blob())
    assert l1["stored_size"] == len(EVERYTHING.layers[1].blob())
    assert (l0["size"], l1["size"]) == (6 + 4 + 12 + 1, 3)
    assert (l0["created_by"], l1["created_by"]) == ("RUN everything", "RUN second")
    assert img["history"] == [
        {"created_by": "FROM scratch", "created": None, "author": None, "comment": None,
         "empty_layer": True, "layer": None},
        {"created_by": "RUN everything", "created": "2024-01-01T00:00:00Z", "author": "me",
         "comment": None, "empty_layer": False, "layer": 0},
        {"created_by": "RUN second", "created": None, "author": None, "comment": "c",
         "empty_layer": False, "layer": 1},
    ]  # fmt: skip


def test_json_report_replaces_an_existing_file(tmp_path, capsys):
    archive = docker_archive(tmp_path / "a.tar", [EVERYTHING])
    out = tmp_path / "r.json"
    out.write_text("old")
    assert run(str(archive), "--json", str(out), capsys=capsys)[0] == 0
    check_report(strict_json(out.read_text()))
    assert sorted(os.listdir(tmp_path)) == ["a.tar", "r.json", "spool"]


def test_json_report_to_stdout_and_no_files(tmp_path, capsys):
    archive = oci_archive(tmp_path / "o.tar", [EVERYTHING, Img([Layer(File("x", b"1"))],
                                                                 tag="two")])  # fmt: skip
    code, out, err = run(str(archive), "--json", "-", capsys=capsys)
    assert (code, err) == (0, "")
    full = strict_json(out)
    check_report(full)
    assert [i["ref"] for i in full["images"]] == ["every:thing", "two"]
    code, out, err = run(str(archive), "--json", "-", "--no-files", capsys=capsys)
    assert (code, err) == (0, "")
    slim = strict_json(out)
    check_report(slim, files=False)
    for img in full["images"]:
        for layer in img["layers"]:
            del layer["files"]
    assert slim == full
    assert sorted(os.listdir(tmp_path)) == ["o.tar", "spool"]


def test_json_report_of_several_archives(tmp_path, capsys):
    a = docker_archive(tmp_path / "a.tar", [EVERYTHING])
    b = docker_dir(tmp_path / "dd", Img([Layer(File("y", b"2"))]))
    code, out, _ = run(str(a), str(b), "--json", "-", capsys=capsys)
    assert code == 0
    report = strict_json(out)
    check_report(report)
    assert [i["source"] for i in report["images"]] == [str(a), str(b)]


def test_a_single_layer_image_reports_valid_json(tmp_path, capsys):
    """dive's user-wasted figure is 0/0 here: NaN is not JSON."""
    archive = docker_archive(tmp_path / "a.tar", [Img([Layer(File("x", b"1"))])])
    code, out, _ = run(str(archive), "--json", "-", capsys=capsys)
    assert code == 0
    check_report(strict_json(out))


@pytest.mark.parametrize("name", ["docker-archive.tar", "multi.tar", "zstd.tar", "oci-dir",
                                  "docker-dir", "docker-archive.tar.zst"])  # fmt: skip
def test_json_report_of_real_archives(name, capsys):
    code, out, err = run(str(REAL / name), "--json", "-", capsys=capsys)
    assert (code, err) == (0, "")
    report = strict_json(out)
    check_report(report)
    oracle = json.loads((REAL / f"{name}.expected.json").read_text())
    assert [i["config_digest"] for i in report["images"]] == [
        i["config_digest"] for i in oracle["images"]
    ]
    for img, exp in zip(report["images"], oracle["images"], strict=True):
        assert [ly["diff_id"] for ly in img["layers"]] == exp["diff_ids"]
        assert [ly["digest"] for ly in img["layers"]] == [ly["digest"] for ly in exp["layers"]]
        assert [len(ly["files"]) for ly in img["layers"]] == [
            len([e for e in ly["entries"] if e["name"] not in ("./", ".", "/")])
            for ly in exp["layers"]
        ]


# -- inputs through the command line -----------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda p: docker_archive(p / "legacy.tar", [Img([Layer(File("a", b"1")), Layer(File("b")),
                                                     Layer(File("a", b"1"))])]),
    lambda p: docker_archive(p / "podman.tar", [EVERYTHING], style="podman", whole="zstd"),
    lambda p: oci_archive(p / "d25.tar", [EVERYTHING], docker25=True, whole="bzip2"),
    lambda p: oci_archive(p / "fallback.tar", [EVERYTHING], docker25=True, absent=(0,)),
    lambda p: oci_archive(p / "ctr.tar", [EVERYTHING, Img([Layer(File("arm"))], arch="arm64")],
                          multiplatform=True, attestation=True, absent=(1,), whole="xz"),
    lambda p: oci_dir(p / "ocidir", [EVERYTHING], compression="zstd-multi"),
    lambda p: docker_dir(p / "dockerdir", EVERYTHING),
    lambda p: docker_archive(p / "gz.tar.gz", [EVERYTHING], whole="gzip-multi"),
])  # fmt: skip
def test_every_input_kind(tmp_path, capsys, make):
    path = make(tmp_path)
    code, out, err = run(str(path), "--json", "-", "--platform", "linux/amd64", capsys=capsys)
    assert (code, err) == (0, "")
    check_report(strict_json(out))


def test_platform_option(tmp_path, capsys):
    imgs = [EVERYTHING, Img([Layer(File("arm"))], arch="arm64", tag="every:thing")]
    p = oci_archive(tmp_path / "ctr.tar", imgs, multiplatform=True, attestation=True)
    code, out, _ = run(str(p), "--json", "-", "--platform", "linux/arm64", capsys=capsys)
    assert code == 0
    (img,) = strict_json(out)["images"]
    assert img["platform"] == "linux/arm64"
    code, out, err = run(str(p), "--json", "-", "--platform", "linux/ppc64le", capsys=capsys)
    assert (code, out) == (2, "")
    assert err == (f"layerscope: {p}: no image for platform linux/ppc64le "
                   "(present: linux/amd64, linux/arm64)\n")  # fmt: skip


def subprocess_env(tmp_path) -> dict:
    spool = tmp_path / "tmpdir"
    spool.mkdir(exist_ok=True)
    return {"TMPDIR": str(spool)}


@pytest.mark.parametrize("whole", [None, "gzip", "zstd"])
def test_stdin(tmp_path, whole):
    data = compress(docker_archive(tmp_path / "a.tar", [EVERYTHING]).read_bytes(), whole)
    env = subprocess_env(tmp_path)
    out = tmp_path / "r.json"
    proc = cli("-", "--json", str(out), stdin=data, env=env)
    assert (proc.returncode, proc.stderr) == (0, b"")
    report = strict_json(out.read_text())
    check_report(report)
    assert report["images"][0]["source"] == "-"
    assert os.listdir(env["TMPDIR"]) == []  # the spool file is gone


@pytest.mark.skipif(not shutil.which("bash"), reason="needs bash for <(...)")
def test_process_substitution(tmp_path):
    archive = docker_archive(tmp_path / "a.tar", [EVERYTHING], whole="gzip")
    env = dict(os.environ, PYTHONPATH=str(REPO), **subprocess_env(tmp_path))
    cmd = f'"{sys.executable}" -m layerscope <(cat "{archive}") --json -'
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, env=env, timeout=60)
    assert (proc.returncode, proc.stderr) == (0, b"")
    check_report(strict_json(proc.stdout))
    assert os.listdir(env["TMPDIR"]) == []


def test_stdin_that_is_not_an_archive(tmp_path):
    env = subprocess_env(tmp_path)
    proc = cli("-", "--json", "-", stdin=b"hello, not a tar\n" * 100, env=env)
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr == b"layerscope: -: not a tar archive (bad header checksum)\n"
    assert os.listdir(env["TMPDIR"]) == []
    proc = cli("-", "--json", "-", stdin=compress(b"x" * 5000, "gzip")[:-9], env=env)
    assert proc.returncode == 2 and proc.stderr.startswith(b"layerscope: -: truncated gzip")
    assert os.listdir(env["TMPDIR"]) == []


def test_stdin_with_a_bad_layer_leaves_no_spool(tmp_path):
    env = subprocess_env(tmp_path)
    data = _docker_with_blob(GZ[:-20], sha(LAYER_TAR))
    proc = cli("-", "--json", "-", stdin=data, env=env)
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.startswith(b"layerscope: -: layer 0 (l/layer.tar): truncated gzip")
    assert os.listdir(env["TMPDIR"]) == []


def test_no_engine_on_path(tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    proc = cli("nginx:latest", "--json", "-", env={"PATH": str(empty)})
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr == (b"layerscope: nginx:latest: not a file, and neither docker nor "
                           b"podman is installed to save it\n")  # fmt: skip
    proc = cli("nginx:latest", "--json", "-", "--source", "podman", env={"PATH": str(empty)})
    assert proc.stderr == b"layerscope: nginx:latest: not a file, and podman is not installed\n"


def test_an_engine_that_does_not_know_the_image(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "docker").write_text(
        "#!/bin/sh\necho 'Error response from daemon: reference does not exist' >&2\nexit 1\n"
    )
    (bindir / "docker").chmod(0o755)
    env = dict(subprocess_env(tmp_path), PATH=str(bindir))
    proc = cli("nosuch:1", "--json", "-", env=env)
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr == (b"layerscope: nosuch:1: docker save: Error response from daemon: "
                           b"reference does not exist\n")  # fmt: skip
    assert os.listdir(env["TMPDIR"]) == []


def test_an_engine_that_saves_the_image(tmp_path):
    archive = docker_archive(tmp_path / "saved.tar", [EVERYTHING])
    bindir = tmp_path / "bin"
    bindir.mkdir()
    # `podman save -- NAME` writes the archive to standard output
    script = f'[ "$1 $2 $3" = "save -- app:1" ] || exit 3\nexec {shutil.which("cat")} "{archive}"\n'
    (bindir / "podman").write_text("#!/bin/sh\n" + script)
    (bindir / "podman").chmod(0o755)
    env = dict(subprocess_env(tmp_path), PATH=str(bindir))
    proc = cli("app:1", "--json", "-", "--source", "podman", env=env, cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert strict_json(proc.stdout)["images"][0]["source"] == "app:1"
    assert os.listdir(env["TMPDIR"]) == []


# -- bad input -------------------------------------------------------------------------------


def _tar_of(files: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    w = TarWriter()
    for name, data in files.items():
        w.file(name, data)
    for name, target in (symlinks or {}).items():
        w.symlink(name, target)
    return w.bytes()


def _docker_with_blob(blob: bytes, diff_id: str) -> bytes:
    cfg = json.dumps({"rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    manifest = [{"Config": "c.json", "RepoTags": None, "Layers": ["l/layer.tar"]}]
    return _tar_of({"c.json": cfg, "l/layer.tar": blob, "manifest.json": json.dumps(manifest)
                    .encode()})  # fmt: skip


def _bad_manifest(layers: list[str], config: str = "c.json", symlinks=None) -> bytes:
    tar = EVERYTHING.layers[0].tar_bytes
    cfg = json.dumps({"rootfs": {"type": "layers", "diff_ids": [sha(tar)]}}).encode()
    manifest = [{"Config": config, "RepoTags": None, "Layers": layers}]
    return _tar_of({"c.json": cfg, "l/layer.tar": tar, "manifest.json": json.dumps(manifest)
                    .encode()}, symlinks)  # fmt: skip


LAYER_TAR = EVERYTHING.layers[0].tar_bytes
GZ = compress(LAYER_TAR, "gzip")
ZS = compress(LAYER_TAR, "zstd")


def _flip(data: bytes, start: int = 30) -> bytes:
    b = bytearray(data)
    for i in range(start, len(b) - 10, 5):
        b[i] ^= 0x5A
    return bytes(b)


BAD_INPUTS = {
    "not-an-archive": (b"\x89PNG\r\n\x1a\n" + bytes(1000), "not a tar archive"),
    "text": (b"just some text\n" * 100, "not a tar archive"),
    "empty-file": (b"", "not a saved image: found neither manifest.json nor index.json "
                        "(an empty archive)"),
    "zeros": (bytes(10240), "(an empty archive)"),
    "truncated-archive": (_bad_manifest(["l/layer.tar"])[:3000], "truncated"),
    "truncated-gzip-archive": (compress(_bad_manifest(["l/layer.tar"]), "gzip")[:-40],
                               "truncated gzip stream"),
    "corrupt-zstd-archive": (_flip(compress(_bad_manifest(["l/layer.tar"]), "zstd")), "zstd"),
    "truncated-gzip-layer": (_docker_with_blob(GZ[: len(GZ) // 2], sha(LAYER_TAR)),
                             "layer 0 (l/layer.tar): truncated gzip stream"),
    "corrupt-gzip-layer": (_docker_with_blob(_flip(GZ), sha(LAYER_TAR)),
                           "layer 0 (l/layer.tar): corrupt gzip stream"),
    "truncated-zstd-layer": (_docker_with_blob(ZS[:-5], sha(LAYER_TAR)),
                             "layer 0 (l/layer.tar): truncated zstd stream"),
    "layer-not-a-tar": (_docker_with_blob(b"nope" * 300, sha(b"nope" * 300)),
                        "layer 0 (l/layer.tar): not a tar archive"),
    "missing-blob": (_bad_manifest(["l/gone.tar"]), "l/gone.tar is missing from the archive"),
    "dotdot-path": (_bad_manifest(["../l/layer.tar"]), "leaves the archive"),
    "inner-dotdot-path": (_bad_manifest(["l/../l/layer.tar"]), "leaves the archive"),
    "absolute-path": (_bad_manifest(["/etc/passwd"]), "leaves the archive"),
    "absolute-config": (_bad_manifest(["l/layer.tar"], "/etc/hostname"), "leaves the archive"),
    "symlink-outside": (_bad_manifest(["x/layer.tar"], symlinks={"x/layer.tar": "../../../etc/passwd"}),
                        "leaves the archive"),
    "absolute-symlink": (_bad_manifest(["x/layer.tar"], symlinks={"x/layer.tar": "/etc/passwd"}),
                         "symlink to an absolute path"),
    "newline-in-a-path": (_bad_manifest(["l/a\nb.tar"]), "l/a\\nb.tar is missing"),
    "bad-diff-id": (_docker_with_blob(LAYER_TAR, "sha256:XYZ"), "not a valid sha256 digest"),
    "wrong-diff-id": (_docker_with_blob(LAYER_TAR, "sha256:" + "e" * 64),
                      "layer 0 (l/layer.tar): diff_id is " + sha(LAYER_TAR)),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, case):
    data, message = BAD_INPUTS[case]
    p = tmp_path / "input.tar"
    p.write_bytes(data)
    out = tmp_path / "r.json"
    code, stdout, stderr = run(str(p), "--json", str(out), capsys=capsys)
    assert code == 2 and stdout == ""
    assert stderr.startswith(f"layerscope: {p}: ") and stderr.endswith("\n")
    assert stderr.count("\n") == 1, stderr
    assert message in stderr
    assert "Traceback" not in stderr
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["input.tar", "spool"]


def _oci_files() -> dict[str, bytes]:
    return oci_layout([EVERYTHING])


def _manifest_of(files):
    index = json.loads(files["index.json"])
    return index, json.loads(files["blobs/sha256/" + index["manifests"][0]["digest"][7:]])


def _save_manifest(files, index, man):
    data = json.dumps(man).encode()
    files["blobs/sha256/" + sha(data)[7:]] = data
    index["manifests"][0].update(digest=sha(data), size=len(data))
    files["index.json"] = json.dumps(index).encode()


def _wrong_blob_digest(files):
    _, man = _manifest_of(files)
    name = "blobs/sha256/" + man["layers"][1]["digest"][7:]
    blob = bytearray(files[name])
    blob[4] ^= 1  # gzip mtime: same content, another digest
    files[name] = bytes(blob)
    return "layer 1 (" + name + "): blob digest is"


def _wrong_size(files):
    index, man = _manifest_of(files)
    man["layers"][0]["size"] += 1
    _save_manifest(files, index, man)
    return "layer 0 blob is"


def _wrong_diff_id(files):
    index, man = _manifest_of(files)
    cfg = json.loads(files["blobs/sha256/" + man["config"]["digest"][7:]])
    cfg["rootfs"]["diff_ids"][1] = "sha256:" + "f" * 64
    data = json.dumps(cfg).encode()
    files["blobs/sha256/" + sha(data)[7:]] = data
    man["config"].update(digest=sha(data), size=len(data))
    _save_manifest(files, index, man)
    return "layer 1 (blobs/sha256/"


@pytest.mark.parametrize("tamper", [_wrong_blob_digest, _wrong_size, _wrong_diff_id])
def test_verification_errors_and_no_verify(tmp_path, capsys, tamper):
    files = _oci_files()
    message = tamper(files)
    p = tmp_path / "o.tar"
    p.write_bytes(_tar_of(files))
    code, out, err = run(str(p), "--json", "-", capsys=capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"layerscope: {p}: {message}") and err.count("\n") == 1, err
    code, out, err = run(str(p), "--json", "-", "--no-verify", capsys=capsys)
    assert (code, err) == (0, "")
    check_report(strict_json(out))


def test_report_cannot_be_written(tmp_path, capsys):
    archive = docker_archive(tmp_path / "a.tar", [EVERYTHING])
    target = tmp_path / "no" / "such" / "dir" / "r.json"
    code, out, err = run(str(archive), "--json", str(target), capsys=capsys)
    assert (code, out) == (2, "")
    assert err == f"layerscope: {target}: cannot write the report: No such file or directory\n"


def test_missing_file_with_source_archive(tmp_path, capsys):
    code, _, err = run(str(tmp_path / "nope.tar"), "--source", "archive", "--json", "-",
                       capsys=capsys)  # fmt: skip
    assert (code, err) == (2, f"layerscope: {tmp_path / 'nope.tar'}: no such file or directory\n")


def test_usage_errors(capsys):
    code, _, err = run("--json", "-", capsys=capsys)
    assert code == 2 and err.endswith("layerscope: name an archive (or '-' for standard input), "
                                      "or use --demo\n")  # fmt: skip
    with pytest.raises(SystemExit) as info:
        main(["x.tar", "--source", "ftp"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_debug_shows_a_traceback(tmp_path):
    p = tmp_path / "bad.tar"
    p.write_bytes(b"not a tar" * 100)
    quiet = cli(str(p), "--json", "-")
    assert quiet.returncode == 2 and b"Traceback" not in quiet.stderr
    loud = cli(str(p), "--json", "-", "--debug")
    assert loud.returncode != 0
    assert b"Traceback (most recent call last)" in loud.stderr
    assert b"TarError" in loud.stderr


def test_the_cache_never_hides_a_changed_blob(tmp_path, capsys):
    """A layer read once is cached; a blob changed in the middle (same claimed digest, same
    size, same first and last 64 KiB) must still fail verification on the next run."""
    big = Layer(File("big", random.Random(3).randbytes(400_000)), compression="gzip")
    files = oci_layout([Img([big])])
    _, man = _manifest_of(files)
    name = "blobs/sha256/" + man["layers"][0]["digest"][7:]
    good = tmp_path / "good.tar"
    good.write_bytes(_tar_of(files))
    assert run(str(good), "--json", "-", capsys=capsys)[0] == 0
    blob = bytearray(files[name])
    blob[len(blob) // 2] ^= 0xFF
    files[name] = bytes(blob)
    bad = tmp_path / "bad.tar"
    bad.write_bytes(_tar_of(files))
    code, _, err = run(str(bad), "--json", "-", capsys=capsys)
    assert code == 2 and "layer 0" in err


# -- --image in every mode, missing paths, --compare (issue 18) ----------------------------------
# Images are numbered from 1 for people: `--image 1` is the first.

IMG_A = Img([Layer(File("a", b"aa" * 50))], tag="a:1")
IMG_B = Img([Layer(File("b", b"b" * 30)), Layer(File("b2", b"x"))], tag="b:1")
IMG_C = Img([Layer(File("c", b"c" * 7))], tag="evil\x1b]0;pwned\x07:1")  # a hostile name
THREE = "there are 3 images: 1 a:1, 2 b:1, 3 evil\\x1b]0;pwned\\x07:1"


@pytest.fixture
def ab_c(tmp_path) -> tuple[str, str]:
    """Two archives, three images: a:1 and b:1 in ab.tar, the hostile-named one in c.tar."""
    ab = docker_archive(tmp_path / "ab.tar", [IMG_A, IMG_B])
    c = docker_archive(tmp_path / "c.tar", [IMG_C])
    return str(ab), str(c)


def one_error(code: int, out: str, err: str) -> str:
    """The one line of a usage error (exit 2, nothing on standard output, no traceback)."""
    assert (code, out) == (2, "") and err.endswith("\n") and err.count("\n") == 1, (code, err)
    assert "Traceback" not in err and "\x1b" not in err
    return err.removeprefix("layerscope: ").removesuffix("\n")


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("0", f"--image 0: images are numbered from 1; {THREE}"),
        ("4", f"--image 4: no image 4; {THREE}"),
        ("9", f"--image 9: no image 9; {THREE}"),
        ("nosuch:1", f"--image nosuch:1: no such image; {THREE}"),
        ("\x1b[2Jx", f"--image \\x1b[2Jx: no such image; {THREE}"),
    ],
)
@pytest.mark.parametrize(
    "mode", [["--json", "-"], ["--ci"], ["--export", "a", "--to", "OUT"], ["--json", "-", "--ci"]]
)
def test_a_bad_image_is_one_line_in_every_headless_mode(ab_c, tmp_path, capsys, selector,
                                                        message, mode):  # fmt: skip
    mode = [str(tmp_path / "out") if m == "OUT" else m for m in mode]
    result = run(*ab_c, "--image", selector, *mode, capsys=capsys)
    assert one_error(*result) == message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra", [[], ["--compare", "--image", "1"], ["--serve", "--port", "0"]])
def test_a_bad_image_stops_the_app_and_serve_before_they_start(ab_c, extra):
    """Checked before the UI (or the web server) starts: a subprocess that would otherwise sit
    in the app; its standard input is not a terminal."""
    proc = cli(*ab_c, "--image", "9", *extra)
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.decode() == f"layerscope: --image 9: no image 9; {THREE}\n"


def test_the_report_with_image_holds_only_those_images(ab_c, capsys):
    code, out, err = run(*ab_c, "--image", "2", "--json", "-", "--no-files", capsys=capsys)
    assert (code, err) == (0, "")
    report = strict_json(out)
    check_report(report, files=False)
    assert [(i["ref"], i["size"]) for i in report["images"]] == [("b:1", 31)]
    assert report["sharing"]["unshared_bytes"] == 31 and report["sharing"]["unique_bytes"] == [31]
    # by name, by number, in the order given, each once
    code, out, _ = run(*ab_c, "--image", "3", "--image", "a:1", "--image", "1", "--json", "-",
                       "--no-files", capsys=capsys)  # fmt: skip
    assert code == 0
    report = strict_json(out)
    assert [i["ref"] for i in report["images"]] == ["evil\x1b]0;pwned\x07:1", "a:1"]
    assert [i["size"] for i in report["images"]] == [7, 100]
    # sharing names the images by their index in this report's `images`, not among all given
    used = [(layer["size"], layer["images"]) for layer in report["sharing"]["layers"]]
    assert sorted(used) == [(7, [0]), (100, [1])]
    # without --image: every image
    code, out, _ = run(*ab_c, "--json", "-", "--no-files", capsys=capsys)
    assert [i["ref"] for i in strict_json(out)["images"]] == ["a:1", "b:1", IMG_C.tag]


def test_ci_and_export_follow_image(ab_c, tmp_path, capsys):
    code, out, _ = run(*ab_c, "--image", "2", "--ci", capsys=capsys)
    assert code == 0
    judged = [line for line in out.splitlines() if line and not line.startswith((" ", "rules:"))]
    assert judged[0].startswith("b:1 (") and judged[-1] == "PASS: 1 image, every rule passed"
    dest = tmp_path / "out"
    code, out, _ = run(*ab_c, "--image", "2", "--export", "b", "--to", str(dest), capsys=capsys)
    assert (code, out) == (0, f"wrote {dest / 'b'}\n")
    assert (dest / "b").read_bytes() == b"b" * 30
    result = run(*ab_c, "--image", "1", "--export", "b", "--to", str(dest), capsys=capsys)
    assert one_error(*result) == "b is not in the image as of layer 0"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--image", "1", "--image", "2"],
         "--image is given 2 times and the app shows one image: give it once, or add --compare "
         "to compare two"),
        (["--image", "1", "--image", "2", "--export", "a", "--to", "out"],
         "--image is given 2 times and --export writes from one image: give it once"),
    ],
)  # fmt: skip
def test_image_given_twice_where_one_image_is_shown(ab_c, capsys, args, message):
    assert one_error(*run(*ab_c, *args, capsys=capsys)) == message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # two archives given, three images in all: which two?
        ([], f"--compare needs two images and {THREE}; pick two with --image N twice "
             "(numbered from 1)"),
        (["--image", "2"], "--compare needs two images and --image names one: give --image "
                           f"twice (numbered from 1); {THREE}"),
        (["--image", "1", "--image", "a:1"], "--compare: --image 1 and --image a:1 both name "
                                             f"image 1: pick two different images; {THREE}"),
        (["--image", "1", "--image", "2", "--image", "3"],
         f"--compare compares two images, and --image is given 3 times: give it twice; {THREE}"),
        (["--image", "1", "--image", "0"], f"--image 0: images are numbered from 1; {THREE}"),
    ],
)  # fmt: skip
def test_compare_messages_say_what_to_do(ab_c, capsys, args, message):
    result = run(*ab_c, "--compare", "--json", "-", *args, capsys=capsys)
    assert one_error(*result) == message


def test_compare_of_one_image_and_of_two_picked(ab_c, tmp_path, capsys):
    a = docker_archive(tmp_path / "a.tar", [IMG_A])
    result = run(str(a), "--compare", "--json", "-", capsys=capsys)
    assert one_error(*result) == (
        "--compare needs two images and there is one (a:1): give two archives, or an archive of "
        "several images"
    )
    code, out, _ = run(*ab_c, "--compare", "--image", "3", "--image", "1", "--json", "-",
                       "--no-files", capsys=capsys)  # fmt: skip
    assert code == 0
    report = strict_json(out)
    assert [i["ref"] for i in report["images"]] == [IMG_C.tag, "a:1"]  # the two compared
    assert (report["compare"]["a"], report["compare"]["b"]) == (IMG_C.tag, "a:1")
    assert [x["path"] for x in report["compare"]["added"]] == ["a"]
    assert [x["path"] for x in report["compare"]["removed"]] == ["c"]


@pytest.mark.parametrize(
    "name", ["/nonexistent.tar", "nonexistent.tar", "./app", "images/app.tar.gz"]
)
def test_a_missing_path_is_no_such_file(tmp_path, name):
    """Not docker's and podman's errors: no engine is asked about a path or an archive name
    (a fake docker and podman on PATH record any call)."""
    calls = tmp_path / "calls"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for engine in ("docker", "podman"):
        (bindir / engine).write_text(f'#!/bin/sh\necho "$@" >> "{calls}"\nexit 1\n')
        (bindir / engine).chmod(0o755)
    env = dict(subprocess_env(tmp_path), PATH=f"{bindir}:{os.environ['PATH']}")
    for mode in (["--json", "-"], []):  # the report, and the app (which must not start)
        proc = cli(name, *mode, env=env, cwd=tmp_path)
        assert (proc.returncode, proc.stdout) == (2, b"")
        assert proc.stderr.decode() == f"layerscope: {name}: no such file or directory\n"
    assert not calls.exists()


def test_image_by_name_or_digest_and_an_ambiguous_name(tmp_path, capsys):
    a = docker_archive(tmp_path / "a.tar", [IMG_A])
    a2 = docker_archive(tmp_path / "a2.tar", [Img([Layer(File("other", b"o"))], tag="a:1")])
    ab = docker_archive(tmp_path / "ab.tar", [IMG_A, IMG_B])
    result = run(str(a), str(a2), "--image", "a:1", "--json", "-", capsys=capsys)
    assert one_error(*result) == (
        "--image a:1 names 2 images (1, 2): give a number instead; there are 2 images: 1 a:1, 2 a:1"
    )
    code, out, _ = run(str(a), str(a2), "--image", "2", "--json", "-", "--no-files", capsys=capsys)
    assert code == 0 and [i["size"] for i in strict_json(out)["images"]] == [1]
    code, out, _ = run(str(ab), "--json", "-", "--no-files", capsys=capsys)
    digest = strict_json(out)["images"][1]["config_digest"]
    for selector in (digest, digest[:13], digest[7:].upper()):  # sha256: and 6 hex digits
        code, out, _ = run(str(ab), "--image", selector, "--json", "-", "--no-files", capsys=capsys)
        assert code == 0 and [i["ref"] for i in strict_json(out)["images"]] == ["b:1"]
    result = run(str(ab), "--image", "sha256:" + digest[7:12], "--json", "-", capsys=capsys)
    assert (
        one_error(*result)
        == (  # 5 hex digits are too few to name an image
            f"--image sha256:{digest[7:12]}: no such image; there are 2 images: 1 a:1, 2 b:1"
        )
    )


def test_the_layers_of_images_not_chosen_are_not_read(tmp_path, capsys):
    """With --image, only the chosen images' layers are read: a layer of another image that
    fails its diff_id check changes nothing (it did fail the whole run, and cost its read)."""
    good = Img([Layer(File("etc/good", b"g" * 10))], tag="good:1")
    rootfs = {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}
    broken = Img([Layer(File("etc/bad", b"b"))], tag="bad:1", config_extra={"rootfs": rootfs})
    path = str(docker_archive(tmp_path / "two.tar", [broken, good], style="podman"))
    code, _, err = run(path, "--json", "-", "--no-files", capsys=capsys)
    assert code != 0 and "diff_id" in err  # every image: the broken layer is read, and fails
    code, out, err = run(path, "--image", "good:1", "--json", "-", "--no-files", capsys=capsys)
    assert (code, err) == (0, "")
    assert [i["ref"] for i in strict_json(out)["images"]] == ["good:1"]
    code, out, err = run(path, "--image", "2", "--ci", capsys=capsys)
    assert code == 0, err


def test_image_is_checked_before_any_layer_is_read(tmp_path, capsys):
    """A layer that fails its diff_id check is never read: the bad --image is the answer."""
    bad = tmp_path / "bad.tar"
    bad.write_bytes(_docker_with_blob(LAYER_TAR, "sha256:" + "0" * 64))
    code, _, err = run(str(bad), "--json", "-", capsys=capsys)
    assert code == 2 and "diff_id" in err  # reading it fails
    for mode in (["--json", "-"], ["--ci"], ["--export", "etc", "--to", str(tmp_path / "o")]):
        result = run(str(bad), "--image", "2", *mode, capsys=capsys)
        assert one_error(*result).startswith("--image 2: no image 2; there is 1 image: 1 ")
