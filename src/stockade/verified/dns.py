"""Reading a TXT record through dnspython (the system's resolver, or setting
``dns_resolver``)."""

from __future__ import annotations

from stockade.accounts.email_domains.dns import resolver_address

__all__ = ["LookupFailed", "txt_records"]


class LookupFailed(Exception):
    """The resolver gave no usable answer (timeout, SERVFAIL): neither yes nor no."""


def txt_records(name: str, nameserver: str = "", *, timeout: float = 5.0) -> list[str]:
    """The strings of ``name``'s TXT records ([] when there are none or the name does not
    exist); raises LookupFailed when the resolver cannot say."""
    import dns.exception
    import dns.resolver

    if nameserver:
        host, port = resolver_address(nameserver)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [host]
        resolver.port = port
    else:
        resolver = dns.resolver.Resolver()
    resolver.timeout = resolver.lifetime = timeout
    try:
        answer = resolver.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.DNSException, OSError, ValueError) as exc:
        raise LookupFailed(str(exc) or type(exc).__name__) from exc
    return [b"".join(record.strings).decode("utf-8", "replace") for record in answer]
