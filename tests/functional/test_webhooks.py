"""Webhooks: a real HTTP receiver on loopback checks every delivery's signature, fails on
purpose to exercise the retries, and the SSRF guard refuses private addresses unless an
administrator allowed them."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from stockade.db import utcnow
from stockade.errors import ServiceError
from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.index.rules import find_project
from stockade.jobs.interface import JobContext
from stockade.lifecycle.yanking import yank
from stockade.mail import mailer_from_settings
from stockade.webhooks import services
from stockade.webhooks.destinations import WebhookURLError, resolve_destination
from stockade.webhooks.job import run_webhooks
from stockade.webhooks.models import DELIVERED, FAILED, PENDING, WebhookDelivery
from support.builders import wheel_bytes, wheel_name
from support.index import Index, csrf_from, invoke_cli, login_client, run_cli

REPLAY_WINDOW = 300


class Receiver:
    """An HTTP server that checks each POST's signature with ``secret`` (and its timestamp
    against a replay window) and answers 500 to the first ``fail`` requests."""

    def __init__(self) -> None:
        self.secret = ""
        self.fail = 0
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp, _, mac = self.headers["Stockade-Signature"].partition(",v1=")
                ts = int(stamp.removeprefix("t="))
                expected = hmac.new(
                    receiver.secret.encode(), f"{ts}.".encode() + body, hashlib.sha256
                ).hexdigest()
                if not hmac.compare_digest(mac, expected) or abs(time.time() - ts) > 3600:
                    receiver.bad_signatures += 1
                    self.send_response(401)
                elif receiver.fail > 0:
                    receiver.fail -= 1
                    self.send_response(500)
                else:
                    receiver.received.append(
                        {
                            "event": self.headers["Stockade-Event"],
                            "host": self.headers["Host"],
                            **json.loads(body),
                        }
                    )
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _run_job(index: Index) -> None:
    ctx = JobContext(
        settings=index.settings, db=index.db, mailer=mailer_from_settings(index.settings)
    )
    run_webhooks(ctx)


def _deliveries(index: Index, hook_id: int) -> list[WebhookDelivery]:
    with index.db.read() as session:
        rows = session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == hook_id)
            .order_by(WebhookDelivery.id)
        ).all()
        session.expunge_all()
        return list(rows)


def _upload(index: Index, name: str, version: str) -> None:
    r = index.upload(wheel_bytes(name, version), wheel_name(name, version))
    assert r.status_code == 200, r.text


def _add(index: Index, url: str, project: str | None, **kw: Any) -> tuple[int, str]:
    with index.db.write() as session:
        row = find_project(session, project) if project else None
        hook = services.create_webhook(
            session, index.settings, url, project=row, created_by_id=None, origin=CLI, **kw
        )
        return hook.id, hook.secret


def test_deliveries_are_signed_retried_with_backoff_and_logged(
    index: Index, receiver: Receiver
) -> None:
    _upload(index, "demo", "1.0")
    _upload(index, "other", "1.0")
    # Private addresses are refused unless an administrator allows them.
    with pytest.raises(ServiceError) as refused:
        _add(index, receiver.url, "demo")
    assert refused.value.status_code == 400 and "private" in refused.value.message
    hook_id, receiver.secret = _add(index, receiver.url, "demo", allow_private=True)
    with index.db.read() as session:
        tags = session.scalars(select(Event.tag).where(Event.tag == "webhook:add")).all()
    assert tags == ["webhook:add"]

    _upload(index, "demo", "2.0")
    _upload(index, "other", "2.0")  # another project: not this webhook's
    receiver.fail = 2
    _run_job(index)
    (delivery,) = _deliveries(index, hook_id)
    assert delivery.kind == "file.published" and delivery.state == PENDING
    assert delivery.attempts == 1 and delivery.last_status == 500
    # Not due again before its backoff; then retried until the receiver accepts it.
    assert services.deliver_due(index.db, index.settings, utcnow()) == []
    later = utcnow() + dt.timedelta(seconds=31)
    services.deliver_due(index.db, index.settings, later)
    services.deliver_due(index.db, index.settings, later + dt.timedelta(seconds=61))
    (delivery,) = _deliveries(index, hook_id)
    assert (delivery.state, delivery.attempts, delivery.last_status) == (DELIVERED, 3, 204)
    (got,) = receiver.received
    assert got["event"] == "file.published" and got["project"]["name"] == "demo"
    assert got["version"] == "2.0" and got["filename"] == wheel_name("demo", "2.0")
    assert got["actor"] == "alice" and got["text"].startswith("alice uploaded ")
    assert got["host"] == receiver.url.split("/")[2]
    assert receiver.bad_signatures == 0

    # A yank is told too; running the job again tells nothing twice.
    with index.db.write() as session:
        project = find_project(session, "demo")
        assert project is not None
        yank(session, project, "2.0", "broken", origin=CLI, actor_id=None)
    _run_job(index)
    _run_job(index)
    assert [r["event"] for r in receiver.received] == ["file.published", "release.yanked"]
    assert receiver.received[1]["reason"] == "broken"

    # The send-test button's delivery, and a wrong secret is noticed by the receiver.
    assert services.send_test(index.db, index.settings, hook_id).ok
    assert receiver.received[-1]["event"] == "ping"
    receiver.secret = "not the secret at all"
    attempt = services.send_test(index.db, index.settings, hook_id)
    assert attempt.status == 401 and receiver.bad_signatures == 1


def test_an_unreachable_receiver_fails_after_every_attempt(index: Index) -> None:
    receiver = Receiver()
    url = receiver.url
    receiver.close()  # nothing listens there any more
    hook_id, _ = _add(index, url, None, allow_private=True, kinds=["file.published"])
    _upload(index, "demo", "1.0")
    now = utcnow()
    _run_job(index)
    for _ in range(services.MAX_ATTEMPTS):
        now += services.LAST_RETRY
        services.deliver_due(index.db, index.settings, now)
    (delivery,) = _deliveries(index, hook_id)
    assert delivery.state == FAILED and delivery.attempts == services.MAX_ATTEMPTS
    assert delivery.last_status is None and "ConnectError" in (delivery.last_error or "")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8080/",
        "http://10.1.2.3/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://100.64.0.1/",
        "http://[64:ff9b::7f00:1]/",
        "http://[2002:7f00:1::]/",
    ],
)
def test_private_destinations_are_refused(url: str) -> None:
    with pytest.raises(WebhookURLError, match="private or reserved"):
        resolve_destination(url, allow_private=False)


@pytest.mark.parametrize(
    "url",
    ["ftp://example.org/", "http:///nohost", "http://user:pw@example.org/", "x" * 3000],
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(WebhookURLError):
        resolve_destination(url, allow_private=True)


def test_the_index_wide_setting_allows_private_addresses(index: Index) -> None:
    settings = replace(index.settings, webhooks_allow_private=True)
    with index.db.write() as session:
        hook = services.create_webhook(
            session, settings, "http://127.0.0.1:9/", project=None, created_by_id=None, origin=CLI
        )
        assert hook.allow_private is False  # the setting, not the row, allows it


def test_the_webhook_command(index: Index, receiver: Receiver) -> None:
    _upload(index, "demo", "1.0")
    r = run_cli(index, "webhook", "add", receiver.url, "--project", "demo")
    assert r.returncode == 1 and "private" in r.stderr
    r = invoke_cli(index, "webhook", "add", receiver.url, "--all", "--allow-private")
    assert r.returncode == 0, r.stderr
    hook_id, receiver.secret = r.stdout.split()
    r = invoke_cli(index, "webhook", "test", hook_id)
    assert r.returncode == 0 and "delivered: HTTP 204" in r.stdout, r.stderr
    listed = json.loads(invoke_cli(index, "webhook", "list", "--json").stdout)
    assert [(h["id"], h["project"], h["url"]) for h in listed] == [
        (int(hook_id), None, receiver.url)
    ]
    assert receiver.secret not in json.dumps(listed)
    log = json.loads(invoke_cli(index, "webhook", "deliveries", hook_id, "--json").stdout)
    assert [(d["kind"], d["state"], d["last_status"]) for d in log] == [("ping", "delivered", 204)]
    assert invoke_cli(index, "webhook", "remove", hook_id).returncode == 0
    assert json.loads(invoke_cli(index, "webhook", "list", "--json").stdout) == []


def test_the_project_webhooks_page(index: Index, receiver: Receiver) -> None:
    _upload(index, "demo", "1.0")  # alice owns it
    index.user("root", admin=True)
    page = "/manage/project/demo/webhooks/"
    owner = login_client(index, "alice")
    r = owner.get(page)
    assert r.status_code == 200 and "No webhook yet" in r.text
    # An owner cannot send to a loopback address; the page says why and keeps nothing.
    r = owner.post(page + "add/", data={"csrf_token": csrf_from(owner, page), "url": receiver.url})
    assert r.status_code == 400 and "private or reserved address" in r.text
    # An administrator can allow it; the secret is shown once.
    admin = login_client(index, "root")
    r = admin.post(
        page + "add/",
        data={
            "csrf_token": csrf_from(admin, page),
            "url": receiver.url,
            "event": ["release.yanked", "file.published"],
            "allow_private": "on",
        },
    )
    assert r.status_code == 201, r.text
    receiver.secret = re.search(r'id="webhook-secret"[^>]*>([^<]+)<', r.text).group(1)  # type: ignore[union-attr]
    assert receiver.secret not in owner.get(page).text
    with index.db.read() as session:
        (hook,) = services.webhooks_of(session, find_project(session, "demo").id)  # type: ignore[union-attr]
        assert hook.kinds == ["file.published", "release.yanked"] and hook.allow_private
    r = owner.post(
        f"{page}{hook.id}/test/", data={"csrf_token": csrf_from(owner, page)}, follow_redirects=True
    )
    assert "The test delivery was accepted." in r.text and "HTTP 204" in r.text
    assert receiver.received[-1]["event"] == "ping"
    # Another project's owner cannot touch it.
    _upload(index, "other", "1.0")
    r = owner.post(
        f"/manage/project/other/webhooks/{hook.id}/remove/",
        data={"csrf_token": csrf_from(owner, "/manage/project/other/webhooks/")},
    )
    assert r.status_code == 404
    r = owner.post(
        f"{page}{hook.id}/remove/",
        data={"csrf_token": csrf_from(owner, page)},
        follow_redirects=True,
    )
    assert "The webhook is removed." in r.text and "No webhook yet" in r.text
    with index.db.read() as session:
        tags = session.scalars(select(Event.tag).where(Event.tag.like("webhook:%"))).all()
    assert tags == ["webhook:add", "webhook:remove"]


def test_an_organizations_webhook_follows_its_projects(index: Index, receiver: Receiver) -> None:
    _upload(index, "demo", "1.0")
    _upload(index, "other", "1.0")
    for args in (
        ("org", "create", "acme", "--owner", "alice"),
        ("org", "project", "add", "acme", "demo"),
    ):
        r = invoke_cli(index, *args)
        assert r.returncode == 0, r.stdout + r.stderr
    r = invoke_cli(index, "webhook", "add", receiver.url, "--org", "acme", "--allow-private")
    assert r.returncode == 0, r.stdout + r.stderr
    _, receiver.secret = r.stdout.split()
    assert json.loads(invoke_cli(index, "webhook", "list", "--json").stdout)[0]["org"] == "acme"
    _upload(index, "demo", "2.0")
    _upload(index, "other", "2.0")  # not the org's
    _run_job(index)
    assert [(r["event"], r["project"]["name"]) for r in receiver.received] == [
        ("file.published", "demo")
    ]
    # Both scopes at once are refused.
    with index.db.write() as session:
        from stockade.orgs.services import find_org

        with pytest.raises(ServiceError, match="not both"):
            services.create_webhook(
                session,
                index.settings,
                receiver.url,
                project=find_project(session, "demo"),
                org=find_org(session, "acme"),
                created_by_id=None,
                origin=CLI,
                allow_private=True,
            )
