"""How a verified OIDC token's claims are matched to a trusted publisher: ``match_claims`` says
whether they come from the CI job the publisher names, or why not.

Each provider has its own rule (GitHub's repository, owner id and workflow refs; GitLab's
project path and CI config; Google's verified service account; a generic issuer's audience and
exact claim rules). The token's signature, issuer and lifetime are checked before, by
:mod:`stockade.oidc.exchange`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from stockade.oidc.models import PendingPublisher, Publisher
from stockade.oidc.publishers import (
    GitHubPublisherSpec,
    GitLabPublisherSpec,
    GooglePublisherSpec,
    OidcPublisherSpec,
    spec_of,
)

__all__ = ["match_claims"]


def _claim(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) else None


def _workflow_ref_matches(ref: str | None, repository: str, workflow: str) -> bool:
    # "<owner>/<repo>/.github/workflows/<file>@<ref>": the path part compared case-insensitively
    # (as GitHub resolves it), the file name exactly.
    if ref is None:
        return False
    path, sep, _rest = ref.partition("@")
    if not sep:
        return False
    prefix = f"{repository}/.github/workflows/"
    return path.lower().startswith(prefix.lower()) and path[len(prefix) :] == workflow


def _match_github(spec: GitHubPublisherSpec, claims: Mapping[str, Any]) -> str | None:
    if _claim(claims, "event_name") == "pull_request_target":
        return "Publishing from a pull_request_target event is not allowed."
    repository = _claim(claims, "repository") or ""
    expected = f"{spec.owner}/{spec.repository}"
    if repository.lower() != expected.lower():
        return f"The token's repository {repository!r} does not match the publisher's."
    owner = _claim(claims, "repository_owner") or ""
    if owner.lower() != spec.owner.lower():
        return f"The token's repository owner {owner!r} does not match the publisher's."
    owner_id = claims.get("repository_owner_id")
    if str(owner_id) != spec.owner_id:
        return (
            f"The token's repository owner id {owner_id!r} does not match the publisher's "
            "(was the owner deleted and re-created?)."
        )
    job_ref = _claim(claims, "job_workflow_ref")
    if not _workflow_ref_matches(job_ref, expected, spec.workflow):
        return (
            f"The token's job_workflow_ref {job_ref!r} does not name the workflow "
            f"{expected}/.github/workflows/{spec.workflow}."
        )
    workflow_ref = _claim(claims, "workflow_ref")
    if workflow_ref is not None and not _workflow_ref_matches(
        workflow_ref, expected, spec.workflow
    ):
        return f"The token's workflow_ref {workflow_ref!r} does not name the publisher's workflow."
    if spec.environment:
        environment = _claim(claims, "environment") or ""
        if environment.lower() != spec.environment.lower():
            return f"The token's environment {environment!r} does not match the publisher's."
    return None


def _match_gitlab(
    spec: GitLabPublisherSpec, claims: Mapping[str, Any], gitlab_host: str
) -> str | None:
    project_path = _claim(claims, "project_path") or ""
    expected = f"{spec.namespace}/{spec.project}"
    if project_path.lower() != expected.lower():
        return f"The token's project_path {project_path!r} does not match the publisher's."
    config = _claim(claims, "ci_config_ref_uri") or ""
    path, sep, _ref = config.partition("@")
    want = f"{gitlab_host}/{expected}//{spec.workflow_filepath}"
    prefix_len = len(gitlab_host) + 1 + len(expected)
    if (
        not sep
        or path[:prefix_len].lower() != want[:prefix_len].lower()
        or path[prefix_len:] != want[prefix_len:]
    ):
        return f"The token's ci_config_ref_uri {config!r} does not name the CI config {want}."
    if spec.environment and _claim(claims, "environment") != spec.environment:
        return "The token's environment does not match the publisher's."
    return None


def _match_google(spec: GooglePublisherSpec, claims: Mapping[str, Any]) -> str | None:
    if claims.get("email_verified") is not True:
        return "The token's email is not verified."
    email = _claim(claims, "email") or ""
    if email.lower() != spec.email.lower():
        return f"The token's email {email!r} does not match the publisher's."
    if spec.subject and _claim(claims, "sub") != spec.subject:
        return "The token's subject does not match the publisher's."
    return None


def _match_oidc(spec: OidcPublisherSpec, claims: Mapping[str, Any]) -> str | None:
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if spec.audience not in audiences:
        return "The token's audience does not match the publisher's."
    for name, value in spec.claims.items():
        if claims.get(name) != value:
            return f"The token's claim {name!r} does not match the publisher's rule."
    return None


def match_claims(
    row: Publisher | PendingPublisher, claims: Mapping[str, Any], *, gitlab_issuer: str
) -> str | None:
    """None when the verified claims come from the job this publisher names, else why not."""
    spec = spec_of(row)
    if isinstance(spec, GitHubPublisherSpec):
        return _match_github(spec, claims)
    if isinstance(spec, GitLabPublisherSpec):
        return _match_gitlab(spec, claims, urlsplit(gitlab_issuer).netloc or gitlab_issuer)
    if isinstance(spec, GooglePublisherSpec):
        return _match_google(spec, claims)
    return _match_oidc(spec, claims)
