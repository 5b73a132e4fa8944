"""The admin home's user list (every user a page at a time, or a search by name or email) and
the admin user page's second factors."""

from __future__ import annotations

import re

import pyotp
from sqlalchemy import select

from stockade.accounts.models import User
from stockade.accounts.twofactor.factors import enable_totp
from stockade.accounts.twofactor.models import WebAuthnKey
from stockade.accounts.twofactor.recovery_codes import remaining_codes
from stockade.events.services import CLI
from stockade.web.admin import USERS_PER_PAGE
from support.index import Index, login_client


def _listed(page: str) -> list[str]:
    table = re.search(r'<table id="users">.*?</table>', page, re.S)
    assert table is not None
    return re.findall(r'<a href="/admin/users/([^/]+)/">', table.group(0))


def test_the_user_list_pages_and_searches(index: Index) -> None:
    names = sorted(f"user{n:03d}" for n in range(USERS_PER_PAGE + 3))
    for name in names:
        index.user(name)
    index.user("root", admin=True)
    admin = login_client(index, "root")
    everyone = sorted([*names, "root"])
    first = admin.get("/admin/").text
    assert _listed(first) == everyone[:USERS_PER_PAGE]
    assert 'rel="next" href="/admin/?q=&amp;page=2"' in first and 'rel="prev"' not in first
    second = admin.get("/admin/?page=2").text
    assert _listed(second) == everyone[USERS_PER_PAGE:]
    assert 'rel="prev"' in second and 'rel="next"' not in second
    # By name or by email address, prefix, case-insensitive.
    assert _listed(admin.get("/admin/?q=USER05").text) == [
        n for n in names if n.startswith("user05")
    ]
    assert _listed(admin.get("/admin/?q=root@example").text) == ["root"]
    assert "No user matches." in admin.get("/admin/?q=nobody").text
    assert admin.get("/admin/?page=0").status_code == 422
    # Not for anyone else.
    assert login_client(index, "user000").get("/admin/").status_code in (403, 404)


def test_the_admin_user_page_shows_second_factors(index: Index) -> None:
    index.user("root", admin=True)
    index.user("alice")
    admin = login_client(index, "root")
    page = admin.get("/admin/users/alice/").text
    assert "Authentication application (TOTP): none" in page
    assert "Security keys: none" in page and "Recovery codes: 0 unused" in page
    with index.db.write() as s:
        alice = s.scalar(select(User).where(User.username == "alice"))
        assert alice is not None
        secret = pyotp.random_base32()
        enable_totp(s, alice, secret, pyotp.TOTP(secret).now(), origin=CLI)
        s.add(
            WebAuthnKey(
                user_id=alice.id, label="blue <YubiKey>", credential_id="c1", public_key=b"k"
            )
        )
        s.add(WebAuthnKey(user_id=alice.id, label="phone", credential_id="c2", public_key=b"k"))
        s.flush()
        left = remaining_codes(s, alice.id)
    assert left > 0
    page = admin.get("/admin/users/alice/").text
    assert re.search(r"Authentication application \(TOTP\): set up on \d{4}-\d\d-\d\d", page)
    assert "Security keys: 2 — “blue &lt;YubiKey&gt;”, “phone”" in page
    assert f"Recovery codes: {left} unused" in page
