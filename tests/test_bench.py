"""The benchmark's own parts (bench/generate.py, bench/run.py): the archives it writes are what
they claim (tar headers as tarfile writes them, exact entry counts, the node_modules shape, the
same bytes every time), and what it measures is measured (the floor reads every layer blob,
decompressed; memory is summed over a whole process tree)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import random
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from builder import File, Img, Layer, docker_archive

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


generate = _load("generate")
run = _load("run")


@pytest.fixture(scope="module")
def pool():
    """The generator's 64 MiB of seeded content, made once."""
    return generate.Pool(42)


def _members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return tf.getmembers()


def _layers(archive: Path) -> list[bytes]:
    with tarfile.open(archive) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        return [tf.extractfile(name).read() for name in manifest[0]["Layers"]]  # type: ignore[union-attr]


def test_tar_headers_are_byte_for_byte_what_tarfile_writes():
    rng = random.Random(1)
    for _ in range(2_000):
        kind = rng.choice(sorted(generate.TYPES))
        name = "".join(rng.choice("ab/c.é-") for _ in range(rng.choice([1, 99, 100, 101, 300])))
        link = "x" * rng.choice([0, 100, 101, 250]) if kind in ("symlink", "hardlink") else ""
        size = rng.choice([0, 1, 512, 8**11 - 1]) if kind == "file" else 0
        mode = rng.choice([0, 0o644, 0o755, 0o4755])
        info = tarfile.TarInfo(name)
        info.mtime, info.mode, info.type = generate.MTIME, mode, generate.TYPES[kind]
        info.linkname, info.size = link, size
        if kind == "dir" and not name.endswith("/"):
            name += "/"
        got = generate.tar_header(name.encode(), generate.TYPES[kind], size, mode, link.encode())
        assert got == info.tobuf(tarfile.GNU_FORMAT), (name, kind, link)


def test_nodemod_is_a_node_modules_tree_of_exactly_its_entries(tmp_path, pool):
    note = generate.generate(tmp_path, "nodemod", 0.004, pool)
    archive = tmp_path / "nodemod.tar"
    assert note["entries"] == note["layer_entries"][0] == 4_000
    (layer,) = _layers(archive)
    members = _members(layer)
    assert len(members) == 4_000
    names = [m.name for m in members]
    assert len(set(names)) == len(names)
    links = [m for m in members if m.issym()]
    assert links and all("/.bin/" in m.name and m.linkname.startswith("../") for m in links)
    assert any(n.startswith("app/node_modules/") and n.count("/node_modules/") > 1 for n in names)
    assert any(n.startswith("app/node_modules/@") for n in names)  # scoped packages
    assert any(len(n.encode()) > 100 for n in names)  # GNU long names
    files = [m for m in members if m.isfile()]
    assert sum(m.size <= 4096 for m in files) > 0.85 * len(files)
    with tarfile.open(fileobj=io.BytesIO(layer)) as tf:
        digests = [hashlib.sha256(tf.extractfile(m).read()).digest() for m in files]  # type: ignore[union-attr]
    assert 0 < len(digests) - len(set(digests)) < len(digests) // 10  # a few duplicates
    # the same seed, the same bytes
    again = tmp_path / "again"
    again.mkdir()
    generate.generate(again, "nodemod", 0.004, pool)
    assert (again / "nodemod.tar").read_bytes() == archive.read_bytes()


def test_nodemod2_changes_a_tenth_of_nodemod_and_layerscope_counts_the_same(tmp_path, pool):
    generate.generate(tmp_path, "nodemod", 0.004, pool)
    note = generate.generate(tmp_path, "nodemod2", 0.004, pool)
    base, top = _layers(tmp_path / "nodemod2.tar")
    assert base == _layers(tmp_path / "nodemod.tar")[0]
    changed = _members(top)
    whiteouts = [m.name for m in changed if "/.wh." in m.name]
    rewritten = [m for m in changed if m.isfile() and "/.wh." not in m.name]
    assert 0.05 * 4_000 < len(rewritten) + len(whiteouts) < 0.15 * 4_000
    packages = {m.name.rstrip("/") for m in _members(base) if m.isdir()}
    gone = [w.replace(".wh.", "") for w in whiteouts]
    assert any(g in packages and g.count("/") in (2, 3) for g in gone)  # a whole package
    out = subprocess.run(
        [sys.executable, "-m", "layerscope", str(tmp_path / "nodemod2.tar"), "--json", "-",
         "--no-cache"],
        capture_output=True, check=True,
    )  # fmt: skip
    report = json.loads(out.stdout)
    counted = [len(layer["files"]) for layer in report["images"][0]["layers"]]
    assert counted == note["layer_entries"]
    assert run.entries_of(tmp_path / "nodemod2.tar") == sum(counted)


def test_the_floor_reads_every_layer_blob_decompressed(tmp_path):
    big = File("a", random.Random(2).randbytes(3 << 20))
    plain = docker_archive(tmp_path / "plain.tar", [Img([Layer(big), Layer(File("b", b"x"))])])
    gz = docker_archive(tmp_path / "gz.tar", [Img([Layer(big, compression="gzip")])])
    sizes = [len(blob.read()) for blob in run.layer_blobs(plain)]
    assert len(sizes) == 2 and sizes[0] > 3 << 20
    assert all(seconds >= 0 for seconds in run.floor(plain) + run.floor(gz))
    blobs = run.layer_blobs(gz)
    layer = next(blobs).read()
    blobs.close()
    decompress = run._decompressor(layer[:4])
    assert decompress is not None and big.data in decompress(layer)


def test_memory_is_summed_over_the_whole_process_tree():
    # a parent holding 60 MB starts a child holding 60 MB: the sum sees both
    code = (
        "import subprocess, sys; a = b'x' * (60 << 20); "
        "subprocess.run([sys.executable, '-c', "
        "'import time; b = bytes([1]) * (60 << 20); time.sleep(0.6)'])"
    )
    r = run.run([sys.executable, "-c", code])
    assert r["rc"] == 0 and r["cpu"] > 0 and r["wall"] > 0.5
    assert r["rss_sum_kb"] > 120 << 10
    assert 60 << 10 < r["rss_kb"] < r["rss_sum_kb"]


def test_keys_are_timed_while_the_layers_load(tmp_path, pool, monkeypatch):
    import asyncio

    from layerscope.model.archive import discover
    from layerscope.ui import bench
    from layerscope.ui.app import LayerscopeApp

    monkeypatch.setenv("LAYERSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    generate.generate(tmp_path, "nodemod", 0.003, pool)
    app = LayerscopeApp(discover([str(tmp_path / "nodemod.tar")], cache=True))
    result = asyncio.run(bench.measure_cold(app))
    assert 0 < result["layers_shown"] <= result["all_loaded"] < 60
    assert result["cold_keys"] == len(result["cold_key_timings"])
    assert result["cold_timed_out"] == result["switch_timed_out"] == 0
    assert result["switch_layer"] is None  # one layer: nothing to switch to
    assert 0 < result["switch_mode"] < bench.KEY_TIMEOUT
