"""Measure layerscope (and dive, where it is installed) on the benchmark archives.

    python3 bench/run.py [--scale 1.0] [--only nodemod ...] [--no-dive] [--no-tui] [--out bench/out]

Generates the archives (bench/generate.py) if missing, then per archive measures:
- full analysis: wall time of `layerscope A --json /dev/null --no-files` with an empty cache,
  the entries it went through per second, its CPU time (all its processes) per entry;
- the floor: the time to read every layer blob of the archive, decompress it if it is
  compressed, and sha256 it — one process, a plain Python loop over 1 MiB pieces — and the
  analysis as a multiple of it;
- memory: the process tree's resident memory sampled every 20 ms (/proc), the peak of the sum
  over every process (the workers too), the peak of the largest one, and per entry: the sum
  beyond a tiny archive's, divided by the entries;
- re-open: the same command again, with the cache of the first run;
- the app, run headless through Textual's run_test as `layerscope ARCHIVE` runs it (its cache
  empty at first): layers shown, every file loaded, the views built ahead, the latency of keys
  after that (median and slowest), its memory (summed as above, per entry beyond the app on a
  tiny archive); "UI re-open": every file loaded when it opens the archive again; then, cold
  again: the latency of keys pressed while the layers load, and a layer switch and a mode
  switch pressed the moment they are loaded, before any view is built ahead;
- dive 0.13.1 (`dive --source docker-archive A --json OUT`), its memory the same way, and the
  ratios;
- with --slim: `layerscope slim A --to OUT --no-cache` (the default --keep, a docker-archive),
  its wall time against the analysis's, its memory the same way, the bytes it wrote.
Prints Markdown tables (the README carries them) and writes them to OUT/results.md, every
figure to OUT/results.json.
"""

from __future__ import annotations

import argparse
import bz2
import hashlib
import json
import lzma
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
SAMPLE = 0.02  # seconds between two looks at a process tree's memory
CHUNK = 1 << 20  # bytes the floor reads at a time
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
TIMEOUT = 1800  # seconds any one command may take


# -- running a command, and its process tree's memory --------------------------------------------
def _children(pid: int) -> list[int]:
    """The child processes of `pid` (those of every thread of it)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss_kb(root: int) -> tuple[int, int]:
    """The resident memory of `root` and every process under it: (the sum, the largest)."""
    total = largest = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        rss = _rss_kb(pid)
        total += rss
        largest = max(largest, rss)
        todo += _children(pid)
    return total, largest


def run(cmd: list[str], env: dict[str, str] | None = None, check: bool = True) -> dict:
    """Run `cmd`: its wall time, CPU time (its own and its waited-for children's), the peak of
    its process tree's summed resident memory and of its largest process (sampled every
    SAMPLE seconds; not ru_maxrss, which also counts what a child shared with this process
    before exec), its exit status and output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        ended: dict = {}

        def wait() -> None:
            _pid, status, usage = os.wait4(proc.pid, 0)
            ended.update(wall=time.perf_counter() - t, status=status, usage=usage)

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()
        peak_sum = peak_one = 0
        while waiter.is_alive():
            total, largest = tree_rss_kb(proc.pid)
            peak_sum, peak_one = max(peak_sum, total), max(peak_one, largest)
            waiter.join(SAMPLE)
            if time.perf_counter() - t > TIMEOUT:
                proc.kill()
        proc.returncode = os.waitstatus_to_exitcode(ended["status"])
        out.seek(0)
        err.seek(0)
        result = {
            "wall": ended["wall"],
            "cpu": ended["usage"].ru_utime + ended["usage"].ru_stime,
            "rss_sum_kb": peak_sum,
            "rss_kb": peak_one,
            "rc": proc.returncode,
            "out": out.read().decode(errors="replace"),
            "err": err.read().decode(errors="replace")[-2000:],
        }
    if check and result["rc"] != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({result['rc']}): {result['err']}")
    return result


# -- the floor: read and sha256 the layer bytes ------------------------------------------------
def _decompressor(head: bytes) -> Callable[[bytes], bytes] | None:
    """How to decompress a blob that starts with `head` (None: it is stored as it is)."""
    if head.startswith(b"\x1f\x8b"):
        return zlib.decompressobj(wbits=31).decompress
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress
    if head.startswith(b"BZh"):
        return bz2.BZ2Decompressor().decompress
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMADecompressor().decompress
    return None


