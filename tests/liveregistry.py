"""A real registry for the tests: Debian's `docker-registry` (the CNCF distribution registry)
on 127.0.0.1 and a free port, with its own storage directory, open, with htpasswd basic auth or
with token auth (the token service is `TokenIssuer`, here: it signs RS256 JWTs with a key whose
self-signed certificate the registry trusts). Images go in with real `skopeo copy`.

`FaultProxy` stands between a client and the registry and misbehaves on purpose: it drops a
blob's connection midway, answers 429/503 first, serves a wrong byte, or redirects blob
requests to a "storage" server on another host name, which records what it was sent.

Under CI=true a missing docker-registry or skopeo fails the tests that need them; elsewhere
they are skipped (`need_tools`)."""

from __future__ import annotations

import base64
import datetime
import http.client
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

IN_CI = os.environ.get("CI") == "true"
USER, PASSWORD = "alice", "s3cret-pa55"


def need_tools(*tools: str) -> None:
    """Fail under CI=true (CI installs them), else skip, when a tool is missing."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        message = f"needs {', '.join(missing)} (apt-get install -y docker-registry skopeo)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the token service ----------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenIssuer:
    """A token service as the registry's `auth: token` expects: GET /token?service=&scope=...
    answers {"token": JWT}. Anonymous requests get pull access to `public/*` only; with the
    user's basic credentials, pull and push everywhere. Every request is recorded."""

    def __init__(self, directory: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "layerscope test issuer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = directory / "issuer.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.requests: list[dict] = []
        self.port = free_port()
        self.realm = f"http://127.0.0.1:{self.port}/token"
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                issuer._answer(self)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _answer(self, h: http.server.BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(h.path).query)
        auth = h.headers.get("Authorization")
        user = None
        if auth:
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if auth != expected:
                self.requests.append({"query": query, "auth": "bad"})
                h.send_response(401)
                h.end_headers()
                return
            user = USER
        self.requests.append({"query": query, "auth": user})
        access = []
        for scope in query.get("scope", []):
            kind, _, rest = scope.partition(":")
            repo, _, actions = rest.rpartition(":")
            allowed = actions.split(",") if user else (
                ["pull"] if repo.startswith("public/") and "pull" in actions else []
            )  # fmt: skip
            access.append({"type": kind, "name": repo, "actions": allowed})
        body = json.dumps({"token": self._jwt(query.get("service", [""])[0], user, access)})
        data = body.encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _jwt(self, service: str, user: str | None, access: list[dict]) -> str:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding

        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        now = int(time.time())
        claims = {
            "iss": "layerscope-test-issuer",
            "sub": user or "",
            "aud": service,
            "exp": now + 600,
            "nbf": now - 60,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
        sig = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing + "." + _b64(sig)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- the registry ---------------------------------------------------------------------------------


@dataclass
class LiveRegistry:
    host: str  # 127.0.0.1:PORT
    root: Path
    proc: subprocess.Popen
    creds: str | None = None  # USER:PASSWORD for pushing
    issuer: TokenIssuer | None = None
    log: Path = field(default_factory=Path)

    def push(self, source: str, name: str, *extra: str) -> str:
        """Copy an image into the registry with skopeo (`source`: a skopeo transport:path);
        returns the reference pushed."""
        ref = f"{self.host}/{name}"
        cmd = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", *extra]
        if self.creds:
            cmd += ["--dest-creds", self.creds]
        cmd += [source, f"docker://{ref}"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"skopeo copy failed: {done.stderr}")
        return ref

    def pull(self, ref: str, dest: str, *extra: str) -> None:
        """Copy an image out with skopeo (`dest`: a skopeo transport:path)."""
        cmd = ["skopeo", "copy", "--quiet", "--src-tls-verify=false", *extra]
        if self.creds:
            cmd += ["--src-creds", self.creds]
        done = subprocess.run([*cmd, f"docker://{ref}", dest], capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"skopeo copy failed: {done.stderr}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.issuer is not None:
            self.issuer.close()


def self_signed(directory: Path, ip: str) -> tuple[Path, Path]:
    """A certificate for `ip` that no one trusts, and its key (PEM files)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ip)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


def start_registry(directory: Path, auth: str | None = None, schema1: bool = False,
                   tls: bool = False, ip: str = "127.0.0.1") -> LiveRegistry:  # fmt: skip
    """A registry serving from `directory`; `auth`: None, "htpasswd" or "token"; `schema1`:
    accepting schema 1 manifests (off by default in the registry, as in the tests); `tls`: on
    https with a self-signed certificate; `ip`: the loopback address it listens on (127.0.0.2
    is on this machine, but not named as a local registry is)."""
    need_tools("docker-registry", "skopeo")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    host = f"{ip}:{port}"
    config = [
        "version: 0.1",
        "log:",
        "  level: error",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {directory / 'data'}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: {host}",
    ]
    if tls:
        cert, key = self_signed(directory, ip)
        config += ["  tls:", f"    certificate: {cert}", f"    key: {key}"]
    if schema1:
        config += ["compatibility:", "  schema1:", "    enabled: true"]
    issuer = None
    creds = None
    if auth == "htpasswd":
        import bcrypt

        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        (directory / "htpasswd").write_text(f"{USER}:{hashed}\n")
        config += ["auth:", "  htpasswd:", "    realm: layerscope-test",
                   f"    path: {directory / 'htpasswd'}"]  # fmt: skip
        creds = f"{USER}:{PASSWORD}"
    elif auth == "token":
        issuer = TokenIssuer(directory)
        config += ["auth:", "  token:", f"    realm: {issuer.realm}",
                   "    service: layerscope-test-registry", "    issuer: layerscope-test-issuer",
                   f"    rootcertbundle: {issuer.cert_path}"]  # fmt: skip
        creds = f"{USER}:{PASSWORD}"
    (directory / "config.yml").write_text("\n".join(config) + "\n")
    log = directory / "registry.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["docker-registry", "serve", str(directory / "config.yml")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    reg = LiveRegistry(host, directory, proc, creds, issuer, log)
    deadline = time.monotonic() + 20
    while True:
        try:
            if tls:
                conn = http.client.HTTPSConnection(
                    host, timeout=2, context=ssl._create_unverified_context()
                )
            else:
                conn = http.client.HTTPConnection(host, timeout=2)
            conn.request("GET", "/v2/")
            status = conn.getresponse().status
            conn.close()
            if status in (200, 401):
                return reg
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            reg.stop()
            raise AssertionError(f"docker-registry did not start: {log.read_text()[-2000:]}")
        time.sleep(0.05)


# -- faults between the client and the registry ---------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    status: int = 0


class FaultProxy:
    """An HTTP proxy in front of a registry that misbehaves as told (see the module's note).
    The faults, set as attributes: `drop_after` (bytes of a blob sent before the connection is
    cut, `drops` times), `statuses` (answers given to the next requests instead of forwarding
    them: 429 comes with `Retry-After: 1`), `corrupt` (one byte of every blob changed),
    `redirect` (blob requests sent to the storage server, on host name `localhost`)."""

    def __init__(self, registry: LiveRegistry) -> None:
        self.registry = registry
        self.drop_after: int | None = None
        self.drops = 1
        self.statuses: list[int] = []
        self.corrupt = False
        self.redirect = False
        self.hold_after: int | None = None  # bytes of each blob sent before `release` is set
        self.release = threading.Event()
        self.seen: list[Seen] = []
        self.storage_seen: list[Seen] = []
        self.lock = threading.Lock()
        self.server = self._serve(self._forward)
        self.storage = self._serve(self._store)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.storage_url = f"http://localhost:{self.storage.server_address[1]}"

    def _serve(self, answer) -> http.server.ThreadingHTTPServer:
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                answer(self)

            def do_HEAD(self) -> None:
                answer(self)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def _upstream(self, h, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection(self.registry.host, timeout=30)
        conn.request(h.command, path, headers=headers)
        return conn.getresponse()

    def _forward(self, h: http.server.BaseHTTPRequestHandler) -> None:
        seen = Seen(h.command, h.path, dict(h.headers.items()))
        with self.lock:
            self.seen.append(seen)
            status = self.statuses.pop(0) if self.statuses else None
        is_blob = "/blobs/sha256:" in h.path
        if status is not None:
            seen.status = status
            h.send_response(status)
            if status == 429:
                h.send_header("Retry-After", "1")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if is_blob and self.redirect:
            seen.status = 307
            digest = h.path.rsplit("/", 1)[1]
            h.send_response(307)
            h.send_header("Location", f"{self.storage_url}/storage/{digest}?sig=abc")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        headers = {k: v for k, v in h.headers.items() if k.lower() != "host"}
        resp = self._upstream(h, h.path, headers)
        seen.status = resp.status
        body = resp.read()
        cut = None
        if is_blob and resp.status in (200, 206):
            if self.corrupt and body:
                middle = len(body) // 2
                body = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]
            with self.lock:
                if self.drop_after is not None and self.drops > 0:
                    self.drops -= 1
                    cut = self.drop_after
        h.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command == "HEAD":
            return
        if is_blob and self.hold_after is not None and len(body) > self.hold_after:
            h.wfile.write(body[: self.hold_after])
            h.wfile.flush()
            self.release.wait(60)
            body = body[self.hold_after :]
        if cut is not None:
            h.wfile.write(body[:cut])
            h.wfile.flush()
            h.connection.shutdown(socket.SHUT_RDWR)
            h.close_connection = True
            return
        h.wfile.write(body)

    def _store(self, h: http.server.BaseHTTPRequestHandler) -> None:
        """Blob storage on another host: serves a blob (fetched from the registry with the
        user's own credentials), honouring Range."""
        with self.lock:
            self.storage_seen.append(Seen(h.command, h.path, dict(h.headers.items())))
        digest = urlsplit(h.path).path.rsplit("/", 1)[1]
        headers = {}
        if self.registry.creds:
            headers["Authorization"] = (
                "Basic " + base64.b64encode(self.registry.creds.encode()).decode()
            )
        repo = self.repository
        resp = self._upstream(h, f"/v2/{repo}/blobs/{digest}", headers)
        body = resp.read()
        status = 200
        rng = h.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            body = body[int(rng[6:-1]) :]
            status = 206
        h.send_response(status)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    repository = ""  # the repository the storage server fetches blobs of

    def close(self) -> None:
        for s in (self.server, self.storage):
            s.shutdown()
            s.server_close()


def registry_env(tmp_path: Path) -> dict[str, str]:
    """An environment with no credentials of the user's and a cache of the test's own."""
    env = dict(os.environ)
    for k in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG", "XDG_RUNTIME_DIR"):
        env.pop(k, None)
    env["HOME"] = str(tmp_path / "home")
    env["LAYERSCOPE_CACHE_DIR"] = str(tmp_path / "cache")
    return env


def iter_blob_requests(seen: list[Seen]) -> Iterator[Seen]:
    return (s for s in seen if "/blobs/sha256:" in s.path)
