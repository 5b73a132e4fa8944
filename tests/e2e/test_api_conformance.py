"""API conformance: schemathesis, driven by the OpenAPI description the server publishes at
``/openapi.json``, calls every JSON endpoint of a live `stockade serve --workers 2` holding
real packages and advisories. No answer may be a server error, and every answer must match
the description: its status, content type, headers and body.

A short run here (a few examples per operation); ``bench/conformance.sh`` runs many more."""

from __future__ import annotations

import csv
import json
import os
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, checks

from e2e.conftest import BIN, LiveServer, run
from stockade.web.openapi import description
from support.advisories import IDNA_ADVISORY
from support.backend import CORPUS

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("STOCKADE_CONFORMANCE_EXAMPLES", "12"))

ROWS = list(csv.DictReader((CORPUS / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t"))
# The requests depset (the description's examples name requests and charset-normalizer) and an
# sdist (no core-metadata file in the simple API).
UPLOADS = [
    r["filename"]
    for r in ROWS
    if r["notes"].startswith("depset py311-linux") or r["filename"] == "six-1.17.0.tar.gz"
]
# An advisory written for this test (the year says it is not real), on a version uploaded here.
ADVISORY = IDNA_ADVISORY


@pytest.fixture(scope="module")
def loaded(live: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    """The live index with real wheels and sdists, and one advisory on idna."""
    live.twine_upload([CORPUS / "dists" / name for name in UPLOADS])
    folder = tmp_path_factory.mktemp("advisories")
    (folder / "PYSEC-2099-10.json").write_text(json.dumps(ADVISORY))
    out = run(
        [str(BIN / "stockade"), "advisories", "import", str(folder), "--data", str(live.data)],
        env=live.env,
    ).stderr
    assert "1 added" in out, out
    return live


# The description as the package ships it; test_the_description_is_published checks the server
# publishes the same one.
schema = schemathesis.openapi.from_dict(json.loads(description()))
SEMANTIC_BODIES = {"/_/oidc/mint-token", "/_/oidc/burn-token", "/api/reports"}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_conformance(case: Case[Any], loaded: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {loaded.token}"} if case.path == "/api/reports" else {}
    # What a description cannot say: a string is a signed OIDC token, an upload token of a
    # trusted publisher, or names a project that exists. Refusing such "valid" bodies with the
    # documented 4xx is right; every other check still runs on these operations.
    excluded = [checks.positive_data_acceptance] if case.path in SEMANTIC_BODIES else []
    case.call_and_validate(base_url=loaded.url, headers=headers, excluded_checks=excluded)


def test_the_description_is_published(loaded: LiveServer) -> None:
    """The server publishes the description, which covers every JSON endpoint: a route left
    out would be tested by nothing."""
    published = httpx.get(f"{loaded.url}/openapi.json", timeout=10)
    assert published.headers["content-type"] == "application/json"
    doc: dict[str, Any] = published.json()
    assert doc == json.loads(description())
    assert doc["openapi"].startswith("3.1")
    for path in (
        "/pypi/{project}/json",
        "/pypi/{project}/{version}/json",
        "/simple/",
        "/simple/{project}/",
        "/_/oidc/mint-token",
        "/api/reports",
        "/v1/query",
        "/v1/querybatch",
        "/v1/vulns/{id}",
        "/stats/security.json",
        "/_health/live",
        "/_health/ready",
    ):
        assert path in doc["paths"], path
    # The examples point at data this test uploaded, so the 200 shapes are exercised.
    project = httpx.get(f"{loaded.url}/pypi/requests/2.32.3/json", timeout=10)
    assert project.status_code == 200
    vuln = httpx.get(f"{loaded.url}/v1/vulns/CVE-2099-10", timeout=10)
    assert vuln.json()["id"] == "PYSEC-2099-10"
