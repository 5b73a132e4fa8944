"""The authorization matrix: every management route and every persona, generated from the route
table so that a new route cannot be forgotten.

Each route under /manage/ or /admin/ (and each /account/ route that needs a login) must declare
a guard that ``stockade.web.guards.guard_of`` recognises; the guard says who may pass:

    guard       anonymous   other user   maintainer   owner   admin
    user        login       pass         pass         pass    pass
    maintainer  login       403          pass         pass    pass
    owner       login       403          403          pass    pass
    admin       login       403          403          403     pass

"login" is a 303 to the login page, for GET and POST alike (POSTs carry a valid CSRF token, so
the guard and not the CSRF check is what answers). "pass" is 200 for a page; for a form post it
is whatever the route answers once admitted (a redirect, or 400/404 for the empty form and the
ids that are not the persona's), never 403, a login redirect or a 5xx. A refused request
changes nothing in the database.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import select
from starlette.requests import Request
from starlette.testclient import TestClient

from stockade.accounts.models import User
from stockade.accounts.recovery.models import RecoveryRequest
from stockade.db.base import Base
from stockade.events.services import CLI
from stockade.index.models import File, Project, Release
from stockade.index.roles import add_role, invite
from stockade.tokens.models import ApiToken
from stockade.web.auth import ANON_COOKIE, AdminUser, CurrentUser, csrf_token
from stockade.web.guards import MaintainerAccess, OwnerAccess, guard_of
from support.index import Index, csrf_from, login_client

PREFIXES = ("/manage/", "/admin/", "/account/")
PERSONAS = ("anonymous", "other", "maintainer", "owner", "admin")
ADMITTED = {
    "user": {"other", "maintainer", "owner", "admin"},
    "maintainer": {"maintainer", "owner", "admin"},
    "owner": {"owner", "admin"},
    "admin": {"admin"},
}
USERS = {"other": "outsider", "maintainer": "mara", "owner": "olive", "admin": "root"}
# Columns that change on every request whoever makes it.
VOLATILE = {("user_sessions", "last_seen_at")}
IGNORED_TABLES = {"rate_limit_hits"}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path_format: str
    params: tuple[str, ...]
    guard: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.method} {self.path_format} ({self.name})"


def endpoint_name(route: Any) -> str:
    """The name of the function a route calls."""
    return str(getattr(route.endpoint, "__name__", ""))


def endpoints(app: FastAPI) -> list[Endpoint]:
    """Every (method, route) of the app under the prefixes this matrix covers."""
    found = []
    for route in iter_route_contexts(app.routes):
        path_format = getattr(route, "path_format", None)
        if not path_format or not path_format.startswith(PREFIXES):
            continue
        params = tuple(getattr(route, "param_convertors", {}))
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            found.append(
                Endpoint(
                    method,
                    path_format,
                    params,
                    guard_of(route),
                    endpoint_name(route),
                )
            )
    return found


@dataclass
class World:
    """One project with an owner, a maintainer, a bystander and a pending invitation."""

    project_name: str
    role_id: int
    invitation_id: int
    token_id: int

    def fill(self, endpoint: Endpoint) -> str:
        values: dict[str, Any] = {
            "project_name": self.project_name,
            # Public project pages (the abuse report form).
            "name": self.project_name,
            "role_id": self.role_id,
            "invitation_id": self.invitation_id,
            "token_id": self.token_id,
            "username": "carol",
            # Lifecycle pages: the world's release 1.0 and its one file.
            "version": "1.0",
            "filename": f"{self.project_name}-1.0.tar.gz",
            "deletion_id": 1,
            # The admin recovery queue: carol's pending request (see make_world).
            "request_id": 1,
            # Security keys: a key id nobody has (the route answers 404 to everyone).
            "key_id": 1,
            # Trusted publishing: a provider's add form; publisher ids nobody has (404).
            "provider": "github",
            "publisher_id": 1,
            "pending_id": 1,
            # The mirror's admin page: an upstream, exemption and view nobody made (404).
            "upstream_name": "no-such-upstream",
            "exemption_id": 1,
            "view_name": "no-such-view",
            # Upload 2.0: a session and a file nobody opened.
            "session_token": "no-such-session",
            "file_token": "no-such-file",
            # Draft releases on the management page: a session nobody opened (404).
            "draft_id": 1,
            # Organizations: a project move nobody asked for (404).
            "transfer_id": 1,
            "hook_id": 1,
            "domain_id": 1,
        }
        missing = [p for p in endpoint.params if p not in values]
        assert not missing, (
            f"{endpoint}: the authorization matrix has no value for path parameter(s) "
            f"{missing}; add one to World in {__file__}"
        )
        return endpoint.path_format.format(**values)


def make_world(index: Index, n: int) -> World:
    for name in ("carol", "dave"):
        index.user(name)
    with index.db.write() as s:
        users = {u.username: u for u in s.scalars(select(User))}
        if s.scalar(select(RecoveryRequest.id)) is None:
            s.add(
                RecoveryRequest(
                    user_id=users["carol"].id,
                    contact_email="carol@example.net",
                    statement="Lost my phone.",
                )
            )
        project = Project(name=f"Matrix_{n}", normalized_name=f"matrix-{n}")
        s.add(project)
        s.flush()
        add_role(s, project=project, user=users["olive"], role_name="Owner", origin=CLI)
        add_role(s, project=project, user=users["mara"], role_name="Maintainer", origin=CLI)
        carol = add_role(
            s, project=project, user=users["carol"], role_name="Maintainer", origin=CLI
        )
        s.flush()
        invitation = invite(
            s,
            actor=users["olive"],
            project=project,
            username="dave",
            role_name="Maintainer",
            origin=CLI,
        )
        role_id, invitation_id = carol.id, invitation.id
        release = Release(project_id=project.id, version="1.0", canonical_version="1")
        s.add(release)
        s.flush()
        filename = f"matrix-{n}-1.0.tar.gz"
        s.add(
            File(
                release_id=release.id,
                project_id=project.id,
                filename=filename,
                packagetype="sdist",
                python_version="source",
                size=1,
                sha256_digest=hashlib.sha256(filename.encode()).hexdigest(),
                blake2_256_digest="0" * 64,
                md5_digest="0" * 32,
            )
        )
    index.token("olive")
    with index.db.read() as s:
        token_id = s.scalar(
            select(ApiToken.id)
            .join(User, User.id == ApiToken.user_id)
            .where(User.username == "olive")
            .order_by(ApiToken.id.desc())
        )
    assert token_id is not None
    return World(f"matrix-{n}", role_id, invitation_id, token_id)


def snapshot(index: Index) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (but the volatile columns), to compare before and after."""
    state = {}
    with index.db.read() as s:
        for table in Base.metadata.sorted_tables:
            if table.name in IGNORED_TABLES:
                continue
            columns = [c for c in table.columns if (table.name, c.name) not in VOLATILE]
            rows = s.execute(select(*columns).order_by(*table.primary_key.columns)).all()
            state[table.name] = [tuple(r) for r in rows]
    return state


