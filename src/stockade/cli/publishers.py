"""`stockade publisher …`: trusted publishers of projects."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from packaging.utils import canonicalize_name
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from stockade.accounts.services import find_user
from stockade.cli.common import CLI_ORIGIN, DataOpt, fail, group, open_db
from stockade.index.models import Project
from stockade.oidc import services
from stockade.oidc.models import PendingPublisher, Publisher
from stockade.oidc.publishers import PublisherError, build_spec, describe

__all__ = ["app"]

app = group(help="Trusted publishers (OIDC).")

ProviderOpt = Annotated[
    str, typer.Option("--provider", help="github, gitlab, google or oidc (a generic issuer).")
]


def _opt(help_text: str, name: str) -> Any:
    return typer.Option(name, help=help_text)


@app.command("add")
def publisher_add(
    project: Annotated[
        str | None, typer.Argument(help="The project (omit with --pending).")
    ] = None,
    provider: ProviderOpt = "github",
    owner: Annotated[str, _opt("GitHub: owner (user or organization).", "--owner")] = "",
    owner_id: Annotated[str, _opt("GitHub: the owner's numeric id.", "--owner-id")] = "",
    repository: Annotated[str, _opt("GitHub: repository name.", "--repository")] = "",
    workflow: Annotated[str, _opt("GitHub: workflow file name (release.yml).", "--workflow")] = "",
    environment: Annotated[
        str, _opt("GitHub, GitLab: environment (optional).", "--environment")
    ] = "",
    namespace: Annotated[str, _opt("GitLab: namespace (group/subgroup).", "--namespace")] = "",
    gitlab_project: Annotated[str, _opt("GitLab: project name.", "--gitlab-project")] = "",
    ci_config: Annotated[
        str, _opt("GitLab: CI config path (default .gitlab-ci.yml).", "--ci-config")
    ] = "",
    email: Annotated[str, _opt("Google: service account email.", "--email")] = "",
    subject: Annotated[str, _opt("Google: token subject (optional).", "--subject")] = "",
    issuer_url: Annotated[str, _opt("OIDC: issuer URL.", "--issuer-url")] = "",
    audience: Annotated[str, _opt("OIDC: audience the tokens are for.", "--audience")] = "",
    claim: Annotated[
        list[str] | None,
        _opt("OIDC: claim rule name=value (repeatable; all must match).", "--claim"),
    ] = None,
    pending: Annotated[
        bool, typer.Option("--pending", help="For a project that does not exist yet.")
    ] = False,
    user: Annotated[str | None, _opt("With --pending: the future owner.", "--user")] = None,
    project_name: Annotated[
        str | None, _opt("With --pending: the project to create.", "--project-name")
    ] = None,
    data: DataOpt = None,
) -> None:
    """Add a trusted publisher to a project, or a pending one (--pending --user U
    --project-name NAME) whose first upload creates the project, owned by U. Prints its id."""
    values = {
        "owner": owner,
        "owner_id": owner_id,
        "repository": repository,
        "workflow": workflow,
        "environment": environment,
        "namespace": namespace,
        "project": gitlab_project,
        "workflow_filepath": ci_config,
        "email": email,
        "subject": subject,
        "issuer_url": issuer_url,
        "audience": audience,
        "claims": "\n".join(claim or []),
    }
    try:
        spec = build_spec(provider, values)
    except PublisherError as exc:
        raise fail(str(exc), 2) from exc
    settings, db = open_db(data)
    try:
        with db.write() as session:
            if pending:
                if project is not None or not user or not project_name:
                    raise fail("--pending takes --user and --project-name instead of PROJECT", 2)
                owner_user = find_user(session, user)
                if owner_user is None:
                    raise fail(f"no user named {user!r}")
                new_id = services.add_pending_publisher(
                    session, settings, owner_user, project_name, spec, origin=CLI_ORIGIN
                )
            else:
                if project is None:
                    raise fail("name the PROJECT (or use --pending)", 2)
                row = _project(session, project)
                new_id = services.add_publisher(
                    session, row, spec, origin=CLI_ORIGIN, actor_id=None
                )
    except PublisherError as exc:
        raise fail(str(exc)) from exc
    finally:
        db.dispose()
    typer.echo(new_id)


def _project(session: Any, name: str) -> Project:
    row = session.scalar(select(Project).where(Project.normalized_name == canonicalize_name(name)))
    if row is None or row.deletion_id is not None:
        raise fail(f"no project named {name!r}")
    assert isinstance(row, Project)
    return row


def _as_dict(row: Publisher | PendingPublisher) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": row.id,
        "provider": row.provider,
        "publisher": describe(row),
        "created": row.created_at.isoformat(),
    }
    names = ("owner", "owner_id", "repository", "workflow", "environment", "email", "subject")
    doc.update({k: getattr(row, k) for k in names if getattr(row, k) is not None})
    for name in ("issuer_url", "audience", "claims"):
        if getattr(row, name) is not None:
            doc[name] = getattr(row, name)
    if isinstance(row, PendingPublisher):
        doc.update(project_name=row.project_name, expires=row.expires_at.isoformat())
    return doc


@app.command("list")
def publisher_list(
    project: Annotated[str | None, typer.Argument(help="The project.")] = None,
    pending: Annotated[bool, typer.Option("--pending", help="List pending publishers.")] = False,
    user: Annotated[str | None, _opt("With --pending: only this user's.", "--user")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (see above).")] = False,
    data: DataOpt = None,
) -> None:
    """List a project's trusted publishers (or, with --pending, pending publishers).

    With --json, prints a JSON list of objects with the keys id, provider, publisher (a
    one-line description), created, and the provider's fields (owner, owner_id, repository,
    workflow, environment; email, subject; issuer_url, audience, claims); pending ones also
    have project_name and expires.
    """
    _settings, db = open_db(data)
    try:
        with db.read() as session:
            rows: list[Publisher] | list[PendingPublisher]
            if pending:
                user_id = None
                if user:
                    found = find_user(session, user)
                    if found is None:
                        raise fail(f"no user named {user!r}")
                    user_id = found.id
                rows = services.pending_publishers(session, user_id)
            else:
                if project is None:
                    raise fail("name the PROJECT (or use --pending)", 2)
                rows = services.project_publishers(session, _project(session, project).id)
            docs = [_as_dict(row) for row in rows]
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(docs, indent=2))
        return
    table = Table("id", "publisher", "project" if pending else "added (UTC)")
    for doc in docs:
        third = doc["project_name"] if pending else doc["created"][:16]
        table.add_row(str(doc["id"]), escape(doc["publisher"]), escape(third))
    Console().print(table)


@app.command("remove")
def publisher_remove(
    publisher_id: Annotated[int, typer.Argument(help="The publisher's id (from list).")],
    project: Annotated[
        str | None, _opt("The project the publisher belongs to.", "--project")
    ] = None,
    pending: Annotated[bool, typer.Option("--pending", help="Remove a pending publisher.")] = False,
    data: DataOpt = None,
) -> None:
    """Remove a project's publisher (--project NAME ID) or a pending one (--pending ID)."""
    _settings, db = open_db(data)
    try:
        with db.write() as session:
            if pending:
                row = session.get(PendingPublisher, publisher_id)
                if row is None:
                    raise fail(f"no pending publisher with id {publisher_id}")
                services.remove_pending_publisher(
                    session, row.user_id, row.id, origin=CLI_ORIGIN, actor_id=None
                )
            else:
                if project is None:
                    raise fail("--project is required (or use --pending)", 2)
                services.remove_publisher(
                    session,
                    _project(session, project),
                    publisher_id,
                    origin=CLI_ORIGIN,
                    actor_id=None,
                )
    except PublisherError as exc:
        raise fail(str(exc)) from exc
    finally:
        db.dispose()
    typer.echo(f"removed publisher {publisher_id}")
