"""What mirrors read: the simple root's serials, PyPI's XML-RPC (through the standard library's
real client) and PyPI's RSS feeds (parsed with a real XML parser)."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import xml.etree.ElementTree as ET
import xmlrpc.client
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from stockade.events.services import CLI
from stockade.index.models import Project
from stockade.index.state import journal, rerender
from stockade.lifecycle.yanking import yank
from stockade.web.mirrorapi import xmlrpc as xmlrpc_route
from support.builders import metadata_text, sdist_bytes, sdist_name, wheel_bytes, wheel_name
from support.index import Index

JSON = "application/vnd.pypi.simple.v1+json"


def _upload(index: Index, name: str, version: str, *, sdist: bool = False, extra: str = "") -> None:
    meta = metadata_text(name, version, summary=f"{name} at {version}", extra=extra)
    content = wheel_bytes(name, version, metadata=meta)
    r = index.upload(content, wheel_name(name, version))
    assert r.status_code == 200, r.text
    if sdist:
        pkg = sdist_bytes(name, version, pkg_info=meta)
        assert index.upload(pkg, sdist_name(name, version)).status_code == 200


@pytest.fixture
def loaded(index: Index) -> Index:
    _upload(
        index, "Lantern_Fish", "1.0", sdist=True, extra="Author-email: Ann <ann@lanternfish.org>\n"
    )
    _upload(index, "Lantern_Fish", "1.1")
    _upload(index, "Lantern_Fish", "2.0b1")
    _upload(index, "glowworm", "0.1")
    return index


def _serial(index: Index, path: str) -> int:
    return int(index.client.get(path, headers={"Accept": JSON}).headers["x-pypi-last-serial"])


# -- the simple API ----------------------------------------------------------------------------


def test_root_lists_each_project_serial(loaded: Index) -> None:
    root = loaded.client.get("/simple/", headers={"Accept": JSON})
    doc = root.json()
    listed = {p["name"]: p["_last-serial"] for p in doc["projects"]}
    assert set(listed) == {"Lantern_Fish", "glowworm"}
    assert listed["Lantern_Fish"] == _serial(loaded, "/simple/lantern-fish/")
    assert listed["glowworm"] == _serial(loaded, "/simple/glowworm/")
    # The newest change of all is the glowworm upload.
    assert doc["meta"]["_last-serial"] == listed["glowworm"] > listed["Lantern_Fish"]
    assert int(root.headers["x-pypi-last-serial"]) == doc["meta"]["_last-serial"]
    page = loaded.client.get("/simple/lantern-fish/", headers={"Accept": JSON}).json()
    assert page["meta"]["_last-serial"] == listed["Lantern_Fish"]


def test_root_follows_every_change_to_a_project(loaded: Index) -> None:
    before = {p["name"]: p["_last-serial"] for p in _root(loaded)}
    _upload(loaded, "glowworm", "0.2")
    after = {p["name"]: p["_last-serial"] for p in _root(loaded)}
    assert after["glowworm"] > before["glowworm"]
    assert after["glowworm"] == _serial(loaded, "/simple/glowworm/")


def _root(index: Index) -> list[dict[str, Any]]:
    projects: list[dict[str, Any]] = index.client.get("/simple/", headers={"Accept": JSON}).json()[
        "projects"
    ]
    return projects


def test_a_page_never_has_a_lower_serial_than_the_root_promised(loaded: Index) -> None:
    """Another worker changes a project this worker has cached, and this worker renders its
    root before its poller saw the change: the cached page must not be served as it is."""
    pages = loaded.app.context.pages
    old = _serial(loaded, "/simple/glowworm/")
    assert pages.peek("glowworm") is not False  # cached now
    with loaded.db.write() as session:  # as another worker would: this cache is not told
        project = session.scalar(select(Project).where(Project.normalized_name == "glowworm"))
        assert project is not None
        journal(session, project, "new release", version="0.1", user_id=None)
        rerender(session, project)
    pages.invalidate("some-other-name", root=True)
    promised = {p["name"]: p["_last-serial"] for p in _root(loaded)}["glowworm"]
    assert isinstance(promised, int) and promised > old
    assert _serial(loaded, "/simple/glowworm/") >= promised


@pytest.mark.parametrize(
    ("path", "location"), [("/simple", "/simple/"), ("/simple?x=1", "/simple/?x=1")]
)
def test_simple_without_its_slash_is_redirected(index: Index, path: str, location: str) -> None:
    r = index.client.get(path, follow_redirects=False)
    assert r.status_code == 301
    assert r.headers["location"] == location
    assert index.client.get("/simple", headers={"Accept": JSON}).json()["projects"] == []


def test_json_api_files_carry_their_core_metadata_hash(loaded: Index) -> None:
    doc = loaded.client.get("/pypi/lantern-fish/1.0/json").json()
    by_name = {f["filename"]: f for f in doc["urls"]}
    wheel = by_name[wheel_name("Lantern_Fish", "1.0")]
    sidecar = loaded.client.get(wheel["url"].removeprefix("http://testserver") + ".metadata")
    assert sidecar.status_code == 200
    assert wheel["core-metadata"] == {"sha256": hashlib.sha256(sidecar.content).hexdigest()}
    assert by_name[sdist_name("Lantern_Fish", "1.0")]["core-metadata"] is False


# -- XML-RPC -------------------------------------------------------------------------------------


@pytest.fixture
def rpc(loaded: Index) -> Iterator[tuple[Any, str]]:
    with (
        loaded.live() as url,
        xmlrpc.client.ServerProxy(f"{url}/pypi", allow_none=True) as proxy,
    ):
        yield proxy, url


def test_xmlrpc_lists_packages_and_changes(loaded: Index, rpc: tuple[Any, str]) -> None:
    proxy, _ = rpc
    listed = proxy.list_packages_with_serial()
    root = {p["name"]: p["_last-serial"] for p in _root(loaded)}
    assert listed == root
    last = proxy.changelog_last_serial()
    assert last == max(root.values())
    changes = proxy.changelog_since_serial(0)
    assert [c[4] for c in changes] == sorted(c[4] for c in changes)
    assert changes[-1][4] == last
    names = {c[0] for c in changes}
    assert names == {"Lantern_Fish", "glowworm"}
    releases = [(c[0], c[1]) for c in changes if c[3] == "new release"]
    assert releases == [
        ("Lantern_Fish", "1.0"),
        ("Lantern_Fish", "1.1"),
        ("Lantern_Fish", "2.0b1"),
        ("glowworm", "0.1"),
    ]
    now = dt.datetime.now(dt.UTC).timestamp()
    assert all(isinstance(c[2], int) and now - 300 < c[2] <= now + 1 for c in changes)
    # Only what came after: the glowworm upload.
    since = next(c for c in changes if c[0] == "glowworm")[4] - 1
    assert proxy.changelog_since_serial(since) == [c for c in changes if c[0] == "glowworm"]
    assert proxy.changelog_since_serial(last) == []


def test_xmlrpc_package_releases_and_release_urls(loaded: Index, rpc: tuple[Any, str]) -> None:
    proxy, url = rpc
    # As on PyPI: the latest final release, or every version (newest first) with show_hidden.
    assert proxy.package_releases("lantern-fish") == ["1.1"]
    assert proxy.package_releases("Lantern.Fish", True) == ["2.0b1", "1.1", "1.0"]
    assert proxy.package_releases("no-such-project") == []
    with loaded.db.write() as session:
        project = session.scalar(select(Project).where(Project.normalized_name == "lantern-fish"))
        assert project is not None
        yank(session, project, "1.1", "broken", origin=CLI, actor_id=None, admin=True)
    assert proxy.package_releases("lantern-fish") == ["1.0"]

    files = proxy.release_urls("Lantern_Fish", "1.0")
    assert [f["filename"] for f in files] == sorted(
        [wheel_name("Lantern_Fish", "1.0"), sdist_name("Lantern_Fish", "1.0")]
    )
    json_files = {
        f["filename"]: f for f in loaded.client.get("/pypi/lantern-fish/1.0/json").json()["urls"]
    }
    for f in files:
        expected = json_files[f["filename"]]
        assert f["digests"] == expected["digests"]
        assert f["sha256_digest"] == expected["digests"]["sha256"]
        assert f["size"] == expected["size"]
        assert f["packagetype"] == expected["packagetype"]
        assert f["upload_time"] == expected["upload_time"] + "Z"
        assert f["url"].startswith(url + "/packages/")
        assert f["url"].endswith("/" + f["path"])
        assert httpx.get(f["url"]).content.startswith(
            b"PK" if f["filename"].endswith(".whl") else b"\x1f\x8b"
        )
    assert proxy.release_urls("lantern-fish", "9.9") == []
    assert proxy.release_urls("x" * 1000, "1.0") == []


def test_xmlrpc_faults_as_pypi_answers_them(rpc: tuple[Any, str]) -> None:
    proxy, _ = rpc
    with pytest.raises(xmlrpc.client.Fault) as unknown:
        proxy.system.listMethods()
    assert unknown.value.faultCode == -32601
    with pytest.raises(xmlrpc.client.Fault) as unknown:
        proxy.search({"name": "x"})  # a write-era method PyPI dropped
    assert unknown.value.faultCode == -32601
    calls: list[tuple[str, tuple[Any, ...]]] = [
        ("changelog_since_serial", ("7",)),
        ("changelog_since_serial", (True,)),
        ("changelog_since_serial", ()),
        ("release_urls", ("lantern-fish",)),
        ("package_releases", (3,)),
        ("list_packages_with_serial", (1,)),
    ]
    for method, params in calls:
        with pytest.raises(xmlrpc.client.Fault) as bad:
            getattr(proxy, method)(*params)
        assert bad.value.faultCode == -32602, method


_BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<methodCall><methodName>package_releases</methodName>
<params><param><value><string>&lol3;</string></value></param></params></methodCall>"""

_EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE call [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<methodCall><methodName>package_releases</methodName>
<params><param><value><string>&secret;</string></value></param></params></methodCall>"""

_CALL = (
    b"<?xml version='1.0'?><methodCall><methodName>changelog_last_serial</methodName>"
    b"<params></params></methodCall>"
)


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (_BILLION_LAUGHS, 400, b"document type declaration"),
        (_EXTERNAL_ENTITY, 400, b"document type declaration"),
        (b"<methodCall><methodName>x</methodName>", 400, b"not well-formed"),
        (b"\xff\xfe garbage", 400, b"not well-formed"),
        (b"", 400, b"Bad XML-RPC request"),
        (b"<methodResponse><params/></methodResponse>", 400, b"Bad XML-RPC request"),
        (b"<methodCall><params/></methodCall>", 400, b"no methodName"),
        (
            b"<methodCall><methodName>x</methodName><params><param><value><int>1e9</int>"
            b"</value></param></params></methodCall>",
            400,
            b"not an XML-RPC call",
        ),
        (
            b"<methodCall><methodName>m</methodName><params><param><value><struct><member>"
            b"<value><int>1</int></value></member></struct></value></param></params></methodCall>",
            400,
            b"not an XML-RPC call",
        ),
        (
            b"<methodCall><methodName>m</methodName><array></array></data></methodCall>",
            400,
            b"not well-formed",
        ),
        (_CALL + b" " * xmlrpc_route.MAX_BODY, 413, b"at most"),
    ],
)
def test_hostile_or_malformed_xml_is_refused(
    index: Index, body: bytes, status: int, says: bytes
) -> None:
    r = index.client.post("/pypi", content=body, headers={"Content-Type": "text/xml"})
    assert r.status_code == status
    assert says in r.content
    assert r.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("since", [str(2**63), str(-(10**30))])
def test_a_serial_beyond_64_bits_is_a_fault(index: Index, since: str) -> None:
    # xmlrpc.client refuses to send such a number; other clients need not.
    body = (
        "<?xml version='1.0'?><methodCall><methodName>changelog_since_serial</methodName>"
        f"<params><param><value><int>{since}</int></value></param></params></methodCall>"
    )
    r = index.client.post("/pypi", content=body.encode())
    assert r.status_code == 200
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc.client.loads(r.content)
    assert fault.value.faultCode == -32602


def test_an_unbounded_body_is_cut_off(index: Index) -> None:
    def chunks() -> Iterator[bytes]:
        yield _CALL
        for _ in range(100):
            yield b" " * 4096

    r = index.client.post("/pypi", content=chunks(), headers={"Content-Type": "text/xml"})
    assert r.status_code == 413


def test_xmlrpc_is_post_only(index: Index) -> None:
    r = index.client.get("/pypi")
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"


def test_xmlrpc_is_rate_limited(index: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    from stockade.db.ratelimit import Limit

    monkeypatch.setattr(xmlrpc_route, "XMLRPC_LIMIT", Limit(count=3, seconds=3600))
    statuses = [index.client.post("/pypi", content=_CALL).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = index.client.post("/pypi", content=_CALL)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert b"Too many attempts" in refused.content


# -- RSS -------------------------------------------------------------------------------------------


def _channel(index: Index, path: str) -> ET.Element:
    r = index.client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/xml; charset=utf-8"
    rss = ET.fromstring(r.content)  # noqa: S314 (this server's own output, in a test)
    assert rss.tag == "rss" and rss.get("version") == "2.0"
    channel = rss.find("channel")
    assert channel is not None
    return channel


def _items(channel: ET.Element) -> list[dict[str, str]]:
    return [{child.tag: child.text or "" for child in item} for item in channel.findall("item")]


def test_rss_updates(loaded: Index) -> None:
    channel = _channel(loaded, "/rss/updates.xml")
    assert channel.findtext("title") == "stockade recent updates"
    assert channel.findtext("link") == "http://testserver/"
    items = _items(channel)
    assert [i["title"] for i in items] == [
        "glowworm 0.1",
        "Lantern_Fish 2.0b1",
        "Lantern_Fish 1.1",
        "Lantern_Fish 1.0",
    ]
    first = items[-1]
    assert first["link"] == "http://testserver/project/lantern-fish/1.0/"
    assert first["guid"] == first["link"]
    assert first["description"] == "Lantern_Fish at 1.0"
    assert first["author"] == "ann@lanternfish.org"
    assert "author" not in items[0]
    dates = [email.utils.parsedate_to_datetime(i["pubDate"]) for i in items]
    assert dates == sorted(dates, reverse=True)
    assert all(d.tzinfo is not None for d in dates)
    assert loaded.client.get("/project/lantern-fish/1.0/").status_code == 200


def test_rss_packages(loaded: Index) -> None:
    channel = _channel(loaded, "/rss/packages.xml")
    assert channel.findtext("title") == "stockade newest packages"
    items = _items(channel)
    assert [i["title"] for i in items] == [
        "glowworm added to stockade",
        "Lantern_Fish added to stockade",
    ]
    assert items[1]["link"] == "http://testserver/project/lantern-fish/"
    # The latest release's summary (1.1: 2.0b1 is a pre-release).
    assert items[1]["description"] == "Lantern_Fish at 1.1"


def test_rss_project_releases(loaded: Index) -> None:
    channel = _channel(loaded, "/rss/project/lantern-fish/releases.xml")
    assert channel.findtext("title") == "stockade recent updates for Lantern_Fish"
    assert channel.findtext("link") == "http://testserver/project/lantern-fish/"
    assert [i["title"] for i in _items(channel)] == ["2.0b1", "1.1", "1.0"]
    r = loaded.client.get("/rss/project/Lantern.Fish/releases.xml", follow_redirects=False)
    assert r.status_code == 301
    assert r.headers["location"] == "/rss/project/lantern-fish/releases.xml"
    assert loaded.client.get("/rss/project/nothing-here/releases.xml").status_code == 404
    assert loaded.client.head("/rss/project/lantern-fish/releases.xml").status_code == 200


def test_rss_escapes_what_uploaders_wrote(index: Index) -> None:
    _upload(index, "escapee", "1.0", extra="")
    meta = metadata_text("escapee", "1.1", summary="<script>&amp; ]]> \u00e9")
    assert (
        index.upload(
            wheel_bytes("escapee", "1.1", metadata=meta), wheel_name("escapee", "1.1")
        ).status_code
        == 200
    )
    items = _items(_channel(index, "/rss/updates.xml"))
    assert items[0]["description"] == "<script>&amp; ]]> \u00e9"


def test_empty_index_feeds(index: Index) -> None:
    assert _items(_channel(index, "/rss/updates.xml")) == []
    assert _items(_channel(index, "/rss/packages.xml")) == []
