"""PEP 752 namespaces: uploads under a grant (the 409, the owner org, projects older than the
grant), the JSON simple API's ``namespaces`` at api-version 1.5, ``/namespaces`` and
``/namespace/<name>``, overlap and depth rules, revocation, the mirror never serving an
upstream project under a local org's prefix, and the CLI of the contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from stockade.events.services import CLI
from stockade.index.ownership import grant_namespace, revoke_namespace
from stockade.mirror.services import add_upstream
from stockade.orgs import services as orgs
from stockade.orgs.namespaces import NamespaceError
from support.builders import wheel_bytes, wheel_name
from support.index import Index, invoke_cli
from support.mirror_upstream import StaticUpstream

JSON = "application/vnd.pypi.simple.v1+json"
REFUSAL = (
    "The name '{name}' is in the namespace 'acme', reserved for the organization 'Acme': only "
    "its owners and managers may create projects in it (PEP 752"
)


def _upload(index: Index, user: str, name: str, version: str = "1.0") -> httpx.Response:
    return index.upload(
        wheel_bytes(name, version), wheel_name(name, version), token=index.token(user)
    )


def _page(index: Index, name: str) -> dict[str, Any]:
    r = index.client.get(f"/simple/{name}/", headers={"Accept": JSON})
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def _grant(index: Index, name: str, org: str = "acme", max_hyphens: int = 2) -> None:
    with index.db.write() as s:
        grant_namespace(
            s, name, orgs.require_org(s, org), max_hyphens=max_hyphens, origin=CLI, actor_id=None
        )


@pytest.fixture
def acme(index: Index) -> Index:
    """Org "Acme": olive owns it, mike manages it, mel is a plain member; bob is an outsider
    whose project acme-legacy exists before the namespace "acme" is granted."""
    index.user("bob")
    assert _upload(index, "bob", "acme-legacy").status_code == 200
    olive, mike, mel = index.user("olive"), index.user("mike"), index.user("mel")
    with index.db.write() as s:
        org = orgs.request_org(
            s, "Acme", owner=olive, approval_required=False, origin=CLI, actor_id=None
        )
        orgs.add_member(s, org, mike, "manager", origin=CLI, actor_id=None)
        orgs.add_member(s, org, mel, "member", origin=CLI, actor_id=None)
    _grant(index, "acme")
    return index


def test_uploads_under_a_namespace(acme: Index) -> None:
    index = acme
    for user, name in (
        ("bob", "acme-new"),
        ("mel", "acme-new"),
        ("bob", "ACME"),
        ("bob", "acme.x"),
    ):
        r = _upload(index, user, name)
        assert r.status_code == 409, (user, name, r.text)
        normalized = name.lower().replace(".", "-")
        assert REFUSAL.format(name=normalized) in r.text
    # Outside the namespace: a longer word, or a prefix of it.
    assert _upload(index, "bob", "acmecorp").status_code == 200
    assert _upload(index, "bob", "acm-e").status_code == 200
    # The org's owner and manager create projects in it; they belong to the org.
    assert _upload(index, "olive", "acme-new").status_code == 200
    assert _upload(index, "mike", "acme-more").status_code == 200
    assert _upload(index, "olive", "acme-new", "1.1").status_code == 200
    # The project that existed before the grant keeps taking its owner's uploads.
    assert _upload(index, "bob", "acme-legacy", "1.1").status_code == 200

    new = _page(index, "acme-new")
    assert new["meta"]["api-version"] == "1.5"
    assert new["namespaces"] == [{"name": "acme", "owned": True}]
    assert _page(index, "acme-more")["namespaces"] == [{"name": "acme", "owned": True}]
    assert _page(index, "acme-legacy")["namespaces"] == [{"name": "acme", "owned": False}]
    assert _page(index, "acmecorp")["namespaces"] is None
    html = index.client.get("/simple/acme-new/", headers={"Accept": "text/html"}).text
    assert '<meta name="pypi:repository-version" content="1.5">' in html
    assert "namespace" not in html  # PEP 752: nothing in the HTML API


def test_namespace_api(acme: Index) -> None:
    index = acme
    _grant(index, "acme-cloud")
    _grant(index, "acme-cloud-x")
    assert index.client.get("/namespaces").json() == [
        {"name": "acme"},
        {"name": "acme-cloud"},
        {"name": "acme-cloud-x"},
    ]
    r = index.client.get("/namespace/acme")
    assert r.status_code == 200 and r.headers["content-type"] == JSON
    assert r.json() == {"name": "acme", "parent": None, "children": ["acme-cloud"], "owner": "Acme"}
    # Children are one component longer (PEP 752's definition), whatever lies between.
    _grant(index, "acme-a-b")
    assert index.client.get("/namespace/acme").json()["children"] == ["acme-cloud"]
    assert index.client.get("/namespace/acme-a-b").json()["parent"] is None
    assert index.client.get("/namespace/acme-cloud-x").json() == {
        "name": "acme-cloud-x",
        "parent": "acme-cloud",
        "children": [],
        "owner": "Acme",
    }
    # The same endpoints under the simple API's root, which PEP 691's URLs are relative to.
    assert index.client.get("/simple/namespaces").json() == index.client.get("/namespaces").json()
    assert index.client.get("/simple/namespace/acme").json()["children"] == ["acme-cloud"]
    moved = index.client.get("/namespace/Acme.Cloud", follow_redirects=False)
    assert moved.status_code == 301 and moved.headers["location"] == "/namespace/acme-cloud"
    assert index.client.get("/namespace/nothing").status_code == 404
    assert _page(index, "acme-legacy")["namespaces"] == [{"name": "acme", "owned": False}]
    assert _upload(index, "olive", "acme-cloud-x-y").status_code == 200
    assert _page(index, "acme-cloud-x-y")["namespaces"] == [
        {"name": "acme", "owned": True},
        {"name": "acme-cloud", "owned": True},
        {"name": "acme-cloud-x", "owned": True},
    ]


def test_grant_rules_and_revocation(acme: Index) -> None:
    index = acme
    bob = index.user("bob")
    with index.db.write() as s:
        orgs.request_org(s, "Other", owner=bob, approval_required=False, origin=CLI, actor_id=None)
        orgs.request_org(s, "Waiting", owner=bob, approval_required=True, origin=CLI, actor_id=None)
    cases = [
        ("acme-sub", "other", 2, 409, "overlaps 'acme', granted to organization 'Acme'"),
        ("ac", "other", 2, 200, None),  # "ac-" is not a prefix of "acme-"
        ("acme", "acme", 2, 409, "already granted"),
        ("a-b-c-d", "other", 2, 400, "too deep"),
        ("-bad", "other", 2, 400, "not a valid namespace"),
        ("wait", "waiting", 2, 409, "not approved yet"),
    ]
    for name, org, depth, status, message in cases:
        outcome: tuple[int, str | None]
        try:
            _grant(index, name, org, depth)
            outcome = (200, None)
        except NamespaceError as exc:
            outcome = (exc.status_code, exc.message)
        assert outcome[0] == status, (name, outcome)
        if message is not None:
            assert outcome[1] is not None and message in outcome[1]
    # Inside another org's grant, or over it (PEP 752's own example: foo over foo-bar).
    with pytest.raises(NamespaceError, match="overlaps 'ac'"):
        _grant(index, "ac-x", "acme")
    _grant(index, "bc-d", "other")
    with pytest.raises(NamespaceError, match="overlaps 'bc-d'"):
        _grant(index, "bc", "acme")
    # The same org may hold a namespace over its own.
    _grant(index, "bc", "other")

    with index.db.write() as s:
        revoke_namespace(s, "acme", origin=CLI, actor_id=None)
    assert _page(index, "acme-legacy")["namespaces"] is None
    assert _upload(index, "bob", "acme-new").status_code == 200


def test_mirror_never_serves_upstream_under_a_local_namespace(acme: Index, tmp_path: Path) -> None:
    index = acme
    with StaticUpstream.start(tmp_path / "upstream") as up:
        for name in ("acme-evil", "elsewhere"):
            up.add_project(name, [(wheel_name(name, "1.0"), wheel_bytes(name, "1.0"))])
        with index.db.write() as s:
            add_upstream(s, "pypi", up.url, origin=CLI, actor_id=None)
        assert index.client.get("/simple/elsewhere/", headers={"Accept": JSON}).status_code == 200
        assert index.client.get("/simple/acme-evil/", headers={"Accept": JSON}).status_code == 404


def test_cli_contract(index: Index) -> None:
    index.user("olive")
    index.user("mara")
    assert _upload(index, "olive", "widget").status_code == 200
    steps = [
        ("org", "create", "Acme", "--owner", "olive"),
        ("org", "add-member", "acme", "mara", "--role", "member"),
        ("org", "team", "create", "acme", "builders"),
        ("org", "team", "add-member", "acme", "builders", "mara"),
        ("org", "project", "add", "acme", "widget"),
        ("org", "team", "role", "acme", "builders", "widget", "--role", "Maintainer"),
        ("namespace", "grant", "Acme.Tools", "--org", "acme"),
    ]
    for step in steps:
        proc = invoke_cli(index, *step)
        assert proc.returncode == 0, (step, proc.stderr)
    assert _upload(index, "mara", "widget", "1.1").status_code == 200
    listed = invoke_cli(index, "namespace", "list", "--json")
    assert json.loads(listed.stdout) == [{"name": "acme-tools", "owner": "Acme"}]
    refused = invoke_cli(index, "org", "add-member", "acme", "mara", "--role", "boss")
    assert refused.returncode != 0
    history = invoke_cli(index, "org", "history", "acme")
    assert "granted the namespace acme-tools to the organization Acme" in history.stdout
    assert "added mara to the team builders" in history.stdout
