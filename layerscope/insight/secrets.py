"""Files that look like credentials: by name (`.git-credentials`, `.npmrc` with a token, cloud
and docker credential files, kubeconfigs, `.env`), and by content (a private key, a token of a
known service, whatever the file is called).

Content is checked by Yelp's detect-secrets plugins (a maintained set of detectors, each a
service's token format), run on the whole text of a small file, never on a file larger than
`MAX_FILE` bytes. Files are read up to `MAX_FILES` files / `MAX_BYTES` bytes an image:
credential names first, then files a later layer hides (the leaks a scanner of the final
filesystem misses), then the other files, in layer order. Every plugin runs on the first
`MAX_DEEP` of them (about 0.2 ms a file); the others are checked for a private key only (a
literal search, then detect-secrets' private key plugin to confirm). The files of one layer are read in one pass over
its blob (content.read_entries). A secret is never kept: only its kind, where it is and a
fingerprint (the start of its content digest).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from layerscope.insight.content import read_entries
from layerscope.model.analysis import VISIBLE, pack, unpack
from layerscope.model.image import Image
from layerscope.read.records import F_META, F_SPARSE, FILE

MAX_FILE = 64 * 1024  # a file larger than this is never read
MAX_FILES = 20_000  # files read an image, at most
MAX_BYTES = 64 * 1024 * 1024  # bytes read an image, at most
MAX_DEEP = 2_000  # files every plugin runs on (names, then hidden files, first)
FINGERPRINT_HEX = 12  # hex digits of the content digest a fingerprint keeps


def _has(*words: str) -> Callable[[str], bool]:
    """A check that the text holds one of `words` (case-insensitive)."""
    low = [w.lower() for w in words]
    return lambda text: any(w in text.lower() for w in low)


_DOTENV_SECRET = re.compile(
    r"^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*(?:SECRET|TOKEN|PASSWORD|PASSWD|PWD|KEY|AUTH|"
    r"CREDENTIAL)[A-Za-z0-9_]*\s*=\s*['\"]?[^\s'\"#]",
    re.IGNORECASE | re.MULTILINE,
)

# A credential file by its name: (kind, the path's pattern, what its text must hold to count).
NAMES: tuple[tuple[str, re.Pattern[str], Callable[[str], bool]], ...] = (
    ("git-credentials", re.compile(r"(?:^|/)\.git-credentials$"), lambda t: "@" in t),
    ("npm-token", re.compile(r"(?:^|/)\.npmrc$"), _has("_authtoken", "_auth=", "_password")),
    ("pypi-credentials", re.compile(r"(?:^|/)\.pypirc$"), _has("password")),
    ("netrc", re.compile(r"(?:^|/)[._]netrc$"), _has("password")),
    ("aws-credentials", re.compile(r"(?:^|/)\.aws/credentials$"), _has("aws_secret_access_key")),
    (
        "docker-credentials",
        re.compile(r"(?:^|/)\.docker/config\.json$"),
        _has('"auth"', '"identitytoken"'),
    ),
    (
        "kubeconfig",
        re.compile(r"(?:^|/)(?:\.kube/config|kubeconfig(?:\.ya?ml)?)$"),
        _has("token:", "client-key-data:", "password:"),
    ),
    (
        "gcloud-credentials",
        re.compile(r"(?:^|/)application_default_credentials\.json$"),
        _has('"refresh_token"', '"private_key"'),
    ),
    (
        "dotenv",
        re.compile(r"(?:^|/)\.env(?:\.(?!example$|sample$|template$|dist$)[\w.-]+)?$"),
        lambda t: _DOTENV_SECRET.search(t) is not None,
    ),
)
_NAME_ANY = re.compile("|".join(f"(?:{p.pattern})" for _k, p, _c in NAMES))
# the last names NAMES can match (a path's last name is looked up first: the pattern costs 20
# times more, and few paths have one of these names)
_LAST_NAMES = frozenset(
    (
        *(".git-credentials", ".npmrc", ".pypirc", ".netrc", "_netrc", "credentials"),
        *("config.json", "config", "kubeconfig", "kubeconfig.yaml", "kubeconfig.yml"),
        "application_default_credentials.json",
    )
)


def named(path: str) -> bool:
    """Whether a path has the name of a credential file (NAMES)."""
    last = path[path.rfind("/") + 1 :]
    if last not in _LAST_NAMES and not last.startswith(".env"):
        return False
    return _NAME_ANY.search(path) is not None


# detect-secrets' plugins run on every file read (each a service's own token format). Left out:
# high entropy strings and keywords (they flag ordinary text), public IPs (not secrets), basic
# auth URLs and JWTs (common in docs and tests; basic auth is checked in credential files).
CONTENT_PLUGINS = (
    "private_key.PrivateKeyDetector",
    "aws.AWSKeyDetector",
    "azure_storage_key.AzureStorageKeyDetector",
    "github_token.GitHubTokenDetector",
    "gitlab_token.GitLabTokenDetector",
    "npm.NpmDetector",
    "pypi_token.PypiTokenDetector",
    "slack.SlackDetector",
    "stripe.StripeDetector",
    "openai.OpenAIDetector",
    "sendgrid.SendGridDetector",
    "twilio.TwilioKeyDetector",
    "mailchimp.MailchimpDetector",
    "square_oauth.SquareOAuthDetector",
    "discord.DiscordBotTokenDetector",
)
NAME_PLUGINS = ("basic_auth.BasicAuthDetector",)  # only in files a credential name picked
# A private key must be a PEM block, not the header alone (as source code that parses keys has)
_PEM_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:\\n|\s)+[A-Za-z0-9+/=\\\s:,-]{64}")


@dataclass(frozen=True)
class Secret:
    """A file that looks like a credential: what it looks like, where, never what it says."""

    kind: str  # a NAMES kind, or a detector's type: `private-key`, `aws-access-key`, ...
    path: str
    layer: int  # the layer that stored it
    row: int
    size: int
    hidden_by: int | None  # the layer that hides it (deleted, overwritten), None when visible
    fingerprint: str  # `sha256:` and the start of its content digest
    detectors: tuple[str, ...] = ()  # what found it: `name`, detect-secrets' secret types

    @property
    def hidden(self) -> bool:
        """Whether a later layer hides it: deleted, but still shipped in its layer."""
        return self.hidden_by is not None


@dataclass
class SecretScan:
    """The secrets found, and what the scan read."""

    secrets: list[Secret] = field(default_factory=list)
    files_read: int = 0
    bytes_read: int = 0
    files_skipped: int = 0  # small files left unread (over MAX_FILES / MAX_BYTES)
    files_deep: int = 0  # files every plugin ran on (the others: a private key only)


def _load(names: Sequence[str]) -> list[Any]:
    """detect-secrets' plugins by `module.Class` (imported when first scanning: 0.2 s)."""
    import importlib

    out = []
    for name in names:
        module, cls = name.rsplit(".", 1)
        out.append(getattr(importlib.import_module(f"detect_secrets.plugins.{module}"), cls)())
    return out


