"""PEP 694: a session for the first release of a name reserves the name for its creator while
the session lives; a canceled or expired session frees it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from stockade.index.models import NameReservation
from stockade.staging.models import PublishingSession
from support.builders import wheel_bytes, wheel_name
from support.index import Index
from support.staging import open_session, publish, stage_file

pytestmark = pytest.mark.e2e


def test_a_first_release_session_reserves_the_name_until_canceled(index: Index) -> None:
    alice, bob = index.token("alice"), index.token("bob")
    data, filename = wheel_bytes("fresh-name", "1.0"), wheel_name("fresh-name", "1.0")

    opened = open_session(index, alice, "Fresh_Name", "1.0")
    assert opened.status_code == 201, opened.text
    session = opened.json()
    # The name is not navigable while reserved.
    assert index.client.get("/simple/fresh-name/").status_code == 404
    # Someone else can neither upload the name nor stage a release of it: PyPI's 403.
    refused = index.upload(data, filename, token=bob)
    assert refused.status_code == 403, refused.text
    assert "The user 'bob' isn't allowed to upload to project" in refused.text
    staged = open_session(index, bob, "fresh.name", "2.0")
    assert staged.status_code == 403, staged.text
    assert "isn't allowed to upload" in staged.json()["errors"][0]["message"]
    # The holder may open another release of it.
    second = open_session(index, alice, "fresh-name", "1.1")
    assert second.status_code == 201, second.text

    # Canceling one session keeps the name while the other lives; canceling both frees it.
    for held in (session, second.json()):
        assert index.upload(data, filename, token=bob).status_code == 403
        gone = index.client.delete(held["links"]["session"], auth=("__token__", alice))
        assert gone.status_code == 204, gone.text
    with index.db.read() as s:
        assert s.get(NameReservation, "fresh-name") is None
    uploaded = index.upload(data, filename, token=bob)
    assert uploaded.status_code == 200, uploaded.text
    # Bob owns it now: alice's new session is refused like any upload of hers would be.
    assert open_session(index, alice, "fresh-name", "3.0").status_code == 403


def test_an_expired_session_frees_the_name(index: Index) -> None:
    alice, bob = index.token("alice"), index.token("bob")
    assert open_session(index, alice, "lapsed", "1.0").status_code == 201
    assert open_session(index, bob, "lapsed", "1.0").status_code == 403
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with index.db.write() as s:
        s.execute(update(PublishingSession).values(expires_at=past))
        s.execute(update(NameReservation).values(expires_at=past))
    taken = open_session(index, bob, "lapsed", "2.0")
    assert taken.status_code == 201, taken.text
    with index.db.read() as s:
        holder = s.scalar(select(NameReservation.user_id))
    assert holder == index.user("bob").id
    assert open_session(index, alice, "lapsed", "3.0").status_code == 403


def test_publishing_the_first_release_registers_the_name(index: Index) -> None:
    alice = index.token("alice")
    data, filename = wheel_bytes("claimed", "1.0"), wheel_name("claimed", "1.0")
    session = open_session(index, alice, "claimed", "1.0").json()
    stage_file(index, alice, session, filename, data)
    published = publish(index, alice, session)
    assert published.status_code == 201, published.text
    assert filename in index.client.get("/simple/claimed/").text
    with index.db.read() as s:
        assert s.get(NameReservation, "claimed") is None
