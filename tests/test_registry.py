"""Registry images, against a real registry (Debian's docker-registry, tests/liveregistry.py):
every figure identical to the same image as an archive, auth (open, htpasswd, token; --creds,
auth files), faults between client and registry (dropped connection, 429/503, a wrong blob,
redirects to blob storage), the cache (one manifest request on re-open, --offline) and the
errors a user meets."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from builder import File, Img, Layer, docker_archive, oci_layout
from liveregistry import (
    PASSWORD,
    USER,
    FaultProxy,
    LiveRegistry,
    iter_blob_requests,
    need_tools,
    registry_env,
    start_registry,
)

REAL = Path(__file__).parent / "fixtures" / "real"
DEMO = f"docker-archive:{REAL / 'docker-archive.tar'}"
# what differs between two reports of one image read from two places: where it was read
WHERE = ("source", "format", "ref", "refs", "notes")


def run(args: list[str], env: dict[str, str], stdin: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "layerscope", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def report(args: list[str], env: dict[str, str], tmp: Path) -> dict:
    out = tmp / f"report-{time.monotonic_ns()}.json"
    done = run([*args, "--json", str(out)], env)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


def figures(rep: dict) -> list[dict]:
    return [{k: v for k, v in img.items() if k not in WHERE} for img in rep["images"]]


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> LiveRegistry:
    reg = start_registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return registry_env(tmp_path)


def two_layer_image(tag: str, extra: bytes = b"") -> Img:
    return Img(
        [
            Layer(File("etc/base.conf", b"base\n" * 200), File("usr/bin/tool", b"\x7fELF" * 900)),
            Layer(File("app/main.py", b"print('hi')\n" + extra), File("etc/base.conf", b"new\n")),
        ],
        tag=tag,
    )


# -- every figure as from the archive -------------------------------------------------------------


def test_a_registry_image_has_the_figures_of_the_same_image_as_an_archive(registry, env, tmp_path):
    """The demo image (a real podman-made archive) pushed with skopeo, then copied out again
    blob for blob (skopeo's dir: transport, podman's docker-dir): the two reports agree on
    every figure, layer digests included; --ci gives the same verdict."""
    ref = registry.push(DEMO, "team/demo:1")
    registry.pull(ref, f"dir:{tmp_path / 'copy'}")
    from_registry = report([ref], env, tmp_path)
    from_archive = report(
        [str(tmp_path / "copy")], env | {"LAYERSCOPE_CACHE_DIR": str(tmp_path / "c2")}, tmp_path
    )
    assert figures(from_registry) == figures(from_archive)
    img = from_registry["images"][0]
    assert img["source"] == ref and img["format"] == "registry" and img["refs"] == [ref]
    ci_reg = run([ref, "--ci"], env)
    ci_arc = run([str(tmp_path / "copy"), "--ci"], env)
    # the same verdict, rule by rule (the line naming the image differs: the copy has no tag)
    assert ci_reg.returncode == ci_arc.returncode
    reg_lines, arc_lines = ci_reg.stdout.splitlines(), ci_arc.stdout.splitlines()
    assert reg_lines[1].startswith(f"{ref} (linux/amd64, 5 layers)")
    assert reg_lines[:1] + reg_lines[2:] == arc_lines[:1] + arc_lines[2:]
    cmp = report([ref, str(tmp_path / "copy"), "--compare"], env, tmp_path)["compare"]
    assert (cmp["a"], cmp["added"], cmp["removed"], cmp["changed"]) == (ref, [], [], [])


def test_zstd_layers_and_the_docker_transport_prefix(registry, env, tmp_path):
    archive = docker_archive(tmp_path / "app.tar", [two_layer_image("app:1")])
    ref = registry.push(f"docker-archive:{archive}", "zstd/app:1", "--dest-compress-format", "zstd",
                        "--dest-compress")  # fmt: skip
    rep = report([f"docker://{ref}"], env, tmp_path)
    layers = rep["images"][0]["layers"]
    assert [ly["compression"] for ly in layers] == ["zstd", "zstd"]
    plain = report([str(archive), "--no-cache"], env, tmp_path)
    keep = ("compression", "stored_size", "digest")
    for a, b in zip(layers, plain["images"][0]["layers"], strict=True):
        assert {k: v for k, v in a.items() if k not in keep} == {
            k: v for k, v in b.items() if k not in keep
        }
    for key in ("size", "final_size", "reclaimable_bytes", "duplicate_bytes", "hidden_entries"):
        if key in plain["images"][0]:
            assert rep["images"][0][key] == plain["images"][0][key], key


def test_an_index_of_two_platforms_is_chosen_from_as_an_archive_is(registry, env, tmp_path):
    amd = Img([Layer(File("arch", b"amd64\n"))], tag="multi:1", arch="amd64")
    arm = Img([Layer(File("arch", b"arm64\n"), File("extra", b"x" * 100))], tag="multi:1",
              arch="arm64")  # fmt: skip
    layout = tmp_path / "layout"
    for name, data in oci_layout([amd, arm], multiplatform=True).items():
        (layout / name).parent.mkdir(parents=True, exist_ok=True)
        (layout / name).write_bytes(data)
    ref = registry.push(f"oci:{layout}:1", "multi/app:1", "--all")
    rep = report([ref, "--platform", "linux/arm64"], env, tmp_path)
    assert rep["images"][0]["platform"] == "linux/arm64"
    assert rep["images"][0]["final_size"] == len(b"arm64\n") + 100
    rep = report([ref, "--platform", "linux/amd64"], env, tmp_path)
    assert rep["images"][0]["final_size"] == len(b"amd64\n")
    bad = run([ref, "--platform", "linux/s390x", "--json", "-"], env)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"layerscope: {ref}: no image for platform linux/s390x (present: linux/amd64, linux/arm64)"
    ]


def test_a_schema_1_manifest_is_refused_in_one_line(tmp_path):
    reg = start_registry(tmp_path / "reg1", schema1=True)
    try:
        archive = docker_archive(tmp_path / "old.tar", [two_layer_image("old:1")])
        ref = reg.push(f"docker-archive:{archive}", "old/app:1", "--format", "v2s1")
        done = run([ref, "--json", "-"], registry_env(tmp_path))
    finally:
        reg.stop()
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "schema 1 manifest" in done.stderr
    assert "Traceback" not in done.stderr


# -- fetched once ----------------------------------------------------------------------------------


def test_a_reopen_costs_one_manifest_request_and_offline_none(registry, env, tmp_path):
    ref_a = registry.push(f"docker-archive:{docker_archive(tmp_path / 'a.tar', [two_layer_image('a:1')])}",
                          "share/a:1")  # fmt: skip
    ref_b = registry.push(
        f"docker-archive:{docker_archive(tmp_path / 'b.tar', [two_layer_image('b:1', b'#b')])}",
        "share/a:2",
    )
    proxy = FaultProxy(registry)
    try:
        a = ref_a.replace(registry.host, proxy.host)
        b = ref_b.replace(registry.host, proxy.host)
        first = report([a, b], env, tmp_path)
        blobs = [s.path for s in iter_blob_requests(proxy.seen)]
        layers = {ly["digest"] for img in first["images"] for ly in img["layers"]}
        configs = {img["config_digest"] for img in first["images"]}
        assert len(layers) == 3  # the base layer is shared
        # every blob once: the secret scan read the small files from the copies kept for the
        # run, which are let go at its end (no --keep-blobs)
        assert sorted(p.rsplit("/", 1)[1] for p in blobs) == sorted(layers | configs)
        assert first["images"][0]["findings_summary"]["secret_scan"]["files_read"] > 0
        assert not list((tmp_path / "cache").rglob("*.blb"))
        proxy.seen.clear()
        again = report([a], env, tmp_path)
        assert [(s.method, s.path.split("/")[-2]) for s in proxy.seen if s.status != 401] == [
            ("GET", "manifests")
        ]
        assert figures(again) == figures(first)[:1]
    finally:
        proxy.close()
    # the registry gone: --offline opens from the cache alone
    offline = report([a, "--offline"], env, tmp_path)
    assert figures(offline) == figures(first)[:1]
    never = run([a.replace(":1", ":9"), "--offline", "--json", "-"], env)
    assert never.returncode == 2
    assert "not in the cache, and --offline fetches nothing" in never.stderr
    assert run([a, "--offline", "--no-cache", "--json", "-"], env).returncode == 2


def test_layers_are_fetched_by_worker_processes_as_by_this_one(registry, env, tmp_path):
    """Big images have their layers read by worker processes, each fetching its blobs itself
    (the registry's auth goes with them): the same report as one process."""
    ref = registry.push(f"docker-archive:{docker_archive(tmp_path / 'w.tar', [two_layer_image('w:1')])}",
                        "workers/app:1")  # fmt: skip
    one = report([ref, "--no-cache"], env | {"LAYERSCOPE_WORKERS": "1"}, tmp_path)
    two = report([ref, "--no-cache"], env | {"LAYERSCOPE_WORKERS": "2"}, tmp_path)
    assert one == two


def test_a_registry_image_is_slimmed_into_an_archive(registry, env, tmp_path):
    """`layerscope slim` takes a registry image as it takes an archive: the kept layer is the
    registry's blob byte for byte, and the written image shows the same final filesystem."""
    ref = registry.push(DEMO, "slim/demo:1")
    out = tmp_path / "slim.tar"
    done = run(["slim", ref, "--to", str(out), "--keep", "1"], env)
    assert done.returncode == 0, done.stderr
    source = report([ref], env, tmp_path)["images"][0]
    written = report([str(out)], env, tmp_path)["images"][0]
    assert written["final_size"] == source["final_size"]
    assert written["layers"][0]["digest"] == source["layers"][0]["digest"]
    assert len(written["layers"]) == 2


def test_a_file_of_a_registry_layer_is_exported(registry, env, tmp_path):
    ref = registry.push(DEMO, "export/demo:1")
    out = tmp_path / "out"
    done = run([ref, "--export", "etc", "--to", str(out)], env)
    assert done.returncode == 0, done.stderr
    assert (out / "etc").is_dir() and any((out / "etc").iterdir())


def test_keep_blobs_keeps_them_in_the_cache_for_exports(registry, env, tmp_path):
    """Without --keep-blobs an export fetches the layers it reads from again; with it, the
    first run keeps every blob it read whole (digest checked), and an export then fetches no
    blob at all; the kept blobs are cache entries, counted in its bound."""
    ref = registry.push(DEMO, "keep/demo:1")
    proxy = FaultProxy(registry)
    try:
        via = ref.replace(registry.host, proxy.host)
        report([via], env, tmp_path)
        proxy.seen.clear()
        plain = run([via, "--export", "etc", "--to", str(tmp_path / "a")], env)
        assert plain.returncode == 0, plain.stderr
        assert any(iter_blob_requests(proxy.seen))
        kept_env = env | {"LAYERSCOPE_CACHE_DIR": str(tmp_path / "kept")}
        report([via, "--keep-blobs"], kept_env, tmp_path)
        kept = list((tmp_path / "kept").rglob("*.blb"))
        assert len(kept) == 5  # the demo's layers
        proxy.seen.clear()
        again = run([via, "--keep-blobs", "--export", "etc", "--to", str(tmp_path / "b")], kept_env)
        assert again.returncode == 0, again.stderr
        assert not any(iter_blob_requests(proxy.seen))
        assert sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*")) == sorted(
            p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
        )
        for f in (tmp_path / "a").rglob("*"):
            if f.is_file():
                assert (
                    tmp_path / "b" / f.relative_to(tmp_path / "a")
                ).read_bytes() == f.read_bytes()
    finally:
        proxy.close()