def layer_blobs(archive: Path) -> Iterator[IO[bytes]]:
    """Each layer blob of a docker-archive, once (the benchmark's archives are that format)."""
    with tarfile.open(archive) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        seen: set[str] = set()
        for image in manifest:
            for name in image["Layers"]:
                if name not in seen:
                    seen.add(name)
                    blob = tf.extractfile(name)
                    assert blob is not None
                    yield blob


def floor(archive: Path) -> tuple[float, float]:
    """Seconds to read every layer blob, decompress it if it is compressed, and sha256 it: one
    process, a plain loop over 1 MiB pieces (no analysis can do less); and the CPU seconds."""
    t, cpu = time.perf_counter(), time.process_time()
    for blob in layer_blobs(archive):
        h = hashlib.sha256()
        piece = blob.read(CHUNK)
        decompress = _decompressor(piece)
        while piece:
            h.update(decompress(piece) if decompress else piece)
            piece = blob.read(CHUNK)
        h.hexdigest()
    return time.perf_counter() - t, time.process_time() - cpu


# -- what each archive holds -------------------------------------------------------------------
def entries_of(archive: Path) -> int:
    """The entries of every layer: from the note generate.py writes beside the archive, else
    from layerscope's report."""
    note = archive.with_suffix(".json")
    if note.exists():
        data = json.loads(note.read_text())
        if data.get("bytes") == archive.stat().st_size:
            return int(data["entries"])
    out = run([sys.executable, "-m", "layerscope", str(archive), "--json", "-", "--no-cache"])
    rep = json.loads(out["out"])
    return sum(len(layer["files"]) for img in rep["images"] for layer in img["layers"])


# -- the app -----------------------------------------------------------------------------------
APP = """
import asyncio, json, sys
from layerscope.model.archive import discover
from layerscope.cli import keep_big_buffers_apart
from layerscope.ui.app import LayerscopeApp
from layerscope.ui import bench
if __name__ == "__main__":
    keep_big_buffers_apart()
    app = LayerscopeApp(discover([sys.argv[2]], cache=True))
    how = sys.argv[1]
    if how == "cold":
        result = bench.measure_cold(app)
    else:
        result = bench.measure(app, upto="loaded" if how == "loaded" else "keys")
    print(json.dumps(asyncio.run(result)))
"""


def app_run(archive: Path, how: str, cache: str) -> dict:
    """One run of the app headless (`how`: keys, loaded or cold, see ui/bench.py), with the
    process tree's memory."""
    env = {**os.environ, "LAYERSCOPE_CACHE_DIR": cache}
    r = run([sys.executable, "-c", APP, how, str(archive)], env, check=False)
    if r["rc"] != 0:
        return {"error": (r["err"].strip().splitlines() or ["failed"])[-1]}
    return {**json.loads(r["out"].strip().splitlines()[-1]), "app_rss_sum_kb": r["rss_sum_kb"]}