def anonymous_client(index: Index) -> tuple[TestClient, str]:
    """A client without a session, and a valid CSRF token for its cookie seed."""
    seed = "matrix-anonymous-seed"
    scope = {
        "type": "http",
        "app": index.app.fastapi,
        "headers": [(b"cookie", f"{ANON_COOKIE}={seed}".encode())],
        "state": {},
    }
    client = TestClient(index.app, base_url="http://testserver")
    client.cookies.set(ANON_COOKIE, seed)
    return client, csrf_token(Request(scope))


def persona_client(index: Index, persona: str) -> tuple[TestClient, str]:
    if persona == "anonymous":
        return anonymous_client(index)
    client = login_client(index, USERS[persona])
    return client, csrf_from(client, "/")


def call(client: TestClient, method: str, path: str, token: str) -> Any:
    if method == "GET":
        return client.get(path, follow_redirects=False)
    return client.request(method, path, data={"csrf_token": token}, follow_redirects=False)


def is_login_redirect(response: Any) -> bool:
    return response.status_code == 303 and response.headers.get("location", "").startswith(
        "/account/login/?next="
    )


# The roles pages: which guard each must declare (PyPI: Maintainers see, Owners manage).
ROLE_GUARDS = {
    ("GET", "/manage/projects/"): "user",
    ("POST", "/manage/invitations/{invitation_id}/accept/"): "user",
    ("POST", "/manage/invitations/{invitation_id}/decline/"): "user",
    ("GET", "/manage/project/{project_name}/"): "maintainer",
    ("GET", "/manage/project/{project_name}/history/"): "maintainer",
    ("GET", "/manage/project/{project_name}/roles/"): "maintainer",
    ("POST", "/manage/project/{project_name}/roles/leave/"): "maintainer",
    ("POST", "/manage/project/{project_name}/roles/invite/"): "owner",
    ("POST", "/manage/project/{project_name}/roles/{role_id}/change/"): "owner",
    ("POST", "/manage/project/{project_name}/roles/{role_id}/remove/"): "owner",
    ("POST", "/manage/project/{project_name}/invitations/{invitation_id}/revoke/"): "owner",
    # Draft releases: whoever may upload to the project may publish or cancel one.
    ("POST", "/manage/project/{project_name}/drafts/{draft_id}/publish/"): "maintainer",
    ("POST", "/manage/project/{project_name}/drafts/{draft_id}/cancel/"): "maintainer",
}


