"""Draft releases on the project's management page: the open publishing sessions with their
files, who opened them and when they expire, and the Publish and Cancel forms (maintainers and
owners, CSRF-checked, recorded as events, refusals shown beside the draft's forms)."""

from __future__ import annotations

from sqlalchemy import select

from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.index.models import Project
from stockade.index.roles import add_role
from stockade.staging.models import PublishingSession
from support.builders import sdist_bytes, sdist_name, wheel_bytes, wheel_name
from support.index import Index, csrf_from, login_client
from support.staging import open_session, stage_file

PAGE = "/manage/project/drafty/"


def _session_row(index: Index, version: str) -> PublishingSession:
    with index.db.read() as s:
        row = s.scalar(select(PublishingSession).where(PublishingSession.version == version))
        assert row is not None
        s.expunge(row)
        return row


def _tags(index: Index, tag: str) -> list[tuple[int | None, dict[str, object]]]:
    with index.db.read() as s:
        return [(e.actor_id, e.details) for e in s.scalars(select(Event).where(Event.tag == tag))]


def test_drafts_are_listed_published_and_canceled_from_the_management_page(index: Index) -> None:
    alice = index.token("alice")
    first = index.upload(wheel_bytes("drafty", "1.0"), wheel_name("drafty", "1.0"))
    assert first.status_code == 200
    mara_user = index.user("mara")
    with index.db.write() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "drafty"))
        assert project is not None
        add_role(s, project=project, user=mara_user, role_name="Maintainer", origin=CLI)
    mara = index.token("mara")
    release = {
        wheel_name("drafty", "2.0"): wheel_bytes("drafty", "2.0"),
        sdist_name("drafty", "2.0"): sdist_bytes("drafty", "2.0"),
    }
    two = open_session(index, alice, "drafty", "2.0").json()
    for filename, data in release.items():
        stage_file(index, alice, two, filename, data)
    assert open_session(index, mara, "drafty", "3.0a1").status_code == 201
    draft_two, draft_three = _session_row(index, "2.0"), _session_row(index, "3.0a1")

    owner = login_client(index, "alice")
    page = owner.get(PAGE)
    assert page.status_code == 200
    assert "Draft releases" in page.text
    for filename in release:
        assert filename in page.text
    size = len(release[wheel_name("drafty", "2.0")])
    assert f'title="{size:,} bytes"' in page.text
    assert "Opened by alice" in page.text and "Opened by mara" in page.text
    assert draft_two.expires_at.strftime("%Y-%m-%d %H:%M") in page.text
    publish_two = f"{PAGE}drafts/{draft_two.id}/publish/"
    cancel_three = f"{PAGE}drafts/{draft_three.id}/cancel/"
    assert f'action="{publish_two}"' in page.text and f'action="{cancel_three}"' in page.text

    # Someone without a role on the project sees nothing and changes nothing.
    outsider = login_client(index, "bob")
    assert outsider.get(PAGE).status_code == 403
    token = csrf_from(outsider, "/manage/projects/")
    refused = outsider.post(publish_two, data={"csrf_token": token}, follow_redirects=False)
    assert refused.status_code == 403
    # A post without the CSRF token is refused too.
    forged = owner.post(publish_two, data={}, follow_redirects=False)
    assert forged.status_code == 403
    assert _session_row(index, "2.0").status == "open"

    # A refusal is shown beside the draft's forms: a draft with no files cannot be published.
    maintainer = login_client(index, "mara")
    token = csrf_from(maintainer, PAGE)
    empty = maintainer.post(f"{PAGE}drafts/{draft_three.id}/publish/", data={"csrf_token": token})
    assert empty.status_code == 409
    article = empty.text.split(f'id="draft-{draft_three.id}"', 1)[1].split("</article>", 1)[0]
    assert "The session has no files to publish." in article
    assert _session_row(index, "3.0a1").status == "open"

    # The maintainer publishes alice's draft: every file at once, recorded as theirs.
    done = maintainer.post(publish_two, data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith(PAGE)
    shown = maintainer.get(done.headers["location"])
    assert "Published the draft release 2.0." in shown.text
    simple = index.client.get("/simple/drafty/").text
    assert all(filename in simple for filename in release)
    assert _session_row(index, "2.0").status == "published"
    mara_id = index.user("mara").id
    assert (mara_id, {"name": "drafty", "version": "2.0", "files": 2}) in _tags(
        index, "release:stage-publish"
    )
    # No API token was used: the upload events say so.
    uploads = [d for _, d in _tags(index, "file:upload") if d.get("version") == "2.0"]
    assert len(uploads) == 2 and all(d.get("token_id") is None for d in uploads)

    # The owner cancels the other draft; a second try finds nothing to cancel.
    token = csrf_from(owner, PAGE)
    canceled = owner.post(cancel_three, data={"csrf_token": token}, follow_redirects=False)
    assert canceled.status_code == 303
    assert _session_row(index, "3.0a1").status == "canceled"
    assert any(
        actor == index.user("alice").id and details.get("version") == "3.0a1"
        for actor, details in _tags(index, "release:stage-cancel")
    )
    again = owner.post(cancel_three, data={"csrf_token": token})
    assert again.status_code == 404
    assert "No such draft release" in again.text
    assert "Draft releases" not in owner.get(PAGE).text
