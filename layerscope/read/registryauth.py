"""Credentials for a registry, found as docker and podman keep them, and the two ways the
distribution API asks for them (the `WWW-Authenticate` challenge): a bearer token from the
registry's token service (anonymous, or with the user's credentials), or basic auth.

Where credentials come from, first found wins: `--creds USER[:PASS]`, then the `auths` of
`$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
`~/.config/containers/auth.json`, `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`).
A credential never appears in a message, a log, the report or the cache: `Credentials` hides
itself from `repr`, and errors name the registry and the repository only."""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from layerscope.read.reference import DOCKER_HUB, Reference
from layerscope.read.registryhttp import Http, RegistryError
from layerscope.read.registryoptions import Credentials

TOKEN_LIMIT = 1 << 20  # bytes of a token service's answer
AUTH_FILE_LIMIT = 4 << 20
_HUB_KEYS = ("docker.io", "index.docker.io", "registry-1.docker.io",
             "https://index.docker.io/v1/", "https://index.docker.io/v1")  # fmt: skip
_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def auth_files() -> list[str]:
    """The files docker and podman keep credentials in, in the order podman reads them."""
    out = []
    if env := os.environ.get("REGISTRY_AUTH_FILE"):
        out.append(env)
    if runtime := os.environ.get("XDG_RUNTIME_DIR"):
        out.append(os.path.join(runtime, "containers", "auth.json"))
    home = os.path.expanduser("~")
    out.append(os.path.join(home, ".config", "containers", "auth.json"))
    docker = os.environ.get("DOCKER_CONFIG") or os.path.join(home, ".docker")
    out.append(os.path.join(docker, "config.json"))
    return out


def stored_credentials(ref: Reference, files: list[str] | None = None) -> Credentials | None:
    """The credentials the auth files hold for an image: the entry for its repository or a
    namespace of it (podman's `host/ns`), else for its registry."""
    for path in auth_files() if files is None else files:
        auths = _auths(path)
        if not auths:
            continue
        found = _match(auths, ref)
        if found is not None:
            return found
    return None


def _auths(path: str) -> dict[str, object]:
    try:
        with open(path, "rb") as f:
            data = f.read(AUTH_FILE_LIMIT + 1)
    except OSError:
        return {}
    if len(data) > AUTH_FILE_LIMIT:
        return {}
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    auths = doc.get("auths") if isinstance(doc, dict) else None
    return auths if isinstance(auths, dict) else {}


def _normal_key(key: str) -> str:
    """An `auths` key as host[/path]: docker writes `https://index.docker.io/v1/`."""
    if "://" in key:
        parts = urlsplit(key)
        key = parts.netloc + parts.path
    key = key.rstrip("/")
    for suffix in ("/v1", "/v2"):
        if key.endswith(suffix):
            key = key[: -len(suffix)]
    return key


def _match(auths: Mapping[str, object], ref: Reference) -> Credentials | None:
    domain = ref.domain
    wanted = f"{domain}/{ref.repository}"
    best: tuple[int, Credentials] | None = None
    for key, entry in auths.items():
        norm = _normal_key(key)
        if domain == DOCKER_HUB and norm in {_normal_key(k) for k in _HUB_KEYS}:
            norm = DOCKER_HUB
        if not (norm == domain or wanted == norm or wanted.startswith(norm + "/")):
            continue
        creds = _entry_creds(entry)
        if creds is not None and (best is None or len(norm) > best[0]):
            best = (len(norm), creds)
    return best[1] if best else None


def _entry_creds(entry: object) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            text = base64.b64decode(auth, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, colon, pw = text.partition(":")
        return Credentials(user, pw) if colon and user else None
    name, secret = entry.get("username"), entry.get("password")
    if isinstance(name, str) and isinstance(secret, str) and name:
        return Credentials(name, secret)
    return None


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """(scheme in lower case, parameters) of a `WWW-Authenticate` header."""
    scheme, _sp, rest = header.strip().partition(" ")
    params = {}
    for m in _PARAM.finditer(rest):
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
    return scheme.lower(), params


@dataclass
class Auth:
    """The Authorization a registry asks for, worked out from its challenges: tokens are kept
    per scope, and reused by every request (and every worker process) of the run."""

    http: Http
    creds: Credentials | None = field(default=None, repr=False)
    scheme: str | None = None  # "bearer" or "basic", once challenged
    challenge: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict, repr=False)

    def headers(self, scope: str) -> dict[str, str]:
        if self.scheme == "basic" and self.creds is not None:
            return {"Authorization": self.creds.basic()}
        token = self.tokens.get(scope)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def answer(self, header: str | None, scope: str) -> bool:
        """Take a 401's challenge; whether a retry can now do better."""
        if not header:
            return False
        scheme, params = parse_challenge(header)
        if scheme == "basic":
            if self.creds is None or self.scheme == "basic":
                return False
            self.scheme = "basic"
            return True
        if scheme != "bearer" or "realm" not in params:
            return False
        # no token yet, or one that expired (or was refused: the caller asks once more only)
        self.scheme, self.challenge = "bearer", params
        self.tokens[scope] = self._token(params, scope)
        return True

    def _token(self, params: dict[str, str], scope: str) -> str:
        realm = params["realm"]
        query = {"service": params["service"]} if params.get("service") else {}
        query["scope"] = scope
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or (
            parts.scheme == "http" and not self.http.plain_ok
        ):
            raise RegistryError(f"registry {self.http.host}: its token service is not https")
        headers = {"Authorization": self.creds.basic()} if self.creds is not None else {}
        token_http = Http(parts.netloc, self.http.plain_ok, parts.scheme, self.http.sleep)
        resp = token_http.request("GET", url, headers)
        if resp.status in (401, 403):
            resp.close()
            who = "these credentials" if self.creds else "anonymous access"
            raise RegistryError(
                f"registry {self.http.host}: its token service refused {who} "
                f"({resp.status}); log in (docker login / podman login) or use --creds"
            )
        if resp.status != 200:
            resp.close()
            raise RegistryError(
                f"registry {self.http.host}: its token service answered {resp.status}"
            )
        data = resp.read_bounded(TOKEN_LIMIT, "the token service's answer")
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError):
            doc = None
        token = None
        if isinstance(doc, dict):
            token = doc.get("token") or doc.get("access_token")
        if not isinstance(token, str) or not token or any(c in token for c in "\r\n"):
            raise RegistryError(f"registry {self.http.host}: its token service gave no token")
        return token