def intended(e: Endpoint) -> bool:
    """Whether the declared guard is the kind the route's place calls for."""
    if (e.method, e.path_format) in ROLE_GUARDS:
        return ROLE_GUARDS[(e.method, e.path_format)] == e.guard
    if e.path_format.startswith("/admin/"):
        return e.guard == "admin"
    if "project_name" in e.params:
        # A page about one project checks the role on that project (or is for admins).
        return e.guard in ("maintainer", "owner", "admin")
    return True


def test_authorization_matrix(index: Index) -> None:
    index.user("root", admin=True)
    for name in USERS.values():
        index.user(name)
    table = endpoints(index.app.fastapi)
    # The matrix must at least see the roles pages.
    assert {(e.method, e.path_format) for e in table} >= set(ROLE_GUARDS)
    unguarded = [
        str(e) for e in table if e.guard is None and not e.path_format.startswith("/account/")
    ]
    assert not unguarded, f"routes without a recognised guard: {unguarded}"
    misguarded = [f"{e}: {e.guard}" for e in table if not intended(e)]
    assert not misguarded, f"routes with the wrong kind of guard: {misguarded}"

    failures: list[str] = []
    checked = 0
    for n, endpoint in enumerate(e for e in table if e.guard is not None):
        world = make_world(index, n)
        path = world.fill(endpoint)
        admitted = ADMITTED[endpoint.guard]  # type: ignore[index]
        # Refused personas first, so that admitted form posts cannot disturb them.
        for persona in sorted(PERSONAS, key=lambda p: p in admitted):
            client, token = persona_client(index, persona)
            refused = persona not in admitted
            before = snapshot(index) if refused else None
            r = call(client, endpoint.method, path, token)
            checked += 1
            where = f"{endpoint} as {persona}: {r.status_code} {r.text[:120]!r}"
            if persona == "anonymous":
                ok = is_login_redirect(r)
            elif refused:
                ok = r.status_code == 403
            elif endpoint.method == "GET" and not (endpoint.guard == "user" and endpoint.params):
                ok = r.status_code == 200
            else:
                ok = r.status_code < 500 and r.status_code != 403 and not is_login_redirect(r)
            if not ok:
                failures.append(where)
            if before is not None and snapshot(index) != before:
                failures.append(f"{where}: the refused request changed the database")
    assert not failures, "\n".join(failures)
    assert checked == len(PERSONAS) * sum(1 for e in table if e.guard is not None)


def test_guard_of_reads_each_kind_of_guard() -> None:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/open/")
    def open_page() -> None: ...

    @app.get("/user/")
    def user_page(identity: CurrentUser) -> None: ...

    @app.get("/p/{project_name}/m/")
    def maintainer_page(access: MaintainerAccess) -> None: ...

    @app.post("/p/{project_name}/o/")
    def owner_form(access: OwnerAccess) -> None: ...

    @app.get("/admin/")
    def admin_page(identity: AdminUser) -> None: ...

    guards = {endpoint_name(r): guard_of(r) for r in iter_route_contexts(app.routes)}
    assert guards == {
        "open_page": None,
        "user_page": "user",
        "maintainer_page": "maintainer",
        "owner_form": "owner",
        "admin_page": "admin",
    }


@pytest.mark.parametrize("persona", ["other", "admin"])
def test_missing_project_is_not_found(index: Index, persona: str) -> None:
    index.user("root", admin=True)
    client, token = persona_client(index, persona)
    assert client.get("/manage/project/no-such-project/").status_code == 404
    assert client.get("/manage/project/no-such-project/roles/").status_code == 404
    r = call(client, "POST", "/manage/project/no-such-project/roles/leave/", token)
    assert r.status_code == 404
    # Anonymous visitors are asked to log in first: the guard reveals nothing to them.
    anonymous, token = anonymous_client(index)
    assert is_login_redirect(call(anonymous, "GET", "/manage/project/no-such-project/", token))


