"""PEP 752 with the real twine: an upload under another organization's namespace is refused
with the PEP's 409 and a one-line reason, while the org's own owner creates projects in it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from support.builders import wheel_bytes, wheel_name

from .conftest import LiveServer

pytestmark = pytest.mark.e2e


def _wheel(folder: Path, name: str, version: str) -> Path:
    path = folder / wheel_name(name, version)
    path.write_bytes(wheel_bytes(name, version))
    return path


def test_twine_upload_under_reserved_prefix_gets_409(live: LiveServer, tmp_path: Path) -> None:
    live.stockade(
        "user", "create", "mallory", "--email", "mallory@example.test", "--password-stdin",
        stdin="correct horse battery\n",
    )  # fmt: skip
    mallory = replace(live, token=live.stockade("token", "create", "mallory").strip())
    live.stockade("org", "create", "Acme", "--owner", "alice")
    live.stockade("namespace", "grant", "acme", "--org", "acme")

    wheel = _wheel(tmp_path, "acme-tools", "1.0")
    refused = mallory.twine_upload([wheel], "--verbose", check=False)
    # twine's log wraps long lines: compare the words.
    output = " ".join((refused.stdout + refused.stderr).split())
    assert refused.returncode != 0
    assert "409 Conflict" in output, output
    assert "namespace 'acme', reserved for the organization 'Acme'" in output, output
    # A name that only starts with the same letters is not in the namespace.
    mallory.twine_upload([_wheel(tmp_path, "acmecorp", "1.0")])

    live.twine_upload([wheel])
    page = httpx.get(
        f"{live.url}/simple/acme-tools/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    ).json()
    assert page["meta"]["api-version"] == "1.5"
    assert page["namespaces"] == [{"name": "acme", "owned": True}]
    assert httpx.get(f"{live.url}/namespaces").json() == [{"name": "acme"}]