# -- auth -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory) -> LiveRegistry:
    reg = start_registry(tmp_path_factory.mktemp("basic"), "htpasswd")
    reg.push(DEMO, "private/demo:1")
    yield reg
    reg.stop()


def _auth_file(path: Path, key: str) -> Path:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"auths": {key: {"auth": token}}}))
    return path


def _no_secret_anywhere(tmp_path: Path, *texts: str) -> None:
    """The password (and its base64 form) appears in no output and no file the run wrote."""
    secrets = [PASSWORD, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()]
    for text in texts:
        assert not any(s in text for s in secrets)
    for f in (tmp_path / "cache").rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert not any(s.encode() in data for s in secrets), f


def test_basic_auth_from_creds_stdin_and_the_auth_files(basic_registry, env, tmp_path):
    ref = f"{basic_registry.host}/private/demo:1"
    denied = run([ref, "--json", "-"], env)
    assert denied.returncode == 2
    assert denied.stderr.splitlines() == [
        f"layerscope: {ref}: private/demo on registry {basic_registry.host}: it asks for "
        "credentials (401); log in with docker login / podman login, or --creds"
    ]
    wrong = run([ref, "--json", "-", "--creds", f"{USER}:nope"], env)
    assert wrong.returncode == 2 and "these credentials were refused (401)" in wrong.stderr
    given = run([ref, "--json", "-", "--creds", f"{USER}:{PASSWORD}"], env)
    assert given.returncode == 0, given.stderr
    piped = run([ref, "--json", "-", "--creds", USER], env, stdin=PASSWORD + "\n")
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout) == json.loads(given.stdout)
    docker = _auth_file(tmp_path / "home" / ".docker" / "config.json", basic_registry.host)
    from_docker = run([ref, "--json", "-"], env)
    assert from_docker.returncode == 0, from_docker.stderr
    docker.unlink()
    podman = _auth_file(tmp_path / "run" / "containers" / "auth.json",
                        f"{basic_registry.host}/private")  # fmt: skip
    from_podman = run([ref, "--json", "-"], env | {"XDG_RUNTIME_DIR": str(tmp_path / "run")})
    assert from_podman.returncode == 0, from_podman.stderr
    own = _auth_file(tmp_path / "auth.json", f"http://{basic_registry.host}/v2/")
    podman.unlink()
    from_env = run([ref, "--json", "-"], env | {"REGISTRY_AUTH_FILE": str(own)})
    assert from_env.returncode == 0, from_env.stderr
    _no_secret_anywhere(tmp_path, denied.stderr, wrong.stderr, given.stdout, given.stderr,
                        piped.stdout, from_env.stdout)  # fmt: skip


