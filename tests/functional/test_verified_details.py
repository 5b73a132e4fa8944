"""Verified details: project URLs pointing at the trusted publisher's repository, or at a
domain the owners verified with a DNS TXT record (looked up through a real DNS server on
loopback), are shown as verified on the project page and listed in the JSON API."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace

import pytest
from sqlalchemy import select

from stockade.config import Settings
from stockade.db import utcnow
from stockade.errors import ServiceError
from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.index.rules import find_project
from stockade.oidc.publishers import build_spec
from stockade.oidc.services import add_publisher
from stockade.verified.models import ProjectDomain
from stockade.verified.services import check_due, normalize_domain, record_name, record_value
from support.builders import metadata_text, wheel_bytes, wheel_name
from support.dns import DnsServer, dns_server
from support.index import Index, csrf_from, login_client

URLS = {
    "Source": "https://github.com/Acme/Widget",
    "Issues": "https://github.com/acme/widget/issues",
    "Fork": "https://github.com/evil/widget",
    "Documentation": "https://docs.acme.example/widget/",
    "Changelog": "http://docs.acme.example/changes",  # not https: never verified
    "Mirror": "https://acme.example.evil.test/",
}


def _page_sections(html: str) -> tuple[list[str], list[str]]:
    """The link labels under "Verified details" and under the unverified heading."""

    def labels(heading_id: str) -> list[str]:
        match = re.search(rf'id="{heading_id}".*?<ul class="links[^"]*">(.*?)</ul>', html, re.S)
        return (
            re.findall(r'rel="nofollow ugc noopener">([^<]+)</a>', match.group(1)) if match else []
        )

    return labels("verified-details"), labels("unverified-details")


def test_verified_details(settings: Settings) -> None:
    with dns_server() as dns, Index.open(replace(settings, dns_resolver=dns.address)) as index:
        _verified_details(index, dns)


def _verified_details(index: Index, dns: DnsServer) -> None:
    extra = "".join(f"Project-URL: {label}, {url}\n" for label, url in URLS.items())
    metadata = metadata_text("widget", "1.0", extra=extra)
    r = index.upload(wheel_bytes("widget", "1.0", metadata=metadata), wheel_name("widget", "1.0"))
    assert r.status_code == 200, r.text
    # Nothing is verified yet: one list, headed "Project links".
    html = index.client.get("/project/widget/").text
    assert 'id="verified-details"' not in html and "Project links" in html

    # A trusted publisher's repository: its URLs (any case, anything under it) are verified.
    spec = build_spec(
        "github",
        {"owner": "acme", "owner_id": "4242", "repository": "widget", "workflow": "release.yml"},
    )
    with index.db.write() as session:
        project = find_project(session, "widget")
        assert project is not None
        add_publisher(session, project, spec, origin=CLI, actor_id=None)
    verified, unverified = _page_sections(index.client.get("/project/widget/").text)
    assert verified == ["Source", "Issues"]
    assert sorted(unverified) == ["Changelog", "Documentation", "Fork", "Mirror"]
    info = index.client.get("/pypi/widget/json").json()["info"]
    assert info["verified_urls"] == [URLS["Source"], URLS["Issues"]]
    assert index.client.get("/pypi/widget/1.0/json").json()["info"]["verified_urls"] == [
        URLS["Source"],
        URLS["Issues"],
    ]

    settings = index.settings
    owner = login_client(index, "alice")
    page = "/manage/project/widget/settings/"
    r = owner.post(
        page + "domains/add/",
        data={"csrf_token": csrf_from(owner, page), "domain": "Docs.Acme.Example."},
        follow_redirects=True,
    )
    assert "add its TXT record" in r.text and "Not verified" in r.text
    with index.db.read() as session:
        row = session.scalar(select(ProjectDomain))
        assert row is not None and row.domain == "docs.acme.example"
        name, value = record_name(row.domain), record_value(row.token)
    assert name in r.text and value in r.text
    # The record is published: "Check now" verifies the domain.
    dns.txt[name] = ["unrelated", value]
    r = owner.post(
        f"{page}domains/{row.id}/check/",
        data={"csrf_token": csrf_from(owner, page)},
        follow_redirects=True,
    )
    assert "The domain is verified" in r.text
    verified, unverified = _page_sections(index.client.get("/project/widget/").text)
    assert verified == ["Source", "Issues", "Documentation"]
    assert sorted(unverified) == ["Changelog", "Fork", "Mirror"]

    # The record is removed: the daily re-check takes the mark away.
    dns.txt.pop(name)
    assert check_due(index.db, settings, utcnow()) == []  # checked less than a day ago
    later = utcnow() + dt.timedelta(days=2)
    assert check_due(index.db, settings, later) == ["docs.acme.example: not verified"]
    verified, _ = _page_sections(index.client.get("/project/widget/").text)
    assert verified == ["Source", "Issues"]

    # Another owner's project cannot remove it; the owner can.
    r = owner.post(
        f"{page}domains/{row.id}/remove/",
        data={"csrf_token": csrf_from(owner, page)},
        follow_redirects=True,
    )
    assert "The domain is removed." in r.text
    with index.db.read() as session:
        tags = session.scalars(
            select(Event.tag).where(Event.tag.like("project:domain:%")).order_by(Event.id)
        ).all()
    assert tags == [
        "project:domain:add",
        "project:domain:verify",
        "project:domain:lost",
        "project:domain:remove",
    ]


@pytest.mark.parametrize(
    "text", ["https://example.org/", "192.0.2.1", "localhost", "bad_label.example", "-x.example"]
)
def test_a_domain_must_be_a_domain_name(text: str) -> None:
    with pytest.raises(ServiceError):
        normalize_domain(text)


def test_idna_domains_are_stored_in_ascii() -> None:
    assert normalize_domain("Bücher.Example.") == "xn--bcher-kva.example"
