"""Administrators' pages."""

from __future__ import annotations

from stockade.index.history import user_events
from support.builders import wheel_bytes, wheel_name
from support.index import Index, csrf_from, login_client


def test_overview_and_user_search(index: Index) -> None:
    index.user("root", admin=True)
    index.user("carol")
    admin = login_client(index, "root")
    page = admin.get("/admin/")
    assert page.status_code == 200
    assert "users" in page.text
    found = admin.get("/admin/?q=CAR").text
    assert "/admin/users/carol/" in found
    found = admin.get("/admin/?q=carol@example").text
    assert "/admin/users/carol/" in found
    assert "No user matches" in admin.get("/admin/?q=zzz").text
    assert 'href="/admin/"' in admin.get("/").text
    assert 'href="/admin/"' not in login_client(index, "carol").get("/").text


def test_disable_from_the_admin_page_stops_everything(index: Index) -> None:
    index.user("root", admin=True)
    token = index.token("carol")
    carol = login_client(index, "carol")
    assert carol.get("/manage/account/").status_code == 200
    admin = login_client(index, "root")
    csrf = csrf_from(admin, "/admin/users/carol/")
    r = admin.post(
        "/admin/users/carol/active/",
        data={"active": "0", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "disabled" in admin.get("/admin/users/carol/").text
    # Her session ended, her token is refused, she cannot log in.
    assert carol.get("/manage/account/", follow_redirects=False).status_code == 303
    r = index.upload(wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0"), token=token)
    assert r.status_code == 403
    assert "disabled" in r.text
    with index.db.read() as s:
        tags = [e.tag for e in user_events(s, index.user("carol").id)]
        disable = next(
            e for e in user_events(s, index.user("carol").id) if e.tag == "account:disable"
        )
    assert "account:disable" in tags
    assert disable.actor == "root"
    csrf = csrf_from(admin, "/admin/users/carol/")
    admin.post("/admin/users/carol/active/", data={"active": "1", "csrf_token": csrf})
    r = index.upload(wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0"), token=token)
    assert r.status_code == 200


def test_admin_cannot_disable_themselves(index: Index) -> None:
    index.user("root", admin=True)
    admin = login_client(index, "root")
    csrf = csrf_from(admin, "/admin/users/root/")
    r = admin.post("/admin/users/root/active/", data={"active": "0", "csrf_token": csrf})
    assert r.status_code == 400
    assert admin.get("/admin/").status_code == 200
    assert admin.get("/admin/users/nobody/").status_code == 404