def test_token_auth_anonymous_and_with_credentials(tmp_path):
    reg = start_registry(tmp_path / "token", "token")
    try:
        public = reg.push(DEMO, "public/demo:1")
        private = reg.push(DEMO, "private/demo:1")
        env = registry_env(tmp_path)
        anon = run([public, "--json", "-"], env)
        assert anon.returncode == 0, anon.stderr
        assert any(r["auth"] is None and r["query"]["scope"] == ["repository:public/demo:pull"]
                   and r["query"]["service"] == ["layerscope-test-registry"]
                   for r in reg.issuer.requests)  # fmt: skip
        refused = run([private, "--json", "-"], env)
        assert refused.returncode == 2
        assert "private/demo on registry" in refused.stderr and "401" in refused.stderr
        auth = _auth_file(tmp_path / "run" / "containers" / "auth.json", reg.host)
        allowed = run([private, "--json", "-"], env | {"XDG_RUNTIME_DIR": str(auth.parent.parent)})
        assert allowed.returncode == 0, allowed.stderr
        assert (
            json.loads(allowed.stdout)["images"][0]["final_size"]
            == json.loads(anon.stdout)["images"][0]["final_size"]
        )
        _no_secret_anywhere(tmp_path, anon.stderr, refused.stderr, allowed.stdout)
    finally:
        reg.stop()