def test_project_guards_normalize_the_name(index: Index) -> None:
    index.user("root", admin=True)
    for name in USERS.values():
        index.user(name)
    make_world(index, 0)
    owner, _ = persona_client(index, "owner")
    r = owner.get("/manage/project/MATRIX_0/", follow_redirects=False)
    assert r.status_code == 301
    assert r.headers["location"] == "/manage/project/matrix-0/"
    other, _ = persona_client(index, "other")
    assert other.get("/manage/project/MATRIX.0/roles/", follow_redirects=False).status_code == 403


# Unsafe routes that take no session cookie, so no CSRF token either: their callers prove who
# they are with an API token, an OIDC token or nothing (abuse reports through the API, OSV
# queries).
NOT_COOKIE_AUTHENTICATED = {
    ("POST", "/legacy"),
    ("POST", "/legacy/"),
    ("POST", "/api/reports"),
    ("POST", "/api/reports/"),
    ("POST", "/_/oidc/mint-token"),
    ("POST", "/_/oidc/github/mint-token"),
    ("POST", "/_/oidc/burn-token"),
    # Token-leak reports from a secret scanner, signed with the scanner's published key.
    ("POST", "/_/secrets/disclose-token"),
    ("POST", "/_/github/disclose-token"),
    # The OSV API: public reads of advisories, asked with a JSON body.
    ("POST", "/v1/query"),
    ("POST", "/v1/querybatch"),
    # Upload 2.0 (PEP 694) sessions, authorized by API token or trusted publisher like /legacy/,
    # and PyPI's read-only XML-RPC.
    ("POST", "/upload/"),
    ("DELETE", "/upload/session/{session_token}"),
    ("POST", "/upload/session/{session_token}/extend"),
    ("POST", "/upload/session/{session_token}/files/"),
    ("DELETE", "/upload/session/{session_token}/files/{file_token}"),
    ("POST", "/upload/session/{session_token}/files/{file_token}/bytes"),
    ("POST", "/upload/session/{session_token}/files/{file_token}/complete"),
    ("POST", "/upload/session/{session_token}/files/{file_token}/attestations"),
    ("POST", "/upload/session/{session_token}/publish"),
    ("POST", "/pypi"),
}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def unsafe_endpoints(app: FastAPI) -> list[Endpoint]:
    """Every unsafe (method, route) of the app, wherever it lives."""
    found = []
    for route in iter_route_contexts(app.routes):
        path_format = getattr(route, "path_format", None)
        if not path_format:
            continue
        params = tuple(getattr(route, "param_convertors", {}))
        for method in sorted(set(route.methods or ()) & UNSAFE):
            found.append(
                Endpoint(
                    method,
                    path_format,
                    params,
                    guard_of(route),
                    endpoint_name(route),
                )
            )
    return found


def test_every_unsafe_route_refuses_a_missing_or_wrong_csrf_token(index: Index) -> None:
    """CSRF is attached router by router: a route (or a router) that loses it must fail here,
    whoever calls it. The admin is admitted everywhere, so only the CSRF check can refuse."""
    index.user("root", admin=True)
    for name in USERS.values():
        index.user(name)
    table = [
        e
        for e in unsafe_endpoints(index.app.fastapi)
        if (e.method, e.path_format) not in NOT_COOKIE_AUTHENTICATED
    ]
    # The matrix must see the pages the audit found unprotected when CSRF was removed.
    paths = {e.path_format for e in table}
    assert "/manage/project/{project_name}/releases/{version}/yank/" in paths
    assert "/manage/project/{project_name}/roles/invite/" in paths
    failures: list[str] = []
    for n, endpoint in enumerate(table):
        world = make_world(index, 1000 + n)
        path = world.fill(endpoint)
        for persona in ("admin", "anonymous"):
            client, good = persona_client(index, persona)
            for label, token in (("no token", None), ("a wrong token", good[::-1])):
                before = snapshot(index)
                data = {} if token is None else {"csrf_token": token}
                r = client.request(endpoint.method, path, data=data, follow_redirects=False)
                where = f"{endpoint} as {persona} with {label}: {r.status_code} {r.text[:100]!r}"
                if r.status_code != 403:
                    failures.append(where)
                if snapshot(index) != before:
                    failures.append(f"{where}: the refused request changed the database")
    assert not failures, "\n".join(failures)
