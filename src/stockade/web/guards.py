"""Project guards: FastAPI dependencies that admit only users with a role on a project.

``require_project_role("Maintainer")`` or ``require_project_role("Owner")`` loads the project
named by the path parameter ``project_name`` (any spelling that normalizes to it; 404 when there
is none), then checks the logged-in user's role on it: anonymous visitors are sent to log in,
users without a sufficient role get 403, administrators always pass.

Every guard carries ``required`` ("maintainer" or "owner") so the route table says which guard
a route uses; ``guard_of`` reads it, also for the account-wide guards of ``stockade.web.auth``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from packaging.utils import canonicalize_name
from sqlalchemy import select
from starlette.exceptions import HTTPException

from stockade.index.models import ROLE_MAINTAINER, ROLE_OWNER, Project
from stockade.index.policy import manage_refusal
from stockade.index.rules import effective_role
from stockade.web.auth import Forbidden, Identity, require_admin, require_user
from stockade.web.context import AppContext, get_context

__all__ = [
    "GUARD_ATTRIBUTE",
    "MaintainerAccess",
    "MemberLeaving",
    "OwnerAccess",
    "ProjectAccess",
    "ProjectNotFound",
    "guard_of",
    "require_project_role",
]

GUARD_ATTRIBUTE = "required"
_RANK = {ROLE_MAINTAINER: 1, ROLE_OWNER: 2}


class ProjectNotFound(HTTPException):
    """The project in the path does not exist (404)."""

    def __init__(self, name: str) -> None:
        super().__init__(404, f"Project {name!r} does not exist.")
        self.project_name = name


@dataclass(frozen=True)
class ProjectAccess:
    """A project as seen by a user who passed its guard."""

    project_id: int
    name: str
    normalized_name: str
    # The user's own role, or None for an administrator without one.
    role: str | None
    identity: Identity

    @property
    def is_owner(self) -> bool:
        """Whether the user may manage roles (an owner, or an administrator)."""
        return self.role == ROLE_OWNER or self.identity.is_admin


def _load(ctx: AppContext, name: str, user_id: int) -> tuple[Project, str | None] | None:
    with ctx.db.read() as session:
        project = session.scalar(
            select(Project).where(Project.normalized_name == canonicalize_name(name))
        )
        if project is None or project.deletion_id is not None:
            return None  # a deleted project is managed by administrators from /admin/deleted/
        return project, effective_role(session, user_id, project.id)


def require_project_role(
    min_role: Literal["Maintainer", "Owner"], *, two_factor: bool = True
) -> Callable[..., Awaitable[ProjectAccess]]:
    """A dependency admitting users whose role on ``project_name`` is at least ``min_role``.

    ``two_factor=False`` skips the 2FA requirement: only for actions that reduce risk (leaving
    a project), which must stay open to the very members the requirement locks out.
    """
    needed = _RANK[min_role]

    async def guard(
        project_name: str,
        request: Request,
        identity: Annotated[Identity, Depends(require_user)],
    ) -> ProjectAccess:
        found = await run_in_threadpool(_load, get_context(request), project_name, identity.user_id)
        if found is None:
            raise ProjectNotFound(project_name)
        project, role = found
        if not identity.is_admin and _RANK.get(role or "", 0) < needed:
            if min_role == ROLE_OWNER:
                raise Forbidden(f"Only owners of project {project.name!r} can do this.")
            raise Forbidden(f"You are not a maintainer or owner of project {project.name!r}.")
        # The 2FA requirement (stockade.index.policy); administrators are not exempt.
        ctx = get_context(request)
        if not two_factor:
            return ProjectAccess(project.id, project.name, project.normalized_name, role, identity)
        refusal = await run_in_threadpool(
            manage_refusal,
            ctx.db,
            ctx.settings,
            user_id=identity.user_id,
            username=identity.username,
            project=project,
            base_url=ctx.base_url(request),
        )
        if refusal is not None:
            raise Forbidden(refusal)
        return ProjectAccess(project.id, project.name, project.normalized_name, role, identity)

    # Tests and tools read the guard from the route table.
    setattr(guard, GUARD_ATTRIBUTE, min_role.lower())
    guard.__name__ = f"require_{min_role.lower()}"
    return guard


MaintainerAccess = Annotated[ProjectAccess, Depends(require_project_role(ROLE_MAINTAINER))]
OwnerAccess = Annotated[ProjectAccess, Depends(require_project_role(ROLE_OWNER))]
# A member (Maintainer or Owner) without the 2FA requirement: for leaving a project only.
MemberLeaving = Annotated[
    ProjectAccess, Depends(require_project_role(ROLE_MAINTAINER, two_factor=False))
]


def _calls(dependant: Any) -> list[Callable[..., Any]]:
    found = []
    for sub in dependant.dependencies:
        if sub.call is not None:
            found.append(sub.call)
        found.extend(_calls(sub))
    return found


def guard_of(route: object) -> str | None:
    """The strongest guard a route declares: "admin", "owner", "maintainer" or "user"; None
    when it has none (anyone may call it)."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    calls = _calls(dependant)
    if require_admin in calls:
        return "admin"
    declared = {getattr(c, GUARD_ATTRIBUTE, None) for c in calls}
    for name in ("owner", "maintainer"):
        if name in declared:
            return name
    if require_user in calls:
        return "user"
    return None
