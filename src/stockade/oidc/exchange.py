"""The token exchange: a CI job's OIDC token (a JWT) for a 15-minute upload token.

Checks, in order: the issuer is one this index trusts (a provider's issuer setting, or an issuer
an administrator registered for a generic publisher); the signature verifies with the issuer's
published key (RS256/ES256 only); audience, expiry, not-before and issued-at hold (30 s
leeway); the JWT id was never exchanged before; the claims match exactly one publisher (or one
pending publisher, whose first exchange creates the project).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.config import Settings
from stockade.db import Database
from stockade.db.base import utcnow
from stockade.events.services import Origin, record
from stockade.index.models import Project
from stockade.index.projects import create_project
from stockade.oidc.claims import match_claims
from stockade.oidc.errors import ExchangeError
from stockade.oidc.keys import ALGORITHMS, KeyFetchError, KeyStore
from stockade.oidc.models import PendingPublisher, Publisher, UsedJwtId
from stockade.oidc.publishers import describe
from stockade.oidc.services import (
    MintedToken,
    mint,
    pending_2fa_refusal,
    pending_name_refusal,
)
from stockade.tokens.models import ApiToken

__all__ = ["LEEWAY", "audience_for", "exchange", "issuer_providers"]

LEEWAY = 30  # seconds of clock skew tolerated on exp, nbf and iat

# Claims kept in the mint event: who the job was (never the whole token).
_RECORDED_CLAIMS = (
    "sub",
    "repository",
    "repository_owner",
    "repository_owner_id",
    "job_workflow_ref",
    "ref",
    "sha",
    "environment",
    "event_name",
    "run_id",
    "project_path",
    "ci_config_ref_uri",
    "pipeline_id",
    "email",
)


def audience_for(settings: Settings, base_url: str) -> str:
    """The audience CI jobs request tokens for: the setting, else this index's host name.

    ``base_url`` must be the configured one (``AppContext.link_base``), never one taken from a
    request's Host header: the audience is what stops a token minted for another service from
    being replayed here, so a client must not be able to choose it.
    """
    if settings.oidc_audience:
        return settings.oidc_audience
    host = base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return host or "stockade"


def _norm(url: str) -> str:
    return url.rstrip("/")


def issuer_providers(session: Session, settings: Settings, issuer: str) -> list[str]:
    """The providers whose tokens come from ``issuer`` (several when settings share a URL)."""
    providers = [
        name
        for name, url in (
            ("github", settings.oidc_github_issuer),
            ("gitlab", settings.oidc_gitlab_issuer),
            ("google", settings.oidc_google_issuer),
        )
        if url and _norm(url) == _norm(issuer)
    ]
    generic = select(func.count()).where(Publisher.issuer_url == _norm(issuer))
    pending = select(func.count()).where(PendingPublisher.issuer_url == _norm(issuer))
    if session.scalar(generic) or session.scalar(pending):
        providers.append("oidc")
    return providers


def _generic_audiences(session: Session, issuer: str) -> set[str]:
    rows = session.scalars(select(Publisher.audience).where(Publisher.issuer_url == issuer))
    pending = session.scalars(
        select(PendingPublisher.audience).where(PendingPublisher.issuer_url == issuer)
    )
    return {a for a in [*rows, *pending] if a}


@dataclass(frozen=True)
class _Verified:
    issuer: str
    claims: dict[str, Any]
    providers: list[str]


def _verify(db: Database, settings: Settings, keys: KeyStore, raw: str, audience: str) -> _Verified:
    import jwt  # imported when first needed: PyJWT loads cryptography

    try:
        header = jwt.get_unverified_header(raw)
        unverified = jwt.decode(raw, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise ExchangeError("invalid-payload", f"malformed token: {exc}") from exc
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise ExchangeError("invalid-payload", "the token has no issuer (iss)")
    issuer = _norm(issuer)
    with db.read() as session:
        providers = issuer_providers(session, settings, issuer)
        audiences = {audience} if set(providers) - {"oidc"} else set()
        if "oidc" in providers:
            audiences |= _generic_audiences(session, issuer)
    if not providers:
        raise ExchangeError("invalid-payload", "unknown trusted publishing issuer")
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise ExchangeError(
            "invalid-token", f"unsupported signing algorithm {alg!r} (use RS256 or ES256)"
        )
    try:
        key = keys.key(issuer, header.get("kid"))
    except KeyFetchError as exc:
        raise ExchangeError("invalid-token", f"could not verify the token: {exc}") from exc
    if key.algorithm_name != alg:
        raise ExchangeError("invalid-token", "the token's algorithm does not match its key")
    try:
        claims: dict[str, Any] = jwt.decode(
            raw,
            key=key,
            algorithms=[alg],
            audience=sorted(audiences),
            issuer=[issuer, issuer + "/"],
            leeway=LEEWAY,
            options={"require": ["iss", "aud", "exp", "iat"], "strict_aud": False},
        )
    except jwt.InvalidAudienceError as exc:
        raise ExchangeError(
            "invalid-token", f"the token's audience is not {' or '.join(sorted(audiences))}"
        ) from exc
    except jwt.ExpiredSignatureError as exc:
        raise ExchangeError("invalid-token", "the token has expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise ExchangeError("invalid-token", "the token is not valid yet") from exc
    except jwt.PyJWTError as exc:
        raise ExchangeError("invalid-token", f"token verification failed: {exc}") from exc
    if "jti" not in claims and set(providers) & {"github", "gitlab"}:
        raise ExchangeError("invalid-token", "the token has no JWT id (jti)")
    return _Verified(issuer, claims, providers)


def _candidates(
    session: Session, model: type[Publisher] | type[PendingPublisher], v: _Verified
) -> list[Any]:
    """Rows that could be meant by the token (same repository, account, issuer): narrows the
    search and lets the error say how the nearest publisher differs."""
    claims = v.claims
    found: list[Any] = []
    for provider in v.providers:
        query = select(model).where(model.provider == provider)
        if provider == "github":
            owner, _, repo = str(claims.get("repository", "")).partition("/")
            query = query.where(
                func.lower(model.owner) == owner.lower(),
                func.lower(model.repository) == repo.lower(),
            )
        elif provider == "gitlab":
            namespace, _, project = str(claims.get("project_path", "")).rpartition("/")
            query = query.where(
                func.lower(model.owner) == namespace.lower(),
                func.lower(model.repository) == project.lower(),
            )
        elif provider == "google":
            query = query.where(func.lower(model.email) == str(claims.get("email", "")).lower())
        else:
            query = query.where(model.issuer_url == v.issuer)
        if model is PendingPublisher:
            query = query.where(PendingPublisher.expires_at > utcnow())
        else:
            # A deleted project's publishers match nothing: its CI jobs may not re-create it.
            live = select(Project.id).where(Project.deletion_id.is_(None))
            query = query.where(Publisher.project_id.in_(live))
        found.extend(session.scalars(query.order_by(model.id)))
    return found


def _pick(rows: list[Any], v: _Verified, settings: Settings) -> tuple[list[Any], list[str]]:
    matched, reasons = [], []
    for row in rows:
        why = match_claims(row, v.claims, gitlab_issuer=settings.oidc_gitlab_issuer)
        if why is None:
            matched.append(row)
        else:
            reasons.append(why)
    # A publisher bound to an environment is more specific than one that is not.
    specific = [row for row in matched if row.environment]
    return (specific or matched), reasons


def _no_publisher(v: _Verified, reasons: list[str]) -> ExchangeError:
    if reasons:
        detail = reasons[0]
    elif "github" in v.providers:
        detail = f"no publisher is registered for the repository {v.claims.get('repository')!r}"
    elif "gitlab" in v.providers:
        detail = f"no publisher is registered for the project {v.claims.get('project_path')!r}"
    elif "google" in v.providers:
        detail = f"no publisher is registered for the account {v.claims.get('email')!r}"
    else:
        detail = "no publisher's claim rules match the token"
    return ExchangeError(
        "invalid-publisher", f"valid token, but no corresponding publisher: {detail}"
    )


def _use_jti(session: Session, v: _Verified) -> None:
    now = utcnow()
    # Housekeeping on the way: JWT ids of expired tokens, and lapsed upload tokens, are of no
    # use any more.
    session.execute(delete(UsedJwtId).where(UsedJwtId.expires_at < now - dt.timedelta(minutes=5)))
    session.execute(
        delete(ApiToken).where(
            ApiToken.publisher_id.is_not(None), ApiToken.expires_at < now - dt.timedelta(days=1)
        )
    )
    jti = v.claims.get("jti")
    if jti is None:
        return
    used = session.scalar(
        select(UsedJwtId.id).where(UsedJwtId.issuer == v.issuer, UsedJwtId.jti == str(jti))
    )
    if used is not None:
        raise ExchangeError("invalid-token", "the token has already been used (replayed jti)")
    expires = dt.datetime.fromtimestamp(int(v.claims["exp"]) + LEEWAY, dt.UTC)
    session.add(UsedJwtId(issuer=v.issuer, jti=str(jti)[:255], expires_at=expires))
    session.flush()


def _reify(
    session: Session, settings: Settings, pending: PendingPublisher, origin: Origin
) -> Publisher:
    """The first exchange of a pending publisher: create its project, owned by the user who
    registered it, and turn the pending entry into the project's publisher."""
    user = session.get(User, pending.user_id)
    if user is None or not user.is_active:
        raise ExchangeError(
            "invalid-pending-publisher", "the user who registered this publisher is disabled"
        )
    refusal = pending_name_refusal(
        session, settings, pending.project_name, user.id
    ) or pending_2fa_refusal(session, settings, user, pending.project_name)
    if refusal is not None:
        raise ExchangeError("invalid-pending-publisher", refusal)
    project = create_project(
        session, pending.project_name, user_id=user.id, username=user.username, origin=origin
    )
    columns = [
        "provider",
        "identity",
        "owner",
        "owner_id",
        "repository",
        "workflow",
        "environment",
        "email",
        "subject",
        "issuer_url",
        "audience",
        "claims",
    ]
    publisher = Publisher(
        project_id=project.id,
        added_by_id=user.id,
        **{name: getattr(pending, name) for name in columns},
    )
    session.add(publisher)
    session.flush()
    record(
        session,
        "publisher:add",
        origin=origin,
        actor_id=None,
        user_id=user.id,
        project_id=project.id,
        publisher_id=publisher.id,
        provider=publisher.provider,
        publisher=describe(publisher),
        pending_publisher_id=pending.id,
    )
    # The name is taken now: every pending publisher for it is void.
    session.execute(
        delete(PendingPublisher).where(
            PendingPublisher.normalized_name == canonicalize_name(pending.project_name)
        )
    )
    return publisher


