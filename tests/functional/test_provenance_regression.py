"""Provenance regression: after three trusted-published releases, an upload with an API token
(or from another repository) breaks the project's pattern. Held by default: stored, on no
simple page, JSON API or download, until an owner confirms it with a second factor; refused
or accepted with a warning when the owners choose so on the publishing page, where they can
also start a new pattern on purpose."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pyotp
import pytest
from sqlalchemy import select

from stockade.accounts.models import User
from stockade.accounts.twofactor.factors import enable_totp
from stockade.config import Settings
from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.index.models import Project
from stockade.index.paths import blob_key
from stockade.oidc.publishers import GitHubPublisherSpec
from stockade.oidc.services import add_publisher
from stockade.tokens.services import create_publisher_token
from support.builders import wheel_bytes, wheel_name
from support.clock import SettableClock
from support.index import Index, csrf_from, login_client
from support.smtp import read_outbox

NAME = "beacon"
PUBLISHING = f"/manage/project/{NAME}/publishing/"
HELD = f"/manage/project/{NAME}/held/"
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


@pytest.fixture
def index(settings: Settings) -> Iterator[Index]:
    # TOTP codes are checked against a clock set to the middle of a step.
    with Index.open(settings, clock=SettableClock.mid_step()) as idx:
        yield idx


def publisher(index: Index, repository: str) -> int:
    spec = GitHubPublisherSpec(
        owner="octo", owner_id="4242", repository=repository, workflow="release.yml"
    )
    with index.db.write() as session:
        project = session.scalar(select(Project).where(Project.normalized_name == NAME))
        assert project is not None
        return add_publisher(session, project, spec, origin=CLI, actor_id=None)


def publisher_token(index: Index, publisher_id: int) -> str:
    with index.db.write() as session:
        token, _row = create_publisher_token(
            session,
            publisher_id,
            NAME,
            secret_key=index.settings.secret_key,
            lifetime=__import__("datetime").timedelta(minutes=15),
        )
        return token


_WHEELS: dict[str, bytes] = {}


def wheel(version: str) -> bytes:
    """The one wheel of each version (built once: the same file when sent again)."""
    return _WHEELS.setdefault(version, wheel_bytes(NAME, version))


def upload(index: Index, version: str, token: str) -> httpx.Response:
    return index.upload(wheel(version), wheel_name(NAME, version), token=token)


def trusted_project(index: Index) -> int:
    """beacon: 0.1 by alice's token, then 1.0, 1.1 and 1.2 by its trusted publisher."""
    assert upload(index, "0.1", index.token("alice")).status_code == 200
    pid = publisher(index, "beacon")
    for version in ("1.0", "1.1", "1.2"):
        response = upload(index, version, publisher_token(index, pid))
        assert response.status_code == 200 and response.text == "OK\n", response.text
    return pid


def simple_files(index: Index) -> list[str]:
    return [
        f["filename"] for f in index.client.get(f"/simple/{NAME}/", headers=JSON).json()["files"]
    ]


def tags(index: Index) -> list[str]:
    with index.db.read() as session:
        return list(session.scalars(select(Event.tag).order_by(Event.id)))


def enrol_totp(index: Index) -> pyotp.TOTP:
    now = index.app.context.clock()
    totp = pyotp.TOTP(pyotp.random_base32(32))
    with index.db.write() as session:
        user = session.get(User, index.user("alice").id)
        assert user is not None
        enable_totp(session, user, totp.secret, totp.at(now - 30), origin=CLI, now=now)
    return totp


def test_a_token_upload_is_held_until_an_owner_confirms_it_with_totp(index: Index) -> None:
    trusted_project(index)
    totp = enrol_totp(index)
    held_name = wheel_name(NAME, "2.0")
    content = wheel("2.0")

    response = upload(index, "2.0", index.token("alice"))

    assert response.status_code == 200
    assert "trusted-publishing" in response.text and "held" in response.text
    # Stored, but on no page, JSON API or download.
    assert index.app.context.storage.exists(blob_key(hashlib.sha256(content).hexdigest()))
    assert held_name not in simple_files(index)
    assert "2.0" not in index.client.get(f"/pypi/{NAME}/json").json()["releases"]
    assert index.client.get(f"/pypi/{NAME}/2.0/json").status_code == 404
    assert held_name not in index.client.get(f"/project/{NAME}/").text
    # The same file again is still held, nothing more; the owners were told once.
    assert upload(index, "2.0", index.token("alice")).status_code == 200
    mails = [m for m in read_outbox(index.settings.data_dir / "outbox") if "held" in m["subject"]]
    assert [m["to"] for m in mails] == ["alice@example.test"]
    assert tags(index).count("file:hold") == 1

    owner = login_client(index, "alice")
    page = owner.get(HELD)
    assert page.status_code == 200 and held_name in page.text
    wrong = str((int(totp.at(index.app.context.clock())) + 1) % 1_000_000).zfill(6)
    refused = owner.post(
        HELD + "2.0/confirm/", data={"csrf_token": csrf_from(owner, HELD), "code": wrong}
    )
    assert refused.status_code == 403 and "not valid" in refused.text
    assert held_name not in simple_files(index)

    code = totp.at(index.app.context.clock())
    confirmed = owner.post(
        HELD + "2.0/confirm/",
        data={"csrf_token": csrf_from(owner, HELD), "code": code},
        follow_redirects=False,
    )

    assert confirmed.status_code == 303, confirmed.text
    assert held_name in simple_files(index)
    assert "2.0" in index.client.get(f"/pypi/{NAME}/json").json()["releases"]
    assert "release:held:confirm" in tags(index)
    figures = index.client.get("/stats/security.json").json()
    current = figures.get("current", figures)
    assert current["held_files"] == 0 and current["held_files_confirmed"] == 1


def test_other_repositories_and_the_owners_choices(index: Index) -> None:
    trusted_project(index)
    owner = login_client(index, "alice")
    # Another repository's publisher breaks the publisher rule: held.
    fork = upload(index, "1.3", publisher_token(index, publisher(index, "beacon-fork")))
    assert fork.status_code == 200 and "provenance rule: publisher" in fork.text
    assert "octo/beacon (release.yml)" in fork.text
    assert wheel_name(NAME, "1.3") not in simple_files(index)

    def choose(mode: str) -> None:
        data = {"csrf_token": csrf_from(owner, PUBLISHING), "mode": mode}
        r = owner.post(PUBLISHING + "provenance/", data=data, follow_redirects=False)
        assert r.status_code == 303, r.text

    choose("refuse")
    refused = upload(index, "2.0", index.token("alice"))
    assert refused.status_code == 403
    assert "provenance rule: trusted-publishing" in refused.text

    choose("warn")
    warned = upload(index, "2.0", index.token("alice"))
    assert warned.status_code == 200 and warned.text.startswith("OK\nWarning:")
    assert wheel_name(NAME, "2.0") in simple_files(index)
    assert "file:provenance:regression" in tags(index)
    assert any(
        "provenance" in m["subject"] for m in read_outbox(index.settings.data_dir / "outbox")
    )

    # Moving CI on purpose: a new pattern starts, the next token upload is an ordinary one.
    choose("refuse")
    data = {"csrf_token": csrf_from(owner, PUBLISHING)}
    reset = owner.post(PUBLISHING + "provenance/reset/", data=data, follow_redirects=False)
    assert reset.status_code == 303
    assert upload(index, "2.1", index.token("alice")).text == "OK\n"
    assert {"project:provenance:regression", "project:provenance:reset"} <= set(tags(index))
