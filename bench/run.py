"""Measure layerscope (and dive, where it is installed) on the benchmark archives.

    python3 bench/run.py [--scale 1.0] [--only big] [--no-dive] [--out bench/out]

Generates the archives (bench/generate.py) if missing, then per archive measures:
- full analysis: wall time and peak memory of `layerscope A --json /dev/null --no-files`,
  with an empty cache; memory per entry beyond the base (a run on a tiny archive);
- re-open: the same command again, with the cache of the first run;
- the TUI (the real app, headless, through Textual's run_test, with the cache as
  `layerscope ARCHIVE` has it, empty at first): time until the layers show, until every file is
  loaded, until the views of the image are built ahead, and the latency of key presses after
  that (median and slowest, tabs between the panes included); then
  "UI re-open": time until every file is loaded when the app opens the archive again;
- dive 0.13.1 (`dive --source docker-archive A --json OUT`), and the ratios.
Prints a Markdown table (the README carries it) and writes it to OUT/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MEASURE = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - t
print(json.dumps({"wall": wall, "rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "rc": p.returncode, "err": p.stderr.decode(errors="replace")[-500:]}))
"""


def measure(cmd: list[str], env: dict[str, str] | None = None) -> dict:
    """Wall time and peak RSS (largest process of the command's tree) of one run."""
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, env=env, check=True
    )
    result = json.loads(out.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {result['err']}")
    return result


def entries_of(archive: Path) -> int:
    out = subprocess.run(
        [sys.executable, "-m", "layerscope", str(archive), "--json", "-", "--no-cache"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    rep = json.loads(out.stdout)
    return sum(len(layer["files"]) for img in rep["images"] for layer in img["layers"])


def tui_timings(archive: Path) -> dict:
    """Run the real app headless, as `layerscope ARCHIVE` does (with the cache, empty at first),
    and time: layers shown, all files loaded, key presses; then open it again and time how long
    until all is loaded from the cache."""
    code = f"""
import asyncio, json, sys
from layerscope.model.archive import discover
from layerscope.cli import keep_big_buffers_apart
from layerscope.ui.app import LayerscopeApp
from layerscope.ui.bench import measure
if __name__ == "__main__":
    keep_big_buffers_apart()
    print(json.dumps(asyncio.run(measure(LayerscopeApp(discover([{str(archive)!r}], cache=True))))))
"""
    cache = tempfile.mkdtemp(prefix="ls-bench-")
    env = {**os.environ, "LAYERSCOPE_CACHE_DIR": cache}
    runs = []
    try:
        for _ in range(2):
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900
            )
            if out.returncode != 0:
                return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    except subprocess.TimeoutExpired:
        return {"error": "timed out"}
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    first, again = runs
    return {**first, "tui_reopen": again["all_loaded"]}


def fmt_s(x: float | None) -> str:
    return "—" if x is None else (f"{x:.2f} s" if x >= 0.1 else f"{x * 1000:.0f} ms")


def fmt_mb(kb: float | None) -> str:
    return "—" if kb is None else f"{kb / 1024:.0f} MB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--only", action="append", choices=["big", "many", "deep"])
    ap.add_argument("--no-dive", action="store_true")
    ap.add_argument("--no-tui", action="store_true")
    ap.add_argument("--out", default=str(HERE / "out"))
    args = ap.parse_args()
    out = Path(args.out)
    data = out / f"archives-{args.scale:g}"
    kinds = args.only or ["big", "many", "deep"]
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
    base = measure(
        [sys.executable, "-m", "layerscope", str(tiny), "--json", os.devnull, "--no-cache"]
    )

    rows = []
    for kind in kinds:
        archive = data / f"{kind}.tar"
        n = entries_of(archive)
        cache = tempfile.mkdtemp(prefix="ls-bench-cache-")
        env = {**os.environ, "LAYERSCOPE_CACHE_DIR": cache}
        cmd = [sys.executable, "-m", "layerscope", str(archive), "--json", os.devnull, "--no-files"]
        first = measure(cmd, env)
        again = measure(cmd, env)
        shutil.rmtree(cache, ignore_errors=True)
        row = {
            "archive": kind,
            "bytes": archive.stat().st_size,
            "entries": n,
            "wall": first["wall"],
            "rss_kb": first["rss_kb"],
            "per_entry": max(0, first["rss_kb"] - base["rss_kb"]) * 1024 / max(n, 1),
            "reopen": again["wall"],
        }
        if not args.no_tui:
            row.update(tui_timings(archive))
        if dive:
            with tempfile.TemporaryDirectory() as d:
                r = measure([dive, "--source", "docker-archive", str(archive), "--json",
                             f"{d}/dive.json"], {**os.environ, "CI": "true"})  # fmt: skip
            row["dive_wall"], row["dive_rss_kb"] = r["wall"], r["rss_kb"]
        rows.append(row)
        print(json.dumps(row), flush=True)

    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, scale {args.scale:g}; base RSS "
        f"{fmt_mb(base['rss_kb'])}.",
        "",
        "| archive | size | entries | analysis | peak memory | per entry | re-open | layers shown "
        "| all files | views built | UI re-open | key press (median / slowest) | dive "
        "| dive memory | time vs dive | memory vs dive |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        tv = f"{r['wall'] / r['dive_wall']:.3f}x" if "dive_wall" in r else "—"
        mv = f"{r['rss_kb'] / r['dive_rss_kb']:.2f}x" if "dive_rss_kb" in r else "—"
        lines.append(
            f"| {r['archive']} | {r['bytes'] / 1e9:.2f} GB | {r['entries']:,} | {fmt_s(r['wall'])} "
            f"| {fmt_mb(r['rss_kb'])} | {r['per_entry']:.0f} B | {fmt_s(r['reopen'])} "
            f"| {fmt_s(r.get('layers_shown'))} | {fmt_s(r.get('all_loaded'))} "
            f"| {fmt_s(r.get('views_ready'))} | {fmt_s(r.get('tui_reopen'))} "
            f"| {fmt_s(r.get('key_press'))} / {fmt_s(r.get('key_press_max'))} "
            f"| {fmt_s(r.get('dive_wall'))} "
            f"| {fmt_mb(r.get('dive_rss_kb'))} | {tv} | {mv} |"
        )
    table = "\n".join(lines)
    print()
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