def _exchange_once(
    session: Session, settings: Settings, v: _Verified, origin: Origin
) -> MintedToken:
    _use_jti(session, v)
    rows, reasons = _pick(_candidates(session, Publisher, v), v, settings)
    if not rows:
        pending, pending_reasons = _pick(_candidates(session, PendingPublisher, v), v, settings)
        if not pending:
            raise _no_publisher(v, reasons + pending_reasons)
        names = sorted({row.normalized_name for row in pending})
        if len(names) > 1:
            raise ExchangeError(
                "invalid-pending-publisher",
                f"the token matches pending publishers of several projects: {', '.join(names)}",
            )
        rows = [_reify(session, settings, pending[0], origin)]
    if len(rows) > 1:
        projects = sorted({row.project_id for row in rows})
        raise ExchangeError(
            "invalid-publisher",
            f"the token matches {len(rows)} trusted publishers (of {len(projects)} projects); "
            "an upload token is for one project: give each project its own workflow or "
            "environment",
        )
    claims = {k: v.claims[k] for k in _RECORDED_CLAIMS if k in v.claims}
    return mint(session, settings, rows[0], origin=origin, claims=claims)


def exchange(
    db: Database,
    settings: Settings,
    keys: KeyStore,
    raw: str,
    *,
    audience: str,
    origin: Origin,
) -> MintedToken:
    """Exchange a CI job's OIDC token for an upload token. Raises ExchangeError."""
    verified = _verify(db, settings, keys, raw, audience)
    for _attempt in range(3):
        try:
            with db.write() as session:
                return _exchange_once(session, settings, verified, origin)
        except IntegrityError:
            # A concurrent exchange won a race (the same jti, or the pending project's name);
            # the next attempt sees its outcome.
            continue
    raise ExchangeError("invalid-token", "the exchange conflicted with a concurrent one")
