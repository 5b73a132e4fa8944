""" "Everything a requirements file needs": the releases of this index that satisfy a
requirements file, with their dependencies, for an index on a network that cannot reach this
one (or PyPI).

Each requirement (name, extras, specifier, marker) is evaluated for this machine's platform;
the releases of its project that the specifier allows are chosen (pre-releases only when it
names one or nothing else matches, yanked releases only when pinned with ``==``, as pip does);
each chosen release's ``Requires-Dist`` (its core metadata, with the requested extras) adds
its requirements in turn, until nothing new is added. That is a superset of what any resolver
would pick from this index, so pip on the other network finds every version it could want.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version
from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.index.models import Project, Release
from stockade.upkeep.bundle.layout import BundleError

__all__ = ["parse_requirements", "resolve"]

# Lines of a requirements file that say how to install, not what: no release to add.
_OPTIONS = (
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--no-index",
    "--pre",
    "--prefer-binary",
    "--only-binary",
    "--no-binary",
    "--trusted-host",
    "--require-hashes",
    "--use-feature",
)


@dataclass(frozen=True)
class _Line:
    source: str
    text: str


def _lines(path: Path, seen: set[Path]) -> Iterator[_Line]:
    real = path.resolve()
    if real in seen:
        return
    seen.add(real)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"cannot read the requirements file {path}: {exc}") from exc
    logical = ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        line, logical = (logical + line).strip(), ""
        if line:
            yield _Line(f"{path}:{number}", line)


def parse_requirements(path: Path) -> list[Requirement]:
    """The requirements of a pip requirements file (``-r``/``-c`` files it names are read too;
    hashes and install options are left aside); a line that is none of these is refused."""
    found = []
    pending = [path]
    seen: set[Path] = set()
    while pending:
        current = pending.pop(0)
        for line in _lines(current, seen):
            head, _, rest = line.text.partition(" ")
            if head in ("-r", "--requirement", "-c", "--constraint"):
                pending.append(current.parent / rest.strip())
                continue
            if head.split("=", 1)[0] in _OPTIONS:
                continue
            if head.startswith("-"):
                raise BundleError(f"{line.source}: an option this export does not know: {head}")
            spec = " ".join(w for w in line.text.split() if not w.startswith("--hash"))
            try:
                found.append(Requirement(spec))
            except InvalidRequirement as exc:
                raise BundleError(f"{line.source}: not a requirement: {exc}") from exc
            if found[-1].url:
                raise BundleError(f"{line.source}: a direct URL is not in this index: {spec}")
    return found


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _chosen(req: Requirement, releases: list[Release]) -> list[Release]:
    live = [(r, v) for r in releases if (v := _version(r.version)) is not None]
    pinned = any(s.operator in ("==", "===") for s in req.specifier)
    candidates = [(r, v) for r, v in live if not r.yanked or pinned]
    matching = [(r, v) for r, v in candidates if req.specifier.contains(v, prereleases=True)]
    finals = [(r, v) for r, v in matching if not v.is_prerelease]
    allows_pre = req.specifier.prereleases or not finals
    return [r for r, v in matching if allows_pre or not v.is_prerelease]


def resolve(session: Session, requirements: Iterable[Requirement]) -> dict[int, set[int]]:
    """The releases (by id, per project id) the requirements and their dependencies allow.

    A requirement naming no project here, or one no release satisfies, is refused: the
    bundle would not install on the other network."""
    environment = {k: str(v) for k, v in default_environment().items()}
    chosen: dict[int, set[int]] = {}
    queue: list[tuple[Requirement, str]] = [
        (r, "the requirements file")
        for r in requirements
        if r.marker is None or r.marker.evaluate(environment | {"extra": ""})
    ]
    done: set[tuple[NormalizedName, str, frozenset[str]]] = set()
    while queue:
        req, wanted_by = queue.pop(0)
        name = canonicalize_name(req.name)
        key = (name, str(req.specifier), frozenset(req.extras))
        if key in done:
            continue
        done.add(key)
        project = session.scalar(
            select(Project).where(Project.normalized_name == name, Project.deletion_id.is_(None))
        )
        if project is None:
            raise BundleError(f"{req} (wanted by {wanted_by}): no project {name!r} in this index")
        releases = list(
            session.scalars(
                select(Release).where(
                    Release.project_id == project.id, Release.deletion_id.is_(None)
                )
            )
        )
        picked = _chosen(req, releases)
        if not picked:
            raise BundleError(f"{req} (wanted by {wanted_by}): no release of {name} satisfies it")
        chosen.setdefault(project.id, set()).update(r.id for r in picked)
        for release in picked:
            for line in release.metadata_json.get("requires_dist") or []:
                try:
                    dep = Requirement(line)
                except InvalidRequirement:
                    continue  # the upload's checks let a legacy spelling through: no edge
                if dep.marker is not None and not any(
                    dep.marker.evaluate(environment | {"extra": extra})
                    for extra in (req.extras or {""})
                ):
                    continue
                queue.append((dep, f"{project.name} {release.version}"))
    return chosen
