"""What the command line prints and writes, with hostile input: names shown visibly on one line,
the report written without destroying what lies at its path, and outputs that go away (a closed
pipe, a closed descriptor) ending quietly."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading

import pytest
from builder import File, Img, Layer, docker_archive
from hostile_text import CLICK, OSC52, RAW_BYTES, hostile_archive

from layerscope.cli import demo_path, main
from layerscope.text import one_line, visible, visible_lines


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "layerscope", *args], capture_output=True, timeout=60, **kw
    )


# -- visible() ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain name.txt", "plain name.txt"),
        ("héllo 日本 🐳", "héllo 日本 🐳"),
        ("a\x1b]52;c;UFdORUQ=\x07b", "a\\x1b]52;c;UFdORUQ=\\x07b"),
        ("line\nforged", "line\\nforged"),
        ("over\rwrite", "over\\rwrite"),
        ("tab\there", "tab\\there"),
        ("\x7fdel\x9bcsi", "\\x7fdel\\x9bcsi"),
        ("bidi\u202egpj.exe", "bidi\\u202egpj.exe"),
        ("iso\u2066late\u2069", "iso\\u2066late\\u2069"),
        ("zero\u200bwidth\ufeff", "zero\\u200bwidth\\ufeff"),
        ("not-utf8-\udcff", "not-utf8-\\xff"),
        (CLICK, CLICK),  # markup is not the terminal's business: the UI never parses it
    ],
)
def test_visible_escapes_what_would_act_on_a_terminal(raw, shown):
    assert visible(raw) == shown
    assert visible(shown) == shown or "\\" in shown


def test_visible_lines_keep_tabs_and_split_lines():
    assert visible_lines("a\tb\r\nc\rd\x1b[2J\n") == ["a\tb", "c\\rd\\x1b[2J", ""]


def test_one_line_cuts_a_huge_message_in_the_middle():
    line = one_line("x" * 10_000 + "\n")
    assert "\n" not in line and len(line) < 2100 and "[...]" in line


# -- the CLI's lines ------------------------------------------------------------------------


def test_ci_verdict_shows_hostile_names_visibly(tmp_path):
    archive = hostile_archive(tmp_path / "h.tar")
    out = run(str(archive), "--ci")
    assert out.returncode in (0, 1), out.stderr
    for raw in RAW_BYTES:
        assert raw not in out.stdout
    assert b"other/[@click=app.quit]\\x1b]52;c;UFdORUQ=\\x07:2" in out.stdout
    assert all(line.startswith((b"rules: ", b"  ", b"PASS", b"FAIL", b"evil/", b"other/"))
               for line in out.stdout.splitlines())  # fmt: skip


def test_export_lines_cannot_be_forged_by_a_name(tmp_path):
    name = "etc/x\nwrote /etc/passwd" + OSC52
    img = Img([Layer(File(name, b"data"))])
    archive = docker_archive(tmp_path / "a.tar", [img])
    out = run(str(archive), "--export", "etc", "--to", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.decode().splitlines()
    assert not any(line.startswith("wrote /etc/passwd") for line in lines)
    assert any("x\\nwrote /etc/passwd\\x1b]52;" in line for line in lines)
    assert b"\x1b" not in out.stdout
    assert (tmp_path / "out" / name).read_bytes() == b"data"  # the file itself keeps its name


def test_an_error_naming_a_hostile_member_is_one_visible_line(tmp_path):
    img = Img([Layer(File("a", b"1"))])
    archive = docker_archive(tmp_path / "a.tar", [img])
    bad = tmp_path / f"missing{OSC52}\nx.tar"
    out = run(str(archive), str(bad), "--json", str(tmp_path / "r.json"), "--source", "archive")
    assert out.returncode == 2
    assert out.stderr.count(b"\n") == 1 and b"\x1b" not in out.stderr
    assert b"missing\\x1b]52;c;UFdORUQ=\\x07\\nx.tar" in out.stderr


# -- the report's destination ---------------------------------------------------------------


def test_report_to_a_device_writes_the_device_and_keeps_it(tmp_path):
    dev = tmp_path / "null"
    os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # /dev/null's numbers (tests run as root)
    assert main([demo_path(), "--json", str(dev), "--no-files"]) == 0
    assert stat.S_ISCHR(os.lstat(dev).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]  # no temporary file left


def test_report_to_a_fifo_is_read_through_it(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    assert main([demo_path(), "--json", str(fifo), "--no-files"]) == 0
    reader.join(30)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert got and got[0].startswith(b'{"layerscope"')


def test_report_through_a_link_to_a_descriptor_is_written_to_it(tmp_path):
    link = tmp_path / "out"
    r, w = os.pipe()
    os.symlink(f"/proc/{os.getpid()}/fd/{w}", link)
    chunks: list[bytes] = []

    def drain() -> None:
        while data := os.read(r, 1 << 16):
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        assert main([demo_path(), "--json", str(link), "--no-files"]) == 0
    finally:
        os.close(w)
        reader.join(30)
        os.close(r)
    assert os.path.islink(link)
    assert b"".join(chunks).startswith(b'{"layerscope"')


def test_a_link_planted_at_the_old_partial_name_is_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    report = tmp_path / "report.json"
    os.symlink(victim, str(report) + ".layerscope-partial")
    assert main([demo_path(), "--json", str(report), "--no-files"]) == 0
    assert victim.read_text() == "precious"
    assert report.read_bytes().startswith(b'{"layerscope"')


def test_report_replaces_a_regular_file_atomically_keeping_its_mode(tmp_path):
    report = tmp_path / "report.json"
    report.write_text("old")
    os.chmod(report, 0o640)
    assert main([demo_path(), "--json", str(report), "--no-files"]) == 0
    assert report.read_bytes().startswith(b'{"layerscope"')
    assert stat.S_IMODE(report.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_report_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    os.symlink(target.name, link)
    assert main([demo_path(), "--json", str(link), "--no-files"]) == 0
    assert os.path.islink(link)
    assert target.read_bytes().startswith(b'{"layerscope"')


def test_a_failed_report_leaves_the_old_file_and_no_temporary(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    report = folder / "report.json"
    report.write_text("old")
    img = Img([Layer(File("a", b"1"))])
    archive = docker_archive(tmp_path / "a.tar", [img])
    os.chmod(folder, 0o555)
    try:
        # as root a read-only folder is still writable: fill the name with a directory instead
        if os.geteuid() == 0:
            os.chmod(folder, 0o755)
            report.unlink()
            report.mkdir()
        assert main([str(archive), "--json", str(report)]) == 2
    finally:
        os.chmod(folder, 0o755)
    err = capsys.readouterr().err
    assert err.startswith(f"layerscope: {report}: cannot write the report")
    assert sorted(p.name for p in folder.iterdir()) == ["report.json"]


# -- outputs that go away -------------------------------------------------------------------


def test_a_closed_pipe_ends_quietly(tmp_path):
    # a report far bigger than a pipe's buffer: the writer is still writing when the reader goes
    img = Img([Layer(*(File(f"dir/file-{n:05}", b"x") for n in range(3000)))])
    archive = docker_archive(tmp_path / "many.tar", [img])
    proc = subprocess.Popen(
        [sys.executable, "-m", "layerscope", str(archive), "--json", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()  # as `| head -c 10` does
    err = proc.stderr.read()
    assert proc.wait(60) == 141
    assert err == b""


def test_a_closed_standard_output_is_an_error_for_the_report_and_no_traceback():
    out = subprocess.run(
        [sys.executable, "-m", "layerscope", demo_path(), "--json", "-"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        pass_fds=(),
        preexec_fn=lambda: os.close(1),
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr == b"layerscope: --json -: standard output is closed\n"


def test_a_closed_standard_output_still_gives_the_ci_verdict_status():
    out = subprocess.run(
        [sys.executable, "-m", "layerscope", demo_path(), "--ci"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: os.close(1),
        timeout=60,
    )
    assert out.returncode in (0, 1) and b"Traceback" not in out.stderr