# -- faults ----------------------------------------------------------------------------------------


@pytest.fixture
def proxy(registry):
    p = FaultProxy(registry)
    yield p
    p.close()


def _big_image(tmp_path: Path, tag: str) -> Path:
    """An image whose layer blobs are big enough to be cut midway (incompressible content)."""
    import random

    rnd = random.Random(tag)
    files = [File(f"data/{i}.bin", rnd.randbytes(40_000)) for i in range(6)]
    return docker_archive(
        tmp_path / f"{tag.replace(':', '-')}.tar", [Img([Layer(*files)], tag=tag)]
    )


def test_a_dropped_connection_is_resumed_where_it_stopped(registry, proxy, env, tmp_path):
    ref = registry.push(f"docker-archive:{_big_image(tmp_path, 'drop:1')}", "fault/drop:1")
    via = ref.replace(registry.host, proxy.host)
    proxy.drop_after, proxy.drops = 50_000, 2
    rep = report([via, "--no-cache"], env, tmp_path)
    ranges = [s.headers.get("Range") for s in iter_blob_requests(proxy.seen)]
    assert "bytes=50000-" in ranges
    assert figures(rep) == figures(report([ref, "--no-cache"], env, tmp_path))


def test_429_and_503_are_retried_honouring_retry_after(registry, proxy, env, tmp_path):
    ref = registry.push(DEMO, "fault/retry:1")
    via = ref.replace(registry.host, proxy.host)
    proxy.statuses = [429, 503]
    start = time.monotonic()
    rep = report([via, "--no-cache"], env, tmp_path)
    assert time.monotonic() - start >= 1.0  # Retry-After: 1
    assert [s.status for s in proxy.seen[:3]] == [429, 503, 200]
    assert rep["images"][0]["final_size"] > 0
    proxy.statuses = [503] * 10
    gave_up = run([via, "--no-cache", "--json", "-"], env)
    assert gave_up.returncode == 2
    assert gave_up.stderr.count("\n") == 1 and "answered 503 Service Unavailable 5 times" in (
        gave_up.stderr
    )


