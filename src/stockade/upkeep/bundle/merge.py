"""Merging a bundle's rows into an index that already holds some (or for a selection, which
carries no user rows): project by project, release by release, file by file, by their names.

A file already here with the same sha256 is left as it is; one here with other bytes, a
filename used here before (the registry never forgets one), or the same bytes under another
name is a conflict: reported, and that file left out. Everything else is added in the caller's
transaction, each project journaled and its pages rendered once. Ids are this index's own; user
ids are matched by username (an uploader unknown here is left blank). A project the merge
creates gets the roles of its users that exist here, and never more: a bundle grants nobody
anything on a project this index had before. Events are added once each (by tag, time and
project); advisories by their OSV id, when this index does not know them yet.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.advisories.models import Advisory, AdvisoryId, AdvisoryPackage, AdvisoryRecord
from stockade.events.models import Event
from stockade.index.models import File, FilenameRegistry, Project, Release, Role
from stockade.index.provenance import FileProvenance
from stockade.index.state import journal_many, rerender, version_key

__all__ = ["MergeReport", "merge_rows"]

Rows = Mapping[str, list[dict[str, Any]]]

_FILE_COLUMNS = (
    "filename",
    "packagetype",
    "python_version",
    "requires_python",
    "size",
    "sha256_digest",
    "blake2_256_digest",
    "md5_digest",
    "metadata_sha256",
    "metadata_version",
    "upload_time",
    "comment_text",
)
_RELEASE_COLUMNS = (
    "version",
    "canonical_version",
    "created_at",
    "yanked",
    "yanked_reason",
    "requires_python",
    "summary",
    "metadata_json",
)


@dataclass
class MergeReport:
    """What a merge added, found here already, and left out (with the reason)."""

    projects: set[str] = field(default_factory=set)
    imported: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)
    events: int = 0
    advisories: int = 0


class _Merge:
    def __init__(self, session: Session, rows: Rows, usernames: Mapping[int, str]) -> None:
        self.session, self.rows = session, rows
        self.report = MergeReport()
        names = sorted(set(usernames.values()))
        found = session.execute(select(User.username, User.id).where(User.username.in_(names)))
        here = {row.username: row.id for row in found}
        self.users = {old: here[name] for old, name in usernames.items() if name in here}
        self.by_project: dict[str, dict[int, list[dict[str, Any]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for table in ("releases", "files", "roles", "events"):
            for row in rows.get(table, []):
                if row.get("project_id") is not None:
                    self.by_project[table][row["project_id"]].append(row)
        self.provenance = {r["file_id"]: r for r in rows.get("file_provenance", [])}

    def user(self, old_id: int | None) -> int | None:
        return None if old_id is None else self.users.get(old_id)

    def project(self, row: dict[str, Any], blobs: set[str]) -> None:
        session = self.session
        target = session.scalar(
            select(Project)
            .where(Project.normalized_name == row["normalized_name"])
            .with_for_update()
        )
        files = [f for f in self.by_project["files"][row["id"]] if f["deletion_id"] is None]
        if target is not None and target.deletion_id is not None:
            for f in files:
                self.report.conflicts.append(
                    (f["filename"], f"the project {target.name} was deleted here")
                )
            return
        actions: list[tuple[str, str | None]] = []
        created = target is None
        if target is None:
            target = Project(
                name=row["name"],
                normalized_name=row["normalized_name"],
                created_at=row["created_at"],
                status=row["status"],
                status_reason=row["status_reason"],
                require_2fa=row["require_2fa"],
                total_size=0,
            )
            session.add(target)
            session.flush()
            actions.append(("create", None))
        releases = [r for r in self.by_project["releases"][row["id"]] if r["deletion_id"] is None]
        by_release: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for f in files:
            by_release[f["release_id"]].append(f)
        for source in sorted(releases, key=lambda r: version_key(r["version"])):
            release = session.scalar(
                select(Release).where(
                    Release.project_id == target.id,
                    Release.canonical_version == source["canonical_version"],
                )
            )
            wanted = sorted(by_release[source["id"]], key=lambda f: f["filename"])
            if release is None:
                if not any(self._fits(f, blobs) for f in wanted):
                    continue
                release = Release(project_id=target.id, **{k: source[k] for k in _RELEASE_COLUMNS})
                session.add(release)
                session.flush()
                actions.append(("new release", release.version))
            elif release.deletion_id is not None:
                for f in wanted:
                    self.report.conflicts.append(
                        (f["filename"], f"the release {release.version} was deleted here")
                    )
                continue
            for f in wanted:
                if self._file(target, release, f, blobs):
                    actions.append(
                        (f"add {f['python_version']} file {f['filename']}", release.version)
                    )
        if created:
            for role in self.by_project["roles"][row["id"]]:
                user_id = self.user(role["user_id"])
                if user_id is not None:
                    session.add(
                        Role(
                            user_id=user_id,
                            project_id=target.id,
                            role_name=role["role_name"],
                            created_at=role["created_at"],
                        )
                    )
        self._events(target, self.by_project["events"][row["id"]])
        if actions:
            journal_many(session, target, actions, user_id=None)
            rerender(session, target)
            self.report.projects.add(target.normalized_name)

    def _fits(self, f: dict[str, Any], blobs: set[str]) -> bool:
        return f["sha256_digest"] in blobs and f["metadata_sha256"] in blobs | {None}

    def _file(self, project: Project, release: Release, f: dict[str, Any], blobs: set[str]) -> bool:
        session, name, digest = self.session, f["filename"], f["sha256_digest"]
        if not self._fits(f, blobs):
            # An upstream file the other index never fetched: its bytes are not in the bundle.
            self.report.left_out.append((name, "its bytes are not in the bundle"))
            return False
        here = session.scalar(select(File).where(File.filename == name))
        if here is not None:
            if here.sha256_digest == digest:
                self.report.present.append(name)
            else:
                self.report.conflicts.append(
                    (name, f"here with sha256 {here.sha256_digest}, in the bundle {digest}")
                )
            return False
        registered = session.get(FilenameRegistry, name)
        if registered is not None:
            self.report.conflicts.append(
                (name, "this filename was used here before (a deleted file): it is never reused")
            )
            return False
        twin = session.scalar(select(File.filename).where(File.sha256_digest == digest))
        if twin is not None:
            self.report.conflicts.append((name, f"the same bytes are here as {twin}"))
            return False
        row = File(
            release_id=release.id,
            project_id=project.id,
            uploaded_by_id=self.user(f["uploaded_by_id"]),
            **{k: f[k] for k in _FILE_COLUMNS},
        )
        session.add(row)
        session.add(FilenameRegistry(filename=name, sha256_digest=digest))
        session.flush()
        provenance = self.provenance.get(f["id"])
        if provenance is not None:
            session.add(
                FileProvenance(
                    file_id=row.id,
                    provenance=provenance["provenance"],
                    verified_at=provenance["verified_at"],
                )
            )
        project.total_size += f["size"]
        self.report.imported.append(name)
        return True

    def _events(self, project: Project, events: list[dict[str, Any]]) -> None:
        session = self.session
        seen = set(
            session.execute(
                select(Event.tag, Event.created_at).where(Event.project_id == project.id)
            ).tuples()
        )
        for e in sorted(events, key=lambda e: (e["created_at"], e["id"])):
            if (e["tag"], e["created_at"]) in seen:
                continue
            seen.add((e["tag"], e["created_at"]))
            session.add(
                Event(
                    created_at=e["created_at"],
                    tag=e["tag"],
                    actor_id=self.user(e["actor_id"]),
                    user_id=self.user(e["user_id"]),
                    project_id=project.id,
                    ip_address=e["ip_address"],
                    user_agent=e["user_agent"],
                    details=e["details"],
                )
            )
            self.report.events += 1

    def advisories(self) -> None:
        session = self.session
        known = set(session.scalars(select(Advisory.osv_id)))
        new_ids: dict[int, int] = {}
        for a in self.rows.get("advisories", []):
            if a["osv_id"] in known:
                continue
            row = Advisory(**{k: v for k, v in a.items() if k != "id"})
            session.add(row)
            session.flush()
            new_ids[a["id"]] = row.id
            self.report.advisories += 1
        if not new_ids:
            return
        records = set(session.scalars(select(AdvisoryRecord.osv_id)))
        aliases = set(session.scalars(select(AdvisoryId.alias)))
        for r in self.rows.get("advisory_records", []):
            if r["advisory_id"] in new_ids and r["osv_id"] not in records:
                session.add(AdvisoryRecord(**(r | {"advisory_id": new_ids[r["advisory_id"]]})))
        for i in self.rows.get("advisory_ids", []):
            if i["advisory_id"] in new_ids and i["alias"] not in aliases:
                session.add(AdvisoryId(**(i | {"advisory_id": new_ids[i["advisory_id"]]})))
        for p in self.rows.get("advisory_packages", []):
            if p["advisory_id"] in new_ids:
                values = {k: v for k, v in p.items() if k != "id"}
                session.add(
                    AdvisoryPackage(**(values | {"advisory_id": new_ids[p["advisory_id"]]}))
                )


def merge_rows(
    session: Session, rows: Rows, usernames: Mapping[int, str], blobs: set[str]
) -> MergeReport:
    """Merge the bundle's projects (their live releases and files, provenance, roles on new
    projects, events) and advisories into this index, in the caller's transaction."""
    merge = _Merge(session, rows, usernames)
    for row in sorted(rows.get("projects", []), key=lambda r: r["normalized_name"]):
        if row["deletion_id"] is None:
            merge.project(row, blobs)
    merge.advisories()
    return merge.report
