"""A tiny real DNS server on loopback (DNS over UDP), built with dnspython's message classes.

::

    with dns_server() as dns:
        dns.zones.add("example.org")      # answers NS for it
        dns.servfail.add("flaky.org")     # SERVFAIL (a resolver failure)
        dns.txt["_x.example.org"] = ["v=1"]  # TXT records of a name
        settings = replace(settings, dns_resolver=dns.address)

Any other name answers NXDOMAIN.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

__all__ = ["DnsServer", "dns_server"]


@dataclass
class DnsServer:
    """The running server: where it listens and what it knows."""

    host: str
    port: int
    zones: set[str] = field(default_factory=set)
    servfail: set[str] = field(default_factory=set)
    txt: dict[str, list[str]] = field(default_factory=dict)
    queries: list[tuple[str, str]] = field(default_factory=list)

    @property
    def address(self) -> str:
        """The ``dns_resolver`` setting that reaches this server."""
        return f"{self.host}:{self.port}"

    def answer(self, wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        if name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name in self.txt and rdtype == "TXT":
            response.flags |= dns.flags.AA
            for text in self.txt[name]:
                response.answer.append(
                    dns.rrset.from_text(question.name, 300, "IN", "TXT", f'"{text}"')
                )
        elif name in self.zones:
            response.flags |= dns.flags.AA
            if rdtype == "NS":
                response.answer.append(
                    dns.rrset.from_text(question.name, 300, "IN", "NS", "ns1.example.net.")
                )
            elif rdtype == "SOA":
                response.answer.append(
                    dns.rrset.from_text(
                        question.name,
                        300,
                        "IN",
                        "SOA",
                        "ns1.example.net. hostmaster.example.net. 1 7200 3600 1209600 300",
                    )
                )
            elif rdtype == "MX":
                response.answer.append(
                    dns.rrset.from_text(question.name, 300, "IN", "MX", f"10 mail.{name}.")
                )
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()


@contextlib.contextmanager
def dns_server() -> Iterator[DnsServer]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    server = DnsServer(host="127.0.0.1", port=sock.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                wire, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                sock.sendto(server.answer(wire), peer)
            except Exception:  # noqa: S112  (a malformed query gets no answer, like a real server)
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(5)
        sock.close()
