"""The 2FA mandate for maintainers of critical projects: before the enforcement date uploads work
with a warning (body, event, banner, account page); from it, 403 naming the rule; with 2FA, fine."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from contextlib import AbstractContextManager

import pyotp
from sqlalchemy import select

from stockade.accounts.models import User
from stockade.accounts.twofactor.factors import enable_totp
from stockade.config import Settings
from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.index.models import Project
from stockade.index.project_settings import pin_critical
from stockade.stats.counts import today
from support.builders import wheel_bytes, wheel_name
from support.index import Index, login_client

FUTURE = (today() + dt.timedelta(days=60)).isoformat()
PAST = (today() - dt.timedelta(days=1)).isoformat()
CRITICAL_RULE = (
    "'demo' is a critical project, and this index requires two-factor authentication from "
    "every maintainer of a critical project"
)


def text(page: str) -> str:
    """The page's text as a reader sees it (tags dropped, entities decoded)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())


def critical_demo(settings: Settings, enforce_after: str) -> AbstractContextManager[Index]:
    """An index whose critical rule applies from ``enforce_after`` (entered by the caller)."""
    changed = dataclasses.replace(settings, two_factor_enforce_after=enforce_after)
    return Index.open(changed)


def setup_demo(index: Index) -> None:
    response = index.upload(wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0"))
    assert response.status_code == 200, response.text
    with index.db.write() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "demo"))
        assert project is not None
        pin_critical(s, project=project, origin=CLI)


def enable_2fa(index: Index, name: str) -> None:
    with index.db.write() as s:
        account = s.scalar(select(User).where(User.username == name))
        assert account is not None
        secret = pyotp.random_base32()
        enable_totp(s, account, secret, pyotp.TOTP(secret).now(), origin=CLI)


def test_before_the_date_uploads_work_with_a_warning(settings: Settings) -> None:
    with critical_demo(settings, FUTURE) as index:
        setup_demo(index)
        response = index.upload(wheel_bytes("demo", "1.1"), wheel_name("demo", "1.1"))
        assert response.status_code == 200
        lines = response.text.splitlines()
        assert lines[0] == "OK"
        assert lines[1] == (
            f"Warning: 'demo' is a critical project. From {FUTURE} on, user 'alice' must "
            "enable two-factor authentication to upload to it or manage it. Set it up at "
            "http://testserver/manage/account/two-factor/"
        )
        with index.db.read() as s:
            [event] = s.scalars(
                select(Event).where(Event.tag == "project:upload:two_factor_warning")
            ).all()
            assert event.details == {"enforce_after": FUTURE}
            assert event.actor_id == index.user("alice").id

        client = login_client(index, "alice")
        raw = client.get("/manage/projects/").text
        assert 'id="critical-banner"' in raw
        page = text(raw)
        assert "You maintain critical projects (demo)" in page
        assert f"From {FUTURE} on, you will need it" in page
        raw = client.get("/manage/account/critical/").text
        assert '<li><a href="/project/demo/">demo</a></li>' in raw
        mine = text(raw)
        assert f"From {FUTURE}" in mine
        # Managing works too, and the settings page names the date.
        assert client.get("/manage/project/demo/").status_code == 200
        settings_page = text(client.get("/manage/project/demo/settings/").text)
        assert f"The project is critical: from {FUTURE} on, every maintainer must" in settings_page
        # Someone with no critical project sees no banner.
        other = login_client(index, "bob")
        assert 'id="critical-banner"' not in other.get("/manage/projects/").text
        assert 'id="no-critical-projects"' in other.get("/manage/account/critical/").text

        # With 2FA: no warning, no banner.
        enable_2fa(index, "alice")
        response = index.upload(wheel_bytes("demo", "1.2"), wheel_name("demo", "1.2"))
        assert response.status_code == 200
        assert response.text == "OK\n"
        assert 'id="critical-banner"' not in client.get("/manage/projects/").text
        assert "nothing for you to do" in client.get("/manage/account/critical/").text


def test_from_the_date_the_rule_refuses_until_2fa(settings: Settings) -> None:
    with critical_demo(settings, PAST) as index:
        setup_demo(index)
        response = index.upload(wheel_bytes("demo", "1.1"), wheel_name("demo", "1.1"))
        assert response.status_code == 403
        assert CRITICAL_RULE in response.text
        assert "User 'alice' must enable two-factor authentication" in response.text
        # Managing is refused too.
        client = login_client(index, "alice")
        assert client.get("/manage/project/demo/").status_code == 403
        page = text(client.get("/manage/account/critical/").text)
        assert "You must enable two-factor authentication to upload" in page
        enable_2fa(index, "alice")
        response = index.upload(wheel_bytes("demo", "1.1"), wheel_name("demo", "1.1"))
        assert response.status_code == 200
        assert response.text == "OK\n"


def test_without_a_date_the_rule_applies_now(index: Index) -> None:
    setup_demo(index)
    response = index.upload(wheel_bytes("demo", "1.1"), wheel_name("demo", "1.1"))
    assert response.status_code == 403
    assert CRITICAL_RULE in response.text
