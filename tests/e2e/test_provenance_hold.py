"""A release that breaks its project's provenance pattern, with the real ``uv publish``: three
releases from a simulated GitHub Actions job (trusted publishing, its OIDC tokens from a real
issuer on loopback), then ``uv publish --token`` with an owner's API token, as a thief with a
stolen token would. The upload succeeds for uv but is held: stored, not on the simple page,
listed by ``stockade release held``, until the owner confirms it (``stockade release
confirm``; the web page's second-factor confirmation is tested in
tests/functional/test_provenance_regression.py)."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import httpx

from support.builders import wheel_bytes, wheel_name
from support.oidc import REQUEST_TOKEN, github_claims

from .conftest import BIN, client_env, run
from .test_trusted_publishing import TlsServer, tls_server

__all__ = ["tls_server"]  # the shared fixture

NAME = "lanternfish-held"


def publish(server: TlsServer, dists: list[Path], *args: str) -> None:
    env = client_env(
        SSL_CERT_FILE=str(server.certificates.ca_file),
        GITHUB_ACTIONS="true",
        ACTIONS_ID_TOKEN_REQUEST_URL=f"{server.issuer.url}/gh-oidc?api-version=2.0",
        ACTIONS_ID_TOKEN_REQUEST_TOKEN=REQUEST_TOKEN,
    )
    env = {k: v for k, v in env.items() if not k.startswith("UV_") or k == "UV_NO_CONFIG"}
    argv = [str(BIN / "uv"), "publish", "--publish-url", f"{server.url}/legacy/", *args]
    published = run([*argv, *map(str, dists)], env=env, check=False)
    assert published.returncode == 0, published.stdout + published.stderr


def simple_files(server: TlsServer) -> list[str]:
    page = httpx.get(
        f"{server.url}/simple/{NAME}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        verify=ssl.create_default_context(cafile=server.certificates.ca_file),
    )
    assert page.status_code == 200
    return [f["filename"] for f in page.json()["files"]]


def test_uv_publish_with_a_token_after_trusted_releases_is_held(
    tls_server: TlsServer, tmp_path: Path
) -> None:
    server = tls_server
    server.stockade("user", "create", "alice", "--email", "alice@example.test")
    server.stockade(
        "publisher", "add", "--pending", "--user", "alice", "--project-name", NAME,
        "--provider", "github", "--owner", "octo", "--owner-id", "4242",
        "--repository", "lantern", "--workflow", "release.yml",
    )  # fmt: skip
    server.issuer.github_claims = github_claims("", repository="lantern")
    for version in ("1.0", "1.1", "1.2", "2.0"):
        (tmp_path / wheel_name(NAME, version)).write_bytes(wheel_bytes(NAME, version))
    # One CI run publishing three releases (one upload token, three uploads).
    trusted = [tmp_path / wheel_name(NAME, version) for version in ("1.0", "1.1", "1.2")]
    publish(server, trusted, "--trusted-publishing", "always")
    token = server.stockade("token", "create", "alice").strip()

    publish(server, [tmp_path / wheel_name(NAME, "2.0")], "--token", token)

    held_file = wheel_name(NAME, "2.0")
    assert held_file not in simple_files(server)
    [held] = json.loads(server.stockade("release", "held", "--json"))
    assert (held["project"], held["version"], held["filename"]) == (NAME, "2.0", held_file)
    assert held["rule"] == "trusted-publishing" and held["uploader"] == "alice"

    server.stockade("release", "confirm", NAME, "2.0", "--user", "alice")

    assert held_file in simple_files(server)
