"""Is a domain still delegated in the DNS? The seam of the email-domain checks.

``DnsChecker`` is the interface; ``DnspythonChecker`` asks a resolver (the system's, or the one
of setting ``dns_resolver``). Only an NXDOMAIN answer means "gone": a timeout, a SERVFAIL or any
other failure is "unknown", never evidence that a domain expired.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol

__all__ = [
    "Delegation",
    "DnsChecker",
    "DnspythonChecker",
    "checker_from_setting",
    "resolver_address",
]


class Delegation(enum.Enum):
    """What the DNS says about a domain."""

    DELEGATED = "delegated"
    GONE = "gone"
    UNKNOWN = "unknown"


class DnsChecker(Protocol):
    """Tells whether a domain exists in the DNS."""

    def delegation(self, domain: str) -> Delegation:
        """DELEGATED, GONE (NXDOMAIN / no name servers) or UNKNOWN (could not tell)."""
        ...


def resolver_address(value: str) -> tuple[str, int]:
    """The host and port of setting ``dns_resolver``: "192.0.2.1", "192.0.2.1:5353", "::1"
    (a bare IPv6 address) or "[::1]:5353"."""
    value = value.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest.removeprefix(":")) if rest else 53
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host, int(port)
    return value, 53  # a name, an IPv4 address, or a bare IPv6 address


class DnspythonChecker:
    """Asks NS, then SOA and MX, through dnspython's resolver."""

    def __init__(self, nameserver: str = "", *, timeout: float = 5.0) -> None:
        self._address = resolver_address(nameserver) if nameserver else None
        self._timeout = timeout
        # Made on first use: dnspython stays out of a worker whose daily email-domains job has
        # no domain to check (and out of every page request).
        self._made: Any = None

    @property
    def _resolver(self) -> Any:
        if self._made is None:
            import dns.resolver

            if self._address is not None:
                resolver = dns.resolver.Resolver(configure=False)
                resolver.nameservers = [self._address[0]]
                resolver.port = self._address[1]
            else:
                resolver = dns.resolver.Resolver()
            resolver.timeout = self._timeout
            resolver.lifetime = self._timeout
            self._made = resolver
        return self._made

    def _ask(self, domain: str, rdtype: str) -> Delegation | None:
        """DELEGATED on an answer, GONE on NXDOMAIN, None when the name exists without this
        record type; raises on failure."""
        import dns.resolver

        try:
            self._resolver.resolve(domain, rdtype, raise_on_no_answer=True)
        except dns.resolver.NXDOMAIN:
            return Delegation.GONE
        except dns.resolver.NoAnswer:
            return None
        return Delegation.DELEGATED

    def delegation(self, domain: str) -> Delegation:
        """See DnsChecker."""
        import dns.exception

        try:
            for rdtype in ("NS", "SOA", "MX"):
                answer = self._ask(domain, rdtype)
                if answer is not None:
                    return answer
        except (dns.exception.DNSException, OSError, ValueError):
            return Delegation.UNKNOWN
        # The name exists (no NXDOMAIN) but has none of these records: a name inside a zone
        # that is itself delegated.
        return Delegation.DELEGATED


def checker_from_setting(value: str) -> DnsChecker:
    """The checker for setting ``dns_resolver`` ("" = the system's resolver)."""
    return DnspythonChecker(value)