def test_a_wrong_blob_is_a_digest_error(registry, proxy, env, tmp_path):
    ref = registry.push(f"docker-archive:{_big_image(tmp_path, 'bad:1')}", "fault/bad:1")
    proxy.corrupt = True
    done = run([ref.replace(registry.host, proxy.host), "--no-cache", "--json", "-"], env)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and ("digest" in lines[0] or "diff_id" in lines[0]), lines
    assert "Traceback" not in done.stderr


def test_a_redirect_to_blob_storage_drops_the_authorization(basic_registry, env, tmp_path):
    proxy = FaultProxy(basic_registry)
    proxy.redirect, proxy.repository = True, "private/demo"
    try:
        via = f"{proxy.host}/private/demo:1"
        done = run([via, "--no-cache", "--json", "-", "--creds", f"{USER}:{PASSWORD}"], env)
        assert done.returncode == 0, done.stderr
        assert proxy.storage_seen, "no blob went through the storage server"
        assert all("Authorization" not in s.headers for s in proxy.storage_seen)
        on_registry = [s for s in proxy.seen if s.status != 401]
        assert on_registry and all("Authorization" in s.headers for s in on_registry)
    finally:
        proxy.close()


# -- the app -------------------------------------------------------------------------------------


def test_the_app_shows_layers_and_download_progress_while_blobs_arrive(registry, tmp_path,
                                                                        monkeypatch):  # fmt: skip
    """Blobs held halfway by the proxy: the layers are listed (from manifest and config), the
    layer's details say how much was downloaded, keys work; once released, the image loads."""
    from pilots import SIZE, main_screen, settle

    import layerscope
    from layerscope.ui.app import LayerscopeApp
    from layerscope.ui.widgets.details import ImageDetails, LayerDetails

    monkeypatch.setenv("LAYERSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    import random

    rnd = random.Random(7)
    # incompressible, and big enough that the reader reports progress before the hold (it does
    # so every MiB of tar)
    img = Img([Layer(File("a.bin", rnd.randbytes(3 << 20))), Layer(File("b.bin", rnd.randbytes(3 << 20)))],
              tag="held:1")  # fmt: skip
    ref = registry.push(
        f"docker-archive:{docker_archive(tmp_path / 'held.tar', [img])}", "app/held:1"
    )
    proxy = FaultProxy(registry)
    proxy.hold_after = 2 << 20
    try:
        archive = layerscope.discover([ref.replace(registry.host, proxy.host)])

        async def until(pilot, cond, seconds: float = 30) -> None:
            """Pause until `cond()` holds (a loaded machine may take a while)."""
            end = time.monotonic() + seconds
            while not cond() and time.monotonic() < end:
                await pilot.pause(0.02)

        async def test(app, pilot):
            s = main_screen(app)
            assert [opt.id for opt in s.layer_list.options][:2] == ["layer-0", "layer-1"]

            def size() -> str:
                return s.query_one(LayerDetails).fields.get("Size", "")

            await until(pilot, lambda: size().startswith("downloading…") and "/s)" in size())
            assert size().startswith("downloading… ") and " of " in size(), size()
            await pilot.press("down")  # not pilots.press: it waits for the reads to end
            await until(pilot, lambda: s.query_one(LayerDetails).fields["Layer"].startswith("1 "))
            assert s.query_one(LayerDetails).fields["Layer"] == "1 of 2 (0 is the base)"
            proxy.release.set()
            await until(pilot, lambda: all(ly.loaded for ly in s.image.layers))
            await settle(pilot)
            await until(
                pilot, lambda: s.query_one(ImageDetails).fields["Final size"].endswith("files")
            )
            assert s.query_one(ImageDetails).fields["Final size"] == "6.3 MB in 2 files"

        async def main() -> None:  # not pilots.drive: it waits for the reads to end first
            app = LayerscopeApp(archive, archive.images[0])
            try:
                async with app.run_test(size=SIZE) as pilot:
                    await pilot.pause()
                    await test(app, pilot)
            finally:
                archive.close()

        asyncio.run(main())
    finally:
        proxy.release.set()
        proxy.close()


def test_tls_is_verified_unless_the_host_is_named_insecure(tmp_path):
    """A registry on https with a self-signed certificate, on 127.0.0.2 (this machine, but not
    a name that is trusted as local): refused, naming the flag; allowed with --insecure."""
    reg = start_registry(tmp_path / "tls", tls=True, ip="127.0.0.2")
    try:
        ref = reg.push(DEMO, "tls/demo:1")
        env = registry_env(tmp_path)
        refused = run([ref, "--json", "-"], env)
        assert refused.returncode == 2
        assert refused.stderr.splitlines() == [
            f"layerscope: {ref}: registry {reg.host}: TLS certificate not trusted (self-signed "
            f"certificate); --insecure {reg.host} allows it (and plain HTTP)"
        ]
        allowed = run([ref, "--json", "-", "--insecure", reg.host], env)
        assert allowed.returncode == 0, allowed.stderr
        assert json.loads(allowed.stdout)["images"][0]["format"] == "registry"
    finally:
        reg.stop()


def test_a_manifest_over_the_json_limit_is_refused(registry, env):
    ref = registry.push(DEMO, "limits/demo:1")
    done = run([ref, "--json", "-", "--max-json-bytes", "200"], env)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "over the JSON limit of 200" in done.stderr
    assert "--max-json-bytes" in done.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_a_download_ends_the_run_cleanly(registry, env, tmp_path, sig):
    """Ctrl+C (or SIGTERM) while a blob is held halfway by the proxy: the run ends at once with
    128 + the signal (the download is cut, not waited for), no traceback, no report written."""
    ref = registry.push(f"docker-archive:{_big_image(tmp_path, 'sig:1')}", "fault/sig:1")
    proxy = FaultProxy(registry)
    proxy.hold_after = 10_000
    out = tmp_path / "report.json"
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "layerscope", ref.replace(registry.host, proxy.host),
             "--no-cache", "--json", str(out)],
            env=env, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while not any(iter_blob_requests(proxy.seen)) or len(proxy.seen) < 3:
            assert time.monotonic() < deadline, "no blob was asked for"
            time.sleep(0.02)
        time.sleep(0.2)
        proc.send_signal(sig)
        start = time.monotonic()
        status = proc.wait(10)
        assert time.monotonic() - start < 5
        assert status == 128 + sig
        assert "Traceback" not in proc.stderr.read()
        assert not out.exists()
    finally:
        proxy.release.set()
        proxy.close()
        if proc.poll() is None:
            proc.kill()


# -- errors ----------------------------------------------------------------------------------------


def test_what_a_user_meets_when_it_goes_wrong(registry, env):
    need_tools("docker-registry")
    cases = {
        f"{registry.host}/no/such:1": "not found on registry",
        "127.0.0.1:1/app:1": "cannot reach registry 127.0.0.1:1: connection refused",
        "nosuchhost.invalid/app:1": "cannot reach registry nosuchhost.invalid: host not found",
        "docker://UPPER/Case:1": "not an image name",
    }
    for name, expected in cases.items():
        done = run([name, "--json", "-"], env)
        assert done.returncode == 2, name
        assert done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr
        assert done.stderr.startswith(f"layerscope: {name}: ")