def tui_timings(archive: Path) -> dict:
    """The app on `archive`: cold (the cache empty), again (with the cache of the first run),
    and cold once more with keys pressed while the layers load."""
    cache = tempfile.mkdtemp(prefix="ls-bench-")
    try:
        first = app_run(archive, "keys", cache)
        if "error" in first:
            return first
        again = app_run(archive, "loaded", cache)
        shutil.rmtree(cache, ignore_errors=True)
        cache = tempfile.mkdtemp(prefix="ls-bench-")
        cold = app_run(archive, "cold", cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    row = {**first, "tui_reopen": again.get("all_loaded")}
    for key in ("cold_key_press", "cold_key_press_max", "cold_keys", "cold_timed_out",
                "cold_key_timings", "switch_layer", "switch_mode", "switch_timed_out",
                "key_timeout"):  # fmt: skip
        row[key] = cold.get(key)
    if "error" in cold:
        row["cold_error"] = cold["error"]
    return row


# -- the tables --------------------------------------------------------------------------------
def fmt_s(x: float | None) -> str:
    return "—" if x is None else (f"{x:.2f} s" if x >= 0.1 else f"{x * 1000:.0f} ms")


def fmt_mb(kb: float | None) -> str:
    return "—" if kb is None else f"{kb / 1024:.0f} MB"


def fmt_x(a: float | None, b: float | None, digits: int = 2) -> str:
    return "—" if a is None or not b else f"{a / b:.{digits}f}x"


def fmt_pair(a: float | None, b: float | None, limit: float | None = None) -> str:
    """Two times; one at `limit` or over is a key given up (it was not answered by then)."""
    return " / ".join(
        f"over {limit:.0f} s" if limit and x is not None and x >= limit else fmt_s(x)
        for x in (a, b)
    )


def fmt_rate(n: int, seconds: float) -> str:
    rate = n / seconds
    return f"{rate / 1e6:.2f} M/s" if rate >= 1e6 else f"{rate / 1e3:.0f} k/s"


def per_entry(kb: float | None, base_kb: float | None, n: int) -> str:
    if kb is None or base_kb is None:
        return "—"
    return f"{max(0, kb - base_kb) * 1024 / max(n, 1):.0f} B"


def tables(rows: list[dict], base: dict) -> str:
    """Three Markdown tables: the analysis's time, the app's, memory."""
    time_rows = [
        "| archive | size | entries | analysis | entries/s | CPU per entry | floor | vs floor "
        "| re-open | dive | time vs dive |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    app_rows = [
        "| archive | layers shown | all files | views built | UI re-open | key press "
        "(median / slowest) | key press while loading (median / slowest) | switch, no view "
        "built ahead (layer / mode) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    memory_rows = [
        "| archive | memory (all processes) | largest process | per entry | app memory "
        "| app per entry | dive memory | memory vs dive |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        n = r["entries"]
        time_rows.append(
            f"| {r['archive']} | {r['bytes'] / 1e9:.2f} GB | {n:,} | {fmt_s(r['wall'])} "
            f"| {fmt_rate(n, r['wall'])} | {r['cpu'] * 1e6 / max(n, 1):.1f} µs "
            f"| {fmt_s(r['floor'])} | {fmt_x(r['wall'], r['floor'], 1)} | {fmt_s(r['reopen'])} "
            f"| {fmt_s(r.get('dive_wall'))} | {fmt_x(r['wall'], r.get('dive_wall'), 3)} |"
        )
        if "layers_shown" in r or "error" in r:
            limit = r.get("key_timeout")
            switches = fmt_pair(r.get("switch_layer"), r.get("switch_mode"), limit)
            app_rows.append(
                f"| {r['archive']} | {fmt_s(r.get('layers_shown'))} "
                f"| {fmt_s(r.get('all_loaded'))} | {fmt_s(r.get('views_ready'))} "
                f"| {fmt_s(r.get('tui_reopen'))} "
                f"| {fmt_pair(r.get('key_press'), r.get('key_press_max'))} "
                f"| {fmt_pair(r.get('cold_key_press'), r.get('cold_key_press_max'), limit)} "
                f"| {switches} |"
            )
        memory_rows.append(
            f"| {r['archive']} | {fmt_mb(r['rss_sum_kb'])} | {fmt_mb(r['rss_kb'])} "
            f"| {per_entry(r['rss_sum_kb'], base['rss_sum_kb'], n)} "
            f"| {fmt_mb(r.get('app_rss_sum_kb'))} "
            f"| {per_entry(r.get('app_rss_sum_kb'), base.get('app_rss_sum_kb'), n)} "
            f"| {fmt_mb(r.get('dive_rss_sum_kb'))} "
            f"| {fmt_x(r['rss_sum_kb'], r.get('dive_rss_sum_kb'))} |"
        )
    slim_rows = [
        "| archive | analysis | slim | slim vs analysis | written | write floor | slim minus "
        "analysis and floor | memory (analysis) | memory (slim) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "slim_wall" in r:
            rest = r["slim_wall"] - r["wall"] - r["write_floor"]
            slim_rows.append(
                f"| {r['archive']} | {fmt_s(r['wall'])} | {fmt_s(r['slim_wall'])} "
                f"| {fmt_x(r['slim_wall'], r['wall'])} | {r['slim_bytes'] / 1e9:.2f} GB "
                f"| {fmt_s(r['write_floor'])} | {fmt_s(rest)} | {fmt_mb(r['rss_sum_kb'])} "
                f"| {fmt_mb(r['slim_rss_sum_kb'])} |"
            )
    parts = [time_rows, app_rows if len(app_rows) > 2 else [], memory_rows,
             slim_rows if len(slim_rows) > 2 else []]  # fmt: skip
    return "\n\n".join("\n".join(p) for p in parts if p)


def slim_timing(archive: Path, where: Path) -> dict:
    """`layerscope slim` of the archive (default --keep, no cache): time, memory, bytes; and
    the write floor: the time to write as many bytes (zeros, 1 MiB at a time) to a file beside."""
    with tempfile.TemporaryDirectory(dir=where, prefix="slim-") as d:
        dest = Path(d) / "slim.tar"
        r = run([sys.executable, "-m", "layerscope", "slim", str(archive), "--to", str(dest),
                 "--no-cache"])  # fmt: skip
        written = dest.stat().st_size
        dest.unlink()
        zeros = bytes(CHUNK)
        t = time.perf_counter()
        with open(Path(d) / "floor", "wb") as f:
            for at in range(0, written, CHUNK):
                f.write(zeros[: min(CHUNK, written - at)])
        floor_wall = time.perf_counter() - t
        return {"slim_wall": r["wall"], "slim_rss_sum_kb": r["rss_sum_kb"],
                "slim_bytes": written, "write_floor": floor_wall}  # fmt: skip


KINDS = ["big", "many", "deep", "nodemod", "nodemod2"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--only", action="append", choices=KINDS)
    ap.add_argument("--no-dive", action="store_true")
    ap.add_argument("--no-tui", action="store_true")
    ap.add_argument("--slim", action="store_true", help="also time `layerscope slim`")
    ap.add_argument("--out", default=str(HERE / "out"))
    args = ap.parse_args()
    out = Path(args.out)
    data = out / f"archives-{args.scale:g}"
    kinds = args.only or KINDS
    missing = [k for k in kinds if not (data / f"{k}.tar").exists()]
    if missing:
        cmd = [sys.executable, str(HERE / "generate.py"), str(data), "--scale", str(args.scale)]
        subprocess.run(cmd + [a for k in missing for a in ("--only", k)], check=True)
    dive = None if args.no_dive else shutil.which("dive")

    tiny = data / "tiny.tar"
    if not tiny.exists():
        sys.path.insert(0, str(HERE.parent / "tests"))
        from builder import File, Img, Layer, docker_archive

        docker_archive(tiny, [Img([Layer(File("a", b"x"))])])
    tiny_run = run([sys.executable, "-m", "layerscope", str(tiny), "--json", os.devnull,
                    "--no-cache"])  # fmt: skip
    base = {"rss_sum_kb": tiny_run["rss_sum_kb"], "rss_kb": tiny_run["rss_kb"]}
    if not args.no_tui:
        with tempfile.TemporaryDirectory(prefix="ls-bench-") as cache:
            base["app_rss_sum_kb"] = app_run(tiny, "loaded", cache).get("app_rss_sum_kb")

    rows = []
    for kind in kinds:
        archive = data / f"{kind}.tar"
        n = entries_of(archive)
        cache = tempfile.mkdtemp(prefix="ls-bench-cache-")
        env = {**os.environ, "LAYERSCOPE_CACHE_DIR": cache}
        cmd = [sys.executable, "-m", "layerscope", str(archive), "--json", os.devnull, "--no-files"]
        bottom, bottom_cpu = floor(archive)
        first = run(cmd, env)
        again = run(cmd, env)
        shutil.rmtree(cache, ignore_errors=True)
        row = {
            "archive": kind,
            "bytes": archive.stat().st_size,
            "entries": n,
            "floor": bottom,
            "floor_cpu": bottom_cpu,
            "wall": first["wall"],
            "cpu": first["cpu"],
            "rss_sum_kb": first["rss_sum_kb"],
            "rss_kb": first["rss_kb"],
            "reopen": again["wall"],
        }
        if args.slim:
            row.update(slim_timing(archive, data))
        if not args.no_tui:
            row.update(tui_timings(archive))
        if dive:
            with tempfile.TemporaryDirectory() as d:
                r = run([dive, "--source", "docker-archive", str(archive), "--json",
                         f"{d}/dive.json"], {**os.environ, "CI": "true"})  # fmt: skip
            row.update(dive_wall=r["wall"], dive_cpu=r["cpu"], dive_rss_sum_kb=r["rss_sum_kb"])
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if not k.endswith("timings")}), flush=True)

    header = (
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, scale {args.scale:g}; base memory (a 1-file "
        f"archive, all processes) {fmt_mb(base['rss_sum_kb'])}, the app's "
        f"{fmt_mb(base.get('app_rss_sum_kb'))}."
    )
    text = header + "\n\n" + tables(rows, base)
    print()
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps({"base": base, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
