"""Killed, layerscope leaves nothing behind (issue 11): SIGTERM and SIGHUP end it as Ctrl-C does,
with exit status 128 + the signal, no temporary file left in its TMPDIR, no process of its own
left running, and the terminal restored; worker processes end by themselves when their parent is
SIGKILLed; image names are handed to docker/podman after `--`.

Everything is real: `python -m layerscope` (or a few lines over layerscope's own modules) runs in
a child process with a private TMPDIR, and gets real signals. Every process the child starts
inherits a mark in its environment, so the processes left behind are found in /proc even once
they have been handed to another parent."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from builder import END, File, Img, Layer, docker_archive, tar_header

ROOT = Path(__file__).resolve().parents[1]
MARK = "LAYERSCOPE_TEST_MARK"
F_SETPIPE_SZ = 1031  # fcntl(2), Linux
SIGNALS = [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGHUP, id="SIGHUP")]

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") and os.environ.get("CI") != "true",
    reason="needs Linux (/proc, ptys, PR_SET_PDEATHSIG)",
)


# -- helpers ----------------------------------------------------------------------------------

_children: list[Child] = []
_tmpdirs: list[Path] = []


@pytest.fixture(autouse=True)
def _no_strays():
    """What a failed test leaves running is killed after it (found by its mark)."""
    yield
    while _children:
        for pid in _children.pop().processes():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    while _tmpdirs:
        shutil.rmtree(_tmpdirs.pop(), ignore_errors=True)


class Child:
    """A process under test: its environment (a private TMPDIR, a mark) and what it left."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        # short: a fork server's socket lives there, and a socket's name has at most 107 bytes
        self.tmpdir = Path(tempfile.mkdtemp(prefix="ls-sig-", dir="/tmp"))
        _tmpdirs.append(self.tmpdir)
        self.mark = uuid.uuid4().hex
        self.env = dict(os.environ, TMPDIR=str(self.tmpdir), PYTHONPATH=str(ROOT), **env)
        self.env[MARK] = self.mark
        _children.append(self)

    def popen(self, args: list[str], **kw) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, *args], env=self.env, cwd=ROOT, **kw)

    def processes(self) -> list[int]:
        """Live processes (zombies aside) that carry this child's mark."""
        return marked(self.mark)

    def temp_files(self) -> list[str]:
        return sorted(os.listdir(self.tmpdir))

    def holds_temp(self, pid: int) -> bool:
        """Whether `pid` has a file of the private TMPDIR open (named or not)."""
        return any(target.startswith(str(self.tmpdir) + "/") for target in open_files(pid).values())

    def has_temp(self, pid: int) -> bool:
        """Whether `pid` has a temporary copy: a file of TMPDIR open, or a name there."""
        return self.holds_temp(pid) or bool(self.temp_files())


def marked(mark: str) -> list[int]:
    needle = f"{MARK}={mark}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            env = Path(f"/proc/{name}/environ").read_bytes().split(b"\0")
            state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in env and state not in ("Z", "X"):
            found.append(int(name))
    return found


