"""Real ``uv publish --trusted-publishing always`` from a simulated GitHub Actions job.

The job's environment is faked (``GITHUB_ACTIONS``, ``ACTIONS_ID_TOKEN_REQUEST_URL``,
``ACTIONS_ID_TOKEN_REQUEST_TOKEN``) and its OIDC tokens come from a real issuer on loopback.
uv always calls ``https://<host>/_/oidc/*``, so stockade runs as ``stockade serve --tls-cert
--tls-key`` with a self-made CA, which uv (and stockade, fetching the issuer's keys) trust
through ``SSL_CERT_FILE``. No secret is stored anywhere: a pending publisher lets the first
run create the project.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from support.backend import backend_overrides
from support.builders import wheel_bytes, wheel_name
from support.oidc import REQUEST_TOKEN, Issuer, github_claims, serve_issuer
from support.servers import PostgresServer, SeaweedServer
from support.tls import Certificates, make_certificates

from .conftest import BIN, client_env, run, stockade_serve

NAME = "lanternfish-tp"


@dataclass
class TlsServer:
    url: str
    data: Path
    env: dict[str, str]
    certificates: Certificates
    issuer: Issuer

    def stockade(self, *args: str) -> str:
        return run([str(BIN / "stockade"), *args, "--data", str(self.data)], env=self.env).stdout


@pytest.fixture
def tls_server(
    tmp_path: Path, postgres: PostgresServer | None, seaweed: SeaweedServer | None
) -> Iterator[TlsServer]:
    certificates = make_certificates(tmp_path / "tls")
    data = tmp_path / "data"
    overrides, name = backend_overrides(postgres, seaweed)
    with serve_issuer(certificates) as issuer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
        env.update({f"STOCKADE_{k.upper()}": v for k, v in overrides.items()})
        env.update(
            STOCKADE_OIDC_GITHUB_ISSUER=issuer.url,
            SSL_CERT_FILE=str(certificates.ca_file),
            # As in the shared live server: no job runs on the scheduler's clock mid-test.
            STOCKADE_SCHEDULER="0",
        )
        log = tmp_path / "server.log"
        try:
            with stockade_serve(
                data,
                env,
                log,
                "--workers",
                "1",
                "--tls-cert",
                str(certificates.cert_file),
                "--tls-key",
                str(certificates.key_file),
                scheme="https",
                verify=ssl.create_default_context(cafile=certificates.ca_file),
            ) as url:
                yield TlsServer(url, data, env, certificates, issuer)
        finally:
            if postgres is not None:
                postgres.drop_database(name)


def test_uv_publishes_with_trusted_publishing(tls_server: TlsServer, tmp_path: Path) -> None:
    server = tls_server
    ca = str(server.certificates.ca_file)
    server.stockade("user", "create", "alice", "--email", "alice@example.test")
    server.stockade(
        "publisher",
        "add",
        "--pending",
        "--user",
        "alice",
        "--project-name",
        NAME,
        "--provider",
        "github",
        "--owner",
        "octo",
        "--owner-id",
        "4242",
        "--repository",
        "lantern",
        "--workflow",
        "release.yml",
    )
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / wheel_name(NAME, "1.0")).write_bytes(wheel_bytes(NAME, "1.0"))
    server.issuer.github_claims = github_claims("", repository="lantern")

    env = client_env(
        SSL_CERT_FILE=ca,
        GITHUB_ACTIONS="true",
        ACTIONS_ID_TOKEN_REQUEST_URL=f"{server.issuer.url}/gh-oidc?api-version=2.0",
        ACTIONS_ID_TOKEN_REQUEST_TOKEN=REQUEST_TOKEN,
    )
    env = {k: v for k, v in env.items() if not k.startswith("UV_") or k == "UV_NO_CONFIG"}
    published = run(
        [
            str(BIN / "uv"),
            "publish",
            "--publish-url",
            f"{server.url}/legacy/",
            "--trusted-publishing",
            "always",
            str(dist / "*"),
        ],
        env=env,
        check=False,
    )
    assert published.returncode == 0, published.stdout + published.stderr
    # uv asked the issuer for a token for the audience the index named (its host).
    assert server.issuer.token_requests == ["127.0.0.1"]

    simple = httpx.get(
        f"{server.url}/simple/{NAME}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        verify=ssl.create_default_context(cafile=ca),
    )
    assert simple.status_code == 200
    assert [f["filename"] for f in simple.json()["files"]] == [wheel_name(NAME, "1.0")]

    events = json.loads(server.stockade("events", "list", "--project", NAME, "--json"))
    tags = [e["tag"] for e in reversed(events)]
    for expected in (
        "project:create",
        "publisher:add",
        "publisher:token:mint",
        "file:upload",
        "publisher:token:burn",
    ):
        assert expected in tags, tags
    # The upload came before the burn: uv revoked the token once done with it.
    assert tags.index("file:upload") < tags.index("publisher:token:burn")
    upload = next(e for e in events if e["tag"] == "file:upload")
    assert upload["actor"] is None and upload["details"]["publisher_id"] is not None
    listed = json.loads(server.stockade("publisher", "list", NAME, "--json"))
    assert [p["publisher"] for p in listed] == ["GitHub octo/lantern (release.yml)"]
