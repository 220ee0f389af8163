"""Registry references as docker names them, credentials as docker and podman keep them, and the
challenges registries send: the parts of registry access that need no registry."""

from __future__ import annotations

import base64
import json

import pytest

from layerscope.errors import LayerscopeError
from layerscope.read.reference import has_registry, parse
from layerscope.read.registryauth import parse_challenge, stored_credentials
from layerscope.read.registryoptions import Credentials, parse_creds, wants_registry

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "domain", "repo", "tag", "digest", "host"),
    [
        ("debian", "docker.io", "library/debian", "latest", None, "registry-1.docker.io"),
        ("debian:12", "docker.io", "library/debian", "12", None, "registry-1.docker.io"),
        ("docker.io/library/debian:12", "docker.io", "library/debian", "12", None,
         "registry-1.docker.io"),
        ("index.docker.io/user/app", "docker.io", "user/app", "latest", None,
         "registry-1.docker.io"),
        ("docker://debian:12", "docker.io", "library/debian", "12", None, "registry-1.docker.io"),
        ("ghcr.io/org/team/app:v1.2", "ghcr.io", "org/team/app", "v1.2", None, "ghcr.io"),
        (f"localhost:5000/app@{DIGEST}", "localhost:5000", "app", None, DIGEST, "localhost:5000"),
        (f"r.example.com/app:1@{DIGEST}", "r.example.com", "app", "1", DIGEST, "r.example.com"),
        ("[::1]:5000/x/y", "[::1]:5000", "x/y", "latest", None, "[::1]:5000"),
    ],
)  # fmt: skip
def test_references_are_normalised_as_docker_does(text, domain, repo, tag, digest, host):
    ref = parse(text)
    assert (ref.domain, ref.repository, ref.tag, ref.digest, ref.host) == (
        domain, repo, tag, digest, host
    )  # fmt: skip
    assert ref.wanted == (digest or tag)


@pytest.mark.parametrize(
    "text", ["", "docker://", "Debian", "r.io/App", "r.io/app:", "r.io/app@sha256:12", "r.io/a//b"]
)
def test_bad_references_are_one_line_errors(text):
    with pytest.raises(LayerscopeError) as info:
        parse(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("name", "registry"),
    [
        ("ghcr.io/org/app:1", True),
        ("localhost:5000/app", True),
        ("docker://nginx", True),
        ("nginx:1.27", False),  # no registry named: docker or podman saves it
        ("localhost/app:1", False),  # how podman names what it built
        ("./app", False),
        ("build.d/app.tar", False),  # a missing archive, not an image
        ("a.b/app.tar.gz", False),
    ],
)
def test_which_names_go_to_a_registry(name, registry):
    assert wants_registry(name, None) is registry
    assert wants_registry(name, "registry") is True
    if not name.startswith("docker://"):
        assert wants_registry(name, "docker") is False
    assert has_registry(name) is (registry or name.endswith(".tar") or name.endswith(".gz"))


def _auth(user: str, password: str) -> dict:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_the_auth_files_most_specific_entry_wins(tmp_path):
    f = tmp_path / "auth.json"
    f.write_text(json.dumps({"auths": {
        "r.example.com": _auth("host", "h"),
        "r.example.com/team": _auth("team", "t"),
        "https://index.docker.io/v1/": _auth("hub", "d"),
        "other.io": {"username": "u", "password": "p"},
        "broken.io": {"auth": "%%%"},
    }}))  # fmt: skip

    def who(ref):
        c = stored_credentials(parse(ref), [str(f)])
        return c and (c.user, c.password)

    assert who("r.example.com/team/app") == ("team", "t")
    assert who("r.example.com/teams/app") == ("host", "h")
    assert who("debian") == ("hub", "d")
    assert who("other.io/x") == ("u", "p")
    assert who("broken.io/x") is None
    assert who("nowhere.io/x") is None


def test_a_missing_or_broken_auth_file_is_no_credentials(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert stored_credentials(parse("r.io/x"), [str(tmp_path / "none.json"), str(bad)]) is None


def test_credentials_never_show_their_password():
    c = parse_creds("alice:hunter2")
    assert "hunter2" not in repr(c) and "hunter2" not in str(c)
    assert parse_creds("alice", "pw") == Credentials("alice", "pw")
    with pytest.raises(LayerscopeError, match="standard input"):
        parse_creds("alice")
    with pytest.raises(LayerscopeError):
        parse_creds(":pw")


def test_challenges_are_parsed_with_quotes_and_commas():
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:a/b:pull,push"'
    )
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.example.com/token",
                      "service": "registry.example.com", "scope": "repository:a/b:pull,push"}  # fmt: skip
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})
