"""What each kind of trusted publisher is: its fields, how it is described, and the identity its
attestations carry.

A publisher spec is a frozen value (checked on creation); ``identity`` is its canonical form
(the unique key per project). Whether a verified token's claims come from the CI job a
publisher names is :func:`stockade.oidc.claims.match_claims`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import urlsplit

from stockade.oidc.models import PendingPublisher, Publisher

if TYPE_CHECKING:  # loading pypi-attestations loads sigstore (~1 s, ~40 MB): only when used
    import pypi_attestations

__all__ = [
    "FIELDS",
    "GitHubPublisherSpec",
    "GitLabPublisherSpec",
    "GooglePublisherSpec",
    "OidcPublisherSpec",
    "PublisherError",
    "PublisherSpec",
    "attestation_identity",
    "build_spec",
    "describe",
    "parse_claim_rules",
    "spec_of",
]


class PublisherError(ValueError):
    """A publisher's fields are invalid; the message is safe to show."""


_GITHUB_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_GITHUB_REPO = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_WORKFLOW = re.compile(r"^[^/\\\x00]+\.ya?ml$")
_GITLAB_PATH = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.-]*)*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise PublisherError(message)


@dataclass(frozen=True)
class GitHubPublisherSpec:
    """A GitHub Actions workflow: ``owner/repository/.github/workflows/<workflow>``.

    ``owner_id`` is the owner's immutable numeric id (the ``repository_owner_id`` claim): an
    organization deleted and re-created under the same name by someone else has another id.
    """

    provider: ClassVar[str] = "github"
    owner: str
    owner_id: str
    repository: str
    workflow: str
    environment: str = ""

    def __post_init__(self) -> None:
        _require(bool(_GITHUB_NAME.match(self.owner)), f"Invalid GitHub owner {self.owner!r}.")
        _require(self.owner_id.isdigit(), "The GitHub owner id must be a number.")
        _require(
            bool(_GITHUB_REPO.match(self.repository)) and self.repository not in {".", ".."},
            f"Invalid GitHub repository name {self.repository!r}.",
        )
        _require(
            bool(_WORKFLOW.match(self.workflow)),
            "The workflow must be a file name ending in .yml or .yaml, without a path.",
        )
        _require(len(self.environment) <= 255, "The environment name is too long.")

    @property
    def identity(self) -> str:
        # GitHub compares owner, repository and environment names case-insensitively.
        return (
            f"github:{self.owner_id}:{self.owner.lower()}/{self.repository.lower()}:"
            f"{self.workflow}:{self.environment.lower()}"
        )

    def columns(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "owner_id": self.owner_id,
            "repository": self.repository,
            "workflow": self.workflow,
            "environment": self.environment or None,
        }

    def describe(self) -> str:
        env = f", environment {self.environment}" if self.environment else ""
        return f"GitHub {self.owner}/{self.repository} ({self.workflow}{env})"


@dataclass(frozen=True)
class GitLabPublisherSpec:
    """A GitLab CI pipeline: ``namespace/project``, its CI config file, an environment."""

    provider: ClassVar[str] = "gitlab"
    namespace: str
    project: str
    workflow_filepath: str = ".gitlab-ci.yml"
    environment: str = ""

    def __post_init__(self) -> None:
        _require(
            bool(_GITLAB_PATH.match(self.namespace)),
            f"Invalid GitLab namespace {self.namespace!r}.",
        )
        _require(
            bool(_GITLAB_PATH.match(self.project)) and "/" not in self.project,
            f"Invalid GitLab project {self.project!r}.",
        )
        path = self.workflow_filepath
        _require(
            bool(path)
            and not path.startswith("/")
            and ".." not in path.split("/")
            and (path.endswith(".yml") or path.endswith(".yaml")),
            "The CI config path must be a relative path ending in .yml or .yaml.",
        )
        _require(len(self.environment) <= 255, "The environment name is too long.")

    @property
    def identity(self) -> str:
        return (
            f"gitlab:{self.namespace.lower()}/{self.project.lower()}:"
            f"{self.workflow_filepath}:{self.environment}"
        )

    def columns(self) -> dict[str, Any]:
        return {
            "owner": self.namespace,
            "repository": self.project,
            "workflow": self.workflow_filepath,
            "environment": self.environment or None,
        }

    def describe(self) -> str:
        env = f", environment {self.environment}" if self.environment else ""
        return f"GitLab {self.namespace}/{self.project} ({self.workflow_filepath}{env})"


@dataclass(frozen=True)
class GooglePublisherSpec:
    """A Google Cloud service account (verified ``email`` claim), optionally one subject."""

    provider: ClassVar[str] = "google"
    email: str
    subject: str = ""

    def __post_init__(self) -> None:
        _require(bool(_EMAIL.match(self.email)), f"Invalid service account email {self.email!r}.")
        _require(len(self.subject) <= 512, "The subject is too long.")

    @property
    def identity(self) -> str:
        return f"google:{self.email.lower()}:{self.subject}"

    def columns(self) -> dict[str, Any]:
        return {"email": self.email, "subject": self.subject or None}

    def describe(self) -> str:
        sub = f", subject {self.subject}" if self.subject else ""
        return f"Google {self.email}{sub}"


