"""The security-history tables read as sentences: no stored tags or raw detail keys, a user
agent in a few words (the whole string on hover), and, for an administrator, usernames that
lead to the admin user page."""

from __future__ import annotations

import html
import json
import re

from markupsafe import escape

from stockade.events.services import Origin, record
from support.index import Index, login_client

UV = "uv/0.9.5 " + json.dumps(
    {
        "installer": {"name": "uv", "version": "0.9.5"},
        "python": "3.12.3",
        "system": {"name": "Linux", "release": "6.1.0-18-amd64"},
        "cpu": "x86_64",
    }
)


def _visible(page: str) -> str:
    """The page's text as shown: no tags, attributes or styles."""
    body = re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def test_history_tables_show_sentences_and_short_agents(index: Index) -> None:
    alice = index.user("alice")
    index.user("root", admin=True)
    with index.db.write() as s:
        origin = Origin(ip_address="192.0.2.7", user_agent=UV)
        record(
            s,
            "account:login:success",
            origin=origin,
            actor_id=alice.id,
            user_id=alice.id,
            method="password",
        )
        record(
            s,
            "admin:user:update",
            origin=origin,
            actor_id=alice.id,
            user_id=alice.id,
            is_admin=False,
            reason_given=True,
        )
    mine = login_client(index, "alice").get("/manage/account/history/").text
    admin = login_client(index, "root").get("/admin/users/alice/").text
    for page in (mine, admin):
        shown = _visible(page)
        assert "alice logged in with password" in shown
        for raw in ("account:login:success", "admin:user:update", "is_admin", "False"):
            assert raw not in shown, raw
        assert "Is admin: no" in shown and "Reason given: yes" in shown
        assert f'title="{escape(UV)}">uv 0.9 on Linux</small>' in page
        assert '<div class="table-scroll">\n<table class="events">' in page
    # Only an administrator's table links the people in it to their admin page.
    assert '<a href="/admin/users/alice/">alice</a>' in admin
    assert '<a href="/admin/users/alice/">' not in mine
