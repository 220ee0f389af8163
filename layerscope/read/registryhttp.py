"""HTTP for the distribution API, on the standard library: TLS verified by default, plain HTTP
only where allowed (`--insecure HOST`, or a registry on this machine), redirects followed (the
Authorization header dropped when one leaves the registry's host), 429 and 5xx retried with
backoff honouring `Retry-After`, every wait bounded by a timeout, and one-line errors that name
the registry and never a credential."""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from layerscope.errors import LayerscopeError

TIMEOUT = 60.0  # seconds a connection or a read may wait
RETRIES = 5  # attempts of one request that got 429, a 5xx or a dropped connection
BACKOFF = 0.5  # seconds before the second attempt; doubled after each
MAX_WAIT = 30.0  # the longest wait a Retry-After may ask for
MAX_REDIRECTS = 8
RETRY_STATUS = {429, 500, 502, 503, 504}
NETWORK_ERRORS = (OSError, http.client.HTTPException)


class RegistryError(LayerscopeError):
    """The registry cannot be reached, or said no: the message says which and what to try."""


class Retryable(RegistryError):
    """A dropped connection or a status worth retrying, after all retries."""


@dataclass
class Response:
    """An answer, its body not read yet (`read`), on a connection closed by `close`."""

    status: int
    headers: http.client.HTTPMessage
    url: str
    conn: http.client.HTTPConnection
    raw: http.client.HTTPResponse

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def read(self, n: int = -1) -> bytes:
        return self.raw.read(n) if n >= 0 else self.raw.read()

    def read_some(self, n: int) -> bytes:
        """Up to n bytes, as soon as some came (one read of the socket at most): a stream's
        consumer sees the bytes, and the progress, as they arrive."""
        return self.raw.read1(n)

    def read_bounded(self, limit: int, what: str) -> bytes:
        """The whole body, refused past `limit` bytes (a manifest, a config, a token)."""
        length = self.header("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            self.close()
            raise LayerscopeError(
                f"{what} is {int(length)} bytes, over the JSON limit of {limit}; "
                f"raise with --max-json-bytes"
            )
        data = self.raw.read(limit + 1)
        self.close()
        if len(data) > limit:
            raise LayerscopeError(
                f"{what} is over the JSON limit of {limit} bytes; raise with --max-json-bytes"
            )
        return data

    def close(self) -> None:
        self.raw.close()
        self.conn.close()

    def abort(self) -> None:
        """Shut the connection down from another thread (a read blocked on it returns)."""
        sock = self.conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@dataclass
class Http:
    """Requests to one registry. `plain_ok`: whether plain HTTP, and a certificate that is not
    trusted, may be used for its host (`--insecure HOST`, or a registry on this machine)."""

    host: str  # the registry's host[:port], as its API is reached
    plain_ok: bool = False
    scheme: str | None = None  # decided by the first request: "https", or "http" if allowed
    sleep: Callable[[float], object] = field(default=time.sleep, repr=False, compare=False)

    def base(self) -> str:
        if self.scheme is None:
            self.scheme = self._probe()
        return f"{self.scheme}://{self.host}"

    def _probe(self) -> str:
        """https, unless it fails at the connection and plain HTTP is allowed for this host."""
        if not self.plain_ok:
            return "https"
        try:
            conn = _connect("https", self.host, verify=False)
            conn.connect()
            conn.close()
            return "https"
        except OSError:  # refused, reset, timed out, TLS failed (ssl.SSLError is an OSError)
            return "http"

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        auth: Callable[[str], Mapping[str, str]] | None = None,
    ) -> Response:
        """Send a request and follow its redirects; 429, 5xx and dropped connections are retried
        (RETRIES attempts in all). `auth(url)` gives the Authorization headers for a URL on the
        registry's host; a redirect elsewhere (blob storage) is sent without them."""
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = self._follow(method, url, dict(headers or {}), auth)
            except NETWORK_ERRORS as e:
                if isinstance(e, ssl.SSLCertVerificationError):
                    raise RegistryError(
                        f"registry {self.host}: TLS certificate not trusted ({e.verify_message}); "
                        f"--insecure {self.host} allows it (and plain HTTP)"
                    ) from None
                if attempt >= RETRIES or isinstance(e, socket.gaierror | ConnectionRefusedError):
                    raise RegistryError(unreachable(self.host, e)) from None
                self.sleep(BACKOFF * 2 ** (attempt - 1))
                continue
            if resp.status not in RETRY_STATUS:
                return resp
            wait = retry_after(resp.header("Retry-After"))
            resp.close()
            if attempt >= RETRIES:
                raise Retryable(
                    f"registry {self.host} answered {resp.status} "
                    f"{http.client.responses.get(resp.status, '')} {RETRIES} times; try later"
                )
            self.sleep(wait if wait is not None else BACKOFF * 2 ** (attempt - 1))

    def _follow(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        auth: Callable[[str], Mapping[str, str]] | None,
    ) -> Response:
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            on_registry = parts.netloc == self.host
            if not (parts.scheme == "https" or (parts.scheme == "http" and self.plain_ok)):
                raise RegistryError(
                    f"registry {self.host}: refused a redirect to {parts.scheme}://"
                )
            sent = dict(headers)
            if on_registry and auth is not None:
                sent.update(auth(url))
            # an untrusted certificate: only the registry's own, where allowed; never elsewhere
            conn = _connect(parts.scheme, parts.netloc, not (on_registry and self.plain_ok))
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            conn.request(method, path, headers=sent)
            raw = conn.getresponse()
            resp = Response(raw.status, raw.headers, url, conn, raw)
            if raw.status in (301, 302, 303, 307, 308):
                target = raw.headers.get("Location")
                resp.close()
                if not target:
                    raise RegistryError(f"registry {self.host}: a redirect without a Location")
                url = urljoin(url, target)
                continue
            return resp
        raise RegistryError(f"registry {self.host}: over {MAX_REDIRECTS} redirects")


_contexts: dict[bool, ssl.SSLContext] = {}  # made once per process (loading the CAs takes ~30 ms)


def _context(verify: bool) -> ssl.SSLContext:
    if verify not in _contexts:
        ctx = ssl.create_default_context()
        if not verify:  # --insecure HOST, or a registry on this machine: as podman does
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        _contexts[verify] = ctx
    return _contexts[verify]


def _connect(scheme: str, netloc: str, verify: bool = True) -> http.client.HTTPConnection:
    if scheme == "https":
        return http.client.HTTPSConnection(netloc, timeout=TIMEOUT, context=_context(verify))
    return http.client.HTTPConnection(netloc, timeout=TIMEOUT)


def retry_after(value: str | None) -> float | None:
    """Seconds a `Retry-After` asks to wait (a number, or an HTTP date), at most MAX_WAIT."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_WAIT)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, min(when.timestamp() - time.time(), MAX_WAIT))


def unreachable(host: str, e: BaseException) -> str:
    """One line for a registry that cannot be reached."""
    if isinstance(e, socket.gaierror):
        why = "host not found"
    elif isinstance(e, ConnectionRefusedError):
        why = "connection refused"
    elif isinstance(e, TimeoutError):
        why = "timed out"
    elif isinstance(e, ssl.SSLError):
        why = f"TLS failed ({e.reason or e})"
    elif isinstance(e, OSError) and e.strerror:
        why = e.strerror.lower()
    else:
        why = f"the connection failed ({type(e).__name__})"
    return f"cannot reach registry {host}: {why}"