_plugins: dict[str, list[Any]] = {}


def _detect(text: str, names: Sequence[str]) -> list[str]:
    """The secret types detect-secrets' plugins `names` find in `text` (read as one line)."""
    key = ",".join(names)
    if key not in _plugins:
        _plugins[key] = _load(names)
    found: list[str] = []
    for plugin in _plugins[key]:
        if plugin.analyze_line(filename="", line=text, line_number=1):
            found.append(plugin.secret_type)
    return found


def _kind_of(secret_type: str) -> str:
    """A detector's secret type as a kind: `Private Key` -> `private-key`."""
    return re.sub(r"[^a-z0-9]+", "-", secret_type.lower()).strip("-")


KEY_ONLY = ("private_key.PrivateKeyDetector",)


def check(path: str, data: bytes, deep: bool = True) -> tuple[str, tuple[str, ...]] | None:
    """(kind, detectors) if a file of this name and content looks like a credential, else None
    (`deep` False: a private key only). Binary content (a NUL byte) is not read as text."""
    if b"\0" in data:
        return None
    if not deep:
        if b"PRIVATE KEY" not in data:
            return None
        text = data.decode("utf-8", "replace")
        found = _detect(text, KEY_ONLY) if _PEM_KEY.search(text) else []
        return (_kind_of(found[0]), tuple(found)) if found else None
    text = data.decode("utf-8", "replace")
    name_kind = None
    for kind, pattern, holds in NAMES:
        if pattern.search(path) and holds(text):
            name_kind = kind
            break
    found = _detect(text, CONTENT_PLUGINS + (NAME_PLUGINS if name_kind else ()))
    if "Private Key" in found and not _PEM_KEY.search(text):
        found.remove("Private Key")  # a PEM header without a key under it
    if name_kind:
        return name_kind, ("name", *found)
    if found:
        return _kind_of(found[0]), tuple(found)
    return None


def scan(image: Image) -> SecretScan:
    """Every file of the image (hidden or visible) that looks like a credential, within the
    bounds of the module's doc."""
    a = image.analysis
    # the small files, in three ranks, as refs (8 bytes each: a million files cost 8 MB)
    by_name, hidden, rest = array("q"), array("q"), array("q")
    for pos, layer in enumerate(image.layers):
        li = layer.index
        types, flags, sizes, paths, hb = li.types, li.flags, li.sizes, li.paths, a.hidden_by[pos]
        for row in range(len(li)):
            if types[row] != FILE or flags[row] & (F_META | F_SPARSE):
                continue
            size = sizes[row]
            if not 0 < size <= MAX_FILE:
                continue
            if named(paths[row]):
                by_name.append(pack(pos, row))
            elif hb[row] != VISIBLE:
                hidden.append(pack(pos, row))
            else:
                rest.append(pack(pos, row))
    out = SecretScan()
    chosen: dict[int, list[int]] = {}
    deep: set[int] = set()  # the refs every plugin runs on
    for ref in chain(by_name, hidden, rest):
        pos, row = unpack(ref)
        size = image.layers[pos].index.sizes[row]
        if out.files_read >= MAX_FILES or out.bytes_read + size > MAX_BYTES:
            out.files_skipped += 1
            continue
        out.files_read += 1
        out.bytes_read += size
        chosen.setdefault(pos, []).append(row)
        if len(deep) < MAX_DEEP:
            deep.add(pack(pos, row))
    out.files_deep = len(deep)
    for pos in sorted(chosen):
        li = image.layers[pos].index
        for row, data in read_entries(image, pos, chosen[pos]):
            path = li.paths[row]
            ref = pack(pos, row)
            got = check(path, data, ref in deep)
            if got is None:
                continue
            by = a.hidden_by[pos][row]
            hidden_by = None if by == VISIBLE or ref in a.kept else by
            fingerprint = "sha256:" + li.digest_at(row).hex()[:FINGERPRINT_HEX]
            out.secrets.append(
                Secret(got[0], path, pos, row, li.sizes[row], hidden_by, fingerprint, got[1])
            )
    out.secrets.sort(key=lambda s: (not s.hidden, s.layer, s.path))
    return out