@dataclass(frozen=True)
class OidcPublisherSpec:
    """Any OIDC issuer an administrator trusts (self-hosted CI): tokens from ``issuer_url`` for
    ``audience`` whose claims equal every rule in ``claims``."""

    provider: ClassVar[str] = "oidc"
    issuer_url: str
    audience: str
    claims: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parts = urlsplit(self.issuer_url)
        _require(
            parts.scheme in {"https", "http"} and bool(parts.netloc) and not parts.query,
            f"Invalid issuer URL {self.issuer_url!r}.",
        )
        _require(bool(self.audience.strip()), "An audience is required.")
        _require(bool(self.claims), "At least one claim rule is required.")
        _require(
            all(isinstance(v, str) and k for k, v in self.claims.items()),
            "Claim rules map claim names to exact string values.",
        )
        _require(
            not {"iss", "aud", "exp", "nbf", "iat", "jti"} & set(self.claims),
            "Claim rules cannot name the registered claims iss, aud, exp, nbf, iat or jti.",
        )

    @property
    def identity(self) -> str:
        rules = ",".join(f"{k}={v}" for k, v in sorted(self.claims.items()))
        return f"oidc:{self.issuer_url.rstrip('/')}:{self.audience}:{rules}"

    def columns(self) -> dict[str, Any]:
        return {
            "issuer_url": self.issuer_url.rstrip("/"),
            "audience": self.audience,
            "claims": dict(sorted(self.claims.items())),
        }

    def describe(self) -> str:
        rules = ", ".join(f"{k}={v}" for k, v in sorted(self.claims.items()))
        return f"OIDC {self.issuer_url.rstrip('/')} ({rules})"


PublisherSpec = GitHubPublisherSpec | GitLabPublisherSpec | GooglePublisherSpec | OidcPublisherSpec


class _Row(Protocol):
    provider: str
    owner: str | None
    owner_id: str | None
    repository: str | None
    workflow: str | None
    environment: str | None
    email: str | None
    subject: str | None
    issuer_url: str | None
    audience: str | None
    claims: dict[str, str] | None


def spec_of(row: Publisher | PendingPublisher | _Row) -> PublisherSpec:
    """The spec a stored publisher row was made from."""
    if row.provider == "github":
        return GitHubPublisherSpec(
            owner=row.owner or "",
            owner_id=row.owner_id or "",
            repository=row.repository or "",
            workflow=row.workflow or "",
            environment=row.environment or "",
        )
    if row.provider == "gitlab":
        return GitLabPublisherSpec(
            namespace=row.owner or "",
            project=row.repository or "",
            workflow_filepath=row.workflow or "",
            environment=row.environment or "",
        )
    if row.provider == "google":
        return GooglePublisherSpec(email=row.email or "", subject=row.subject or "")
    return OidcPublisherSpec(
        issuer_url=row.issuer_url or "", audience=row.audience or "", claims=row.claims or {}
    )


def describe(row: Publisher | PendingPublisher) -> str:
    """A one-line human description: "GitHub octo/tools (release.yml)"."""
    return spec_of(row).describe()


def attestation_identity(row: Publisher | PendingPublisher) -> pypi_attestations.Publisher | None:
    """The identity attestations by this publisher must carry (pypi-attestations' publisher
    objects); None for generic OIDC publishers, which have no attestation policy."""
    import pypi_attestations  # heavy (sigstore): imported when first needed

    spec = spec_of(row)
    if isinstance(spec, GitHubPublisherSpec):
        return pypi_attestations.GitHubPublisher(
            repository=f"{spec.owner}/{spec.repository}",
            workflow=spec.workflow,
            environment=spec.environment or None,
        )
    if isinstance(spec, GitLabPublisherSpec):
        return pypi_attestations.GitLabPublisher(
            repository=f"{spec.namespace}/{spec.project}",
            workflow_filepath=spec.workflow_filepath,
            environment=spec.environment or None,
        )
    if isinstance(spec, GooglePublisherSpec):
        return pypi_attestations.GooglePublisher(email=spec.email)
    return None


# Form and command-line fields of each provider (name → required).
FIELDS: dict[str, dict[str, bool]] = {
    "github": {
        "owner": True,
        "owner_id": True,
        "repository": True,
        "workflow": True,
        "environment": False,
    },
    "gitlab": {
        "namespace": True,
        "project": True,
        "workflow_filepath": False,
        "environment": False,
    },
    "google": {"email": True, "subject": False},
    "oidc": {"issuer_url": True, "audience": True, "claims": True},
}


def parse_claim_rules(text: str) -> dict[str, str]:
    """Claim rules written one per line (or comma-separated) as ``claim=value``."""
    rules: dict[str, str] = {}
    for item in re.split(r"[\n,]", text):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise PublisherError(f"Claim rule {item.strip()!r} is not claim=value.")
        rules[name.strip()] = value.strip()
    return rules


def build_spec(provider: str, values: Mapping[str, str]) -> PublisherSpec:
    """A publisher spec from text fields (a form, command-line options). Raises
    PublisherError naming the first missing or invalid field."""
    fields = FIELDS.get(provider)
    if fields is None:
        raise PublisherError(f"Unknown provider {provider!r}: use github, gitlab, google or oidc.")
    clean = {name: (values.get(name) or "").strip() for name in fields}
    for name, required in fields.items():
        if required and not clean[name]:
            raise PublisherError(f"The {name.replace('_', ' ')} is required.")
    if provider == "github":
        return GitHubPublisherSpec(**clean)
    if provider == "gitlab":
        clean["workflow_filepath"] = clean["workflow_filepath"] or ".gitlab-ci.yml"
        return GitLabPublisherSpec(**clean)
    if provider == "google":
        return GooglePublisherSpec(**clean)
    return OidcPublisherSpec(
        issuer_url=clean["issuer_url"],
        audience=clean["audience"],
        claims=parse_claim_rules(clean["claims"]),
    )