def children_of(pid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            out.append(int(name))
    return out


def open_files(pid: int) -> dict[int, str]:
    out = {}
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out
    for fd in fds:
        with contextlib.suppress(OSError):
            out[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
    return out


def wait_until(cond: Callable[[], object], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def ended(proc: subprocess.Popen, timeout: float = 10) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("the process did not end") from None


def assert_nothing_left(child: Child, sigkill: bool = False) -> None:
    """No temporary file, no process of the child's: both within a few seconds. (A SIGKILLed
    process cannot remove the directory of its fork server's socket, `pymp-*`: Python's.)"""
    wait_until(lambda: not child.processes(), 5, f"processes to end: {child.processes()}")
    left = [n for n in child.temp_files() if not (sigkill and n.startswith("pymp-"))]
    assert left == []


def archive_bytes(tmp_path: Path, size: int = 1 << 20) -> bytes:
    img = Img([Layer(File("data", os.urandom(size)))])
    return docker_archive(tmp_path / "a.tar", [img]).read_bytes()


# -- the command line, killed ------------------------------------------------------------------


@pytest.mark.parametrize("sig", SIGNALS)
def test_killed_while_spooling_stdin(tmp_path, sig):
    """`layerscope - --json OUT` fed by a writer that stops half way: killed, it removes its
    copy of standard input and ends with 128 + the signal."""
    child = Child(tmp_path)
    data = archive_bytes(tmp_path)
    out = tmp_path / "report.json"
    proc = child.popen(["-m", "layerscope", "-", "--json", str(out)],
                       stdin=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        proc.stdin.write(data[: len(data) // 2])
        proc.stdin.flush()
        wait_until(lambda: child.has_temp(proc.pid), 10, "the copy of standard input")
        proc.send_signal(sig)
        assert ended(proc) == 128 + sig, proc.stderr.read()
    finally:
        proc.stdin.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not out.exists()
    assert_nothing_left(child)


def small_pipe() -> tuple[int, int]:
    """A pipe that holds one page: a writer of more blocks until it is read."""
    r, w = os.pipe()
    fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
    return r, w


def pipe_used(r: int) -> bool:
    n = bytearray(4)
    fcntl.ioctl(r, termios.FIONREAD, n)
    return int.from_bytes(n, sys.byteorder) > 0


def blocked_writing_a_pipe(pid: int) -> bool:
    """Whether `pid` sleeps in a write to a pipe (where the kernel does not say: sleeps)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        wchan = Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return False
    return state == "S" and (wchan in ("", "0") or "pipe_write" in wchan)


def drain(r: int) -> bytes:
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    return data


@pytest.mark.parametrize("sig", SIGNALS)
def test_killed_mid_run_demo(tmp_path, sig):
    """`layerscope --demo --json -`, killed while it writes the report (it blocks on a pipe of
    one page, full): the decompressed copy of the demo is gone, and the status says which
    signal."""
    child = Child(tmp_path)
    r, w = small_pipe()
    try:
        proc = child.popen(["-m", "layerscope", "--demo", "--json", "-"], stdout=w,
                           stderr=subprocess.PIPE)  # fmt: skip
        os.close(w)
        wait_until(lambda: pipe_used(r), 20, "the report to come")
        wait_until(lambda: blocked_writing_a_pipe(proc.pid), 10, "the pipe to be full")
        assert child.has_temp(proc.pid)  # mid-run: the demo's copy is there
        proc.send_signal(sig)
        drain(r)  # whatever is buffered can be written: the exit is not held up
        assert ended(proc) == 128 + sig, proc.stderr.read()
    finally:
        os.close(r)
    assert_nothing_left(child)


def slow_layer(entries: int, extra: bytes = b"") -> Layer:
    """A layer that takes a while to read (many entries), made in no time (all alike)."""
    return Layer(tar=tar_header(b"f", size=0) * entries + extra + END, compression="zstd")


def test_workers_end_with_the_command_line(tmp_path):
    """A big read in two worker processes (`$LAYERSCOPE_WORKERS`), SIGTERM while they work: the
    workers, and everything else layerscope started, are gone with it."""
    img = Img([slow_layer(40_000), slow_layer(40_000, END)])
    archive = docker_archive(tmp_path / "slow.tar", [img], whole="gzip")  # spooled too
    child = Child(tmp_path, LAYERSCOPE_WORKERS="2")
    out = tmp_path / "report.json"
    proc = child.popen(["-m", "layerscope", "--no-cache", str(archive), "--json", str(out)],
                       stderr=subprocess.PIPE)  # fmt: skip
    try:
        wait_until(lambda: len(children_of(proc.pid)) >= 2, 20, "two worker processes")
        assert child.has_temp(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert ended(proc) == 128 + signal.SIGTERM, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not out.exists()
    assert_nothing_left(child)


def test_sighup_ignored_by_nohup_stays_ignored(tmp_path):
    """`nohup layerscope ...`: SIGHUP was ignored when it started, and stays so."""
    child = Child(tmp_path)
    data = archive_bytes(tmp_path)
    out = tmp_path / "report.json"

    def ignore_sighup() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    proc = child.popen(["-m", "layerscope", "-", "--json", str(out)], stdin=subprocess.PIPE,
                       preexec_fn=ignore_sighup)  # fmt: skip
    try:
        proc.stdin.write(data[:4096])
        proc.stdin.flush()
        wait_until(lambda: child.has_temp(proc.pid), 10, "the copy of standard input")
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        assert proc.poll() is None
        proc.stdin.write(data[4096:])
        proc.stdin.close()
        assert ended(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out.exists()
    assert_nothing_left(child)


# -- workers whose parent is gone ----------------------------------------------------------


WORKERS_DRIVER = """
import sys, threading, time
from layerscope.model.archive import discover

if sys.argv[3] == "install":  # as the command line does
    from layerscope import lifecycle

    lifecycle.install()
if sys.argv[2] == "forkserver":  # a thread runs, as in the app: workers come from a fork server
    threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
archive = discover(sys.argv[1])
for _layer, error in archive.read_each(archive.distinct_layers(), workers=2):
    print("read", error, flush=True)
    time.sleep(3600)  # the pool is alive, its workers idle
"""


def start_workers(tmp_path: Path, method: str, install: bool) -> tuple[Child, subprocess.Popen]:
    """A process reading two layers in two workers, which then waits with its pool alive."""
    img = Img([Layer(File("a", b"a" * 1000)), Layer(File("b", b"b" * 1000))])
    archive = docker_archive(tmp_path / "two.tar", [img])
    child = Child(tmp_path)
    how = "install" if install else "-"
    proc = child.popen(["-c", WORKERS_DRIVER, str(archive), method, how], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout.readline() == "read None\n", proc.stderr.read()
    assert len(child.processes()) >= 3  # the driver and its two workers, at least
    return child, proc


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_workers_end_when_their_parent_is_sigkilled(tmp_path, method):
    child, proc = start_workers(tmp_path, method, install=False)
    proc.kill()
    proc.wait()
    assert_nothing_left(child, sigkill=True)


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_workers_end_when_their_parent_gets_sigterm(tmp_path, method):
    child, proc = start_workers(tmp_path, method, install=True)
    proc.send_signal(signal.SIGTERM)
    assert ended(proc) == 128 + signal.SIGTERM, proc.stderr.read()
    assert_nothing_left(child)


# -- the cleanup itself ---------------------------------------------------------------------


CLEANUP_DRIVER = """
import sys, time
from layerscope import lifecycle

lifecycle.GRACE = float(sys.argv[1])
lifecycle.install()
try:
    print("ready", flush=True)
    time.sleep(3600)
finally:
    print("cleaning", flush=True)
    sys.stdin.readline()  # a cleanup that takes as long as the test wants
    print("clean", flush=True)
"""


def test_a_second_signal_does_not_cut_the_cleanup_short(tmp_path):
    child = Child(tmp_path)
    proc = child.popen(["-c", CLEANUP_DRIVER, "30"], stdin=subprocess.PIPE,
                       stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout.readline() == "cleaning\n"
    proc.send_signal(signal.SIGHUP)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    proc.stdin.write("go on\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == "clean\n"
    assert ended(proc) == 128 + signal.SIGTERM


def test_a_cleanup_that_hangs_is_cut_short(tmp_path):
    """Past lifecycle.GRACE, the process ends at once, with the status of the signal."""
    child = Child(tmp_path)
    proc = child.popen(["-c", CLEANUP_DRIVER, "0.5"], stdin=subprocess.PIPE,
                       stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout.readline() == "ready\n"
    start = time.monotonic()
    proc.send_signal(signal.SIGHUP)
    assert ended(proc, timeout=5) == 128 + signal.SIGHUP
    assert 0.4 < time.monotonic() - start < 4
    proc.stdin.close()


# -- the app, in a terminal -------------------------------------------------------------------


class Terminal:
    """A pseudo-terminal running `python -m layerscope ARGS` as its session leader."""

    def __init__(self, child: Child, args: list[str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # pragma: no cover (the child execs at once)
            try:
                env = dict(child.env, TERM="xterm-256color")
                os.chdir(ROOT)
                os.execve(sys.executable, [sys.executable, "-m", "layerscope", *args], env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.output = b""

    def read_until(self, what: bytes, timeout: float) -> None:
        end = time.monotonic() + timeout
        while what not in self.output:
            if time.monotonic() > end:
                raise AssertionError(f"{what!r} never came: {self.output[-500:]!r}")
            if not self.read(0.1) and self.status() is not None:
                raise AssertionError(f"the app ended: {self.output[-500:]!r}")

    def read(self, timeout: float) -> bool:
        """Read what is there; False at the end of output."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the app's side is closed
            return False
        self.output += data
        return bool(data)

    def read_to_end(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while self.read(0.1):
            if time.monotonic() > end:
                raise AssertionError("the app did not end")

    def status(self) -> int | None:
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return None
        self.pid = -1
        return os.waitstatus_to_exitcode(status)

    def wait(self, timeout: float) -> int:
        end = time.monotonic() + timeout
        while (status := self.status()) is None:
            if time.monotonic() > end:
                self.kill()
                raise AssertionError("the app did not end")
            time.sleep(0.02)
        return status

    def kill(self) -> None:
        if self.pid > 0:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = -1

    def close(self) -> None:
        self.kill()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def started_app(tmp_path: Path, **env: str) -> tuple[Child, Terminal]:
    child = Child(tmp_path, **env)
    term = Terminal(child, ["--demo", "--no-cache"])
    term.read_until(b"\x1b[?1049h", 20)  # the alternate screen
    term.read_until(b"Layers", 20)  # drawn: the app runs
    assert child.has_temp(term.pid)  # the demo's copy
    return child, term


LEAVE_SEQUENCES = [
    b"\x1b[?1049l",  # back to the main screen
    b"\x1b[?1000l",  # mouse tracking off
    b"\x1b[?1003l",
    b"\x1b[?1006l",
    b"\x1b[?25h",  # cursor shown
]


@pytest.mark.parametrize("sig", SIGNALS)
def test_app_killed_restores_the_terminal(tmp_path, sig):
    child, term = started_app(tmp_path)
    try:
        seen = len(term.output)
        os.kill(term.pid, sig)
        term.read_to_end(10)
        after = term.output[seen:]
        for seq in LEAVE_SEQUENCES:
            assert seq in after, (seq, after[-300:])
        assert term.wait(5) == 128 + sig
    finally:
        term.close()
    assert_nothing_left(child)


def test_app_with_workers_killed_leaves_no_process(tmp_path):
    """The app reads layers in processes from a fork server: killed, the server, its workers
    and the resource tracker are gone with the app."""
    child, term = started_app(tmp_path, LAYERSCOPE_WORKERS="2")
    try:
        assert len(child.processes()) >= 3  # the app, the fork server, the resource tracker
        os.kill(term.pid, signal.SIGTERM)
        term.read_to_end(10)
        assert term.wait(5) == 128 + signal.SIGTERM
    finally:
        term.close()
    assert_nothing_left(child)


def test_app_whose_terminal_is_closed_ends(tmp_path):
    """The terminal goes away (the window closed): SIGHUP, and every write fails. The app still
    ends at once (not after lifecycle.GRACE), leaving nothing."""
    child, term = started_app(tmp_path)
    try:
        os.close(term.fd)
        term.fd = -1
        start = time.monotonic()
        assert term.wait(10) == 128 + signal.SIGHUP
        assert time.monotonic() - start < 3
    finally:
        term.close()
    assert_nothing_left(child)


# -- docker / podman get `--` -------------------------------------------------------------------


def fake_engine(bindir: Path, name: str, body: str) -> Path:
    """A `docker` (or `podman`) that records its arguments, one per line, then runs `body`."""
    bindir.mkdir(exist_ok=True)
    argv = bindir / f"{name}.argv"
    script = bindir / name
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{argv}"\n{body}')
    script.chmod(0o755)
    return argv


def test_image_name_that_looks_like_an_option(tmp_path):
    child = Child(tmp_path)
    archive = docker_archive(tmp_path / "saved.tar", [Img([Layer(File("x", b"x"))])])
    argv = fake_engine(tmp_path / "bin", "docker", f'exec cat "{archive}"\n')
    child.env["PATH"] = f"{tmp_path / 'bin'}:{child.env['PATH']}"
    out = tmp_path / "report.json"
    proc = child.popen(["-m", "layerscope", "--source", "docker", "--json", str(out), "--",
                        "--output=/tmp/owned"], stderr=subprocess.PIPE)  # fmt: skip
    assert ended(proc) == 0, proc.stderr.read()
    assert argv.read_text().splitlines() == ["save", "--", "--output=/tmp/owned"]
    assert out.exists()
    assert_nothing_left(child)


@pytest.mark.parametrize("sig", SIGNALS)
def test_killed_while_docker_saves(tmp_path, sig):
    """The engine is still writing: it is ended too, and its output has no name to leave."""
    child = Child(tmp_path)
    data = archive_bytes(tmp_path)
    part = tmp_path / "part.tar"
    part.write_bytes(data[: len(data) // 2])
    # (writes where -o says, if it is given: how docker was called before `--` came)
    body = f'[ "$2" = "-o" ] && exec > "$3"\ncat "{part}"\nexec sleep 3600\n'
    argv = fake_engine(tmp_path / "bin", "docker", body)
    child.env["PATH"] = f"{tmp_path / 'bin'}:{child.env['PATH']}"
    proc = child.popen(["-m", "layerscope", "--source", "docker", "--json", "-", "app:1"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        wait_until(argv.exists, 10, "docker save to start")
        wait_until(lambda: any(child.has_temp(p) for p in child.processes()), 10,
                   "docker's output")  # fmt: skip
        proc.send_signal(sig)
        assert ended(proc) == 128 + sig, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_nothing_left(child)


def test_workers_start_where_a_fork_server_cannot(tmp_path):
    """A $TMPDIR too long for a socket's name (a fork server's) is no reason to fail: the
    workers are spawned instead, and still end with their parent."""
    img = Img([Layer(File("a", b"a" * 1000)), Layer(File("b", b"b" * 1000))])
    archive = docker_archive(tmp_path / "two.tar", [img])
    child = Child(tmp_path)
    long_tmp = child.tmpdir / ("d" * 100)
    long_tmp.mkdir()
    child.env["TMPDIR"] = str(long_tmp)
    child.tmpdir = long_tmp
    proc = child.popen(["-c", WORKERS_DRIVER, str(archive), "forkserver", "install"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout.readline() == "read None\n", proc.stderr.read()
    proc.kill()
    proc.wait()
    assert_nothing_left(child, sigkill=True)
