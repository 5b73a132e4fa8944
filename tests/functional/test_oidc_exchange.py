"""The token exchange (``/_/oidc/…``) against a real OIDC issuer on loopback: what is minted,
and every reason a token is refused, each with PyPI's 422 body."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from stockade.config import Settings, replace
from stockade.db.base import utcnow
from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.index.models import File, Project, Role
from stockade.oidc import services
from stockade.oidc.models import PendingPublisher, Publisher, UsedJwtId
from stockade.oidc.publishers import (
    GitHubPublisherSpec,
    GitLabPublisherSpec,
    GooglePublisherSpec,
    OidcPublisherSpec,
)
from stockade.web.app import create_app
from support.builders import wheel_bytes, wheel_name
from support.index import Index
from support.oidc import Issuer, github_claims, serve_issuer

AUDIENCE = "testserver"  # no oidc_audience setting: the host the index is reached at
NAME = "quillwort"
SPEC = GitHubPublisherSpec(
    owner="octo", owner_id="4242", repository="tools", workflow="release.yml"
)


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with serve_issuer() as running:
        yield running


@pytest.fixture
def oidc(settings: Settings, issuer: Issuer) -> Iterator[Index]:
    """An index trusting the loopback issuer for GitHub, GitLab and Google tokens."""
    trusting = replace(
        settings,
        oidc_github_issuer=issuer.url,
        oidc_gitlab_issuer="https://gitlab.example.test",
        oidc_google_issuer="https://accounts.example.test",
    )
    with Index.open(trusting) as index:
        yield index


def _project(index: Index, name: str = NAME) -> Project:
    response = index.upload(wheel_bytes(name, "0.1"), wheel_name(name, "0.1"))
    assert response.status_code == 200, response.text
    with index.db.read() as session:
        project = session.scalar(select(Project).where(Project.normalized_name == name))
        assert project is not None
        return project


def _publish(index: Index, spec: Any = SPEC, name: str = NAME) -> int:
    project = _project(index, name)
    with index.db.write() as session:
        return services.add_publisher(session, project, spec, origin=CLI, actor_id=None)


def _mint(index: Index, token: str) -> Any:
    return index.client.post("/_/oidc/mint-token", json={"token": token})


def _refused(response: Any, code: str, words: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["message"] == "Token request failed"
    assert body["errors"][0]["code"] == code
    assert words in body["errors"][0]["description"], body


def test_audience(oidc: Index) -> None:
    assert oidc.client.get("/_/oidc/audience").json() == {"audience": AUDIENCE}
    configured = replace(oidc.settings, oidc_audience="stockade-ci")
    with Index.open(configured) as index:
        assert index.client.get("/_/oidc/audience").json() == {"audience": "stockade-ci"}


def test_a_github_job_gets_a_one_project_token_and_burns_it(oidc: Index, issuer: Issuer) -> None:
    publisher_id = _publish(oidc)
    before = time.time()
    response = _mint(oidc, issuer.token(github_claims(AUDIENCE)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["token"].startswith("stockade-")
    assert before + 14 * 60 < body["expires"] <= time.time() + 15 * 60 + 1

    uploaded = oidc.upload(wheel_bytes(NAME, "0.2"), wheel_name(NAME, "0.2"), token=body["token"])
    assert uploaded.status_code == 200, uploaded.text

    burned = oidc.client.post("/_/oidc/burn-token", json={"token": body["token"]})
    assert burned.status_code == 200 and burned.json() == {"success": True}
    again = oidc.upload(wheel_bytes(NAME, "0.3"), wheel_name(NAME, "0.3"), token=body["token"])
    assert again.status_code == 403 and "revoked" in again.text
    # A user's own token is never burned through this endpoint.
    user_token = oidc.token()
    _refused(
        oidc.client.post("/_/oidc/burn-token", json={"token": user_token}),
        "invalid-token",
        "not a live trusted-publisher upload token",
    )

    with oidc.db.read() as session:
        file = session.scalar(select(File).where(File.filename == wheel_name(NAME, "0.2")))
        assert file is not None and file.publisher_id == publisher_id
        tags = list(session.scalars(select(Event.tag).where(Event.project_id == file.project_id)))
        assert {"publisher:add", "publisher:token:mint", "publisher:token:burn"} <= set(tags)
        mint = session.scalar(select(Event).where(Event.tag == "publisher:token:mint"))
        assert mint is not None and mint.actor_id is None
        assert mint.details["claims"]["repository"] == "octo/tools"
        assert mint.details["publisher"] == "GitHub octo/tools (release.yml)"


def test_an_ec_key_and_key_rotation(oidc: Index, issuer: Issuer) -> None:
    _publish(oidc)
    assert _mint(oidc, issuer.token(github_claims(AUDIENCE), kind="ec")).status_code == 200
    assert issuer.jwks_requests == 1
    assert _mint(oidc, issuer.token(github_claims(AUDIENCE))).status_code == 200
    assert issuer.jwks_requests == 1  # cached
    # A key the issuer publishes only now: one refetch is allowed after the refetch interval.
    rotated = issuer.add_key("rsa")
    keys = oidc.app.fastapi.state.oidc_keys
    keys._entries[issuer.url].fetched_at -= 60  # the last fetch was a minute ago
    assert _mint(oidc, issuer.token(github_claims(AUDIENCE), kid=rotated)).status_code == 200
    assert issuer.jwks_requests == 2
    # Made-up key ids do not make the index hammer the issuer.
    secret = issuer.add_key("rsa", publish=False)
    for _ in range(3):
        _refused(
            _mint(oidc, issuer.token(github_claims(AUDIENCE), kid=secret)),
            "invalid-token",
            "no signing key",
        )
    assert issuer.jwks_requests == 2


def _expired(issuer: Issuer) -> str:
    now = int(time.time())
    claims = {**github_claims(AUDIENCE), "iat": now - 900, "nbf": now - 900, "exp": now - 600}
    return issuer.token(claims)


def _future(issuer: Issuer) -> str:
    now = int(time.time())
    claims = {**github_claims(AUDIENCE), "iat": now + 600, "nbf": now + 600, "exp": now + 900}
    return issuer.token(claims)


def _hs256(issuer: Issuer) -> str:
    # A key confusion attempt: HMAC "signed" with the issuer's public key.
    kid = issuer.kid("rsa")
    return jwt.encode(
        {
            **github_claims(AUDIENCE),
            "iss": issuer.url,
            "exp": int(time.time()) + 60,
            "iat": int(time.time()),
            "jti": "x",
        },
        "0123456789abcdef0123456789abcdef",
        algorithm="HS256",
        headers={"kid": kid},
    )


def _forged(issuer: Issuer) -> str:
    # Signed with a key the issuer never published, under the kid of one it did.
    now = int(time.time())
    claims = {**github_claims(AUDIENCE), "iss": issuer.url, "iat": now, "exp": now + 60}
    private = issuer.keys[issuer.add_key("rsa", publish=False)][1]
    return jwt.encode(
        {**claims, "jti": "forged"}, private, algorithm="RS256", headers={"kid": issuer.kid("rsa")}
    )


CASES: list[tuple[str, Any, str, str]] = [
    (
        "wrong audience",
        lambda i: i.token(github_claims("pypi")),
        "invalid-token",
        "audience is not testserver",
    ),
    ("expired", _expired, "invalid-token", "expired"),
    ("not yet valid", _future, "invalid-token", "not"),
    (
        "wrong repository",
        lambda i: i.token(github_claims(AUDIENCE, repository="evil")),
        "invalid-publisher",
        "no publisher is registered for the repository 'octo/evil'",
    ),
    (
        "wrong owner id",
        lambda i: i.token(github_claims(AUDIENCE, owner_id="6666")),
        "invalid-publisher",
        "repository owner id '6666' does not match",
    ),
    (
        "wrong workflow",
        lambda i: i.token(github_claims(AUDIENCE, workflow="evil.yml")),
        "invalid-publisher",
        "does not name the workflow octo/tools/.github/workflows/release.yml",
    ),
    (
        "pull_request_target",
        lambda i: i.token(github_claims(AUDIENCE, event_name="pull_request_target")),
        "invalid-publisher",
        "pull_request_target",
    ),
    (
        "unknown issuer",
        lambda i: i.token({**github_claims(AUDIENCE), "iss": "https://evil.test"}),
        "invalid-payload",
        "unknown trusted publishing issuer",
    ),
    ("HMAC algorithm", _hs256, "invalid-token", "unsupported signing algorithm 'HS256'"),
    ("forged signature", _forged, "invalid-token", "Signature verification failed"),
    (
        "no jti",
        lambda i: i.token({**github_claims(AUDIENCE), "jti": None}),
        "invalid-token",
        "no JWT id",
    ),
    ("not a JWT", lambda i: "not-a-jwt", "invalid-payload", "malformed token"),
]


def test_refused_tokens(oidc: Index, issuer: Issuer) -> None:
    _publish(oidc)
    for case, make, code, words in CASES:
        response = _mint(oidc, make(issuer))
        assert response.status_code == 422, (case, response.text)
        error = response.json()["errors"][0]
        assert (error["code"], words in error["description"]) == (code, True), (case, error)
    with oidc.db.read() as session:
        assert session.scalar(select(Event.id).where(Event.tag == "publisher:token:mint")) is None


def test_a_token_is_exchanged_once(oidc: Index, issuer: Issuer) -> None:
    _publish(oidc)
    token = issuer.token(github_claims(AUDIENCE))
    assert _mint(oidc, token).status_code == 200
    _refused(_mint(oidc, token), "invalid-token", "already been used")
    with oidc.db.read() as session:
        assert len(session.scalars(select(UsedJwtId)).all()) == 1


def test_environment_is_matched_case_insensitively(oidc: Index, issuer: Issuer) -> None:
    spec = GitHubPublisherSpec(
        owner="Octo",
        owner_id="4242",
        repository="Tools",
        workflow="release.yml",
        environment="PyPI",
    )
    _publish(oidc, spec)
    ok = _mint(oidc, issuer.token(github_claims(AUDIENCE, environment="pypi")))
    assert ok.status_code == 200, ok.text
    _refused(
        _mint(oidc, issuer.token(github_claims(AUDIENCE, environment="staging"))),
        "invalid-publisher",
        "environment 'staging' does not match",
    )
    _refused(
        _mint(oidc, issuer.token(github_claims(AUDIENCE))),
        "invalid-publisher",
        "environment '' does not match",
    )


def test_bad_payloads(oidc: Index) -> None:
    _refused(
        oidc.client.post("/_/oidc/mint-token", content=b"{nope"), "invalid-payload", "not JSON"
    )
    _refused(oidc.client.post("/_/oidc/mint-token", json={}), "invalid-payload", "no token")
    _refused(oidc.client.post("/_/oidc/burn-token", json=[]), "invalid-payload", "no token")
    huge = {"token": "x" * 70_000}
    _refused(oidc.client.post("/_/oidc/mint-token", json=huge), "invalid-payload", "too large")


def test_minting_is_rate_limited_per_address(oidc: Index) -> None:
    for _ in range(60):
        assert oidc.client.post("/_/oidc/mint-token", json={}).status_code == 422
    limited = oidc.client.post("/_/oidc/mint-token", json={})
    assert limited.status_code == 429
    assert limited.json()["errors"][0]["code"] == "rate-limit-exceeded"
    assert int(limited.headers["Retry-After"]) > 0


def test_a_pending_publisher_creates_its_project(oidc: Index, issuer: Issuer) -> None:
    bob = oidc.user("bob")
    with oidc.db.write() as session:
        services.add_pending_publisher(session, oidc.settings, bob, "Fernbrake", SPEC, origin=CLI)
    response = _mint(oidc, issuer.token(github_claims(AUDIENCE)))
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    uploaded = oidc.upload(
        wheel_bytes("fernbrake", "1.0"), wheel_name("fernbrake", "1.0"), token=token
    )
    assert uploaded.status_code == 200, uploaded.text
    with oidc.db.read() as session:
        project = session.scalar(select(Project).where(Project.normalized_name == "fernbrake"))
        assert project is not None and project.name == "Fernbrake"
        owners = session.scalars(select(Role.user_id).where(Role.project_id == project.id)).all()
        assert owners == [bob.id]
        publisher = session.scalar(select(Publisher).where(Publisher.project_id == project.id))
        assert publisher is not None and publisher.added_by_id == bob.id
        assert session.scalar(select(PendingPublisher.id)) is None
        tags = set(session.scalars(select(Event.tag).where(Event.project_id == project.id)))
        assert {"project:create", "publisher:add", "publisher:token:mint", "file:upload"} <= tags
    # The next job finds the project's publisher.
    assert _mint(oidc, issuer.token(github_claims(AUDIENCE))).status_code == 200


def test_pending_publishers_refuse_taken_names_and_lapse(oidc: Index, issuer: Issuer) -> None:
    _project(oidc)
    bob = oidc.user("bob")
    with oidc.db.write() as session:
        with pytest.raises(services.PublisherError, match="already exists"):
            services.add_pending_publisher(session, oidc.settings, bob, NAME, SPEC, origin=CLI)
        with pytest.raises(services.PublisherError, match="not a valid project name"):
            services.add_pending_publisher(session, oidc.settings, bob, "-x-", SPEC, origin=CLI)
        lapsed = utcnow() - services.PENDING_LIFETIME - dt.timedelta(minutes=1)
        services.add_pending_publisher(
            session, oidc.settings, bob, "Fernbrake", SPEC, origin=CLI, now=lapsed
        )
    _refused(
        _mint(oidc, issuer.token(github_claims(AUDIENCE))),
        "invalid-publisher",
        "no publisher is registered for the repository 'octo/tools'",
    )


def test_gitlab_google_and_generic_publishers(settings: Settings) -> None:
    with serve_issuer() as gitlab, serve_issuer() as google, serve_issuer() as ci:
        trusting = replace(
            settings,
            oidc_gitlab_issuer=gitlab.url,
            oidc_google_issuer=google.url,
        )
        with Index.open(trusting) as index:
            host = gitlab.url.split("://")[1]
            _publish(index, GitLabPublisherSpec(namespace="grp/sub", project="lib"), NAME)
            _publish(
                index, GooglePublisherSpec(email="ci@proj.iam.gserviceaccount.com"), "marrowfat"
            )
            _publish(
                index,
                OidcPublisherSpec(issuer_url=ci.url, audience="forge", claims={"repo": "a/b"}),
                "sedgewick",
            )
            gitlab_claims = {
                "aud": AUDIENCE,
                "sub": "project_path:grp/sub/lib:ref_type:branch:ref:main",
                "project_path": "grp/sub/lib",
                "namespace_path": "grp/sub",
                "ci_config_ref_uri": f"{host}/grp/sub/lib//.gitlab-ci.yml@refs/heads/main",
            }
            assert _mint(index, gitlab.token(gitlab_claims)).status_code == 200
            wrong = {**gitlab_claims, "ci_config_ref_uri": f"{host}/grp/sub/lib//evil.yml@x"}
            _refused(_mint(index, gitlab.token(wrong)), "invalid-publisher", "ci_config_ref_uri")

            google_claims = {
                "aud": AUDIENCE,
                "sub": "1234",
                "email": "ci@proj.iam.gserviceaccount.com",
                "email_verified": True,
            }
            assert _mint(index, google.token(google_claims, kind="ec")).status_code == 200
            _refused(
                _mint(index, google.token({**google_claims, "email_verified": False})),
                "invalid-publisher",
                "not verified",
            )

            assert _mint(index, ci.token({"aud": "forge", "repo": "a/b"})).status_code == 200
            _refused(
                _mint(index, ci.token({"aud": "forge", "repo": "a/c"})),
                "invalid-publisher",
                "claim 'repo' does not match",
            )
            _refused(
                _mint(index, ci.token({"aud": AUDIENCE, "repo": "a/b"})),
                "invalid-token",
                "audience is not forge",
            )


def test_a_deleted_projects_publishers_match_nothing_and_go_with_the_name(
    oidc: Index, issuer: Issuer
) -> None:
    from stockade.index.models import RoleInvitation
    from stockade.index.roles import invite
    from stockade.lifecycle import services as lifecycle
    from stockade.tokens.models import ApiToken

    publisher_id = _publish(oidc)
    alice, dave = oidc.user("alice"), oidc.user("dave")
    with oidc.db.write() as session:
        early = services.mint_upload_token(session, oidc.settings, publisher_id)
        project = lifecycle.find_project(session, NAME)
        assert project is not None
        invite(
            session, actor=alice, project=project, username="dave", role_name="Owner", origin=CLI
        )
        lifecycle.delete_project(session, project, origin=CLI, actor_id=None, admin=True)
    # The deleted project's CI jobs get no token (and the operator cannot mint one either).
    _refused(
        _mint(oidc, issuer.token(github_claims(AUDIENCE))),
        "invalid-publisher",
        "no publisher is registered for the repository 'octo/tools'",
    )
    with oidc.db.write() as session, pytest.raises(services.PublisherError, match="deleted"):
        services.mint_upload_token(session, oidc.settings, publisher_id)
    # Deleting the project revoked the pending invitation.
    with oidc.db.read() as session:
        statuses = session.scalars(select(RoleInvitation.status)).all()
        assert statuses == ["revoked"]

    # Once the reservation is over, carol takes the name: alice's publisher goes with it.
    with Index.open(replace(oidc.settings, deleted_name_reserved_days=0)) as later:
        carol = later.token("carol")
        taken = later.upload(wheel_bytes(NAME, "1.0"), wheel_name(NAME, "1.0"), token=carol)
        assert taken.status_code == 200, taken.text
        _refused(
            later.client.post(
                "/_/oidc/mint-token", json={"token": issuer.token(github_claims(AUDIENCE))}
            ),
            "invalid-publisher",
            "no publisher is registered",
        )
        stale = later.upload(wheel_bytes(NAME, "1.1"), wheel_name(NAME, "1.1"), token=early)
        assert stale.status_code == 403, stale.text
    with oidc.db.read() as session:
        assert session.scalar(select(Publisher.id)) is None
        assert session.scalar(select(ApiToken.id).where(ApiToken.publisher_id.is_not(None))) is None
        tags = list(session.scalars(select(Event.tag).order_by(Event.id)))
        assert "publisher:remove" in tags[tags.index("project:delete") :]
        # The old owners' publishers go before the name is handed over and re-created.
        taken_over = tags[tags.index("project:delete") :]
        assert taken_over[taken_over.index("publisher:remove") :][:3] == [
            "publisher:remove",
            "project:role:add",
            "project:create",
        ]
        assert tags.count("project:role:revoke-invite") == 1
        assert dave.id not in session.scalars(select(Role.user_id)).all()


def test_a_pending_publisher_needs_2fa_when_every_account_must_have_it(
    settings: Settings, issuer: Issuer
) -> None:
    lax = replace(settings, oidc_github_issuer=issuer.url, two_factor_required="none")
    with Index.open(lax) as index:
        bob = index.user("bob")
        with index.db.write() as session:
            services.add_pending_publisher(
                session, index.settings, bob, "Fernbrake", SPEC, origin=CLI
            )
    # The policy is tightened while the pending publisher waits.
    with Index.open(replace(lax, two_factor_required="all")) as strict:
        with (
            strict.db.write() as session,
            pytest.raises(services.PublisherError, match="must enable two-factor authentication"),
        ):
            services.add_pending_publisher(
                session, strict.settings, bob, "Quillbrake", SPEC, origin=CLI
            )
        _refused(
            strict.client.post(
                "/_/oidc/mint-token", json={"token": issuer.token(github_claims(AUDIENCE))}
            ),
            "invalid-pending-publisher",
            "must enable two-factor authentication",
        )
        with strict.db.read() as session:
            assert (
                session.scalar(select(Project.id).where(Project.normalized_name == "fernbrake"))
                is None
            )


def test_the_audience_never_comes_from_the_host_header(oidc: Index, issuer: Issuer) -> None:
    # A token a workflow obtained for another service ("pypi") must not be accepted by sending
    # that service's name as the Host header: the audience is configuration (oidc_audience or
    # base_url), or the loopback name the request used, never a name the client picks.
    _publish(oidc)
    app = create_app(replace(oidc.settings, base_url=""))
    with TestClient(app, base_url="http://localhost") as client:
        assert client.get("/_/oidc/audience").json() == {"audience": "localhost"}
        response = client.post(
            "/_/oidc/mint-token",
            json={"token": issuer.token(github_claims("pypi"))},
            headers={"Host": "pypi"},
        )
        assert response.status_code == 421 and "Set base_url" in response.text
        assert client.get("/_/oidc/audience", headers={"Host": "pypi"}).status_code == 421
    app.context.db.dispose()
    with oidc.db.read() as session:
        assert session.scalar(select(Event.id).where(Event.tag == "publisher:token:mint")) is None
