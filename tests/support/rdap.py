"""A real RDAP server on loopback (HTTP + RDAP JSON, RFC 9083), with an IANA-style bootstrap
registry document (RFC 9224) that points every TLD it serves at itself.

::

    with rdap_server() as rdap:
        rdap.domains["lapsed.org"] = rdap_domain("lapsed.org", expires="2020-01-01")
        settings = replace(settings, rdap_url=rdap.url)          # one base URL …
        settings = replace(settings, rdap_bootstrap_url=rdap.bootstrap_url)   # … or the bootstrap

A domain not in ``domains`` answers 404 (not registered); one in ``failing`` answers 503.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["RdapServer", "rdap_domain", "rdap_server"]


def rdap_domain(
    name: str,
    *,
    registered: str = "2001-05-01T00:00:00Z",
    expires: str = "2099-05-01T00:00:00Z",
    status: tuple[str, ...] = ("active",),
) -> dict[str, Any]:
    """An RDAP domain object as registries publish it."""
    return {
        "objectClassName": "domain",
        "rdapConformance": ["rdap_level_0"],
        "ldhName": name.upper(),
        "status": list(status),
        "events": [
            {"eventAction": "registration", "eventDate": registered},
            {"eventAction": "expiration", "eventDate": expires},
            {"eventAction": "last update of RDAP database", "eventDate": "2026-11-24T00:00:00Z"},
        ],
        "nameservers": [{"objectClassName": "nameserver", "ldhName": "NS1.EXAMPLE.NET"}],
    }


@dataclass
class RdapServer:
    """The running server: its URLs, its data, and the requests it saw."""

    url: str
    domains: dict[str, dict[str, Any]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    tlds: tuple[str, ...] = ("org", "net", "com", "dev")
    requests: list[str] = field(default_factory=list)

    @property
    def bootstrap_url(self) -> str:
        return f"{self.url}/bootstrap/dns.json"

    def bootstrap(self) -> dict[str, Any]:
        return {
            "version": "1.0",
            "publication": "2026-11-24T00:00:00Z",
            "description": "RDAP bootstrap file for Domain Name System registrations",
            "services": [[list(self.tlds), [f"{self.url}/rdap/"]]],
        }

    def looked_up(self) -> list[str]:
        """The domains asked for, in order."""
        prefix = "/rdap/domain/"
        return [p[len(prefix) :] for p in self.requests if p.startswith(prefix)]


@contextlib.contextmanager
def rdap_server() -> Iterator[RdapServer]:
    state: RdapServer | None = None

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/rdap+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            assert state is not None
            state.requests.append(self.path)
            if self.path == "/bootstrap/dns.json":
                self._send(200, state.bootstrap())
                return
            prefix = "/rdap/domain/"
            if not self.path.startswith(prefix):
                self._send(404, {"errorCode": 404, "title": "Not Found"})
                return
            name = self.path[len(prefix) :].lower()
            if name in state.failing:
                self._send(503, {"errorCode": 503, "title": "Service Unavailable"})
            elif name in state.domains:
                self._send(200, state.domains[name])
            else:
                self._send(404, {"errorCode": 404, "title": "Not Found"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = RdapServer(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
