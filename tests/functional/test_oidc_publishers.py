"""Trusted publishers as services: registering them and uploading with their tokens."""

from __future__ import annotations

import json

from sqlalchemy import select

from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.index.models import File, Project
from stockade.oidc import services
from stockade.oidc.models import PendingPublisher, Publisher
from stockade.oidc.publishers import GitHubPublisherSpec
from stockade.tokens.models import ApiToken
from support.builders import wheel_bytes, wheel_name
from support.index import Index, run_cli

SPEC = GitHubPublisherSpec(
    owner="octo", owner_id="4242", repository="tools", workflow="release.yml"
)


def _project(index: Index, name: str = "quillwort") -> int:
    response = index.upload(wheel_bytes(name, "0.1"), wheel_name(name, "0.1"))
    assert response.status_code == 200, response.text
    with index.db.read() as session:
        project = session.scalar(select(Project).where(Project.normalized_name == name))
        assert project is not None
        return project.id


def test_a_publisher_token_uploads_to_its_project_only(index: Index) -> None:
    project_id = _project(index)
    _project(index, "marrowfat")
    with index.db.write() as session:
        project = session.get(Project, project_id)
        assert project is not None
        publisher_id = services.add_publisher(session, project, SPEC, origin=CLI, actor_id=None)
        token = services.mint_upload_token(session, index.settings, publisher_id)

    response = index.upload(
        wheel_bytes("quillwort", "0.2"), wheel_name("quillwort", "0.2"), token=token
    )
    assert response.status_code == 200, response.text
    refused = index.upload(
        wheel_bytes("marrowfat", "0.2"), wheel_name("marrowfat", "0.2"), token=token
    )
    assert refused.status_code == 403
    assert "not valid for project: 'marrowfat'" in refused.text

    page = index.client.get("/project/quillwort/0.2/").text
    assert "Published via trusted publisher GitHub octo/tools (release.yml)" in page
    assert "Published via" not in index.client.get("/project/quillwort/0.1/").text

    with index.db.read() as session:
        file = session.scalar(select(File).where(File.filename == wheel_name("quillwort", "0.2")))
        assert file is not None
        assert file.publisher_id == publisher_id and file.uploaded_by_id is None
        event = session.scalar(
            select(Event)
            .where(Event.tag == "file:upload", Event.project_id == project_id)
            .order_by(Event.id.desc())
        )
        assert event is not None and event.actor_id is None
        assert event.details["publisher_id"] == publisher_id
        identity = services.attestation_publisher(session, publisher_id)
        assert identity is not None
        assert identity.kind == "GitHub"
        row = session.scalar(select(ApiToken).where(ApiToken.publisher_id == publisher_id))
        assert row is not None and row.user_id is None and row.expires_at is not None


def test_the_publisher_cli(index: Index) -> None:
    _project(index)
    index.user("bob")
    added = run_cli(
        index,
        "publisher",
        "add",
        "quillwort",
        "--provider",
        "github",
        "--owner",
        "octo",
        "--owner-id",
        "4242",
        "--repository",
        "tools",
        "--workflow",
        "release.yml",
        "--environment",
        "pypi",
    )
    assert added.returncode == 0, added.stderr
    publisher_id = int(added.stdout)
    pending = run_cli(
        index,
        "publisher",
        "add",
        "--pending",
        "--user",
        "bob",
        "--project-name",
        "Fernbrake",
        "--provider",
        "gitlab",
        "--namespace",
        "grp",
        "--gitlab-project",
        "lib",
    )
    assert pending.returncode == 0, pending.stderr
    bad = run_cli(
        index,
        "publisher",
        "add",
        "quillwort",
        "--provider",
        "github",
        "--owner",
        "octo",
        "--repository",
        "tools",
        "--workflow",
        "release.yml",
    )
    assert bad.returncode == 2 and "owner id is required" in bad.stderr

    listed = run_cli(index, "publisher", "list", "quillwort", "--json")
    assert listed.returncode == 0, listed.stderr
    docs = json.loads(listed.stdout)
    assert [d["publisher"] for d in docs] == ["GitHub octo/tools (release.yml, environment pypi)"]
    assert docs[0]["owner_id"] == "4242" and docs[0]["id"] == publisher_id
    with index.db.read() as session:
        row = session.scalar(select(PendingPublisher))
        assert row is not None and row.project_name == "Fernbrake"
        assert row.owner == "grp" and row.repository == "lib" and row.workflow == ".gitlab-ci.yml"
        assert row.user_id == index.user("bob").id

    removed = run_cli(index, "publisher", "remove", str(publisher_id), "--project", "quillwort")
    assert removed.returncode == 0, removed.stderr
    with index.db.read() as session:
        assert session.get(Publisher, publisher_id) is None
        tags = session.scalars(
            select(Event.tag).where(Event.tag.like("publisher:%")).order_by(Event.id)
        ).all()
        assert tags == ["publisher:add", "publisher:pending:add", "publisher:remove"]


def test_a_publisher_upload_satisfies_the_2fa_requirement(index: Index) -> None:
    project_id = _project(index)
    with index.db.write() as session:
        project = session.get(Project, project_id)
        assert project is not None
        project.require_2fa = True
        publisher_id = services.add_publisher(session, project, SPEC, origin=CLI, actor_id=None)
        token = services.mint_upload_token(session, index.settings, publisher_id)
    # alice has no second factor: her own token is refused, the publisher's is not (PyPI's rule).
    refused = index.upload(wheel_bytes("quillwort", "0.2"), wheel_name("quillwort", "0.2"))
    assert refused.status_code == 403 and "two-factor" in refused.text.lower()
    accepted = index.upload(
        wheel_bytes("quillwort", "0.2"), wheel_name("quillwort", "0.2"), token=token
    )
    assert accepted.status_code == 200, accepted.text


def test_removing_a_publisher_kills_its_tokens_and_keeps_its_files(index: Index) -> None:
    project_id = _project(index)
    with index.db.write() as session:
        project = session.get(Project, project_id)
        assert project is not None
        publisher_id = services.add_publisher(session, project, SPEC, origin=CLI, actor_id=None)
        token = services.mint_upload_token(session, index.settings, publisher_id)
    ok = index.upload(wheel_bytes("quillwort", "0.2"), wheel_name("quillwort", "0.2"), token=token)
    assert ok.status_code == 200
    with index.db.write() as session:
        project = session.get(Project, project_id)
        assert project is not None
        services.remove_publisher(session, project, publisher_id, origin=CLI, actor_id=None)
    gone = index.upload(
        wheel_bytes("quillwort", "0.3"), wheel_name("quillwort", "0.3"), token=token
    )
    assert gone.status_code == 403 and "unknown token" in gone.text
    with index.db.read() as session:
        file = session.scalar(select(File).where(File.filename == wheel_name("quillwort", "0.2")))
        assert file is not None and file.publisher_id is None
        assert session.scalar(select(ApiToken.id).where(ApiToken.publisher_id.is_not(None))) is None
